"""Load test of `tailor serve`: time to first token and total answer time for one user, then for
8 users at once, through the real server and gradio_client on loopback.

    .venv/bin/python bench/serve.py --quick                 # 1 client x 2, then 8 clients x 1 (~3 min on 2 cores)
    .venv/bin/python bench/serve.py                         # 1 client x 4, then 8 clients x 2
    .venv/bin/python bench/serve.py examples/clinic --clients 8 --requests 2

The server runs as its own process (`python app.py serve FOLDER --port P`), exactly as users
start it, so clients and server do not share a GIL. Without a FOLDER (or one that is not
indexed) it serves a temporary copy of the clinic documents from /work/shared/data/clinic,
indexed here, with the default base model and answers capped at --max-new-tokens. Every
request asks /ask with variant base+rag, questions taken in turn from the eval suites.
The single user's figures are the baseline of the loaded ones (ratio = loaded / single);
any failed request is reported and counted. Results go to bench/results.jsonl.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _results import make_recorder  # noqa: E402  (bench/ is on sys.path when a script runs)
COMMAND = "bench/serve.py"
SHARED_CLINIC = Path("/work/shared/data/clinic")
VARIANT = "base+rag"


record = make_recorder(COMMAND, show_note=False)


def prepare_folder(folder: Path | None, max_new_tokens: int) -> tuple[Path, str]:
    """The folder to serve: FOLDER when it is indexed, else a temporary indexed clinic copy."""
    if folder is not None and (folder / "build" / "index").is_dir():
        return folder, str(folder)
    from builder.config import load_config
    from knowledge import build_index

    src = folder if folder is not None and (folder / "docs").is_dir() else SHARED_CLINIC
    tmp = Path(tempfile.mkdtemp(prefix="tailor-serve-bench-")) / "clinic"
    shutil.copytree(src / "docs", tmp / "docs")
    if (src / "evals").is_dir():
        shutil.copytree(src / "evals", tmp / "evals")
    (tmp / "assistant.yaml").write_text(f"name: Clinic\ngeneration:\n  max_new_tokens: {max_new_tokens}\n", encoding="utf-8")
    build_index(tmp / "docs", tmp / "build" / "index", load_config(tmp).knowledge, progress=False)
    return tmp, f"indexed copy of {src}/docs, max_new_tokens {max_new_tokens}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(folder: Path, port: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "serve", str(folder), "--port", str(port)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited with code {proc.returncode}:\n{proc.stderr.read()[-2000:]}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2)
            return proc
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise SystemExit("the server did not answer within 300 s")


def one_request(url: str, question: str) -> dict:
    """Time one /ask call: to the first streamed text and to the final answer."""
    from gradio_client import Client

    client = Client(url, verbose=False)
    started = time.perf_counter()
    job = client.submit(question, VARIANT, api_name="/ask")
    first = None
    for text, _sources in job:
        if first is None and text.strip():
            first = time.perf_counter() - started
    result = job.result()
    total = time.perf_counter() - started
    return {"ttft": first if first is not None else total, "total": total, "chars": len(result[0]), "sources": len(result[1])}


def run_clients(url: str, questions: list[str], clients: int, requests: int) -> tuple[list[dict], list[str]]:
    """`clients` users at once, each sending `requests` questions one after another."""
    def user(u: int) -> tuple[list[dict], list[str]]:
        done, errors = [], []
        for r in range(requests):
            try:
                done.append(one_request(url, questions[(u * requests + r) % len(questions)]))
            except Exception as exc:  # counted and shown: a load test reports failures, it does not stop
                errors.append(f"{type(exc).__name__}: {exc}")
        return done, errors

    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        outcomes = list(pool.map(user, range(clients)))
    return [d for done, _ in outcomes for d in done], [e for _, errs in outcomes for e in errs]


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folder", type=Path, nargs="?", default=None)
    ap.add_argument("--quick", action="store_true", help="2 single requests, 8 clients x 1 request")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--requests", type=int, default=None, help="requests per client under load (default 2, quick 1)")
    ap.add_argument("--max-new-tokens", type=int, default=64, help="answer cap for the temporary folder")
    args = ap.parse_args()
    per_client = args.requests or (1 if args.quick else 2)
    single_n = 2 if args.quick else 4

    from app import example_questions

    folder, what = prepare_folder(args.folder, args.max_new_tokens)
    questions = example_questions(folder, n=16) or ["What are your opening hours?"]
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    started = time.perf_counter()
    proc = start_server(folder, port)
    print(f"serving {folder} ({what}) at {url}; up in {time.perf_counter() - started:.1f} s", flush=True)
    try:
        one_request(url, questions[0])  # warm-up: loads the model and the embedder once
        single, single_err = run_clients(url, questions, 1, single_n)
        loaded, loaded_err = run_clients(url, questions, args.clients, per_client)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    if not single:
        raise SystemExit(f"every single-user request failed: {single_err[:3]}")
    note = f"{what}; variant {VARIANT}; {single_n} single requests, {args.clients} clients x {per_client}"
    n = args.clients
    for key in ("ttft", "total"):
        base = [r[key] for r in single]
        load = [r[key] for r in loaded] or [float("nan")]
        for q in (50, 95):
            record(f"serve.{key}_p{q}.{n}_clients", pct(load, q), "s", pct(base, q), note + f"; baseline = 1 client p{q}")
    errors = single_err + loaded_err
    record(f"serve.errors.{n}_clients", len(errors), "requests", None, note + (f"; first: {errors[0]}" if errors else ""))
    wall = sum(r["total"] for r in loaded)
    print(f"{len(loaded)} loaded requests ok, {len(errors)} failed; mean answer {statistics.mean(r['chars'] for r in loaded + single):.0f} chars; "
          f"summed answer time {wall:.1f} s", flush=True)


if __name__ == "__main__":
    main()
