"""The `evals:` and `privacy:` sections of assistant.yaml (privacy: what the app's votes keep)."""
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from chat import VARIANTS


class EvalsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    variants: list[Literal[VARIANTS]] = Field(
        default_factory=lambda: ["base", "base+rag", "tuned", "tuned+rag"],
        description="Variants compared by `tailor eval`; `extract` (no model, the floor) always runs beside them.",
    )
    test_share: float = Field(
        0.5, gt=0, lt=1,
        description="Share of each suite held out as the test split (by a hash of the question id): reports headline "
                    "test; anything that tunes (the build's choices, your own tuning of defaults) uses dev.",
    )
    seed: int = Field(0, description="Seed for --limit sampling and bootstrap intervals.")
    batch_size: int | None = Field(
        None, ge=1, le=256, description="Questions answered at once per variant, decoded in one batch (same greedy answers as 1 "
        "at a time; first_token_s then includes waiting for the batch). Unset: 8 on a CPU, 32 on a GPU; 1 answers one by one."
    )
    select_limit: int = Field(
        40, ge=0, description="Dev-split questions `tailor build` answers with extract, base+rag and tuned+rag to choose the "
        "variant to serve (a seeded sample, decline questions in proportion; 40 keeps a CPU build within a few minutes). "
        "0: held-out conversations decide, as for an assistant without eval suites."
    )
    bootstrap_samples: int = Field(1000, ge=100)
    judge_url: str | None = Field(None, description="Optional OpenAI-compatible endpoint for an LLM judge; off when unset.")
    judge_model: str | None = None


class PrivacyConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    redact: bool = Field(True, description="Mask emails, phone numbers and long digit runs in saved votes.")
