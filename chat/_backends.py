"""Where answer tokens come from: the in-process model, or an OpenAI-compatible server.

Both yield text pieces as they are generated, so the rest of chat/ (retrieval, prompt,
citations, declining) is the same whichever one writes the answer.

In process, each set of weights is loaded at most once per Python process and shared by
every Assistant and thread (a model is ~0.5 GB; loading it twice would double that and the
wait). Concurrent answers on one model are decoded together by its `Batcher`
(chat/_batching.py): one forward pass per step for every answer being written, each
streamed to its own reader, greedy answers the same as when answered alone.
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from knowledge.errors import BuildError, ConfigError, TailorError


@dataclass
class LoadedModel:
    path: str
    model: object
    tokenizer: object
    context_window: int
    _batcher: object | None = field(default=None, repr=False)  # chat._batching.Batcher, imported with torch
    _batcher_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def batcher(self, max_batch: int = 16):
        """The decode loop every request on this model joins (started on first use).
        The largest `max_batch` any caller asked for wins: it is one loop per model."""
        with self._batcher_lock:
            if self._batcher is None:
                from chat._batching import Batcher

                self._batcher = Batcher(self.model, self.tokenizer, self.context_window, max_batch)
            self._batcher.max_batch = max(self._batcher.max_batch, max_batch)
            return self._batcher


@dataclass
class GenerationStats:
    """Filled while a stream runs: when the first token came and how many there were."""

    first_token_at: float | None = None
    new_tokens: int = 0
    finished_at: float | None = None


_MODELS: dict[tuple[str, str | None, str], LoadedModel] = {}
_TOKENIZERS: dict[str, tuple[object, int]] = {}
_LOAD_LOCK = threading.Lock()


def _context_window(config) -> int:
    for attr in ("max_position_embeddings", "n_positions", "max_sequence_length"):
        value = getattr(config, attr, None)
        if isinstance(value, int) and value > 0:
            return value
    return 2048


def _check_weights(path: str, what: str) -> None:
    folder = Path(path)
    if folder.exists() and not (folder / "config.json").exists() and not (folder / "adapter_config.json").exists():
        raise BuildError(f"{folder}: the {what} folder is incomplete (no config.json); the build was interrupted: run `tailor build`")


def load_model(path: str, adapter: str | None = None, dtype: str = "auto") -> LoadedModel:
    """The model at `path` (plus a LoRA adapter, merged on load), loaded once per process.
    `dtype` is generation.dtype: "auto" is float32 on a CPU, the checkpoint's dtype on a GPU."""
    key = (path, adapter, dtype)
    with _LOAD_LOCK:  # a second caller waits for the first load instead of starting another
        if key in _MODELS:
            return _MODELS[key]
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        _check_weights(path, "model")
        device = "cuda" if torch.cuda.is_available() else "cpu"
        torch_dtype = getattr(torch, dtype) if dtype != "auto" else (torch.float32 if device == "cpu" else "auto")
        try:
            tokenizer = AutoTokenizer.from_pretrained(path)
            model = AutoModelForCausalLM.from_pretrained(path, dtype=torch_dtype)
        except OSError as exc:
            raise BuildError(f"{path}: cannot load the model ({exc}); run `tailor build` to (re)create it") from None
        if adapter:
            from peft import PeftModel

            _check_weights(adapter, "adapter")
            model = PeftModel.from_pretrained(model, adapter).merge_and_unload()
        model.to(device).eval()
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        loaded = LoadedModel(path=path, model=model, tokenizer=tokenizer, context_window=_context_window(model.config))
        _MODELS[key] = loaded
        return loaded


def load_tokenizer(path: str) -> tuple[object, int]:
    """Tokenizer and context window of a model served elsewhere: enough to fit the prompt."""
    with _LOAD_LOCK:
        if path not in _TOKENIZERS:
            from transformers import AutoConfig, AutoTokenizer

            try:
                _TOKENIZERS[path] = (AutoTokenizer.from_pretrained(path), _context_window(AutoConfig.from_pretrained(path)))
            except OSError as exc:
                raise BuildError(f"{path}: cannot load the tokenizer ({exc}); run `tailor build` to (re)create it") from None
        return _TOKENIZERS[path]


DECODING_VERSION = 2  # 2: citation order (chat._batching.CitationOrder). Part of the build's evaluate key: new decoding, new choice


def generation_kwargs(gen, prompt_length: int, model=None, tokenizer=None) -> dict:
    """transformers `generate` settings from the `generation:` config: greedy when temperature is 0.
    With the model and its tokenizer, citation markers follow what they cite
    (chat._batching.CitationOrder), as in Tailor's own decoding loop.

    The repetition penalty counts only the answer's own tokens. transformers' default also
    penalises every token of the prompt, which for a RAG prompt means the very words of the
    retrieved documents: measured on the default model, the clinic's hours question went
    from "The clinic is open on Saturday from ..." to "I'm sorry for any confusion ...".
    """
    from transformers import LogitsProcessorList, RepetitionPenaltyLogitsProcessor

    kwargs = {"max_new_tokens": gen.max_new_tokens}
    processors = []
    if gen.repetition_penalty != 1.0:
        processors.append(RepetitionPenaltyLogitsProcessor(gen.repetition_penalty, prompt_ignore_length=prompt_length))
    if tokenizer is not None:
        from chat._batching import CitationOrder, _eos_ids

        processors.append(CitationOrder(tokenizer, _eos_ids(model, tokenizer), prompt_length))
    if processors:
        kwargs["logits_processor"] = LogitsProcessorList(processors)
    if gen.temperature > 0:
        kwargs.update(do_sample=True, temperature=gen.temperature, top_p=gen.top_p)
    else:
        kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
    return kwargs


def _decode_incrementally(tokenizer, ids: Iterator[int], stats: GenerationStats) -> Iterator[str]:
    """Text pieces as tokens arrive. A character split over two tokens (emoji, CJK) is held
    back until it is whole, so no piece ever carries a broken character."""
    kept: list[int] = []
    emitted = ""
    special = set(tokenizer.all_special_ids)
    for token in ids:
        stats.new_tokens += 1
        if stats.first_token_at is None:
            stats.first_token_at = time.perf_counter()
        if token in special:
            continue
        kept.append(token)
        text = tokenizer.decode(kept, skip_special_tokens=True)
        if text.endswith("\ufffd"):
            continue
        # Decoding more tokens never rewrites earlier text for byte-level BPE tokenizers.
        piece = text[len(emitted):]
        emitted = text
        if piece:
            yield piece


def stream_local(loaded: LoadedModel, messages: list[dict], gen, stats: GenerationStats) -> Iterator[str]:
    """Text pieces of the model's answer as they are generated, decoded in the model's batch
    together with whatever else it is answering. If the reader stops early (a closed browser
    tab), the request leaves the batch at the next step."""
    from chat._batching import Request

    tokenizer = loaded.tokenizer
    prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_dict=True)["input_ids"]
    request = loaded.batcher(gen.max_batch).submit(Request.from_config(prompt, gen))
    try:
        yield from _decode_incrementally(tokenizer, request.tokens(), stats)
    finally:
        request.cancel()
        stats.finished_at = time.perf_counter()


def stream_openai(url: str, model: str, messages: list[dict], gen, stats: GenerationStats, timeout: float = 120.0) -> Iterator[str]:
    """Stream a chat completion from an OpenAI-compatible server (vLLM, `transformers serve`,
    llama.cpp) over server-sent events: one `data: {json}` line per piece, then `data: [DONE]`."""
    import httpx

    payload = {"model": model, "messages": messages, "stream": True, "max_tokens": gen.max_new_tokens, "temperature": gen.temperature}
    if gen.temperature > 0:
        payload["top_p"] = gen.top_p
    endpoint = url.rstrip("/") + "/chat/completions"
    try:
        with httpx.Client(timeout=httpx.Timeout(timeout, connect=10.0)) as client:
            with client.stream("POST", endpoint, json=payload) as response:
                if response.status_code != 200:
                    body = response.read().decode("utf-8", "replace")[:300]
                    raise TailorError(f"generation server {endpoint} answered HTTP {response.status_code}: {body}; check generation.url and generation.model")
                for line in response.iter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        break
                    event = json.loads(data)
                    choices = event.get("choices") or []
                    piece = (choices[0].get("delta") or {}).get("content") if choices else None
                    usage = event.get("usage") or {}
                    if usage.get("completion_tokens"):
                        stats.new_tokens = usage["completion_tokens"]
                    if piece:
                        if stats.first_token_at is None:
                            stats.first_token_at = time.perf_counter()
                        if not usage:
                            stats.new_tokens += 1
                        yield piece
    except httpx.HTTPError as exc:
        raise TailorError(f"cannot reach the generation server at {endpoint} ({exc}); start it, or fix generation.url in assistant.yaml") from None
    finally:
        stats.finished_at = time.perf_counter()


def set_threads(threads: int | None) -> None:
    """torch's CPU thread count is per process; set it only when the config asks."""
    if threads:
        import torch

        torch.set_num_threads(threads)


def check_openai_settings(gen) -> None:
    if gen.backend == "openai" and not gen.url:
        raise ConfigError("generation.url must be set when generation.backend is openai (e.g. http://127.0.0.1:8000/v1)")


def first_token_probabilities(loaded: LoadedModel, messages: list[dict], options: list[str]) -> dict[str, float]:
    """The model's probability of opening its answer with each option, normalised over the options.

    Each option counts by its first token, written as it would open an answer ("Yes") and in
    lower case ("yes"); options that share a first token share its probability. Used by evals'
    choice accuracy: which verdict the model prefers, whatever words it would wrap it in.
    """
    import torch

    tokenizer, model = loaded.tokenizer, loaded.model
    inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    inputs = {k: v.to(model.device) for k, v in inputs.items()}
    with torch.inference_mode():  # a forward pass of its own, beside the batcher's decode loop (no shared cache)
        logits = model(**inputs).logits[0, -1].float()
    probs = torch.softmax(logits, dim=-1)
    mass = {}
    for option in options:
        ids = {tokenizer.encode(form, add_special_tokens=False)[0] for form in (option, option.lower(), option.capitalize()) if form}
        mass[option] = float(sum(probs[i] for i in ids))
    total = sum(mass.values())
    return {k: (v / total if total > 0 else 1.0 / len(mass)) for k, v in mass.items()}
