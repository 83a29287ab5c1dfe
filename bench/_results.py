"""bench/results.jsonl: one JSON object per figure (name, value, unit, baseline, ratio, commit,
time, command), shared by every benchmark script so the rows stay comparable."""
from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results.jsonl"


def commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    except OSError:
        return ""


def make_recorder(command: str, show_note: bool = True) -> Callable[..., None]:
    """`record(name, value, unit, baseline=None, note="")`: append one figure and print it with its
    ratio to the baseline measured in the same run. `show_note=False` keeps long notes out of the console."""

    def record(name: str, value: float, unit: str, baseline: float | None = None, note: str = "") -> None:
        ratio = (value / baseline) if baseline else None
        row = {
            "name": name,
            "value": round(float(value), 4),
            "unit": unit,
            "baseline": None if baseline is None else round(float(baseline), 4),
            "ratio": None if ratio is None else round(ratio, 3),
            "commit": commit(),
            "time": dt.datetime.now().isoformat(timespec="seconds"),
            "command": " ".join([command, *sys.argv[1:]]),
        }
        if note:
            row["note"] = note
        # Paths as a reader's checkout has them: ../shared beside the project, not this machine's.
        row = json.loads(json.dumps(row).replace(str(ROOT.parent) + "/", "../"))
        with open(RESULTS, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(row) + "\n")
        shown = f"{name}: {value:.4g} {unit}"
        if baseline is not None:
            shown += f"  (baseline {baseline:.4g}, ratio {ratio:.3f})"
        print(shown + (f"  [{note}]" if note and show_note else ""), flush=True)

    return record
