"""generation.backend: openai against a real OpenAI-compatible server: `transformers serve`
(transformers' own server; `pip install -e .[serving]`), started on loopback by the test and
serving the tiny model on the CPU."""
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from chat import Answer, Assistant, GenerationConfig, Token
from knowledge.errors import TailorError

pytest.importorskip("openai", reason="transformers serve needs the serving extra: pip install -e .[serving]")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tiny_model_dir, tmp_path_factory):
    port = free_port()
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    exe = Path(sys.executable).with_name("transformers")
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [str(exe), "serve", tiny_model_dir, "--host", "127.0.0.1", "--port", str(port), "--device", "cpu"],
            stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "HF_HUB_OFFLINE": "1"},
        )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(url + "/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"transformers serve did not start:\n{log.read_text()[-2000:]}")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_served_answer_streams_and_matches_the_in_process_one(server, tiny_model_dir, fake_kb):
    gen = GenerationConfig(max_new_tokens=8, repetition_penalty=1.0)
    remote = Assistant(name="T", base_model=tiny_model_dir, kb=fake_kb, retrieval={"k": 3},
                       generation=gen.model_copy(update={"backend": "openai", "url": server}))
    local = Assistant(name="T", base_model=tiny_model_dir, kb=fake_kb, retrieval={"k": 3}, generation=gen)
    events = list(remote.stream("When do you open on Saturday?"))
    answer = events[-1]
    assert isinstance(answer, Answer) and all(isinstance(e, Token) for e in events[:-1]) and len(events) >= 3
    assert "".join(e.text for e in events[:-1]) == answer.text
    assert answer.chunk_ids == ["id-hours.md", "id-fees.md", "id-parking.md"] and len(answer.sources) >= 1
    assert answer.timings["new_tokens"] == 8 and answer.timings["first_token_s"] <= answer.timings["total_s"]
    # Same weights, same prompt, greedy: the server writes what the in-process model writes.
    assert answer.text == local.answer("When do you open on Saturday?").text


def test_eight_concurrent_answers_through_the_server_all_arrive(server, tiny_model_dir, fake_kb):
    """Scale-out stays real: 8 users at once, each answer complete, cited, and the one the
    in-process batch writes for the same question."""
    import threading

    gen = GenerationConfig(max_new_tokens=8, repetition_penalty=1.0)
    remote = Assistant(name="T", base_model=tiny_model_dir, kb=fake_kb, retrieval={"k": 3},
                       generation=gen.model_copy(update={"backend": "openai", "url": server}))
    local = Assistant(name="T", base_model=tiny_model_dir, kb=fake_kb, retrieval={"k": 3}, generation=gen)
    questions = [f"When do you open on Saturday {i}?" for i in range(8)]
    got: dict[int, Answer] = {}
    errors: list[BaseException] = []

    def ask(i: int) -> None:
        try:
            got[i] = remote.answer(questions[i])
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and sorted(got) == list(range(8))
    assert all(a.timings["new_tokens"] == 8 and a.sources for a in got.values())
    assert [got[i].text for i in range(8)] == [local.answer(q).text for q in questions]


def test_declining_and_escalation_need_no_server(tiny_model_dir):
    from chat_fixtures import FakeKB

    dead = Assistant(name="T", base_model=tiny_model_dir, kb=FakeKB({"hours.md": 0.1}),
                     generation=GenerationConfig(backend="openai", url=f"http://127.0.0.1:{free_port()}/v1"))
    assert dead.answer("Who won the 1998 World Cup?").declined
    with pytest.raises(TailorError, match=r"cannot reach the generation server.*generation.url"):
        dead.answer("When do you open?", variant="base")


def test_server_error_is_reported_with_its_status(server, tiny_model_dir, fake_kb):
    bad = Assistant(name="T", base_model=tiny_model_dir, kb=fake_kb,
                    generation=GenerationConfig(backend="openai", url=server, model="/no/such/model"))
    with pytest.raises(TailorError, match=r"answered HTTP \d+"):
        bad.answer("When do you open?")
