"""The optional LLM judge against a real HTTP server on loopback (stdlib http.server answering in
the OpenAI chat-completions format), and the message when the endpoint is down."""
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from evals import EvalsConfig
from evals import run_eval
from evals._judge import Judge
from evals_fakes import FakeAssistant, write_suite
from knowledge.errors import ConfigError


@pytest.fixture
def judge_server():
    """Replies 'Score: 4' (or what `reply` says) and records every request body."""
    state = {"requests": [], "reply": "Score: 4"}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state["requests"].append((self.path, body))
            data = json.dumps({"id": "x", "object": "chat.completion", "model": body.get("model"),
                               "choices": [{"index": 0, "message": {"role": "assistant", "content": state["reply"]},
                                            "finish_reason": "stop"}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state["url"] = f"http://127.0.0.1:{server.server_address[1]}/v1"
    yield state
    server.shutdown()
    server.server_close()


def test_judge_scores_through_the_endpoint(judge_server):
    judge = Judge(judge_server["url"], model="grader")
    assert judge.score("When?", "At 9.", "We open at 9.") == 0.75  # 4 on 1..5
    path, body = judge_server["requests"][-1]
    assert path == "/v1/chat/completions" and body["model"] == "grader"
    assert "Reference answer: At 9." in body["messages"][0]["content"]
    judge_server["reply"] = "I cannot grade this."
    assert judge.score("When?", "At 9.", "We open at 9.") is None


def test_run_eval_adds_the_judge_metric(judge_server, folder, embedder):
    write_suite(folder / "evals" / "s.jsonl", [
        {"question": "When do you open?", "answer": "At 9.", "answer_type": "free"},
        {"question": "Do you treat horses?", "answer": "", "answer_type": "decline"},
    ])
    cfg = EvalsConfig(**{"judge_url": judge_server["url"], "variants": ["base"]})
    report = run_eval(folder, cfg, assistant=FakeAssistant(), embedder=embedder, progress=False)
    assert report.value("judge", "base") == 0.75
    # one check request, then one per answerable question (decline questions are not judged)
    assert len(judge_server["requests"]) == 2


def test_a_down_endpoint_is_a_clear_error_before_the_run(folder, embedder):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once the socket closes
    write_suite(folder / "evals" / "s.jsonl", [{"question": "q", "answer": "a", "answer_type": "free"}])
    cfg = EvalsConfig(**{"judge_url": f"http://127.0.0.1:{port}/v1", "variants": ["base"]})
    assistant = FakeAssistant()
    with pytest.raises(ConfigError, match=r"evals.judge_url: cannot reach the judge at http://127.0.0.1:\d+/v1/chat/completions .*remove judge_url"):
        run_eval(folder, cfg, assistant=assistant, embedder=embedder, progress=False)
    assert assistant.calls == []  # failed before answering anything
