"""Soak test of `tailor serve`: a bounded mix of /ask, /vote, uploads and index rebuilds for N
minutes against one server on loopback; reports errors (goal 0), p95 latency per endpoint,
the server's memory growth after warm-up (goal: flat) and that every vote was saved exactly once.

    .venv/bin/python bench/soak.py --quick            # 2 minutes, 3 clients (~4 min with start-up)
    .venv/bin/python bench/soak.py --minutes 30 --clients 6

The server runs as its own process (`python app.py serve FOLDER --port P`), as users start it,
over a temporary copy of examples/clinic (documents and eval questions), indexed here, retrieval-
only over the packaged SmolLM2-135M with answers capped at --max-new-tokens. Each client loops:
/ask (60%), /vote (30%) with a unique question whose returned vote id is remembered, /upload of a
small generated document (10%). Every --rebuild-s seconds a `tailor index` run on the same folder
(another process, as a user would start it) re-indexes what was uploaded while the server answers.
Memory is the server's RSS from /proc, sampled every 2 s; warm-up is the first quarter of the run.
Results go to bench/results.jsonl.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _results import make_recorder  # noqa: E402
from serve import free_port, pct, start_server  # noqa: E402

record = make_recorder("bench/soak.py", show_note=False)
EXAMPLE = ROOT / "examples" / "clinic"


def prepare_folder(max_new_tokens: int) -> Path:
    from builder.config import load_config
    from knowledge import build_index

    tmp = Path(tempfile.mkdtemp(prefix="tailor-soak-")) / "clinic"
    shutil.copytree(EXAMPLE / "docs", tmp / "docs")
    shutil.copytree(EXAMPLE / "evals", tmp / "evals")
    (tmp / "assistant.yaml").write_text(f"name: Clinic\ngeneration:\n  max_new_tokens: {max_new_tokens}\n", encoding="utf-8")
    build_index(tmp / "docs", tmp / "build" / "index", load_config(tmp).knowledge, progress=False)
    return tmp


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Soak:
    def __init__(self, url: str, folder: Path, questions: list[str], seed: int):
        self.url, self.folder, self.questions = url, folder, questions
        self.latency: dict[str, list[float]] = collections.defaultdict(list)
        self.errors: list[str] = []
        self.vote_ids: list[str] = []
        self.counts: collections.Counter = collections.Counter()
        self.lock = threading.Lock()
        self.seed = seed

    def timed(self, endpoint: str, fn) -> None:
        started = time.perf_counter()
        try:
            fn()
        except Exception as exc:  # counted and shown: a soak reports failures, it does not stop
            with self.lock:
                self.errors.append(f"{endpoint}: {type(exc).__name__}: {str(exc)[:200]}")
            return
        with self.lock:
            self.latency[endpoint].append(time.perf_counter() - started)
            self.counts[endpoint] += 1

    def client(self, n: int, until: float) -> None:
        from gradio_client import Client, handle_file

        rng = random.Random(self.seed + n)
        client = Client(self.url, verbose=False)
        tmp = Path(tempfile.mkdtemp(prefix="soak-upload-"))
        while time.monotonic() < until:
            roll = rng.random()
            if roll < 0.6:
                q = rng.choice(self.questions)
                self.timed("/ask", lambda: client.predict(q, "base+rag", api_name="/ask"))
            elif roll < 0.9:
                tag = uuid.uuid4().hex[:8]

                def vote():
                    result = client.predict(f"soak {tag}: {rng.choice(self.questions)}", "base", f"answer A {tag}",
                                            "base+rag", f"answer B {tag}", rng.choice(["A", "B", "tie", "both_bad"]), "",
                                            api_name="/vote")
                    with self.lock:
                        self.vote_ids.append(result["vote_id"])

                self.timed("/vote", vote)
            else:
                doc = tmp / f"soak-{n}-{rng.randrange(5)}.md"  # 5 names per client: replacements, not endless growth
                doc.write_text(f"# Notice {doc.stem}\n\nThe clinic notice {uuid.uuid4().hex[:6]} for client {n}.\n", encoding="utf-8")
                self.timed("/upload", lambda: client.predict([handle_file(str(doc))], api_name="/upload"))

    def rebuilder(self, until: float, every_s: float) -> None:
        while time.monotonic() + every_s < until:
            time.sleep(every_s)
            started = time.perf_counter()
            out = subprocess.run([sys.executable, str(ROOT / "app.py"), "index", str(self.folder), "--quiet"],
                                 capture_output=True, text=True, cwd=ROOT)
            with self.lock:
                if out.returncode != 0:
                    self.errors.append(f"index: {out.stderr.strip()[-300:]}")
                else:
                    self.latency["index"].append(time.perf_counter() - started)
                    self.counts["index"] += 1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="2 minutes, 3 clients")
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--rebuild-s", type=float, default=30.0, help="seconds between index rebuilds")
    ap.add_argument("--max-new-tokens", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    minutes, clients = (2.0, 3) if args.quick else (args.minutes, args.clients)

    from evals import example_questions
    from knowledge.files import read_jsonl_tolerant as read_jsonl

    folder = prepare_folder(args.max_new_tokens)
    questions = example_questions(folder, n=16) or ["What are your opening hours?"]
    port = free_port()
    server = start_server(folder, port)
    url = f"http://127.0.0.1:{port}/"
    soak = Soak(url, folder, questions, args.seed)
    memory: list[tuple[float, float]] = []
    try:
        started = time.monotonic()
        until = started + minutes * 60
        threads = [threading.Thread(target=soak.client, args=(i, until)) for i in range(clients)]
        threads.append(threading.Thread(target=soak.rebuilder, args=(until, args.rebuild_s)))
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            memory.append((time.monotonic() - started, rss_mb(server.pid)))
            time.sleep(2)
        for t in threads:
            t.join()
    finally:
        server.terminate()
        server.wait(30)

    saved = collections.Counter(v.get("id") for v in read_jsonl(folder / "feedback" / "votes.jsonl"))
    once = sum(saved[i] == 1 for i in soak.vote_ids)
    extra = sum(n for i, n in saved.items() if i not in set(soak.vote_ids))
    warm = [m for t, m in memory if t >= minutes * 60 / 4]
    growth = (sum(warm[-5:]) / len(warm[-5:]) - sum(warm[:5]) / len(warm[:5])) if len(warm) >= 10 else float("nan")

    print(f"soak: {minutes:g} min, {clients} clients, server RSS {warm[0] if warm else float('nan'):.0f} -> {warm[-1] if warm else float('nan'):.0f} MB after warm-up")
    for endpoint in ("/ask", "/vote", "/upload", "index"):
        values = soak.latency.get(endpoint, [])
        if values:
            print(f"  {endpoint:<8} {len(values):>5} ok  p50 {pct(values, 50):7.3f} s  p95 {pct(values, 95):7.3f} s")
            record(f"soak {endpoint} p95", pct(values, 95), "s", note=f"{len(values)} calls, {clients} clients, {minutes:g} min")
    print(f"  errors: {len(soak.errors)}")
    for e in soak.errors[:10]:
        print(f"    {e}")
    print(f"  votes: {len(soak.vote_ids)} acknowledged, {once} saved exactly once, {extra} saved but never acknowledged")
    print(f"  memory growth after warm-up: {growth:+.1f} MB (mean of the last 5 samples minus the first 5)")
    record("soak errors", len(soak.errors), "errors", note=f"{sum(soak.counts.values())} calls")
    record("soak votes saved exactly once", once, "votes", baseline=len(soak.vote_ids))
    record("soak server memory growth after warm-up", growth, "MB", baseline=warm[0] if warm else None)
    print(json.dumps({"errors": len(soak.errors), "votes": len(soak.vote_ids), "votes_once": once, "growth_mb": round(growth, 1)}))
    shutil.rmtree(folder.parent, ignore_errors=True)
    if soak.errors or once != len(soak.vote_ids) or extra:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
