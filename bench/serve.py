"""Load test of `tailor serve`: time to first token, total answer time and answer tokens per
second for one user, then for 8 users at once, through the real server and gradio_client on
loopback; first with answers generated one at a time (generation.max_batch: 1, how Tailor
served before batching), then batched (the default), in the same run.

    .venv/bin/python bench/serve.py --quick                 # per server: 1 client x 2, then 8 clients x 1
    .venv/bin/python bench/serve.py                         # per server: 1 client x 4, then 8 clients x 2
    .venv/bin/python bench/serve.py --quick --clients 16 --no-baseline
    .venv/bin/python bench/serve.py examples/clinic --clients 8 --requests 2

The server runs as its own process (`python app.py serve FOLDER --port P`), exactly as users
start it, so clients and server do not share a GIL. Without a FOLDER (or one that is not
indexed) it serves a temporary copy of the clinic documents from ../shared/data/clinic (next
to the project folder), indexed here, with the default base model and answers capped at
--max-new-tokens; only that folder gets the one-at-a-time baseline server (a FOLDER of yours
is served as it is configured). Every request asks /ask with variant base+rag, questions taken
in turn from the eval suites. Within a server, the single user's figures are the baseline of
the loaded ones (ratio = loaded / single); the goals are answer tokens/s under load >= 3x one
client's and p50 time to first token <= 2x. Any failed request is reported and counted.
Answer tokens are counted with the served model's tokenizer. Results go to bench/results.jsonl.
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
SHARED_CLINIC = ROOT.parent / "shared" / "data" / "clinic"  # the shared data sets live next to the project
VARIANT = "base+rag"


record = make_recorder(COMMAND, show_note=False)


def prepare_folder(folder: Path | None, max_new_tokens: int) -> tuple[Path, str, bool]:
    """The folder to serve: FOLDER when it is indexed, else a temporary indexed clinic copy
    (and whether it is ours to reconfigure)."""
    if folder is not None and (folder / "build" / "index").is_dir():
        return folder, str(folder), False
    from builder.config import load_config
    from knowledge import build_index

    src = folder if folder is not None and (folder / "docs").is_dir() else SHARED_CLINIC
    tmp = Path(tempfile.mkdtemp(prefix="tailor-serve-bench-")) / "clinic"
    shutil.copytree(src / "docs", tmp / "docs")
    if (src / "evals").is_dir():
        shutil.copytree(src / "evals", tmp / "evals")
    (tmp / "assistant.yaml").write_text(f"name: Clinic\ngeneration:\n  max_new_tokens: {max_new_tokens}\n", encoding="utf-8")
    build_index(tmp / "docs", tmp / "build" / "index", load_config(tmp).knowledge, progress=False)
    return tmp, f"indexed copy of {src}/docs, max_new_tokens {max_new_tokens}", True


def configure(folder: Path, max_new_tokens: int, max_batch: int | None) -> None:
    """assistant.yaml of the temporary folder: the answer cap, and generation.max_batch when set."""
    text = f"name: Clinic\ngeneration:\n  max_new_tokens: {max_new_tokens}\n"
    if max_batch is not None:
        text += f"  max_batch: {max_batch}\n"
    (folder / "assistant.yaml").write_text(text, encoding="utf-8")


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


def count_tokens(folder: Path):
    """Tokens of an answer's text, with the served base model's tokenizer."""
    from builder.config import load_config
    from chat.models import resolve_model
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(resolve_model(load_config(folder).builder.base_model))
    return lambda text: len(tokenizer(text, add_special_tokens=False)["input_ids"])


def one_request(url: str, question: str) -> dict:
    """Time one /ask call: to the first streamed text and to the final answer."""
    from gradio_client import Client

    client = Client(url, verbose=False)
    started = time.perf_counter()  # perf_counter is one clock for the whole process, so threads' times line up
    job = client.submit(question, VARIANT, api_name="/ask")
    first = None
    for text, _sources in job:
        if first is None and text.strip():
            first = time.perf_counter() - started
    result = job.result()
    total = time.perf_counter() - started
    return {"start": started, "ttft": first if first is not None else total, "total": total, "text": result[0], "chars": len(result[0]), "sources": len(result[1])}


def run_clients(url: str, questions: list[str], clients: int, requests: int) -> tuple[list[dict], list[str], float]:
    """`clients` users at once, each sending `requests` questions one after another: their
    results, their errors and the wall time from the first request to the last answer."""
    def user(u: int) -> tuple[list[dict], list[str]]:
        done, errors = [], []
        for r in range(requests):
            try:
                done.append(one_request(url, questions[(u * requests + r) % len(questions)]))
            except Exception as exc:  # counted and shown: a load test reports failures, it does not stop
                errors.append(f"{type(exc).__name__}: {exc}")
        return done, errors

    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        outcomes = list(pool.map(user, range(clients)))
    wall = time.perf_counter() - started
    return [d for done, _ in outcomes for d in done], [e for _, errs in outcomes for e in errs], wall


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def measure(folder: Path, questions: list[str], clients: int, per_client: int, single_n: int, tokens) -> dict:
    """Start a server on `folder`, warm it, time one user and then `clients` users; stop it."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    started = time.perf_counter()
    proc = start_server(folder, port)
    print(f"serving {folder} at {url}; up in {time.perf_counter() - started:.1f} s", flush=True)
    try:
        one_request(url, questions[0])  # warm-up: loads the model and the embedder once
        single, single_err, single_wall = run_clients(url, questions, 1, single_n)
        loaded, loaded_err, loaded_wall = run_clients(url, questions, clients, per_client)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    if not single:
        raise SystemExit(f"every single-user request failed: {single_err[:3]}")
    for r in single + loaded:
        r["tokens"] = tokens(r["text"])
    return {"single": single, "loaded": loaded, "errors": single_err + loaded_err,
            "single_tps": sum(r["tokens"] for r in single) / single_wall,
            "loaded_tps": sum(r["tokens"] for r in loaded) / loaded_wall if loaded else float("nan")}


def decode_tokens_per_s(results: list[dict]) -> float:
    """Tokens after each answer's first, over the time during which at least one answer was
    being decoded (the union of the first-token-to-end intervals): the aggregate decode
    throughput, which answers written one after another cannot raise and a batch can."""
    spans = sorted((r["start"] + r["ttft"], r["start"] + r["total"]) for r in results)
    busy, end = 0.0, float("-inf")
    for a, b in spans:
        busy += max(0.0, b - max(a, end))
        end = max(end, b)
    return sum(max(0, r["tokens"] - 1) for r in results) / busy if busy > 0 else float("nan")


def report(m: dict, n: int, suffix: str, note: str) -> None:
    single, loaded = m["single"], m["loaded"]
    for key in ("ttft", "total"):
        base = [r[key] for r in single]
        load = [r[key] for r in loaded] or [float("nan")]
        for q in (50, 95):
            record(f"serve.{key}_p{q}.{n}_clients{suffix}", pct(load, q), "s", pct(base, q), note + f"; baseline = 1 client p{q}")
    record(f"serve.tokens_per_s.{n}_clients{suffix}", m["loaded_tps"], "answer tokens/s", m["single_tps"],
           note + "; answer tokens of all clients / wall time from first request to last answer; baseline = 1 client")
    record(f"serve.decode_tokens_per_s.{n}_clients{suffix}", decode_tokens_per_s(loaded) if loaded else float("nan"), "tokens/s",
           decode_tokens_per_s(single), note + "; aggregate decode: tokens after each first one / time any answer was decoding; baseline = 1 client")
    errors = m["errors"]
    record(f"serve.errors.{n}_clients{suffix}", len(errors), "requests", None, note + (f"; first: {errors[0]}" if errors else ""))
    print(f"{len(loaded)} loaded requests ok, {len(errors)} failed; mean answer {statistics.mean(r['tokens'] for r in loaded + single):.0f} tokens; "
          f"summed answer time {sum(r['total'] for r in loaded):.1f} s", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folder", type=Path, nargs="?", default=None)
    ap.add_argument("--quick", action="store_true", help="2 single requests, 8 clients x 1 request")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--requests", type=int, default=None, help="requests per client under load (default 2, quick 1)")
    ap.add_argument("--max-new-tokens", type=int, default=64, help="answer cap for the temporary folder")
    ap.add_argument("--no-baseline", action="store_true", help="skip the one-at-a-time server (generation.max_batch: 1)")
    args = ap.parse_args()
    per_client = args.requests or (1 if args.quick else 2)
    single_n = 2 if args.quick else 4

    from evals import example_questions

    folder, what, ours = prepare_folder(args.folder, args.max_new_tokens)
    questions = example_questions(folder, n=16) or ["What are your opening hours?"]
    tokens = count_tokens(folder)
    n = args.clients
    note = f"{what}; variant {VARIANT}; {single_n} single requests, {n} clients x {per_client}; OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}"
    runs = [("", None)]
    if ours and not args.no_baseline:
        runs.insert(0, (".one_at_a_time", 1))
    for suffix, max_batch in runs:
        if ours:
            configure(folder, args.max_new_tokens, max_batch)
        label = "one at a time (generation.max_batch: 1)" if max_batch == 1 else "batched (default generation.max_batch)"
        print(f"--- {label}", flush=True)
        report(measure(folder, questions, n, per_client, single_n, tokens), n, suffix, note + f"; {label}")


if __name__ == "__main__":
    main()
