"""One training stage of `tailor build`, runnable under `accelerate launch` on several GPUs.

    accelerate launch -m builder.train examples/clinic sft      # SFT on every GPU (DDP)
    accelerate launch -m builder.train examples/clinic dpo      # then DPO
    tailor build examples/clinic                                # calibrate, export, manifest (training cached)

Each process runs the same build code. The main process first brings the stages before the one
asked for up to date (index, base, data; they are cached, so usually nothing runs) while the
others wait; then every process joins the trainer, which TRL and accelerate distribute. Only the
main process writes files. FSDP or DeepSpeed work the same way through an accelerate config file
(`accelerate launch --config_file fsdp.yaml -m builder.train ...`). See docs/TRAINING.md.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    from knowledge.errors import TailorError

    from . import build
    from ._build import prerequisites
    from .config import load_config

    parser = argparse.ArgumentParser(prog="python -m builder.train", description=__doc__.split("\n")[0])
    parser.add_argument("folder", type=Path, help="the assistant folder")
    parser.add_argument("stage", choices=("sft", "dpo"), help="the training stage to run")
    parser.add_argument("--resume", action="store_true", help="continue from the stage's last checkpoint")
    parser.add_argument("--force", action="store_true", help="train even if the stage is up to date")
    args = parser.parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        from accelerate import PartialState

        state = PartialState()
        cfg = load_config(args.folder)
        with state.main_process_first():
            for stage in prerequisites(args.stage):
                build(args.folder, cfg, only=stage, quiet=not state.is_main_process)
        build(args.folder, cfg, only=args.stage, resume=args.resume, force=(args.stage,) if args.force else (), quiet=not state.is_main_process)
    except TailorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
