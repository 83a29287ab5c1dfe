"""Exporting the tuned model: a merged Hugging Face folder, and a GGUF file for llama.cpp-style runtimes.

The merged folder (build/model/) is plain transformers format -- safetensors, config, tokenizer
with the serving chat template -- so transformers loads it and vLLM serves it.

GGUF: PyPI has no official packaging of llama.cpp's converter (`gguf` ships the format library
only), so Tailor writes the file with gguf.GGUFWriter for the Llama architecture (SmolLM2, Llama,
and models that share its layout): f16 weights (f32 norms), llama.cpp's Q/K row order, and the
BPE tokenizer with its chat template. The file is then loaded back with transformers
(`gguf_file=`) and must reproduce the merged model's next-token predictions.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np

from knowledge.errors import BuildError
from knowledge.files import atomic_path

from ._common import log


def merge_adapter(base_model: str, adapter_dir: str | None, out_dir: Path) -> None:
    """Base + adapter merged into plain weights, saved with the base's tokenizer (serving template)."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = AutoModelForCausalLM.from_pretrained(base_model, dtype="auto")
    model = PeftModel.from_pretrained(base, adapter_dir).merge_and_unload() if adapter_dir else base
    tokenizer = AutoTokenizer.from_pretrained(base_model)
    model.config.use_cache = True
    with torch.no_grad():
        model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)


# --- GGUF ----------------------------------------------------------------------------------


def _permute(w: np.ndarray, n_head: int) -> np.ndarray:
    """llama.cpp's rotary layout for q/k rows (the inverse of what transformers undoes on load)."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def _tokenizer_fields(writer, model_dir: Path, tokenizer, pre: str) -> None:
    import gguf

    data = json.loads((model_dir / "tokenizer.json").read_text(encoding="utf-8"))
    model = data.get("model", {})
    if model.get("type") != "BPE":
        raise BuildError(f"GGUF export supports byte-level BPE tokenizers; this model's is {model.get('type')!r}")
    vocab = {**model["vocab"], **{t["content"]: t["id"] for t in data.get("added_tokens", [])}}
    size = max(vocab.values()) + 1
    tokens = [f"[PAD{i}]" for i in range(size)]
    types = [gguf.TokenType.UNUSED] * size
    for text, i in vocab.items():
        tokens[i] = text
        types[i] = gguf.TokenType.NORMAL
    for t in data.get("added_tokens", []):
        types[t["id"]] = gguf.TokenType.CONTROL if t.get("special") else gguf.TokenType.USER_DEFINED
    merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges", [])]
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(pre)
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(merges)
    for name, add in (("bos", writer.add_bos_token_id), ("eos", writer.add_eos_token_id), ("unk", writer.add_unk_token_id), ("pad", writer.add_pad_token_id)):
        token_id = getattr(tokenizer, f"{name}_token_id", None)
        if token_id is not None:
            add(int(token_id))
    writer.add_add_bos_token(False)
    if tokenizer.chat_template:
        writer.add_chat_template(tokenizer.chat_template if isinstance(tokenizer.chat_template, str) else tokenizer.chat_template.get("default", ""))


def write_gguf(model_dir: Path, out_path: Path, dtype: str = "f16") -> Path:
    """The merged model in `model_dir` as one GGUF file (Llama architecture)."""
    import gguf
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    config = AutoConfig.from_pretrained(model_dir)
    if config.model_type != "llama":
        raise BuildError(
            f"GGUF export supports the Llama architecture (SmolLM2, Llama and alike); this model is {config.model_type!r}. "
            f"Serve build/model/ with transformers or vLLM instead."
        )
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    n_head, n_kv = config.num_attention_heads, config.num_key_value_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // n_head
    name_map = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, config.num_hidden_layers)
    rope = getattr(config, "rope_parameters", None) or {}
    rope_theta = rope.get("rope_theta", getattr(config, "rope_theta", 10000.0))

    with atomic_path(out_path) as tmp:
        writer = gguf.GGUFWriter(str(tmp), "llama")
        writer.add_name(Path(model_dir).parent.parent.name or "tailor-model")
        writer.add_context_length(config.max_position_embeddings)
        writer.add_embedding_length(config.hidden_size)
        writer.add_block_count(config.num_hidden_layers)
        writer.add_feed_forward_length(config.intermediate_size)
        writer.add_head_count(n_head)
        writer.add_head_count_kv(n_kv)
        writer.add_rope_freq_base(float(rope_theta))
        writer.add_layer_norm_rms_eps(float(config.rms_norm_eps))
        writer.add_rope_dimension_count(head_dim)
        writer.add_vocab_size(config.vocab_size)
        writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16 if dtype == "f16" else gguf.LlamaFileType.ALL_F32)
        pre = "smollm" if "smollm" in str(getattr(config, "_name_or_path", "")).lower() or config.vocab_size == 49152 else "default"
        _tokenizer_fields(writer, Path(model_dir), tokenizer, pre)
        for name, tensor in model.state_dict().items():
            if name == "lm_head.weight" and config.tie_word_embeddings:
                continue  # llama.cpp reuses token_embd for the output layer
            if "rotary_emb" in name:
                continue
            w = tensor.detach().float().numpy()
            if name.endswith("q_proj.weight"):
                w = _permute(w, n_head)
            elif name.endswith("k_proj.weight"):
                w = _permute(w, n_kv)
            gguf_name = name_map.get_name(name, try_suffixes=(".weight", ".bias"))
            if gguf_name is None:
                raise BuildError(f"GGUF export: no GGUF name for tensor {name!r}; this model's layout is not plain Llama")
            w = w.astype(np.float16) if dtype == "f16" and w.ndim > 1 else w.astype(np.float32)
            writer.add_tensor(gguf_name, w)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
    return out_path


def check_gguf(model_dir: Path, gguf_path: Path, prompt: str = "The clinic opens at") -> dict:
    """Load the GGUF back with transformers and compare its next-token predictions with the
    merged model's on a short prompt: the export is only kept when they agree."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    ref_tok = AutoTokenizer.from_pretrained(model_dir)
    ref = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    tok = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    loaded = AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name, dtype=torch.float32).eval()
    ids = ref_tok(prompt, return_tensors="pt").input_ids
    same_tokens = tok(prompt, return_tensors="pt").input_ids.tolist() == ids.tolist()
    with torch.no_grad():
        a, b = ref(ids).logits[0].float(), loaded(ids).logits[0].float()
    agree = float((a.argmax(-1) == b.argmax(-1)).float().mean())
    return {"same_tokenization": same_tokens, "top1_agreement": round(agree, 4), "max_abs_logit_diff": round(float((a - b).abs().max()), 4)}


def export_gguf_file(model_dir: Path, out_path: Path, dtype: str = "f16") -> tuple[Path, dict]:
    write_gguf(model_dir, out_path, dtype)
    check = check_gguf(model_dir, out_path)
    if not check["same_tokenization"] or check["top1_agreement"] < 0.9:
        out_path.unlink(missing_ok=True)
        raise BuildError(f"GGUF export did not load back faithfully ({check}); the file was removed")
    log.info(f"wrote {out_path} ({out_path.stat().st_size / 1e6:.0f} MB); loads back with transformers: {check}")
    return out_path, check


def clean_stale(build_dir: Path) -> None:
    """Finish or undo an export a crash interrupted: a model.old-* with no model/ is put back;
    leftover temporary folders are removed."""
    model = build_dir / "model"
    for old in sorted(build_dir.glob("model.old-*")):
        if not model.exists():
            os.replace(old, model)
        else:
            shutil.rmtree(old, ignore_errors=True)
    for tmp in build_dir.glob("model.tmp-*"):
        shutil.rmtree(tmp, ignore_errors=True)
