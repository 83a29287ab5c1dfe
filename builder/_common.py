"""Small helpers every build stage uses: hashing inputs, the device, token F1, the build log.

Token F1 is the one `tailor eval` reports (evals.token_f1), so the build's held-out figure and
the eval report can be compared number for number."""
from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import sys
import time
from collections import Counter
from pathlib import Path

from evals import normalize_answer, token_f1  # noqa: F401  (re-exported: the build's held-out F1)
from knowledge import files

log = logging.getLogger("tailor.build")


# --- hashing -------------------------------------------------------------------------------


def hash_json(value) -> str:
    """Stable hash of JSON-able settings (key order does not matter)."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


def hash_file(path: Path) -> str | None:
    path = Path(path)
    if not path.exists():
        return None
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def hash_tree(folder: Path) -> str | None:
    """Hash of every file's relative path and bytes under `folder` (None when absent)."""
    folder = Path(folder)
    if not folder.is_dir():
        return None
    h = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")):
        h.update(path.relative_to(folder).as_posix().encode())
        h.update((hash_file(path) or "").encode())
    return h.hexdigest()[:16]


# --- device --------------------------------------------------------------------------------


def use_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def use_bf16() -> bool:
    """bf16 only where a GPU supports it: TRL's configs default to bf16 and fail on a CPU."""
    import torch

    return torch.cuda.is_available() and torch.cuda.is_bf16_supported()


def cpu_has_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """True where the CPU multiplies bf16 natively (AVX512-BF16 or AMX). Elsewhere oneDNN
    emulates bf16, which trains slower than fp32."""
    try:
        flags = cpuinfo.read_text(errors="replace")
    except OSError:  # not Linux: no way to tell, so fp32
        return False
    return re.search(r"\b(avx512_bf16|amx_bf16)\b", flags) is not None


def training_precision(setting: str = "auto") -> str:
    """How SFT and DPO compute, for builder.precision on this machine:

    - "bf16": bf16 weights, on a GPU that supports bf16 (auto or bf16);
    - "bf16-autocast": fp32 weights and optimizer, matrix products in bf16 (torch autocast), on
      a CPU with native bf16 (auto) or when asked (bf16);
    - "fp32": everything else, and always with builder.precision fp32.
    """
    if setting == "fp32":
        return "fp32"
    if use_cuda():
        return "bf16" if use_bf16() else "fp32"
    return "bf16-autocast" if setting == "bf16" or cpu_has_bf16() else "fp32"


def weights_dtype(precision: str):
    """The dtype the model's weights load in for a `training_precision` (bf16 on a GPU only)."""
    import torch

    return torch.bfloat16 if precision == "bf16" else torch.float32


def trainer_precision_args(precision: str) -> dict:
    """The HF TrainingArguments for a `training_precision` (the CPU needs use_cpu for bf16)."""
    if precision == "fp32":
        return {"bf16": False}
    return {"bf16": True} if precision == "bf16" else {"bf16": True, "use_cpu": True}


def is_main_process() -> bool:
    """False on the extra ranks of `accelerate launch`, which must not write shared files."""
    return int(os.environ.get("RANK", "0")) == 0


def library_versions() -> dict:
    import importlib.metadata as md

    out = {"python": sys.version.split()[0]}
    for name in ("torch", "transformers", "trl", "peft", "accelerate", "datasets", "sentence-transformers", "faiss-cpu"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            pass
    return out


# --- token F1 ------------------------------------------------------------------------------

def tokens(text: str) -> list[str]:
    """The one answer normalisation (evals.normalize_answer: SQuAD's, plus markers and markdown), as words."""
    return normalize_answer(text).split()


def token_recall(reference: str, passage: str) -> float:
    """Share of the reference's words (with multiplicity) found in the passage."""
    ref, pas = tokens(reference), tokens(passage)
    if not ref:
        return 0.0
    return sum((Counter(ref) & Counter(pas)).values()) / len(ref)


# --- files ---------------------------------------------------------------------------------


def read_jsonl(path: Path) -> list[dict]:
    """Rows of a JSONL file the build wrote (build/data/); a damaged line names file:line."""
    return files.read_jsonl(path, fix=f"delete {Path(path).parent} and run the build again")


# --- build log -----------------------------------------------------------------------------


def setup_log(log_dir: Path | None, quiet: bool = False) -> Path | None:
    """Log to stderr (one line per stage) and to build/logs/build-<time>.log (everything)."""
    log.setLevel(logging.INFO)
    for handler in list(log.handlers):
        log.removeHandler(handler)
        handler.close()
    log.propagate = False
    if not quiet:
        console = logging.StreamHandler(sys.stderr)
        console.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(console)
    if log_dir is None:
        return None
    log_dir.mkdir(parents=True, exist_ok=True)
    path = log_dir / f"build-{time.strftime('%Y%m%d-%H%M%S')}.log"
    fh = logging.FileHandler(path, encoding="utf-8")
    fh.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
    log.addHandler(fh)
    return path


def fmt_seconds(s: float) -> str:
    s = max(0, int(round(s)))
    return f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"
