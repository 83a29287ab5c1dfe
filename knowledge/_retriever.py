"""The knowledge base as a langchain-core retriever, so it composes in runnable chains
(`retriever | format_docs | prompt | llm`) like any other LangChain retriever."""
from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict


class KnowledgeRetriever(BaseRetriever):
    """`KnowledgeBase.search` behind LangChain's retriever interface; hits become Documents whose
    metadata carries the citation fields and scores."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    kb: Any
    k: int | None = None
    mode: str | None = None

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        hits = self.kb.search(query, k=self.k, mode=self.mode)
        documents = []
        for hit in hits:
            metadata = hit.to_dict()
            metadata.pop("text")
            documents.append(Document(page_content=hit.text, metadata=metadata, id=hit.id))
        return documents
