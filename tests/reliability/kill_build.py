"""Run `tailor build` on FOLDER and SIGKILL the process at STAGE (used by test_kill_build.py).

    python kill_build.py FOLDER STAGE [--resume]

STAGE: index (after 2 embedding batches were saved), sft (right after the first checkpoint is
written), dpo (after the first DPO training step), export (after the merged model is written,
before it is swapped in). The kill is a real SIGKILL from inside the process at that point, so
no cleanup code runs, as when the machine loses power or the OOM killer strikes.
"""
import dataclasses
import os
import signal
import sys


def die():
    os.kill(os.getpid(), signal.SIGKILL)


def arm(stage: str) -> None:
    import builder._build as B

    if stage == "index":
        import knowledge._build as K

        original, count = K._Progress.append, [0]

        def append(self, texts, vectors):
            original(self, texts, vectors)
            count[0] += 1
            if count[0] == 2:
                die()

        K._Progress.append = append
    elif stage == "sft":
        from transformers import Trainer

        original_save = Trainer._save_checkpoint

        def save(self, *a, **k):
            original_save(self, *a, **k)
            die()

        Trainer._save_checkpoint = save
    elif stage == "dpo":
        from transformers import Trainer

        run_dpo, original_step = B.STAGE["dpo"].run, Trainer.training_step

        def step(self, *a, **k):
            out = original_step(self, *a, **k)
            die()
            return out

        def dpo_stage(b):
            Trainer.training_step = step
            return run_dpo(b)

        B.STAGE["dpo"] = dataclasses.replace(B.STAGE["dpo"], run=dpo_stage)
    elif stage == "export":
        import builder._export as E

        original_merge = E.merge_adapter

        def merge(*a, **k):
            original_merge(*a, **k)
            die()

        E.merge_adapter = merge
    else:
        raise SystemExit(f"unknown stage {stage}")


if __name__ == "__main__":
    folder, stage = sys.argv[1], sys.argv[2]
    arm(stage)
    from builder import build
    from builder.config import load_config

    build(folder, load_config(folder), resume="--resume" in sys.argv, quiet=True)
    raise SystemExit("the build finished: the kill point was never reached")
