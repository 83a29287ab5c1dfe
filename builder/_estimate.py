"""How long the next full build should take, from the stage times the last build recorded."""
from __future__ import annotations

import json
from pathlib import Path

from knowledge.folder import AssistantFolder


def build_estimate(folder: str | Path) -> str:
    """One sentence for the person about to start a build: the last build's total time, or a
    first-build guess when none is recorded (build/stages/*.json)."""
    stages = AssistantFolder(folder).stages
    seconds = 0.0
    for path in stages.glob("*.json") if stages.is_dir() else []:
        try:
            seconds += float(json.loads(path.read_text(encoding="utf-8")).get("seconds") or 0)
        except (OSError, ValueError, AttributeError):
            continue
    if seconds >= 60:
        return (f"The last build's stages took {seconds / 60:.0f} min in all; a build that retrains takes about as long "
                "(stages whose inputs did not change are skipped).")
    return ("No earlier build recorded here: the clinic example's first build took about 40 min on 2 CPU cores "
            "without native bf16, about 33 min with it (docs/TRAINING.md); a larger folder takes longer, a GPU much less.")
