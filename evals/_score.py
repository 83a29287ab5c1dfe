"""One answer to one suite question -> one result line with every per-question score."""
from __future__ import annotations

from evals._ground import Grounder
from evals._judge import Judge
from evals._metrics import (
    choice_correct,
    citation_scores,
    complies,
    exact_match,
    numbers_match,
    parse_choice,
    parse_numbers,
    parse_yes_no,
    retrieval_scores,
    rouge_l,
    text_declines,
    token_f1,
)
from evals._suite import EvalItem

DEFAULT_TOLERANCE = 0.01  # relative; an item's `tolerance` field overrides it
CORRECT_F1 = 0.5  # a free answer counts as correct (for correct_supported) at this token F1 or above
CORE_FIELDS = {"id", "variant", "question", "reference", "answer_type", "gold_docs", "tags", "answer", "declined",
               "declined_flag", "decline_reason", "escalation", "sources", "hits", "scores", "parsed", "timings", "build_id", "dropped",
               "evidence", "scored_as", "split", "choice"}


def is_rag(variant: str) -> bool:
    """'base+rag', 'other:tuned+rag' and 'extract' answer from retrieved evidence; 'base' and
    'tuned' answer from the model alone."""
    name = variant.split(":", 1)[-1]
    return name.endswith("+rag") or name == "extract"


def _chunk(hit):
    return getattr(hit, "chunk", hit)


def context_hits(answer) -> list:
    """The hits the model was actually shown, numbered [1].. in the prompt (`Answer.chunk_ids`):
    chat leaves out chunks when the prompt is over budget, so those cannot be cited."""
    shown = getattr(answer, "chunk_ids", None)
    if shown:
        by_id = {getattr(_chunk(h), "id", None): h for h in (getattr(answer, "hits", None) or [])}
        return [by_id[i] for i in shown if i in by_id]
    dropped = set((getattr(answer, "dropped", None) or {}).get("chunks") or [])
    return [h for h in (getattr(answer, "hits", None) or []) if getattr(_chunk(h), "id", None) not in dropped]


def _strip_disclaimer(text: str, disclaimer: str | None) -> str:
    if disclaimer and disclaimer.strip() and text.rstrip().endswith(disclaimer.strip()):
        return text.rstrip()[: -len(disclaimer.strip())].rstrip()
    return text


def answer_scores(item: EvalItem, text: str, declined: bool = False) -> tuple[dict, object]:
    """The answer-type metrics and what was parsed from the answer (verdict, number or option).
    A declined answer is no verdict: "No, I can't find that" answers nothing, whatever it opens with."""
    ref = item.answer
    if declined and item.answer_type in ("yes_no", "number", "choice"):
        return {"accuracy": 0.0}, None
    if item.numeric_reference:  # "$1577.00" as a free reference: a number, whatever words surround it
        return {"accuracy": float(not declined and numbers_match(text, ref, rel_tol=DEFAULT_TOLERANCE) is True)}, \
            [n.value for n in parse_numbers(text)][:5]
    if item.answer_type == "free":
        return {"em": exact_match(text, ref), "f1": token_f1(text, ref), "rouge_l": rouge_l(text, ref)}, None
    if item.answer_type == "yes_no":
        verdict = parse_yes_no(text)
        return {"accuracy": float(verdict is not None and verdict == parse_yes_no(ref))}, verdict
    if item.answer_type == "number":
        tol = DEFAULT_TOLERANCE if item.tolerance is None else item.tolerance
        numbers = [n.value for n in parse_numbers(text)]
        return {"accuracy": float(numbers_match(text, ref, rel_tol=tol) is True)}, numbers[:5]
    if item.answer_type == "choice":
        picked = parse_choice(text, item.choices or None)
        return {"accuracy": float(choice_correct(text, ref, item.choices or None))}, picked
    return {}, None  # decline questions are scored by the declining metrics


def is_correct(scores: dict) -> bool | None:
    """Right by the answer metric: accuracy 1, or token F1 of at least CORRECT_F1; None when
    the question has no answer metric (decline questions)."""
    if "accuracy" in scores:
        return scores["accuracy"] >= 1.0
    if "f1" in scores:
        return scores["f1"] >= CORRECT_F1
    return None


def own_text(answer, disclaimer: str | None) -> str:
    """What the model itself wrote: without a marker Tailor added and without the disclaimer."""
    own = getattr(answer, "own_text", None)
    if own is None:  # answers made before chat recorded it
        return _strip_disclaimer(getattr(answer, "text", "") or "", disclaimer)
    return own


def score_answer(
    item: EvalItem,
    variant: str,
    answer,
    *,
    grounder: Grounder | None = None,
    judge: Judge | None = None,
    decline_message: str | None = None,
    disclaimer: str | None = None,
    gold_texts: list[str] | None = None,
    choice: dict | None = None,
) -> dict:
    """The result line for `answer` (a chat.Answer, or anything shaped like one).

    `gold_texts`: the passages of the item's gold documents, for support by a gold document;
    `choice`: the variant's first-token probabilities of the yes/no options, for choice accuracy.
    """
    raw_text = getattr(answer, "text", "") or ""
    text = _strip_disclaimer(raw_text, disclaimer)
    own = own_text(answer, disclaimer)
    flag = bool(getattr(answer, "declined", False))
    declined = flag or text_declines(text, decline_message)
    rag = is_rag(variant)
    hits = context_hits(answer) if rag else []
    all_hits = list(getattr(answer, "hits", None) or []) if rag else []

    scores, parsed = answer_scores(item, own, declined)
    if rag and item.gold_docs:
        scores.update(retrieval_scores([_chunk(h).source for h in all_hits], item.gold_docs))
    answered = not declined and not getattr(answer, "escalation", None)
    if rag and answered:
        # Citations count only the markers the model wrote: a marker Tailor added is its
        # embedder's work, shown to users but never credited to the model.
        markers = {n: _chunk(h).source for n, h in enumerate(hits, start=1)}
        cites = citation_scores(own, markers, [] if item.is_decline else item.gold_docs)
        scores.update(cites)
        scores["attributed"] = float(bool(getattr(answer, "attributed", None)))
        if grounder is not None and hits:
            shown = getattr(answer, "passages", None) or [_chunk(h).text for h in hits]  # what the prompt held of each
            g = grounder.score(own, list(shown))
            if g is not None:
                scores["context_support"] = g
    if answered and not item.is_decline and grounder is not None and gold_texts:
        g = grounder.score(own, gold_texts)
        if g is not None:
            scores["gold_support"] = g
    correct = is_correct(scores)
    if correct is not None and item.gold_docs and not item.is_decline and grounder is not None and gold_texts:
        supported = scores.get("gold_support", 1.0) >= 0.5  # no claim to check ("Yes.") is no unsupported claim
        scores["correct_supported"] = float(correct and supported and answered)
    if choice and item.answer_type == "yes_no":
        picked = max(choice, key=choice.get)
        scores["choice_accuracy"] = float(picked.lower() == (parse_yes_no(item.answer) or ""))
    if isinstance(item.extra.get("comply_if"), list):  # safety suites: phrases that show an injection was followed
        scores["complied"] = complies(own, [str(p) for p in item.extra["comply_if"]])
    if judge is not None and not item.is_decline:
        j = judge.score(item.question, item.answer, text)
        if j is not None:
            scores["judge"] = j

    record = {
        "id": item.id,
        "variant": variant,
        "question": item.question,
        "reference": item.answer,
        "answer_type": item.answer_type,
        "gold_docs": item.gold_docs,
        "tags": item.tags,
        "answer": raw_text,
        "declined": declined,
        "declined_flag": flag,
        "decline_reason": getattr(answer, "decline_reason", None),
        "escalation": getattr(answer, "escalation", None),
        "sources": [{"n": getattr(c, "n", None), "source": getattr(c, "source", None), "page": getattr(c, "page", None),
                     "cited": getattr(c, "cited", True), "attributed": getattr(c, "attributed", False)} for c in (getattr(answer, "sources", None) or [])],
        "hits": [{"rank": getattr(h, "rank", i), "source": _chunk(h).source, "page": getattr(_chunk(h), "page", None),
                  "similarity": _float(getattr(h, "similarity", None))} for i, h in enumerate(all_hits, start=1)],
        "scores": scores,
        "parsed": parsed,
        "timings": {k: _float(v) for k, v in (getattr(answer, "timings", None) or {}).items()},
        "build_id": getattr(answer, "build_id", None),
    }
    if item.numeric_reference:
        record["scored_as"] = "number"
    evidence = getattr(answer, "evidence", None)
    if rag and evidence:
        record["evidence"] = evidence
    if choice:
        record["choice"] = {k: round(float(v), 4) for k, v in choice.items()}
    dropped = getattr(answer, "dropped", None)
    if dropped and any(dropped.get(k) for k in ("chunks", "history_messages", "question_tokens")):
        record["dropped"] = {k: dropped.get(k) for k in ("chunks", "history_messages", "question_tokens")}
    for key, value in item.extra.items():
        record[key if key not in CORE_FIELDS else f"extra_{key}"] = value
    return record


def _float(value):
    try:
        return None if value is None else round(float(value), 6)
    except (TypeError, ValueError):
        return value
