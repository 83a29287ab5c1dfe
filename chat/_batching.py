"""Batched generation: every answer being written on one model decodes in the same forward pass.

For a 135M model on a CPU (and any model on a GPU) one decoding step costs about the same for 8
sequences as for one, so answering 8 users together is several times faster than answering
them in turn. The decode loop keeps every active sequence left-padded into one key/value
cache, so all of them end at the same column; each step feeds the last token of every
sequence, and each row's next token is chosen with that row's own settings (greedy, or
sampled) and handed to that request alone. A request joins at the next step (its prompt is
prefilled on its own, then its cache is padded into the batch) and leaves as soon as it ends
(end of turn, max_new_tokens, or its reader gone): continuous batching, as vLLM schedules it.

Why not transformers' own continuous batching (`generate_batch`, `init_continuous_batching`,
`ContinuousBatchingManager`)? It works on a CPU, but drops `RepetitionPenaltyLogitsProcessor`
("isn't supported by CB"), which every Tailor answer uses (generation.repetition_penalty), and
on this CPU it was no faster than one request at a time (docs/BENCHMARKS.md, Generation).

Greedy answers are the ones `model.generate` writes for the prompt alone: padded key positions
are masked to exactly zero weight, each row's repetition penalty counts only its own answer
(as `generation_kwargs` sets it), and tests compare token ids at batch 1, batch 8 and
`model.generate`. A request that fails (its prefill or its token choice raises) gets the error
and leaves; the others keep decoding. A slow reader never slows the batch: tokens wait in its
own queue.
"""
from __future__ import annotations

import atexit
import functools
import queue
import re
import threading
import weakref
from dataclasses import dataclass, field
from typing import Iterator

import torch

DEFAULT_MAX_BATCH = 16  # sequences decoded together; more requests wait for a free row
IDLE_EXIT_S = 60.0  # the loop thread ends after this long with nothing to do (and restarts on demand)


@dataclass
class Request:
    """One prompt being answered: its settings, its answer so far and its own token queue."""

    prompt: list[int]
    max_new_tokens: int
    repetition_penalty: float = 1.0
    temperature: float = 0.0
    top_p: float = 1.0
    generated: list[int] = field(default_factory=list)
    out: queue.Queue = field(default_factory=queue.Queue)  # token ids, then None or the exception
    stopped: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)

    @classmethod
    def from_config(cls, prompt: list[int], gen) -> "Request":
        """Settings from the `generation:` config (chat.config.GenerationConfig)."""
        return cls(list(prompt), gen.max_new_tokens, gen.repetition_penalty, gen.temperature, gen.top_p)

    def tokens(self) -> Iterator[int]:
        """The answer's token ids as they are chosen; re-raises this request's error."""
        while True:
            item = self.out.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def cancel(self) -> None:
        """The reader is gone: the row leaves the batch at the next step."""
        self.stopped.set()

    def _finish(self, error: BaseException | None = None) -> None:
        self.out.put(error)
        self.done.set()


class CitationOrder:
    """A citation marker [n] comes after what it cites: never before the answer has
    `MIN_WORDS` words, never inside a sentence; and the answer does not end before it has them.

    Every training row ends its answer with its passage's marker after the last sentence
    (builder/_data.py), so this only holds a model to the format it was trained on. Without it,
    the shared clinic documents-only build's tuned model answered 11 of its 39 answered dev
    questions with a bare "[1] [2]" and put 6 more markers mid-sentence ("Dumping syndrome is [2]"),
    where base+rag did neither (docs/EVALUATION.md). It applies to every variant alike; a model
    that never writes markers (the base model) is untouched but for an answer under 3 words."""

    MIN_WORDS = 3

    def __init__(self, tokenizer, eos_ids, prompt_length: int = 0) -> None:
        self.tokenizer = tokenizer
        self.eos = sorted(eos_ids)
        self.prompt_length = prompt_length  # for `model.generate`, whose input_ids hold the prompt
        self.markers = _marker_ids(tokenizer)

    def row(self, generated: list[int], scores: torch.Tensor) -> torch.Tensor:
        """Mask one row's scores (shape (vocab,) or (1, vocab)) given its answer's token ids so far."""
        size = scores.shape[-1]  # a tokenizer may list more ids than the model scores
        # a bounded decode per step: the first 32 tokens hold three words unless the answer is all markers and punctuation
        if self._words(generated[:32]) < self.MIN_WORDS and (len(generated) <= 32 or self._words(generated) < self.MIN_WORDS):
            scores[..., [i for i in self.markers + self.eos if i < size]] = float("-inf")
        elif not re.search(r"""[.!?:;)\]"']$""", self.tokenizer.decode(generated[-8:], skip_special_tokens=True).rstrip()):
            scores[..., [i for i in self.markers if i < size]] = float("-inf")
        return scores

    def _words(self, ids: list[int]) -> int:
        return len(re.findall(r"\w+", re.sub(r"\[\d+\]", " ", self.tokenizer.decode(ids, skip_special_tokens=True))))

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:  # a transformers LogitsProcessor
        for i in range(scores.shape[0]):
            self.row(input_ids[i, self.prompt_length :].tolist(), scores[i])
        return scores


@functools.lru_cache(maxsize=8)
def _marker_ids(tokenizer) -> list[int]:
    """Ids of the tokens that start a citation marker ('[', ' [', '[[' ...), found once per tokenizer."""
    return [i for tok, i in tokenizer.get_vocab().items() if tokenizer.convert_tokens_to_string([tok]).lstrip().startswith("[")]


def _eos_ids(model, tokenizer) -> set[int]:
    eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    if eos is None:
        eos = tokenizer.eos_token_id
    return set(eos if isinstance(eos, (list, tuple)) else [eos]) - {None}


def _plain_cache(model) -> bool:
    """Whether the model's cache is all plain dynamic layers, which can be padded and stacked
    (sliding-window and other layers cannot: such models answer one request at a time)."""
    from transformers import DynamicCache
    from transformers.cache_utils import DynamicLayer

    return all(type(layer) is DynamicLayer for layer in DynamicCache(config=model.config).layers)


def _pad_left(t: torch.Tensor, length: int, dim: int) -> torch.Tensor:
    missing = length - t.shape[dim]
    if missing <= 0:
        return t
    shape = list(t.shape)
    shape[dim] = missing
    return torch.cat([t.new_zeros(shape), t], dim=dim)


class DecodeBatch:
    """The sequences being decoded together on one model, and one step of decoding them.

    Used by one thread at a time: the `Batcher` worker when serving, the caller in
    `generate_all` (evals and the build)."""

    def __init__(self, model, tokenizer, context_window: int | None = None) -> None:
        self.model = model
        self.eos = _eos_ids(model, tokenizer)
        self.order = CitationOrder(tokenizer, self.eos)
        self.window = context_window or getattr(model.config, "max_position_embeddings", None) or 2048
        self.batchable = _plain_cache(model)
        self.rows: list[Request] = []
        self.cache = None
        self.mask: torch.Tensor | None = None  # (rows, columns): 1 where a real token is cached
        self.last: torch.Tensor | None = None  # (rows, 1): each row's newest token, fed next step

    def __len__(self) -> int:
        return len(self.rows)

    def room(self, max_batch: int) -> int:
        """How many more requests may join now (one at a time for caches that cannot be padded together)."""
        return max(0, (max_batch if self.batchable else 1) - len(self.rows))

    @torch.no_grad()
    def admit(self, request: Request) -> None:
        """Prefill one prompt, choose its first token and add it to the batch (or finish it with its error)."""
        from transformers import DynamicCache

        if request.stopped.is_set():
            request._finish()
            return
        try:
            if not request.prompt:
                raise ValueError("the prompt is empty")
            ids = torch.tensor([request.prompt], device=self.model.device)
            cache = DynamicCache(config=self.model.config)
            mask = torch.ones_like(ids)  # as `generate` passes it, so the attention path is the same
            logits = self.model(input_ids=ids, attention_mask=mask, cache=cache, use_cache=True, logits_to_keep=1).logits[:, -1]
            token = self._choose(request, logits[0])
        except Exception as exc:  # this request's failure only; the batch carries on
            request._finish(exc)
            return
        if self.rows and not self._merge(cache, mask):
            request._finish(RuntimeError("this model's cache cannot be batched"))
            return
        if not self.rows:
            self.cache, self.mask = cache, mask
        self.rows.append(request)
        new_last = torch.tensor([[token]], device=self.model.device)
        self.last = new_last if self.last is None or len(self.rows) == 1 else torch.cat([self.last, new_last])
        self._emit(len(self.rows) - 1, token)
        self._drop_finished()

    @torch.no_grad()
    def step(self) -> None:
        """One token for every row. A forward pass that fails ends every row with the error."""
        if not self.rows:
            return
        mask = torch.cat([self.mask, self.mask.new_ones((len(self.rows), 1))], dim=1)
        positions = mask.sum(dim=1, keepdim=True) - 1
        try:
            logits = self.model(input_ids=self.last, attention_mask=mask, position_ids=positions,
                                cache=self.cache, use_cache=True).logits[:, -1]
        except Exception as exc:
            for request in self.rows:
                request._finish(exc)
            self._reset()
            return
        self.mask = mask
        tokens = []
        for i, request in enumerate(self.rows):
            try:
                tokens.append(self._choose(request, logits[i]))
            except Exception as exc:
                request._finish(exc)
                tokens.append(None)
        for i, token in enumerate(tokens):
            if token is not None:
                self._emit(i, token)
        self.last = torch.tensor([[t if t is not None else 0] for t in tokens], device=self.model.device)
        self._drop_finished()

    def _choose(self, request: Request, logits: torch.Tensor) -> int:
        """The next token, as `model.generate` with `generation_kwargs` would choose it."""
        from transformers import RepetitionPenaltyLogitsProcessor, TemperatureLogitsWarper, TopPLogitsWarper

        scores = logits.float()[None]
        if request.repetition_penalty != 1.0 and request.generated:
            history = torch.tensor([request.generated], device=scores.device)
            scores = RepetitionPenaltyLogitsProcessor(float(request.repetition_penalty))(history, scores)
        scores = self.order.row(request.generated, scores)
        if request.temperature <= 0:
            return int(scores.argmax(dim=-1))
        scores = TemperatureLogitsWarper(request.temperature)(None, scores)
        if request.top_p < 1.0:
            scores = TopPLogitsWarper(request.top_p)(None, scores)
        return int(torch.multinomial(torch.softmax(scores, dim=-1), 1))

    def _emit(self, i: int, token: int) -> None:
        request = self.rows[i]
        if request.done.is_set():
            return
        request.generated.append(token)
        request.out.put(token)
        full = len(request.generated) >= request.max_new_tokens or len(request.prompt) + len(request.generated) >= self.window
        if token in self.eos or full:
            request._finish()

    def _drop_finished(self) -> None:
        """Rows that ended (or whose reader left) leave; columns no row uses any more go too."""
        for request in self.rows:
            if request.stopped.is_set() and not request.done.is_set():
                request._finish()
        keep = [i for i, r in enumerate(self.rows) if not r.done.is_set()]
        if len(keep) == len(self.rows):
            return
        if not keep:
            self._reset()
            return
        index = torch.tensor(keep, device=self.model.device)
        self.rows = [self.rows[i] for i in keep]
        self.mask, self.last = self.mask[index], self.last[index]
        first = int(self.mask.any(dim=0).nonzero()[0])  # leading columns that are padding in every row
        for layer in self.cache.layers:
            layer.keys, layer.values = layer.keys[index, :, first:], layer.values[index, :, first:]
        self.mask = self.mask[:, first:]

    def _merge(self, cache, mask: torch.Tensor) -> bool:
        """Pad the batch's cache and a new row's to the same length on the left and stack them."""
        if not self.batchable or len(cache.layers) != len(self.cache.layers):
            return False
        length = max(self.mask.shape[1], mask.shape[1])
        for mine, theirs in zip(self.cache.layers, cache.layers):
            mine.keys = torch.cat([_pad_left(mine.keys, length, 2), _pad_left(theirs.keys, length, 2)])
            mine.values = torch.cat([_pad_left(mine.values, length, 2), _pad_left(theirs.values, length, 2)])
        self.mask = torch.cat([_pad_left(self.mask, length, 1), _pad_left(mask, length, 1)])
        return True

    def _reset(self) -> None:
        self.rows, self.cache, self.mask, self.last = [], None, None, None


def generate_all(model, tokenizer, prompts: list[list[int]], gen, max_batch: int = DEFAULT_MAX_BATCH,
                 context_window: int | None = None) -> list[list[int]]:
    """Token ids of the answer to each prompt, decoding up to `max_batch` at once in this thread.
    A finished row's place goes to the next prompt at once. An error in one prompt is raised
    after the others are done."""
    batch = DecodeBatch(model, tokenizer, context_window)
    requests = [Request.from_config(p, gen) for p in prompts]
    waiting = list(requests)
    while waiting or batch.rows:
        while waiting and batch.room(max_batch):
            batch.admit(waiting.pop(0))
        batch.step()
    answers = []
    for request in requests:
        answers.append(list(request.tokens()))
    return answers


_LOOPS: "weakref.WeakSet[Batcher]" = weakref.WeakSet()


@atexit.register
def _close_loops() -> None:
    """A loop thread left inside torch when the interpreter exits aborts the process."""
    for loop in list(_LOOPS):
        loop.close()


class Batcher:
    """The decode loop for one loaded model, in its own thread: callers `submit` a prompt and read
    the request's tokens; whoever is waiting joins the batch at the next step."""

    def __init__(self, model, tokenizer, context_window: int | None = None, max_batch: int = DEFAULT_MAX_BATCH) -> None:
        self.batch = DecodeBatch(model, tokenizer, context_window)
        self.max_batch = max_batch
        self._waiting: list[Request] = []
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False
        _LOOPS.add(self)

    def close(self) -> None:
        """End the loop once the batch is empty (at exit: answers being written are abandoned)."""
        with self._wake:
            self._closed = True
            for request in self._waiting:
                request._finish(RuntimeError("the generation loop was closed"))
            self._waiting = []
            self._wake.notify()
            thread = self._thread
        for request in list(self.batch.rows):
            request.cancel()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=30)

    def submit(self, request: Request) -> Request:
        with self._wake:
            if self._closed:
                raise RuntimeError("the generation loop was closed")
            self._waiting.append(request)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="tailor-batcher", daemon=True)
                self._thread.start()
            self._wake.notify()
        return request

    @property
    def active(self) -> int:
        """Requests in the batch or waiting for a row."""
        with self._wake:
            return len(self.batch) + len(self._waiting)

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._waiting and not self.batch.rows:
                    timed_out = self._closed or not self._wake.wait(timeout=IDLE_EXIT_S)
                    if timed_out and not self._waiting:
                        self._thread = None  # idle: the next submit starts a new one
                        return
                room = self.batch.room(self.max_batch)
                joining, self._waiting = self._waiting[:room], self._waiting[room:]
            try:
                for request in joining:
                    self.batch.admit(request)
                self.batch.step()
            except Exception as exc:  # a bug here must not leave readers waiting forever
                for request in [*joining, *self.batch.rows]:
                    if not request.done.is_set():
                        request._finish(exc)
                self.batch._reset()
