"""Answer quality and speed of the stage backends, outside the mesh.

Runs extract -> triple -> reason on the first N questions of a document (default: the bundled one),
with the passages a run's search stage would hand over (BM25 over the whole document, top k), or
with the gold fragments (`--passages gold`). Grades every answer with `fsr.workload.grading` and
prints, per backend: EM, F1, tasks/s, LLM tokens/s, mean call latency and, for the local model, the
server's start-up time.

    python benchmarks/llm_quality.py                       # offline and local, 50 questions
    python benchmarks/llm_quality.py --backends offline,openai --n 20   # any endpoint via env

Tasks run one after the other (one stage call at a time), so tasks/s is the single-stream rate.
`--threads N` runs N tasks at once through one backend, as N agents sharing one server would.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from fsr.agents.tools.base import StageBackend
from fsr.agents.tools.llm import LlmError, OpenAIBackend
from fsr.agents.tools.local_server import LocalServer, start_local_server
from fsr.agents.tools.offline import OfflineBackend
from fsr.agents.tools.search import CorpusStats, ShardIndex
from fsr.config.schema import Model
from fsr.workload.document import QA, Document, load_document
from fsr.workload.grading import exact_match, token_f1


@dataclass
class Outcome:
    qid: str
    gold: str
    answer: str | None
    em: float
    f1: float
    calls: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None


def run_task(backend: StageBackend, qa: QA, passages: list[str]) -> Outcome:
    calls: list[dict[str, Any]] = []
    try:
        ex = backend.extract(qa.question, passages)
        calls += ex.llm_calls
        sentence = ex.output["sentence"]
        tr = backend.triple(qa.question, sentence)
        calls += tr.llm_calls
        rs = backend.reason(qa.question, sentence, tr.output["triple"])
        calls += rs.llm_calls
    except LlmError as exc:
        return Outcome(qa.qid, qa.answer, None, 0.0, 0.0, calls + exc.calls, str(exc))
    answer = rs.output["answer"]
    return Outcome(
        qa.qid,
        qa.answer,
        answer,
        float(exact_match(answer, qa.answer)),
        token_f1(answer, qa.answer),
        calls,
    )


def passages_for(doc: Document, mode: str, top_k: int) -> dict[str, list[str]]:
    texts = doc.texts()
    if mode == "gold":
        return {qa.qid: [texts[f] for f in qa.fids] for qa in doc.qa}
    index = ShardIndex(texts, CorpusStats.build(texts.values()))
    return {qa.qid: [h["text"] for h in index.lookup(qa.question, None, top_k)] for qa in doc.qa}


def evaluate(
    name: str,
    backend: StageBackend,
    doc: Document,
    passages: dict[str, list[str]],
    n: int,
    threads: int,
) -> dict[str, Any]:
    questions = list(doc.qa[:n])
    t0 = time.perf_counter()
    if threads > 1:
        with ThreadPoolExecutor(threads) as pool:
            outcomes = list(pool.map(lambda q: run_task(backend, q, passages[q.qid]), questions))
    else:
        outcomes = [run_task(backend, q, passages[q.qid]) for q in questions]
    wall = time.perf_counter() - t0
    calls = [c for o in outcomes for c in o.calls]
    prompt = sum(c["prompt_tokens"] for c in calls)
    completion = sum(c["completion_tokens"] for c in calls)
    return {
        "backend": name,
        "tasks": len(outcomes),
        "failed": sum(o.answer is None for o in outcomes),
        "em": statistics.fmean(o.em for o in outcomes),
        "f1": statistics.fmean(o.f1 for o in outcomes),
        "wall_s": wall,
        "tasks_per_s": len(outcomes) / wall,
        "llm_calls": len(calls),
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "prompt_tokens_per_s": prompt / wall,
        "completion_tokens_per_s": completion / wall,
        "mean_call_ms": statistics.fmean(c["latency_ms"] for c in calls) if calls else 0.0,
        "max_call_ms": max((c["latency_ms"] for c in calls), default=0.0),
        "samples": [
            {"qid": o.qid, "gold": o.gold, "answer": o.answer, "error": o.error}
            for o in outcomes[:8]
        ],
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--document", default=None, help="document JSON / QA JSONL (default: bundled)")
    ap.add_argument("--n", type=int, default=50, help="questions to run")
    ap.add_argument("--backends", default="offline,local", help="offline,local,openai")
    ap.add_argument("--passages", choices=("search", "gold"), default="search")
    ap.add_argument("--top-k", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1, help="tasks in flight at once")
    ap.add_argument("--n-threads", type=int, default=None, help="llama.cpp threads (local)")
    ap.add_argument("--model", default=os.environ.get("FSR_LLM_MODEL", "gpt-4o-mini"))
    ap.add_argument("--json", action="store_true", help="print the full results as JSON")
    args = ap.parse_args(argv)

    doc = load_document(args.document)
    passages = passages_for(doc, args.passages, args.top_k)
    results = []
    for name in args.backends.split(","):
        server: LocalServer | None = None
        backend: StageBackend
        extra: dict[str, Any] = {}
        if name == "offline":
            backend = OfflineBackend()
        elif name == "local":
            server = start_local_server(
                Model(type="local"), 9700, startup_timeout=120.0, n_threads=args.n_threads
            )
            extra["server_startup_s"] = server.startup_s
            cfg = Model(
                type="local",
                name=server.model_name,
                base_url=server.base_url,
                timeout=60.0,
                max_retries=0,
                concurrency=max(args.threads, 1),
            )
            backend = OpenAIBackend(cfg)
        elif name == "openai":
            cfg = Model(type="openai", name=args.model, concurrency=max(args.threads, 1))
            backend = OpenAIBackend(cfg)
        else:
            ap.error(f"unknown backend {name!r}")
        try:
            res = evaluate(name, backend, doc, passages, args.n, args.threads)
        finally:
            if server is not None:
                server.stop()
        res.update(extra)
        results.append(res)

    if args.json:
        json.dump(results, sys.stdout, indent=1)
        print()
        return 0
    print(
        f"document {doc.doc_id}: {min(args.n, len(doc.qa))} questions, passages={args.passages}"
        f" (top {args.top_k}), threads={args.threads}"
    )
    head = (
        f"{'backend':8} {'EM':>6} {'F1':>6} {'fail':>4} {'tasks/s':>8} {'prompt tok/s':>12} "
        f"{'gen tok/s':>9} {'call ms':>8} {'startup s':>9}"
    )
    print(head)
    for r in results:
        start = f"{r['server_startup_s']:.1f}" if "server_startup_s" in r else "-"
        print(
            f"{r['backend']:8} {r['em']:6.3f} {r['f1']:6.3f} {r['failed']:4d} "
            f"{r['tasks_per_s']:8.2f} {r['prompt_tokens_per_s']:12.1f} "
            f"{r['completion_tokens_per_s']:9.1f} {r['mean_call_ms']:8.0f} {start:>9}"
        )
    for r in results:
        print(f"\n{r['backend']} samples (gold -> answer):")
        for s in r["samples"]:
            print(
                f"  {s['qid']}: {s['gold']!r} -> {s['answer']!r}"
                + (f"  [{s['error']}]" if s["error"] else "")
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
