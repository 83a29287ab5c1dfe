"""assistant.yaml: one typed config per assistant, loaded once at the top and passed down in slices.

Each package owns its section's model (knowledge.config, chat.config, evals.config, and the
builder's here); this module composes them into the file's schema. Only the top (the CLI, the
app, the builder) imports it: `Assistant.load` takes a `ServingConfig`, `run_eval` an
`EvalsConfig` and a `ServingConfig`, cut from the composed config by `TailorConfig.serving()`.

Every section forbids unknown keys, so a misspelled option is an error naming the key,
the file and the allowed keys instead of a setting silently ignored.
"""
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chat.config import ChatConfig, GenerationConfig, ServingConfig
from evals.config import EvalsConfig, PrivacyConfig
from knowledge.config import KnowledgeConfig
from knowledge.errors import ConfigError

CONFIG_NAME = "assistant.yaml"


class SFTConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Defaults are sized so `tailor build` of a ~100-conversation folder trains the 135M default
    # model in a few minutes on a 2-core CPU; on a GPU raise epochs and max_length freely.
    epochs: float = Field(1.0, gt=0, description="Passes over the conversations; 1 keeps a CPU build within minutes, 2-3 fit better on a GPU.")
    learning_rate: float = Field(2e-4, gt=0, description="LoRA tolerates rates ~10x a full fine-tune's.")
    # Unset, the batch follows the device. On a CPU, one packed row per forward pass: a row's
    # attention mask costs the square of its length, so two short rows beat one long one, and
    # accumulation keeps two rows per update. On a GPU a 135M model is bound by kernel launches,
    # not arithmetic: 4 rows per pass and no accumulation trained 2.4x faster (docs/BENCHMARKS.md).
    batch_size: int | None = Field(
        None, ge=1, description="Rows per forward pass; with packing each row holds several examples, up to max_length tokens in all. "
        "Unset: 1 on a CPU, 4 on a GPU."
    )
    gradient_accumulation: int | None = Field(
        None, ge=1, description="Steps whose gradients are summed before an update (a larger batch for the same memory). Unset: 2 on a CPU, 1 on a GPU."
    )

    def batching(self, gpu: bool) -> tuple[int, int]:
        """(rows per forward pass, steps per update) for the device, unless set in assistant.yaml."""
        default = (4, 1) if gpu else (1, 2)
        return (self.batch_size or default[0], self.gradient_accumulation or default[1])
    max_length: int = Field(
        1280,
        ge=64,
        description="Longest training row in tokens. The answer (up to generation.max_new_tokens) is reserved first, then the "
        "evidence (chat.evidence_tokens) and the conversation are fitted around it as serving fits them; a row still longer is "
        "counted as truncated in the build log. 1280 holds the system prompt, 896 tokens of evidence, the question and a "
        "200-token answer.",
    )
    packing: bool = Field(True, description="Pack examples padding-free into rows; much faster on CPU, same loss.")
    gradient_checkpointing: bool = Field(
        False, description="Recompute activations in the backward pass: less memory, ~30% slower. Turn on for large models on small GPUs."
    )
    checkpoint_steps: int = Field(10, ge=1, description="Save a resumable checkpoint every N steps (`tailor build --resume`).")


class DPOConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(True, description="Run the DPO stage after SFT when preference pairs exist.")
    epochs: float = Field(1.0, gt=0, description="Passes over the preference pairs (on a CPU, dpo.max_seconds may end the pass early).")
    learning_rate: float = Field(
        2e-4, gt=0, description="One run at this rate (constant schedule). LoRA needs far more than DPO's full-fine-tune default of 1e-6, "
        "and a CPU run has few steps: shared clinic data, 20 held-out pairs, 3 steps of 4 pairs at 2e-4 took the model's own "
        "preference for the chosen answer 55% -> 60%, the reward accuracy 0 -> 0.65 and the margin 0 -> 0.15 (4 steps: 50% -> 60%, "
        "0 -> 0.90, 0 -> 0.60); 1 step at 5e-5 (the earlier default) moved the margin to 0.02 and the preference not at all."
    )
    beta: float = Field(0.1, gt=0, description="Strength of the pull towards the SFT model; lower lets preferences move it more.")
    sft_weight: float = Field(
        1.0, ge=0, description="Weight of an SFT term (NLL of the chosen answer) added to the DPO loss, so chosen answers "
        "are not pushed down along with rejected ones (RPO, Pang et al. 2024); 0 trains plain DPO."
    )
    batch_size: int = Field(4, ge=1, description="Preference pairs per optimizer step (on a CPU one pair per forward pass, gradients summed over this many).")
    max_length: int = Field(
        1280, ge=64, description="Longest prompt + answer in tokens. Pairs carry the same evidence as SFT rows, fitted into "
        "sft.max_length; keep this at least as long so TRL never cuts them."
    )
    max_seconds: float | None = Field(
        600.0, gt=0, description="Seconds DPO may train on a CPU. Every pair rarely fits: clinic example, 69 pairs need about "
        "45 min; shared clinic data, 64 pairs about 40 min (164 s per 4-pair step). So a CPU run trains the pairs that fit (a "
        "seeded sample, sources in proportion), and only when at least 3 steps fit (3 steps moved the held-out pairs, see "
        "learning_rate; 1 step did not); otherwise DPO is skipped with the time every pair would need. The stage also makes "
        "the automatic pairs and scores the held-out pairs before and after: 16 min in all on the shared clinic data. A GPU "
        "trains on every pair. null: no limit."
    )
    max_pairs: int | None = Field(None, ge=1, description="Optional cap on training pairs (a seeded sample, sources kept in proportion); unset: every pair trains.")
    eval_pairs: int = Field(
        20, ge=1, description="Pairs held out to measure reward accuracy and margin before and after DPO, when at least "
        "twice as many exist; with fewer a fifth is held out and the build says the figures are too few to measure."
    )
    auto_pairs: bool = Field(True, description="Also make pairs from the SFT model's own answers that disagree with the reference.")
    auto_pairs_f1_threshold: float = Field(0.5, ge=0, le=1, description="An own answer below this token F1 to the reference becomes 'rejected'.")
    max_auto_pairs: int = Field(
        8, ge=0, description="Cap on automatic pairs; each costs one generation at full answer length (the longest sampled reference)."
    )


class SynthesizeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: Literal["auto", "always", "never"] = Field(
        "auto", description="auto: synthesize training data from docs/ when data/conversations.jsonl is absent; always: add it to the user's data."
    )
    max_examples: int = Field(400, ge=1, description="Cap on synthesized conversations (document-authored Q&A kept first).")
    max_pairs: int = Field(120, ge=0, description="Cap on synthesized DPO pairs (grounded answer over a same-kind distractor).")
    teacher_url: str | None = Field(None, description="Optional OpenAI-compatible endpoint (vLLM, llama.cpp, Ollama) that writes Q&A for sampled chunks.")
    teacher_model: str | None = Field(None, description="Model name for teacher_url, or a local Hugging Face model folder used as the teacher.")
    teacher_chunks: int = Field(60, ge=0, description="Chunks sampled for the teacher; each costs one teacher call.")
    teacher_timeout: float = Field(60.0, gt=0, description="Seconds per teacher call; 3 tries with backoff, then the stage fails, keeping what was made.")


class BuilderConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    base_model: str = Field(
        "smollm2-135m-instruct",
        description="A built-in alias (smollm2-135m-instruct), a local model folder, or a Hugging Face model id.",
    )
    lora_r: int = Field(16, gt=0, description="Adapter rank: more capacity, more memory.")
    lora_alpha: int = Field(32, gt=0, description="Usually 2 x lora_r.")
    lora_dropout: float = Field(0.05, ge=0, lt=1)
    lora_target_modules: list[str] | Literal["all-linear"] = Field("all-linear", description="Layers that get adapters.")
    eval_split: float = Field(0.1, ge=0, lt=0.5, description="Share of conversations held out for eval loss and F1.")
    raft_distractor_only: float = Field(
        0.1, ge=0, le=0.5, description="Share of your conversations whose evidence holds only distractors from other documents "
        "(RAFT), with the decline message as the answer: teaches 'not in the documents' without teaching to decline whenever "
        "the best passage is an imperfect match. Conversations synthesized from docs/ never get one: the decline gate declines "
        "for a documents-only build (docs/TRAINING.md)."
    )
    seed: int = Field(42, description="Seeds the split, the RAFT choice of examples, sampling and training.")
    min_conversations: int = Field(8, ge=2, description="Fewest usable conversations SFT trains on; fewer is an error naming this key.")
    oracle_min_recall: float = Field(
        0.5, gt=0, le=1, description="Share of an answer's words a chunk must hold to count as the document that answers it (RAFT's oracle)."
    )
    eval_max_new_tokens: int = Field(64, ge=8, description="Answer length when scoring held-out questions (token F1).")
    precision: Literal["auto", "fp32", "bf16"] = Field(
        "auto", description="Arithmetic of SFT and DPO. auto: bf16 weights on a GPU that supports them; on a CPU with native "
        "bf16 (AVX512-BF16 or AMX) fp32 weights with bf16 matrix products (autocast), fp32 elsewhere, where bf16 is emulated "
        "and slower. Clinic example on 2 cores: SFT 207 tokens/s with autocast vs 118 in fp32, build 33 min vs 40, dev F1 "
        "tuned+rag 0.25 vs 0.24 and held-out loss 2.063 vs 2.064 (docs/TRAINING.md). fp32: always fp32; bf16: autocast on any CPU too."
    )
    sft: SFTConfig = Field(default_factory=SFTConfig)
    dpo: DPOConfig = Field(default_factory=DPOConfig)
    synthesize: SynthesizeConfig = Field(default_factory=SynthesizeConfig)


class TailorConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field("Assistant", description="Shown in the app and substituted into the system prompt.")
    knowledge: KnowledgeConfig = Field(default_factory=KnowledgeConfig)
    chat: ChatConfig = Field(default_factory=ChatConfig)
    generation: GenerationConfig = Field(default_factory=GenerationConfig)
    builder: BuilderConfig = Field(default_factory=BuilderConfig)
    evals: EvalsConfig = Field(default_factory=EvalsConfig)
    privacy: PrivacyConfig = Field(default_factory=PrivacyConfig)

    def serving(self) -> ServingConfig:
        """The slice the runtime assistant reads (chat, evals and the app pass this down)."""
        return ServingConfig(name=self.name, base_model=self.builder.base_model, knowledge=self.knowledge,
                             chat=self.chat, generation=self.generation)


def _allowed_keys(model: type[BaseModel], loc: tuple) -> list[str]:
    """The keys allowed at `loc` (the path of the offending key), for the error message."""
    for part in loc[:-1]:
        field = model.model_fields.get(str(part))
        ann = getattr(field, "annotation", None)
        if not (isinstance(ann, type) and issubclass(ann, BaseModel)):
            return []
        model = ann
    return sorted(model.model_fields)


# Keys earlier versions read, with what replaces them (named in the error instead of "unknown key").
REMOVED_KEYS = {
    "builder.dpo.lr_sweep": "DPO now trains once, at builder.dpo.learning_rate (no sweep); delete lr_sweep and set learning_rate",
}


def _describe(err: dict, path: Path) -> str:
    loc = tuple(err["loc"])
    key = ".".join(str(p) for p in loc)
    if err["type"] == "extra_forbidden" and key in REMOVED_KEYS:
        return f"{path}: '{key}' is no longer read: {REMOVED_KEYS[key]}"
    if err["type"] == "extra_forbidden":
        allowed = _allowed_keys(TailorConfig, loc)
        return f"{path}: unknown key '{key}'" + (f"; allowed keys here: {', '.join(allowed)}" if allowed else "")
    msg = err["msg"]
    if err["type"] == "literal_error":
        msg = msg.replace("Input should be", "must be one of")
    return f"{path}: {key}: {msg} (got {err.get('input')!r})"


def config_from_dict(data: dict, path: Path) -> TailorConfig:
    try:
        return TailorConfig.model_validate(data)
    except ValidationError as exc:
        problems = [_describe(e, path) for e in exc.errors()]
        raise ConfigError("\n".join(problems)) from None


def load_config(folder: Path) -> TailorConfig:
    """Read FOLDER/assistant.yaml; defaults apply where it is absent or silent."""
    path = Path(folder) / CONFIG_NAME
    if not path.exists():
        return TailorConfig(name=Path(folder).resolve().name)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        raise ConfigError(f"{path}:{line}: not UTF-8 (byte 0x{exc.object[exc.start]:02x}); save the file as UTF-8") from None
    try:
        data = yaml.safe_load(text) or {}
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply to read; assistant.yaml is a few flat sections") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}{where}: not valid YAML ({getattr(exc, 'problem', exc)}); fix the syntax and retry") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: must be a mapping of sections (knowledge:, chat:, builder:, ...), got {type(data).__name__}")
    data.setdefault("name", Path(folder).resolve().name)
    return config_from_dict(data, path)
