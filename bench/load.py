"""Many users at once, through gradio_client, against the running app.

    python bench/load.py [--url URL] [--sessions 1 4 8 16 1] [--seconds 60] [--max-new-tokens 64]
    python bench/load.py --soak [--seconds 300] [--sessions 16] [--app-args "--profile cpu ..."]

Load: N chat sessions for a fixed time, each sending its next message as soon as the last
reply ends; reports aggregate tokens/s generated inside the window (tokens counted with the
chat model's tokenizer), p50/p95 time to first token, replies and errors for each N.

Soak: N sessions mixing chat, Document QA (each session indexes its own file, then asks) and
zero-shot classification; reports errors by kind and the app's memory (RSS) before, at the
peak and after the sessions end.

Without --url the benchmark starts `python app.py` on a free port itself (needed for --soak,
which reads the app's memory).
"""

from __future__ import annotations

import argparse
import json
import random
import shlex
import statistics
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from collections.abc import Callable
from typing import Any

from common import write

PROMPTS = [
    "Write a short story about a lighthouse keeper.",
    "Explain how rainbows form.",
    "Give me five tips for learning a new language.",
    "Describe a walk through a forest in autumn.",
    "What are the benefits of regular exercise?",
    "Write a poem about the ocean.",
    "Explain what a neural network is to a child.",
    "Describe your ideal city.",
]
DOCUMENT = (
    "# Station {n}\n\nZorblat Station {n} was founded in 2091 by engineer {name}. It orbits Titan and "
    "houses {people} researchers who study methane lakes. The station's reactor was upgraded in 2104.\n"
)
NAMES = ["Maria Quell", "Ade Okafor", "Lin Wei", "Sven Berg", "Ana Souza", "Ravi Iyer", "Mia Novak", "Tom Hale"]


def chat_tokenizer() -> Any:
    """The chat model's tokenizer, to count the tokens of each reply as the model did."""
    from transformers import AutoTokenizer

    from lmdemo.models.sources import gguf_tokenizer, resolve
    from lmdemo.settings import load_settings

    settings = load_settings([])
    source = resolve(settings.chat_model)
    if source.gguf_file:
        return gguf_tokenizer(source.gguf_file, settings.cache_dir)
    return AutoTokenizer.from_pretrained(source.location)


class App:
    """`python app.py` on a free port, for runs without --url."""

    def __init__(self, args: list[str]) -> None:
        from tests.conftest import RunningApp

        self.running = RunningApp(args)
        self.running.wait_ready()
        self.url = self.running.url
        self.pid = self.running.process.pid

    def rss_mb(self) -> float:
        import psutil

        return psutil.Process(self.pid).memory_info().rss / 2**20

    def stop(self) -> None:
        self.running.stop()


def chat_session(url: str, deadline: float, max_new: int, seed: int, out: dict[str, list]) -> None:
    from gradio_client import Client

    client = Client(url, verbose=False)
    rng = random.Random(seed)
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        first = None
        try:
            job = client.submit(rng.choice(PROMPTS), temperature=0.7, max_new_tokens=max_new, api_name="/chat")
            # Poll every 50 ms: iterating the job polls every 1 ms, and eight such loops take a core
            # from the server on a 2-core machine.
            while not job.done():
                if first is None and any(job.outputs()):
                    first = time.perf_counter() - started
                time.sleep(0.05)
            text = job.result()
        except Exception as error:  # counted, not raised: the benchmark reports errors
            out["errors"].append(f"{type(error).__name__}: {str(error)[:120]}")
            continue
        ended = time.perf_counter()
        first = first if first is not None else ended - started
        out["ttft"].append(first)
        out["replies"].append((started + first, ended, text))


def run_load(url: str, sessions: int, seconds: float, max_new: int, tokenizer: Any,
             rss: Callable[[], float] | None = None) -> dict[str, Any]:
    """Sessions chat until the deadline; tokens/s counts what was generated inside the window.

    A reply that straddles the deadline counts with the share of its decode time inside the
    window (tokens assumed evenly spread from its first token to its end), so the ragged end,
    when fewer sessions are still running, does not dilute the rate.
    """
    out: dict[str, list] = {"ttft": [], "replies": [], "errors": []}
    started = time.perf_counter()
    deadline = started + seconds
    threads = [
        threading.Thread(target=chat_session, args=(url, deadline, max_new, i, out)) for i in range(sessions)
    ]
    for thread in threads:
        thread.start()
    peak = 0.0
    while any(thread.is_alive() for thread in threads):
        peak = max(peak, rss() if rss else 0.0)
        time.sleep(0.2)
    tokens = 0.0
    for first, ended, text in out["replies"]:
        count = len(tokenizer(text, add_special_tokens=False)["input_ids"])
        inside = max(0.0, min(ended, deadline) - max(first, started))
        tokens += count * (inside / (ended - first) if ended > first else 1.0)
    ttft = sorted(out["ttft"])
    return {
        "sessions": sessions,
        "seconds": seconds,
        "replies": len(out["replies"]),
        "tokens_in_window": round(tokens),
        "aggregate_tok_s": tokens / seconds,
        "ttft_p50_s": statistics.median(ttft) if ttft else None,
        "ttft_p95_s": ttft[min(len(ttft) - 1, int(0.95 * len(ttft)))] if ttft else None,
        "errors": len(out["errors"]),
        "error_kinds": dict(Counter(e.split(":")[0] for e in out["errors"])),
        "rss_peak_mb": round(peak) if rss else None,
    }


def soak_session(url: str, deadline: float, seed: int, folder: Path, counts: Counter, errors: list) -> None:
    from gradio_client import Client, handle_file

    client = Client(url, verbose=False)
    rng = random.Random(seed)
    name = NAMES[seed % len(NAMES)]
    doc = folder / f"station-{seed}.md"
    doc.write_text(DOCUMENT.format(n=seed, name=name, people=10 + seed))
    try:
        client.predict([handle_file(str(doc))], api_name="/ingest")
        counts["ingest"] += 1
    except Exception as error:
        errors.append(f"ingest {type(error).__name__}: {str(error)[:120]}")
    while time.perf_counter() < deadline:
        kind = rng.choice(["chat", "ask", "classify"])
        try:
            if kind == "chat":
                client.predict(rng.choice(PROMPTS), max_new_tokens=48, api_name="/chat")
            elif kind == "ask":
                answer, sources = client.predict(f"Who founded Zorblat Station {seed}?", api_name="/ask")
                sources = json.loads(sources) if isinstance(sources, str) else sources
                if any(source["source"] != doc.name for source in sources):
                    counts["ask_cited_another_sessions_file"] += 1
                if name.split()[-1] not in answer:
                    counts["ask_answer_without_the_name"] += 1
            else:
                client.predict(
                    "The striker scored twice in the final.", "sport, business, politics", "zero-shot",
                    api_name="/classify",
                )
            counts[kind] += 1
        except Exception as error:
            errors.append(f"{kind} {type(error).__name__}: {str(error)[:120]}")


def warm_up(url: str, folder: Path) -> None:
    """One request of each kind, so that "before" is the idle app with its models loaded, not an empty one."""
    from gradio_client import Client, handle_file

    client = Client(url, verbose=False)
    doc = folder / "warm-up.md"
    doc.write_text(DOCUMENT.format(n=0, name=NAMES[0], people=10))
    client.predict([handle_file(str(doc))], api_name="/ingest")
    client.predict("Who founded Zorblat Station 0?", api_name="/ask")
    client.predict(PROMPTS[0], max_new_tokens=48, api_name="/chat")
    client.predict("The striker scored twice.", "sport, business", "zero-shot", api_name="/classify")


def run_soak(app: App, sessions: int, seconds: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        warm_up(app.url, Path(tmp))
        time.sleep(5)
        before = app.rss_mb()
        counts: Counter = Counter()
        errors: list[str] = []
        peak = before
        deadline = time.perf_counter() + seconds
        threads = [
            threading.Thread(target=soak_session, args=(app.url, deadline, i, Path(tmp), counts, errors))
            for i in range(sessions)
        ]
        for thread in threads:
            thread.start()
        while any(t.is_alive() for t in threads):
            peak = max(peak, app.rss_mb())
            time.sleep(1)
    time.sleep(10)
    after = app.rss_mb()
    return {
        "sessions": sessions,
        "seconds": seconds,
        **{f"done_{k}": v for k, v in sorted(counts.items())},
        "errors": len(errors),
        "error_samples": errors[:5],
        "rss_before_mb": before,
        "rss_peak_mb": peak,
        "rss_after_mb": after,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="a running app (default: start one)")
    parser.add_argument("--sessions", type=int, nargs="+", default=None)
    parser.add_argument("--seconds", type=float, default=None)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--soak", action="store_true", help="16 sessions mixing chat, ask and classify")
    parser.add_argument("--app-args", default="", help='flags for the app it starts, e.g. "--engine transformers"')
    parser.add_argument("--name", default="load", help="results file name under bench/results")
    args = parser.parse_args()
    if args.soak and args.url:
        parser.error("--soak starts its own app (it reads the app's memory); drop --url")
    app = None if args.url else App(shlex.split(args.app_args))
    url = args.url or app.url
    try:
        if args.soak:
            sessions = (args.sessions or [16])[0]
            row = run_soak(app, sessions, args.seconds or 300)
            write("soak", [row])
            return
        tokenizer = chat_tokenizer()
        run_load(url, 1, 10, 16, tokenizer)  # warm-up: models loaded, caches allocated
        levels = args.sessions or [1, 4, 8, 16, 1]
        rss = app.rss_mb if app else None
        rows = [run_load(url, n, args.seconds or 60, args.max_new_tokens, tokenizer, rss) for n in levels]
        # Give 1 twice (e.g. --sessions 1 4 8 16 1) to average the baseline over the run's drift.
        singles = [row["aggregate_tok_s"] for row in rows if row["sessions"] == 1] or [rows[0]["aggregate_tok_s"]]
        base = statistics.mean(singles) or 1.0
        for row in rows:
            row["speedup_vs_1"] = row["aggregate_tok_s"] / base
        write(args.name, rows, {"url": url, "max_new_tokens": args.max_new_tokens, "app_args": args.app_args})
    finally:
        if app is not None:
            app.stop()


if __name__ == "__main__":
    main()
