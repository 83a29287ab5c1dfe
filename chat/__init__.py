"""Tailor's runtime assistant: load a built assistant and answer questions, streamed, with
cited sources, declining when the documents hold nothing relevant.

    from chat import Assistant
    assistant = Assistant.load("examples/clinic")   # as built; or pass load_config(...).serving()
    for event in assistant.stream("What time do you open on Saturday?"):
        ...  # Token(text) events, then one Answer

Chat never reads assistant.yaml: whoever loads it (the CLI, the app, the builder) passes the
`ServingConfig` slice, whose guardrails and generation settings apply without a rebuild.
This file is the API other packages and users call; helpers live in _-prefixed modules.
"""
from chat._assistant import Assistant
from chat._backends import DECODING_VERSION, generation_kwargs, load_model, load_tokenizer
from chat._citations import MIN_CLAIM_WORDS, SUPPORT_THRESHOLD, sentences, unit_vectors
from chat._coverage import CoverageCheck, Term, distinctive_terms
from chat._extract import extract_answer
from chat._history import MAX_QUESTION_CHARS, check_history, check_question, with_turn, without_disclaimer
from chat._live import LiveAssistant
from chat._present import answer_footer, answer_json, clean_snippet, decline_topics, one_line, plain_text, source_where
from chat._terminal import ask as ask_once
from chat._terminal import chat_loop
from chat._types import VARIANTS, Answer, Citation, Token
from chat.config import ChatConfig, EscalationRule, GenerationConfig, ServingConfig
from chat.manifest import Manifest, read_manifest, write_manifest
from chat.models import resolve_model
from chat.prompt import PROMPT_FORMAT_VERSION, build_messages, fit_messages, retrieval_query

# Batched decoding imports torch (a second or so); load it on first use, so that reading
# assistant.yaml (`import builder.config`, which reads chat.config) stays instant.
_LAZY = {"generate_all": "chat._batching", "DecodeBatch": "chat._batching", "Request": "chat._batching"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'chat' has no attribute {name!r}")


__all__ = [
    # answering
    "Assistant", "Answer", "Citation", "Token", "VARIANTS", "LiveAssistant", "ask_once", "chat_loop",
    # config and the build's manifest
    "ChatConfig", "EscalationRule", "GenerationConfig", "ServingConfig", "Manifest", "read_manifest", "write_manifest",
    # the prompt format training uses too
    "PROMPT_FORMAT_VERSION", "build_messages", "fit_messages", "retrieval_query",
    # models and generation
    "resolve_model", "load_model", "load_tokenizer", "generation_kwargs", "DECODING_VERSION", "generate_all", "DecodeBatch", "Request",
    # the extract floor, support checks and the decline gate's coverage check
    "extract_answer", "sentences", "unit_vectors", "SUPPORT_THRESHOLD", "MIN_CLAIM_WORDS", "CoverageCheck", "Term",
    "distinctive_terms",
    # conversation history and how an answer is shown (terminal, app, /ask)
    "MAX_QUESTION_CHARS", "check_question", "check_history", "with_turn", "without_disclaimer", "answer_json",
    "answer_footer", "plain_text", "clean_snippet", "one_line", "source_where", "decline_topics",
]  # fmt: skip
