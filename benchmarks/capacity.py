"""Judge capacity: one GRPO step's grading against 1, 2 and 4 judge replicas of fixed capacity.

``python -m benchmarks.capacity [--quick]`` (or ``python -m benchmarks --only capacity``)

Each replica is a loopback OpenAI-compatible server (``heartgrpo.io.loopback``) that answers
at most ``SLOTS`` requests at once, each ``SERVICE_S`` seconds after it starts (later requests
queue), so a replica serves ``R = SLOTS / SERVICE_S`` requests/s, the way a vLLM server with a
full batch does. The replicas run in their own process. For each judge mode the script grades
one step (``PROMPTS`` prompts x 6 generations x ``N_C`` criteria) through ``make_reward_func``
and an :class:`~heartgrpo.judge.OpenAIJudge` whose ``base_url`` lists 1, 2 or 4 replicas, and
compares the wall time with the capacity model of :mod:`heartgrpo.judge.capacity`. Writes the
``capacity`` section of ``docs/scaling.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import os
import statistics
import subprocess
import sys
import time

from benchmarks import ROOT, docs_dir, md_table, quick_mode, write_section
from heartgrpo.judge.capacity import judge_seconds, requests_per_step, sequential_judge_seconds
from heartgrpo.judge import OpenAIJudge
from heartgrpo.io.loopback import LoopbackServer, Reply, grading_responder
from heartgrpo.rewards import make_reward_func

GENERATIONS = 6
SLOTS = 4
SERVICE_S = 0.1
REPLICAS = (1, 2, 4)


def capacity_responder(slots: int, service_s: float):
    """The fake grader behind a queue: ``slots`` requests served at once, ``service_s`` each."""
    inner = grading_responder(0.0)
    free = [0.0] * slots  # when each slot is next free (a heap)

    def respond(request: dict, index: int) -> Reply:
        reply = inner(request, index)
        now = time.monotonic()
        start = max(now, heapq.heappop(free))
        heapq.heappush(free, start + service_s)
        reply.delay = start + service_s - now
        return reply

    return respond


def serve(n: int, slots: int, service_s: float) -> None:
    """Run ``n`` capacity-limited replicas and one without a limit (the last URL, 1 ms a request:
    what the client alone costs) until killed; print one base URL per line."""
    servers = [LoopbackServer(capacity_responder(slots, service_s)).start() for _ in range(n)]
    servers.append(LoopbackServer(capacity_responder(100_000, 0.001)).start())
    print("\n".join(s.base_url for s in servers), flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        for s in servers:
            s.stop()


def rubric(n: int) -> list[dict]:
    return [{"criterion": f"Criterion {j}: states fact number {j} about the heart", "points": 5 - (j % 4) * 2} for j in range(n)]


async def step(func, prompts: int, n_c: int, tag: str) -> tuple[float, int]:
    conversations = [[{"role": "user", "content": f"Question {tag} {p}: I have chest pain."}] for p in range(prompts)]
    prompt_col = [c for c in conversations for _ in range(GENERATIONS)]
    completions = [f"<think>draft</think>Answer {tag} {p}.{g} about chest pain." for p in range(prompts) for g in range(GENERATIONS)]
    t0 = time.perf_counter()
    rewards = await func(prompts=prompt_col, completions=completions, rubrics=[rubric(n_c)] * len(completions))
    return time.perf_counter() - t0, sum(r is not None for r in rewards)


async def measure(urls: list[str], prompts: int, n_c: int, repeats: int) -> list[dict]:
    """Per mode, one judge per replica count, measured in interleaved rounds (1, 2, 4, 1, 2, 4, ...)
    so that a busy moment of the machine falls on every replica count alike."""
    rows = []
    for mode in ("per_criterion", "batched"):
        judges = {k: OpenAIJudge("judge", base_url=urls[:k], mode=mode, max_concurrency=512, timeout=60, cache=None) for k in REPLICAS}
        judges[0] = OpenAIJudge("judge", base_url=urls[-1], mode=mode, max_concurrency=512, timeout=60, cache=None)
        funcs = {k: make_reward_func(j, "complexity", use_async=True) for k, j in judges.items()}
        for k in judges:
            await step(funcs[k], prompts, n_c, f"warm-{mode}-{k}")  # connections to every replica
        sent_before = {k: [r.sent for r in j.endpoints.replicas] for k, j in judges.items()}
        times: dict[int, list[float]] = {k: [] for k in judges}
        for rep in range(repeats):
            for k in judges:
                seconds, scored = await step(funcs[k], prompts, n_c, f"{mode}-{k}-{rep}")
                assert scored == prompts * GENERATIONS, f"{mode} x{k}: {scored} scored"
                times[k].append(seconds)
        for k, judge in judges.items():
            q = requests_per_step(mode, prompts=prompts, generations=GENERATIONS, criteria=n_c)
            spread = [(r.sent - b) // repeats for r, b in zip(judge.endpoints.replicas, sent_before[k])]
            rows.append({"mode": mode, "replicas": k, "requests": q,
                         "model": judge_seconds(q, replicas=k, slots=SLOTS, service_s=SERVICE_S) if k else None,
                         "median": statistics.median(times[k]), "worst": max(times[k]), "spread": spread})
            await judge.aclose()
    return rows


PAPER_STEP_S = 26 * 3600 / 1000  # the paper: 1,000 steps in about 26 h on one GPU
PAPER_N_C = 12  # criteria per prompt: RaR-Medicine items run 7-20; the bundled sample averages 11.7


def paper_rows(latency_s: float, replica_rps: float) -> list[list[str]]:
    """The paper's run through the model, for one assumed judge latency ``latency_s`` (seconds per
    request) and a judge replica of ``replica_rps`` requests/s. The policy's share of a step is
    what the published step time leaves after the sequential judge: ``T_step - Q * L``."""
    q = requests_per_step("per_criterion", prompts=1, generations=GENERATIONS, criteria=PAPER_N_C)
    judge_seq = sequential_judge_seconds(q, latency_s)
    policy = PAPER_STEP_S - judge_seq
    layouts = [
        ("as published: 1 GPU, one judge request after another", judge_seq, policy),
        ("1 GPU, colocated vLLM, remote judge answering all at once (an API)", latency_s, policy),
        (f"2 GPUs: policy + a local vllm serve judge of R = {replica_rps:g} req/s", max(latency_s, q / replica_rps), policy),
        ("N GPUs: 2 accelerate ranks (policy time / 2 at best) + trl vllm-serve + 2 judge replicas", max(latency_s, q / (2 * replica_rps)), policy / 2),
    ]
    return [[name, f"{latency_s:g}", f"{p:.1f}", f"{j:.1f}", f"{p + j:.1f}", f"{1000 * (p + j) / 3600:.1f}"] for name, j, p in layouts]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="7 criteria, 1 repeat")
    parser.add_argument("--serve", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve, SLOTS, SERVICE_S)
        return
    quick = quick_mode(args.quick)
    prompts, n_c, repeats = (1, 7, 1) if quick else (2, 20, 5)
    proc = subprocess.Popen([sys.executable, "-m", "benchmarks.capacity", "--serve", str(max(REPLICAS))],
                            stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        urls = [proc.stdout.readline().strip() for _ in range(max(REPLICAS) + 1)]  # type: ignore[union-attr]
        load_before = os.getloadavg()[0]
        rows = asyncio.run(measure(urls, prompts, n_c, repeats))
    finally:
        proc.terminate()
        proc.wait(timeout=10)

    rps = SLOTS / SERVICE_S
    one = next(r for r in rows if r["mode"] == "per_criterion" and r["replicas"] == 1)
    table = md_table(
        ["judge mode", "replicas", "requests / step", "model s", "measured s (median)", "worst s", "measured / model", "requests per replica"],
        [[r["mode"], str(r["replicas"]) if r["replicas"] else "no limit (client floor)", str(r["requests"]),
          f"{r['model']:.2f}" if r["model"] else "", f"{r['median']:.2f}", f"{r['worst']:.2f}",
          f"{r['median'] / r['model']:.2f}" if r["model"] else "", " / ".join(map(str, r["spread"]))] for r in rows],
    )
    speedups = {r["replicas"]: one["median"] / r["median"] for r in rows if r["mode"] == "per_criterion"}
    floor = next(r for r in rows if r["mode"] == "per_criterion" and r["replicas"] == 0)
    body = "\n\n".join([
        "## Measured: one step's judging against 1, 2 and 4 replicas",
        f"`python -m benchmarks --only capacity` ({'quick: ' if quick else ''}{prompts} prompt(s) x {GENERATIONS} "
        f"generations x {n_c} criteria, median of {repeats} rounds that interleave the replica counts). Each replica answers {SLOTS} requests at once, "
        f"{SERVICE_S * 1000:.0f} ms each, so R = {rps:.0f} requests/s per replica; the model column is "
        "`ceil(Q / (k c)) * s` from `heartgrpo.judge.capacity`.",
        table,
        f"Per criterion, 2 replicas are {speedups.get(2, float('nan')):.2f}x and 4 replicas "
        f"{speedups.get(4, float('nan')):.2f}x faster than one (the model: 2x and 4x). One replica measured "
        f"{one['requests'] / one['median']:.1f} requests/s against its R = {rps:.0f}. Where the measured time "
        "is above the model, the rest is this machine's client CPU: the same requests against a replica "
        f"with no limit (1 ms each) take {floor['median']:.2f} s, {floor['median'] * 1000 / floor['requests']:.1f} ms "
        "per request spent building, sending and parsing them (docs/benchmarks.md, judge throughput), so "
        "once the replicas' model time nears that floor the judge is no longer the bottleneck and more "
        "replicas stop paying (`judge.workers` spreads the client CPU over processes). "
        "Batched grading sends one request per completion, so one replica with enough slots already holds "
        "a whole step and more replicas change little. The requests-per-replica column is the pool's "
        "least-busy routing at work.",
        "## The paper's 1,000-step run through the model",
        f"Published: 1,000 steps in about 26 h on one RTX 6000 PRO, {PAPER_STEP_S:.1f} s a step, 1 prompt x "
        f"{GENERATIONS} generations, the judge asked once per (completion, criterion), one request after "
        f"another. With n_c = {PAPER_N_C} criteria that is Q = {GENERATIONS * PAPER_N_C} requests a step. The "
        "paper gives neither the judge's latency nor the split of a step, so the table takes a latency L "
        "(0.5 s and 1 s per verdict, typical of a hosted GPT-OSS-120B answering a short JSON) and "
        "attributes to the policy (generation + backward) what the published step time leaves: "
        "`T_policy = T_step - Q L`. The other rows keep that policy time and change only the judge (and, "
        "in the last row, halve the policy time, the most data parallelism can give). R = 8 req/s per "
        "replica is an assumption of the same order as the published figure quoted above the table.",
        md_table(["layout", "L s", "policy s", "judge s", "step s", "hours / 1,000 steps"],
                 paper_rows(0.5, 8.0) + paper_rows(1.0, 8.0)),
        f"Machine: {os.cpu_count()} CPU cores shared by client and replicas (1-minute load average "
        f"{load_before:.1f} before, {os.getloadavg()[0]:.1f} after).",
    ])
    path = write_section("capacity", body, doc=docs_dir() / "scaling.md")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
