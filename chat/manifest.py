"""build/manifest.json: everything chat/ needs to load a built assistant, plus the record of
how it was built. builder/ writes it (atomically, last, so a manifest on disk means a complete
build); chat/ reads it. Paths inside are relative to the build folder, so a build can move.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chat.config import ChatConfig, GenerationConfig
from chat.prompt import PROMPT_FORMAT_VERSION
from knowledge.errors import BuildError
from knowledge.files import write_text_atomic
from knowledge.folder import MANIFEST_NAME



class DeclineCalibration(BaseModel):
    model_config = ConfigDict(extra="forbid")

    threshold: float = Field(..., description="Best dense similarity below which RAG variants decline.")
    method: str = Field(..., description="How the threshold was chosen, in words.")
    stats: dict = Field(default_factory=dict, description="Figures behind the choice (score quantiles, counts).")
    coverage: bool = Field(True, description="Also decline questions naming terms no document holds (chat._coverage); "
                                             "off when it would decline too many of the assistant's own questions.")


class ServingChoice(BaseModel):
    model_config = ConfigDict(extra="allow")  # the figures behind the choice (F1 per variant, n, interval)

    variant: str = Field(..., description="The variant served when none is asked for (the build measured it best).")
    reason: str = Field(..., description="One sentence saying why, with the figures; printed by ask/chat/serve.")


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prompt_format_version: int = PROMPT_FORMAT_VERSION
    name: str
    base_model: str = Field(..., description="Path or id of the float base model (the 'base' variants).")
    model_dir: str | None = Field(None, description="Merged tuned model, relative to the build folder; None for a retrieval-only build.")
    adapter_dir: str | None = Field(None, description="Final LoRA adapter (relative), usable over base_model instead of model_dir.")
    index_dir: str = Field("index", description="Knowledge base folder, relative to the build folder.")
    retrieval: dict = Field(default_factory=dict, description="k and mode used when serving.")
    decline: DeclineCalibration | None = None
    chat: ChatConfig = Field(default_factory=ChatConfig)
    generation: GenerationConfig = Field(default_factory=GenerationConfig)
    serving: ServingChoice | None = Field(None, description="Default variant chosen by the build's measurements; None: tuned+rag if trained.")
    record: dict = Field(default_factory=dict, description="Build record: input hashes, hyperparameters, losses, durations, versions.")


def read_manifest(build_dir: Path) -> tuple[Manifest, str]:
    """The manifest and its build id (hash of the file's bytes)."""
    path = Path(build_dir) / MANIFEST_NAME
    if not path.exists():
        raise BuildError(f"{path} not found: the assistant has not been built (or the build was interrupted); run `tailor build {Path(build_dir).parent}`")
    raw = path.read_bytes()
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise BuildError(f"{path}: not valid JSON ({exc}); rebuild with `tailor build`") from None
    version = data.get("prompt_format_version") if isinstance(data, dict) else None
    if version != PROMPT_FORMAT_VERSION:
        raise BuildError(
            f"{path}: built with prompt format version {version}, this Tailor uses {PROMPT_FORMAT_VERSION}; "
            f"rebuild with `tailor build --force sft {Path(build_dir).parent}`"
        )
    try:
        manifest = Manifest.model_validate(data)
    except ValidationError as exc:
        raise BuildError(f"{path}: invalid manifest ({exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}); rebuild with `tailor build`") from None
    return manifest, hashlib.sha256(raw).hexdigest()[:12]


def write_manifest(build_dir: Path, manifest: Manifest) -> None:
    """Write atomically: a reader sees the old manifest or the new one, never half of one."""
    write_text_atomic(Path(build_dir) / MANIFEST_NAME, manifest.model_dump_json(indent=2))
