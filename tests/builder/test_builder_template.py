"""The training template renders exactly the serving text and marks only the answers."""
from builder._template import PROBE, marks_assistant_turns, renders_identically, training_chat_template
from chat.prompt import build_messages


class Chunk:
    def __init__(self, text, source, page=None):
        self.text, self.source, self.page = text, source, page


def test_training_template_renders_the_serving_text(tokenizer):
    template = training_chat_template(tokenizer)
    assert template is not None and "{% generation %}" in template
    messages = build_messages(
        "You are Harbor Clinic's assistant.",
        [{"role": "user", "content": "Open on Sunday?"}, {"role": "assistant", "content": "No, closed [1]."},
         {"role": "user", "content": "Saturday?"}, {"role": "assistant", "content": "9:00 to 13:00 [2]."}],
        [Chunk("Closed on Sundays.", "hours.md"), Chunk("Saturday 9-13.", "handbook.pdf", page=2)],
    )  # fmt: skip
    assert renders_identically(tokenizer, template, messages)
    assert tokenizer.apply_chat_template(messages, tokenize=False) == tokenizer.apply_chat_template(
        messages, tokenize=False, chat_template=template
    )


def test_mask_covers_each_answer_and_its_end_of_turn_token_only(tokenizer):
    template = training_chat_template(tokenizer)
    out = tokenizer.apply_chat_template(PROBE, tokenize=True, return_dict=True, return_assistant_tokens_mask=True, chat_template=template)
    marked = tokenizer.decode([i for i, m in zip(out["input_ids"], out["assistant_masks"]) if m])
    assert marked == "First answer [1].<|im_end|>Second answer.<|im_end|>"
    assert marks_assistant_turns(tokenizer, template)


def test_unmarkable_template_is_refused_not_guessed(tokenizer):
    import copy

    odd = copy.deepcopy(tokenizer)
    odd.chat_template = "{% for m in messages %}<<{{ m['role'] }}>>{{ m['content'] }}{% endfor %}"
    assert training_chat_template(odd) is None
