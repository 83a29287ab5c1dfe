"""Tailor's builder: from an assistant folder to a tuned model, a knowledge base and a manifest.

    from builder import build
    from builder.config import load_config
    summary = build("examples/clinic", load_config("examples/clinic"))
    print(summary)

Stages (each cached by a hash of its inputs; one `Stage` record each, `STAGE[name]`): index,
base, data, sft, dpo, calibrate, export, evaluate; the manifest (build/manifest.json) is written
last. `run_sft` and `run_dpo` are the
training steps on their own, readable top to bottom; `export_gguf` writes a GGUF file of the
merged model. The helpers live in _-prefixed modules.
"""
from __future__ import annotations

from pathlib import Path

# The training stack (TRL, PEFT) takes seconds to import; load it on first use so that
# `import builder.config` (every CLI command reads assistant.yaml through it) stays instant.
_LAZY = {
    "STAGES": "._build", "STAGE": "._build", "Stage": "._build", "prerequisites": "._build", "BuildSummary": "._build", "StageReport": "._build", "build": "._build",
    "run_dpo": "._dpo", "run_sft": "._sft", "lora_config": "._sft", "calibrate": "._calibrate", "answer_recall": "._data",
    "use_bf16": "._common",
    "training_precision": "._common",
}  # fmt: skip


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module 'builder' has no attribute {name!r}")

__all__ = ["build", "run_sft", "run_dpo", "export_gguf", "BuildSummary", "StageReport", "STAGES", "STAGE", "Stage", "prerequisites", "lora_config", "calibrate", "answer_recall", "use_bf16", "training_precision"]


def export_gguf(folder, cfg=None, out: Path | None = None, dtype: str = "f16") -> Path:
    """Write FOLDER/build/model as a GGUF file (default build/<name>.gguf) and check that
    transformers loads it back with the same predictions. Needs a built (trained) assistant."""
    from chat.manifest import read_manifest
    from knowledge.errors import BuildError
    from knowledge.folder import AssistantFolder

    from ._export import export_gguf_file

    build_dir = AssistantFolder(folder).build
    manifest, _ = read_manifest(build_dir)
    if not manifest.model_dir:
        raise BuildError(
            f"{build_dir}: a retrieval-only build has no tuned model to export; add data/conversations.jsonl and run `tailor build {folder}`"
        )
    if dtype not in ("f16", "f32"):
        raise BuildError(f"--dtype must be f16 or f32 (got {dtype!r})")
    name = (cfg.name if cfg is not None else manifest.name).replace(" ", "-").lower()
    out = Path(out) if out else build_dir / f"{name}.gguf"
    return export_gguf_file(build_dir / manifest.model_dir, out, dtype)[0]


# Light helpers (no training stack): `tailor init` and the app's build-time estimate.
from ._estimate import build_estimate  # noqa: E402
from ._init import init_folder  # noqa: E402

__all__ += ["build_estimate", "init_folder"]
