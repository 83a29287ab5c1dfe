"""Tailor's runtime assistant: load a built assistant and answer questions, streamed, with
cited sources, declining when the documents hold nothing relevant.

    from chat import Assistant
    assistant = Assistant.load("examples/clinic")
    for event in assistant.stream("What time do you open on Saturday?"):
        ...  # Token(text) events, then one Answer
"""
from chat._assistant import FALLBACK_DECLINE_THRESHOLD, Assistant
from chat._backends import generation_kwargs
from chat._backends import load_model, load_tokenizer
from chat._batching import DecodeBatch, Request, generate_all
from chat._extract import extract_answer
from chat._citations import MIN_CLAIM_WORDS, SUPPORT_THRESHOLD, sentences, unit_vectors
from chat._coverage import CoverageCheck, Term, distinctive_terms
from chat._types import VARIANTS, Answer, Citation, Token
from chat.config import ChatConfig, EscalationRule, GenerationConfig, ServingConfig
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
    "ServingConfig",
    "generate_all",
    "DecodeBatch",
    "Request",
    "load_model",
    "load_tokenizer",
    "extract_answer",
    "MIN_CLAIM_WORDS",
    "SUPPORT_THRESHOLD",
    "sentences",
    "unit_vectors",
    "CoverageCheck",
    "Term",
    "distinctive_terms",
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

# The app's and the terminal's shared pieces: conversation history, how an answer is shown,
# and the assistant a server keeps loaded.
from chat._history import MAX_HISTORY_CHARS, MAX_HISTORY_MESSAGES, MAX_QUESTION_CHARS, check_history, check_question, with_turn, without_disclaimer
from chat._live import LiveAssistant
from chat._present import answer_footer, answer_json, clean_snippet, decline_topics, one_line, plain_text, source_where, sources_json
from chat._terminal import ask as ask_once, chat_loop

__all__ += [
    "MAX_HISTORY_CHARS", "MAX_HISTORY_MESSAGES", "MAX_QUESTION_CHARS", "check_history", "check_question", "with_turn",
    "without_disclaimer", "LiveAssistant", "answer_footer", "answer_json", "clean_snippet", "decline_topics", "one_line",
    "plain_text", "source_where", "sources_json", "ask_once", "chat_loop",
]  # fmt: skip
