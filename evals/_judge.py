"""An optional LLM judge behind any OpenAI-compatible chat-completions endpoint (vLLM,
llama.cpp's server, a hosted API). Off unless `evals.judge_url` is set: every other
metric works offline, and a judge is a second opinion on free-text answers that token
overlap underrates (a correct answer worded differently from the reference).
"""
from __future__ import annotations

import re

import httpx

from knowledge.errors import ConfigError

JUDGE_PROMPT = """You grade answers to questions about a set of documents.
Question: {question}
Reference answer: {reference}
Answer to grade: {answer}

Does the answer state the same facts as the reference, without contradicting it? Score from 1
(wrong or unrelated) to 5 (fully correct; extra correct detail is fine). Reply with "Score: N" only."""


class Judge:
    """Asks the endpoint for a 1-5 score and maps it to 0..1; an unreadable reply scores None."""

    def __init__(self, url: str, model: str | None = None, timeout: float = 60.0):
        base = url.rstrip("/")
        self.url = base if base.endswith("/chat/completions") else f"{base}/chat/completions"
        self.model = model or "default"
        self.client = httpx.Client(timeout=timeout)

    def _ask(self, prompt: str) -> str:
        payload = {"model": self.model, "messages": [{"role": "user", "content": prompt}],
                   "temperature": 0.0, "max_tokens": 16}
        try:
            response = self.client.post(self.url, json=payload)
        except httpx.HTTPError as exc:
            raise ConfigError(
                f"evals.judge_url: cannot reach the judge at {self.url} ({type(exc).__name__}: {exc}); "
                "start the server, fix the URL in assistant.yaml, or remove judge_url to evaluate without a judge"
            ) from None
        if response.status_code != 200:
            raise ConfigError(
                f"evals.judge_url: the judge at {self.url} answered HTTP {response.status_code} "
                f"({response.text[:200].strip()}); check the URL and evals.judge_model"
            )
        try:
            return response.json()["choices"][0]["message"]["content"] or ""
        except (ValueError, KeyError, IndexError, TypeError):
            raise ConfigError(
                f"evals.judge_url: {self.url} did not answer in the chat-completions format "
                "({\"choices\": [{\"message\": {\"content\": ...}}]}); point judge_url at an OpenAI-compatible /v1 endpoint"
            ) from None

    def check(self) -> None:
        """One small request before the run, so a down endpoint fails in seconds, not after an hour."""
        self._ask("Reply with: Score: 5")

    def score(self, question: str, reference: str, answer: str) -> float | None:
        reply = self._ask(JUDGE_PROMPT.format(question=question, reference=reference, answer=answer))
        m = re.search(r"score\s*[:=]?\s*([1-5])\b", reply, re.I) or re.match(r"\s*([1-5])\b", reply)
        return (int(m.group(1)) - 1) / 4 if m else None

    def close(self) -> None:
        self.client.close()
