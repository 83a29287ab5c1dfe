"""The training chat template: the serving template with `{% generation %}` markers.

TRL computes the assistant-only loss from the spans a template marks with
`{% generation %}...{% endgeneration %}`. Most shipped templates (SmolLM2's ChatML among them)
have no markers, so TRL refuses them. The template returned here renders exactly the same text as
the serving one -- the model is trained on what it will be served -- and marks each assistant
message's content plus its end-of-turn token, so the model also learns to stop.
"""
from __future__ import annotations

import re

from trl.chat_template_utils import get_training_chat_template, has_generation_markers

# ChatML as most small models write it: one expression renders the whole message, with the
# newline after the role and after <|im_end|> either escaped or literal.
_NL = r"(?:\\n|\n)"
_CHATML_MESSAGE = re.compile(
    r"\{\{-?\s*'<\|im_start\|>'\s*\+\s*message\['role'\]\s*\+\s*'" + _NL + r"'\s*\+\s*message\['content'\]\s*"
    r"\+\s*'<\|im_end\|>'\s*\+\s*'" + _NL + r"'\s*-?\}\}"
)
_CHATML_MARKED = (
    "{% if message['role'] == 'assistant' %}"
    "{{ '<|im_start|>assistant\\n' }}{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}{{ '\\n' }}"
    "{% else %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endif %}"
)

PROBE = [
    {"role": "system", "content": "System text.\n\n<documents>\n[1] (a.md)\nSome text.\n</documents>"},
    {"role": "user", "content": "First question?"},
    {"role": "assistant", "content": "First answer [1]."},
    {"role": "user", "content": "Second question?"},
    {"role": "assistant", "content": "Second answer."},
]


def _template_text(tokenizer) -> str | None:
    template = tokenizer.chat_template
    if isinstance(template, dict):
        template = template.get("default")
    return template


def renders_identically(tokenizer, training_template: str, messages=PROBE) -> bool:
    """True when the training template renders `messages` to the very text the serving one does."""
    serving = tokenizer.apply_chat_template(messages, tokenize=False)
    training = tokenizer.apply_chat_template(messages, tokenize=False, chat_template=training_template)
    prompt_serving = tokenizer.apply_chat_template(messages[:-1], tokenize=False, add_generation_prompt=True)
    prompt_training = tokenizer.apply_chat_template(
        messages[:-1], tokenize=False, add_generation_prompt=True, chat_template=training_template
    )
    return serving == training and prompt_serving == prompt_training


def marks_assistant_turns(tokenizer, training_template: str) -> bool:
    """True when the assistant mask covers exactly the assistant contents and their end-of-turn tokens."""
    out = tokenizer.apply_chat_template(
        PROBE, tokenize=True, return_dict=True, return_assistant_tokens_mask=True, chat_template=training_template
    )
    ids, mask = out["input_ids"], out["assistant_masks"]
    marked = tokenizer.decode([i for i, m in zip(ids, mask) if m])
    return "First answer [1]." in marked and "Second answer." in marked and "question" not in marked


def training_chat_template(tokenizer) -> str | None:
    """A marked template that renders like the serving one, or None when none can be made.

    Tried in order: the tokenizer's own template when it already has markers; TRL's patched
    template for the families it knows (Llama 3, Qwen, Gemma, Phi, ...); a rewrite of ChatML.
    Every candidate must pass `renders_identically` and `marks_assistant_turns`.
    """
    template = _template_text(tokenizer)
    if not template:
        return None
    candidates = []
    if has_generation_markers(template):
        candidates.append(template)
    try:
        patched = get_training_chat_template(tokenizer)
    except Exception:  # a template TRL cannot parse: fall through to our own rewrite
        patched = None
    if patched:
        candidates.append(patched)
    if _CHATML_MESSAGE.search(template):
        candidates.append(_CHATML_MESSAGE.sub(lambda _: _CHATML_MARKED, template, count=1))
    for candidate in candidates:
        try:
            if renders_identically(tokenizer, candidate) and marks_assistant_turns(tokenizer, candidate):
                return candidate
        except Exception:
            continue
    return None
