"""Supervised fine-tuning: a LoRA adapter trained on the rendered conversations with TRL."""
from __future__ import annotations

import shutil
import time
from pathlib import Path

from knowledge.files import replace_dir

from ._common import is_main_process, log, trainer_precision_args, training_precision, use_cuda, weights_dtype
from ._template import training_chat_template


def answer_token_trainer():
    """SFTTrainer that, on a CPU, sends only the answer positions through the LM head.

    Without its Triton kernel (any CPU), TRL's loss scores every position through the LM head
    and masks afterwards. With retrieved context in every prompt most positions are prompt, and
    their (positions x vocabulary) product -- a fifth of SmolLM2's compute -- is thrown away.
    transformers' `logits_to_keep` computes logits at the chosen positions only; the loss is the
    same sum over answer tokens.
    """
    import torch.nn.functional as F
    from trl import SFTTrainer

    class AnswerTokenSFTTrainer(SFTTrainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            if self.accelerator.device.type != "cpu" or return_outputs or "labels" not in inputs:
                return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            targets = inputs["labels"][:, 1:]  # position p predicts token p + 1
            keep = (targets != -100).any(dim=0).nonzero().flatten()
            kwargs = {k: v for k, v in inputs.items() if k != "labels"}
            logits = model(**kwargs, use_cache=False, logits_to_keep=keep).logits
            wanted = targets[:, keep]
            loss = F.cross_entropy(logits.float().flatten(0, 1), wanted.flatten(), ignore_index=-100, reduction="sum")
            n = (wanted != -100).sum() if num_items_in_batch is None else num_items_in_batch
            return loss / max(int(n), 1)

    return AnswerTokenSFTTrainer


def lora_config(cfg):
    from peft import LoraConfig

    b = cfg.builder
    return LoraConfig(
        r=b.lora_r,
        lora_alpha=b.lora_alpha,
        lora_dropout=b.lora_dropout,
        target_modules=b.lora_target_modules,
        task_type="CAUSAL_LM",
    )


def last_checkpoint(checkpoint_dir: Path, key: str) -> str | None:
    """The newest checkpoint written for these very inputs (`key`), or None."""
    from transformers.trainer_utils import get_last_checkpoint

    if not (checkpoint_dir / "key.txt").exists() or (checkpoint_dir / "key.txt").read_text() != key:
        return None
    return get_last_checkpoint(str(checkpoint_dir))


def prepare_checkpoints(checkpoint_dir: Path, key: str, resume: bool) -> str | None:
    """Where to resume from; without --resume (or for other inputs) old checkpoints are cleared."""
    found = last_checkpoint(checkpoint_dir, key) if resume else None
    if resume and found is None:
        log.info("  --resume: no checkpoint for these inputs; training from the start")
    if found is None and is_main_process():
        shutil.rmtree(checkpoint_dir, ignore_errors=True)
        checkpoint_dir.mkdir(parents=True, exist_ok=True)
        (checkpoint_dir / "key.txt").write_text(key)
    return found


def run_sft(
    base_model: str,
    train_rows: list[dict],
    cfg,
    adapter_dir: Path,
    checkpoint_dir: Path,
    key: str = "",
    resume: bool = False,
    callbacks: list | None = None,
) -> dict:
    """Train a LoRA adapter on `train_rows` ({"messages": [...]}) and save it to `adapter_dir`.

    Loss is on the assistant turns only, through a chat template that renders exactly like the
    serving one. Returns the figures the manifest records (loss, steps, tokens/s, seconds).
    """
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig

    s = cfg.builder.sft
    started = time.time()

    # 1. The base model: bf16 weights only on a GPU that supports them; on a CPU with native bf16,
    #    fp32 weights and bf16 matrix products (builder.precision).
    precision = training_precision(cfg.builder.precision)
    tokenizer = AutoTokenizer.from_pretrained(base_model)
    model = AutoModelForCausalLM.from_pretrained(base_model, dtype=weights_dtype(precision))

    # 2. Loss on assistant turns only. A template with {% generation %} markers that renders the
    #    serving text exactly is used when one can be made; otherwise each conversation becomes a
    #    prompt/completion pair, which TRL masks without markers (only the last answer trains).
    template = training_chat_template(tokenizer)
    if template is not None:
        tokenizer.chat_template = template
        dataset = Dataset.from_list([{"messages": r["messages"]} for r in train_rows])
    else:
        log.warning("  warning: the model's chat template cannot be marked for assistant-only loss; training on last answers only")
        dataset = Dataset.from_list([{"prompt": r["messages"][:-1], "completion": r["messages"][-1:]} for r in train_rows])

    # 3. The trainer: LoRA on every linear layer by default; packed rows without padding.
    batch_size, accumulation = s.batching(gpu=use_cuda())
    args = SFTConfig(
        output_dir=str(checkpoint_dir),
        num_train_epochs=s.epochs,
        learning_rate=s.learning_rate,
        lr_scheduler_type="cosine",
        warmup_steps=0.05,
        per_device_train_batch_size=batch_size,
        gradient_accumulation_steps=accumulation,
        max_length=s.max_length,
        packing=s.packing,
        padding_free=s.packing,
        assistant_only_loss=template is not None,
        gradient_checkpointing=s.gradient_checkpointing,
        **trainer_precision_args(precision),
        save_strategy="steps",
        save_steps=s.checkpoint_steps,
        save_total_limit=1,
        logging_steps=1,
        report_to="none",
        seed=cfg.builder.seed,
        data_seed=cfg.builder.seed,
        dataloader_num_workers=0,
    )
    trainer = answer_token_trainer()(
        model=model,
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=lora_config(cfg),
        callbacks=callbacks,
    )
    n_tokens = sum(len(ids) for ids in trainer.train_dataset["input_ids"])  # real tokens: packed rows hold no padding

    # 4. Train, from the last checkpoint of these inputs with --resume.
    resume_from = prepare_checkpoints(checkpoint_dir, key, resume)
    result = trainer.train(resume_from_checkpoint=resume_from)

    # 5. Save the adapter atomically, then drop the checkpoints.
    if is_main_process():
        tmp = adapter_dir.with_name(adapter_dir.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        trainer.model.save_pretrained(tmp)
        replace_dir(tmp, adapter_dir)
        shutil.rmtree(checkpoint_dir, ignore_errors=True)
    seconds = time.time() - started
    train_seconds = result.metrics.get("train_runtime", seconds)
    return {
        "train_loss": round(float(result.training_loss), 4),
        "steps": int(result.global_step),
        "examples": len(train_rows),
        "epochs": s.epochs,
        "train_tokens": int(n_tokens * s.epochs),
        "tokens_per_s": round(n_tokens * s.epochs / max(train_seconds, 1e-9), 1),
        "train_seconds": round(train_seconds, 2),
        "assistant_only_loss": template is not None,
        "batch": [batch_size, accumulation],
        "precision": precision,
        "resumed_from": Path(resume_from).name if resume_from else None,
        "seconds": round(seconds, 1),
    }
