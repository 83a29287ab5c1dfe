"""The `knowledge:` section of assistant.yaml."""
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator


class KnowledgeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    embedder: str = Field(
        "all-minilm-l6-v2",
        description="Embedding model: the packaged alias 'all-minilm-l6-v2', a local folder, or a Hugging Face id.",
    )
    chunk_size: int = Field(
        300,
        gt=16,
        le=4096,
        description="Chunk size in embedder tokens. Past the embedder's limit (MiniLM: 256 word pieces, title line "
        "included) a chunk's tail is not embedded, but BM25 and the chat model still read all of it; 300 retrieved best "
        "on the clinic and finance sets (docs/BENCHMARKS.md).",
    )
    chunk_overlap: int = Field(
        0,
        ge=0,
        description="Tokens shared by neighbouring chunks. Chunks already end at paragraph or sentence breaks; a 32-token "
        "overlap measured mixed on the shared data (docs/BENCHMARKS.md). Raise it for text without structure.",
    )
    index_type: Literal["flat", "hnsw", "ivf"] = Field(
        "flat", description="flat is exact and fine to ~1M chunks; hnsw or ivf trade a little recall for speed on large corpora."
    )
    search_mode: Literal["dense", "bm25", "hybrid"] = Field("hybrid", description="Default retrieval mode.")
    top_k: int = Field(4, ge=1, le=50, description="Chunks retrieved per question.")
    reranker: str | None = Field(None, description="Optional CrossEncoder (local folder or model id) that reorders fused candidates.")
    batch_size: int = Field(64, ge=1, description="Chunks embedded per batch; larger is faster on a GPU, costs memory.")
    chunk_context: bool = Field(
        True,
        description="Prepend the document title and heading trail to each chunk's embedded and BM25-indexed text, "
        "so a passage of a flattened table still says whose table it is.",
    )
    candidates: int = Field(
        50, ge=1, le=1000, description="Chunks each retriever proposes before fusion and reranking; more helps hybrid recall, costs time."
    )

    @field_validator("chunk_overlap")
    @classmethod
    def _overlap_below_size(cls, value: int, info: ValidationInfo) -> int:
        """An overlap as large as the chunk would repeat whole chunks (or never advance)."""
        size = info.data.get("chunk_size")
        if size is not None and value >= size:
            raise ValueError(f"must be smaller than knowledge.chunk_size ({size}); 0 to 20% of it is usual")
        return value
