"""Tailor's runtime assistant: load a built assistant and answer questions, streamed, with
cited sources, declining when the documents hold nothing relevant.

    from chat import Assistant
    assistant = Assistant.load("examples/clinic")
    for event in assistant.stream("What time do you open on Saturday?"):
        ...  # Token(text) events, then one Answer
"""
from chat._assistant import FALLBACK_DECLINE_THRESHOLD, Assistant
from chat._backends import generation_kwargs
from chat._types import VARIANTS, Answer, Citation, Token
from chat.config import ChatConfig, EscalationRule, GenerationConfig
from chat.manifest import Manifest, read_manifest, write_manifest
from chat.models import resolve_model
from chat.prompt import PROMPT_FORMAT_VERSION, build_messages, count_prompt_tokens, fit_messages, format_context, retrieval_query, source_label

__all__ = [
    "Assistant",
    "Answer",
    "Citation",
    "Token",
    "VARIANTS",
    "FALLBACK_DECLINE_THRESHOLD",
    "generation_kwargs",
    "ChatConfig",
    "EscalationRule",
    "GenerationConfig",
    "Manifest",
    "read_manifest",
    "write_manifest",
    "resolve_model",
    "PROMPT_FORMAT_VERSION",
    "build_messages",
    "count_prompt_tokens",
    "fit_messages",
    "format_context",
    "retrieval_query",
    "source_label",
]
