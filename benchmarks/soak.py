"""Judge-layer soak: thousands of verdicts through GRPO's reward function against faulty, dying replicas.

``python -m benchmarks.soak [--quick] [--mode per_criterion]`` (``python -m benchmarks --only soak``)

This process serves ``Sizes.replicas`` loopback judge replicas (:class:`heartgrpo.io.loopback.LoopbackServer`)
whose answers come from :class:`FaultyGrader`: every tenth answer is a fault, the kinds in turn
(HTTP 500, HTTP 429 with ``Retry-After: 1``, an answer held past the client's timeout, JSON cut
short with ``finish_reason: length``, a batched answer with a wrong criterion id); the others are
correct verdicts, a hash of (answer, criterion) (:func:`truth`), so every reward can be checked.
Every ``Sizes.kill_every`` seconds one replica (in turn) is stopped abruptly (open connections
reset, new ones refused) and started again on its port ``Sizes.down`` seconds later. The sizes of
a full run are :data:`FULL`, of ``--quick`` :data:`QUICK`.

The judge side runs in a subprocess, ``python -m benchmarks.soak --worker ...`` (:mod:`benchmarks._soak_worker`):
the judge that GRPO builds (``build_judge`` of a ``judge:`` section with the replica list, a
``requests_per_minute`` limit and the SQLite verdict cache, behind ``GuardedJudge``) under
``make_reward_func(..., "complexity")``, called as the installed TRL calls it, one call per
GRPO step of ``--generations`` completions x ``--criteria`` criteria. Three runs:

1. a full run with its own cache;
2. the same run in a fresh cache, killed with SIGKILL once half of its steps are done;
3. that run started again with the same cache: what it finds there and what it sends.

A verdict is *lost* when it is neither returned (its completion got a reward) nor reported as a
judge failure (its completion got ``None``, which TRL excludes, and the step's
``judge_failure_rate`` counted the failure). Writes the ``soak`` section of ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

from benchmarks import ROOT, md_table, quick_mode, write_section
from heartgrpo.io.loopback import LoopbackServer, Reply, chat_completion, prompt_of

KINDS = ("http_500", "http_429", "timeout", "truncated_json", "wrong_ids")
KEY_ENV = "SOAK_BENCH_KEY"
_ANSWER = re.compile(r"Answer-(\d+)-(\d+)")
_CRITERION = re.compile(r"criterion-(\d+)")
_LINE = re.compile(r"^\[(c\d+)\] (.*)$", re.MULTILINE)


def truth(answer: str, criterion: str) -> bool:
    """The correct verdict of criterion tag ``criterion-J`` on answer tag ``Answer-S-I``."""
    return bool(hashlib.sha256(f"{answer}|{criterion}".encode()).digest()[0] & 1)


@dataclass(frozen=True)
class Sizes:
    """One soak's sizes and timings (seconds)."""

    steps: int = 100
    generations: int = 8
    criteria: int = 5
    replicas: int = 3
    kill_every: float = 20.0
    down: float = 2.0
    max_kills: int | None = None
    latency: float = 0.02
    timeout: float = 1.0
    rpm: float = 1200.0
    retry_after: float = 2.0
    every: int = 10  # one answer in ``every`` is a fault
    mode: str = "batched"  # the judge's mode; per_criterion prompts carry no ids to get wrong

    @property
    def verdicts(self) -> int:
        return self.steps * self.generations * self.criteria


FULL = Sizes()
QUICK = Sizes(steps=20, generations=4, kill_every=4.0, down=0.5, timeout=0.5, rpm=3000.0, retry_after=0.5)


@dataclass
class FaultyGrader:
    """The replicas' responder (one object shared by all, thread-safe): correct verdicts from
    :func:`truth`, and every ``every``-th answer a fault of the next kind that applies (a wrong
    id only to a batched prompt). Counts what it injected and when each request arrived."""

    latency: float
    hold: float  # how long a "timeout" answer is held (longer than the client's timeout)
    every: int = 10
    injected: Counter = field(default_factory=Counter)
    arrivals: list[float] = field(default_factory=list)
    _turn: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, request: dict, index: int) -> Reply:
        prompt = prompt_of(request)
        answer = _ANSWER.search(prompt.split("BEGIN RESPONSE", 1)[-1])
        tag = answer.group(0) if answer else "none"
        lines = _LINE.findall(prompt)
        verdicts = [{"id": i, "explanation": f"soak verdict on {tag}", "criteria_met": truth(tag, _tag(text))} for i, text in lines]
        single = {"explanation": f"soak verdict on {tag}", "criteria_met": truth(tag, _tag(prompt))}
        good = json.dumps({"verdicts": verdicts} if lines else single)
        with self._lock:
            self.arrivals.append(time.monotonic())
            faulty = len(self.arrivals) % self.every == 0
            kind = None
            if faulty:
                kind = KINDS[self._turn % len(KINDS)]
                self._turn += 1
                if kind == "wrong_ids" and not lines:  # no ids to get wrong: the next kind instead
                    kind = KINDS[self._turn % len(KINDS)]
                    self._turn += 1
                self.injected[kind] += 1
        if kind == "http_500":
            return Reply(status=500, body={"error": {"message": "soak: injected server error", "type": "server_error"}})
        if kind == "http_429":
            return Reply(status=429, body={"error": {"message": "soak: slow down", "type": "rate_limit"}}, headers={"Retry-After": "1"})
        if kind == "timeout":
            return Reply(good, delay=self.hold)
        if kind == "truncated_json":
            body = chat_completion(good[: len(good) // 2])
            body["choices"][0]["finish_reason"] = "length"
            return Reply(body=body, delay=self.latency)
        if kind == "wrong_ids":
            verdicts[-1] = {**verdicts[-1], "id": "c99"}
            return Reply(json.dumps({"verdicts": verdicts}), delay=self.latency)
        return Reply(good, delay=self.latency)


def _tag(text: str) -> str:
    found = _CRITERION.search(text)
    return found.group(0) if found else "none"


class Replicas:
    """``n`` loopback replicas of one judge, and a thread that kills and restarts them in turn."""

    def __init__(self, n: int, grader: FaultyGrader) -> None:
        self.grader = grader
        self.servers = [LoopbackServer(grader).start() for _ in range(n)]
        self.urls = [s.base_url for s in self.servers]
        self.kills: list[tuple[float, int, int]] = []  # (time, replica, requests in flight cut)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start_killing(self, every: float, down: float, max_kills: int | None = None) -> None:
        def loop() -> None:
            last, seen = time.monotonic(), 0
            while not self._stop.is_set() and (max_kills is None or len(self.kills) < max_kills):
                if time.monotonic() - last >= every and len(self.grader.arrivals) >= seen + 10:
                    victim = len(self.kills) % len(self.servers)
                    server = self.servers[victim]
                    self.kills.append((time.monotonic(), victim, server._in_flight))
                    port = int(server.base_url.rsplit(":", 1)[1].split("/")[0])
                    server.stop()
                    self._stop.wait(down)
                    self.servers[victim] = LoopbackServer(self.grader, port=port).start()
                    last, seen = time.monotonic(), len(self.grader.arrivals)
                self._stop.wait(0.01)

        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        for server in self.servers:
            server.stop()


def worker_command(sizes: Sizes, urls: list[str], cache: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "benchmarks.soak", "--worker", "--urls", ",".join(urls), "--cache", str(cache),
            "--out", str(out), "--sizes", json.dumps(sizes.__dict__)]


def run_worker(sizes: Sizes, urls: list[str], cache: Path, out: Path, kill_after: int | None = None,
               limit: float = 900.0, in_process: bool = False) -> dict:
    """Run the judge side in a subprocess (``in_process``: on a fresh event loop here, for a run
    that is not killed); with ``kill_after``, SIGKILL it once that many steps are done. Returns its
    report (for a killed run: the steps done and the seconds)."""
    if in_process and kill_after is None:
        from benchmarks._soak_worker import run

        t0 = time.perf_counter()
        return {**run(sizes, urls, cache, progress=False), "seconds": time.perf_counter() - t0}
    env = {**os.environ, KEY_ENV: "loopback", "PYTHONPATH": os.pathsep.join(filter(None, (str(ROOT), os.environ.get("PYTHONPATH"))))}
    t0 = time.perf_counter()
    proc = subprocess.Popen(worker_command(sizes, urls, cache, out), cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    done = 0
    timer = threading.Timer(limit, proc.kill)
    timer.start()
    try:
        for line in proc.stdout:  # type: ignore[union-attr]
            if line.startswith("step "):
                done += 1
                if kill_after is not None and done >= kill_after:
                    os.kill(proc.pid, signal.SIGKILL)
                    break
        proc.wait()
    finally:
        timer.cancel()
        proc.stdout.close()  # type: ignore[union-attr]
    if kill_after is not None:
        return {"steps_done": done, "seconds": time.perf_counter() - t0, "returncode": proc.returncode}
    if proc.returncode != 0:
        raise RuntimeError(f"soak worker failed with exit status {proc.returncode}")
    return {**json.loads(out.read_text(encoding="utf-8")), "seconds": time.perf_counter() - t0}


def cache_audit(path: Path, sizes: Sizes) -> dict:
    """Rows of the verdict cache per key: duplicates (a key with more than one row, or a criterion
    stored under both its batched and its per-criterion key), rows whose verdict is not the
    correct one, rows that belong to no verdict asked."""
    from benchmarks._soak_worker import expected_keys

    with contextlib.closing(sqlite3.connect(path)) as conn:
        rows = conn.execute("SELECT key, kind, value FROM verdicts").fetchall()
        per_key = conn.execute("SELECT key, COUNT(*) FROM verdicts GROUP BY key HAVING COUNT(*) > 1").fetchall()
    stored = {k: v for k, _kind, v in rows}
    keys = expected_keys(sizes)
    both = sum(b in stored and s in stored for b, s, _ in keys.values())
    wrong = sum((b in stored and bool(stored[b]) != met) or (s in stored and bool(stored[s]) != met) for b, s, met in keys.values())
    known = {k for b, s, _ in keys.values() for k in (b, s)}
    return {"rows": len(rows), "duplicate_keys": len(per_key), "stored_twice": both, "wrong": wrong,
            "unknown": sum(k not in known for k in stored)}


def most_in_window(times: list[float], window: float) -> int:
    """The most of ``times`` (sorted) inside any ``window`` seconds."""
    best, j = 0, 0
    for i, t in enumerate(times):
        while times[j] < t - window:
            j += 1
        best = max(best, i - j + 1)
    return best


def soak(sizes: Sizes, tmp: Path, in_process: bool = False) -> dict:
    """The three runs against one set of faulty replicas; every figure of the section.
    ``in_process``: the runs that are not killed run in this process (quicker to start; their
    memory figures then include the replicas')."""
    grader = FaultyGrader(sizes.latency, hold=sizes.timeout + 0.5, every=sizes.every)
    replicas = Replicas(sizes.replicas, grader)
    phases: dict[str, dict] = {}
    try:
        replicas.start_killing(sizes.kill_every, sizes.down, sizes.max_kills)
        for name, cache, kill_after in (("full", "full.sqlite", None), ("killed", "resumed.sqlite", sizes.steps // 2),
                                        ("restart", "resumed.sqlite", None)):
            before, injected, kills = len(grader.arrivals), Counter(grader.injected), len(replicas.kills)
            phases[name] = run_worker(sizes, replicas.urls, tmp / cache, tmp / f"{name}.json", kill_after, in_process=in_process)
            arrived = grader.arrivals[before:]
            phases[name].update(server_requests=len(arrived), most_per_window=most_in_window(sorted(arrived), 6.0),
                                injected=dict(grader.injected - injected), kills=len(replicas.kills) - kills)
    finally:
        replicas.close()
    return {"phases": phases, "injected": dict(grader.injected), "kills": replicas.kills,
            "audit": {"full": cache_audit(tmp / "full.sqlite", sizes), "resumed": cache_audit(tmp / "resumed.sqlite", sizes)}}


def section(result: dict, sizes: Sizes, quick: bool, wall: float) -> str:
    full, killed, restart = (result["phases"][k] for k in ("full", "killed", "restart"))
    audit = result["audit"]
    seen = Counter(full["seen"]) + Counter(restart["seen"])
    injected = Counter(full["injected"]) + Counter(restart["injected"])
    kills = full["kills"] + restart["kills"]

    def step_ms(run: dict, q: str) -> str:
        return f"{run['step_ms'][q]:.0f}"

    rows = [["verdicts asked", full["asked"], restart["asked"]],
            ["verdicts returned (completion rewarded)", full["returned"], restart["returned"]],
            ["verdicts excluded as judge failures (reward None, failure counted)", full["excluded"], restart["excluded"]],
            ["**verdicts lost**", f"**{full['lost']}**", f"**{restart['lost']}**"],
            ["rewards that differ from the correct verdicts", full["wrong_rewards"], restart["wrong_rewards"]],
            ["requests sent (client)", full["stats"]["requests"], restart["stats"]["requests"]],
            ["requests retried after a backoff", full["stats"]["retries"], restart["stats"]["retries"]],
            ["requests sent again at once to another replica (failover)", full["failovers"], restart["failovers"]],
            ["requests sent to a replica inside the Retry-After of its 429", full["seen"].get("inside_retry_after", 0),
             restart["seen"].get("inside_retry_after", 0)],
            ["cache hits", full["stats"]["cache_hits"], restart["stats"]["cache_hits"]],
            ["step ms p50 / p99", f"{step_ms(full, 'p50')} / {step_ms(full, 'p99')}", f"{step_ms(restart, 'p50')} / {step_ms(restart, 'p99')}"],
            ["peak RSS MiB after warm-up / at end", f"{full['rss']['start']:.1f} / {full['rss']['end']:.1f}",
             f"{restart['rss']['start']:.1f} / {restart['rss']['end']:.1f}"],
            ["open sockets after warm-up / at end / judge closed", "{start} / {end} / {closed}".format(**full["sockets"]),
             "{start} / {end} / {closed}".format(**restart["sockets"])],
            ["most requests arriving in any 6 s (limit: rpm / 10)", f"{full['most_per_window']} ({sizes.rpm / 10:.0f})",
             f"{restart['most_per_window']} ({sizes.rpm / 10:.0f})"],
            ["wall s", f"{full['seconds']:.1f}", f"{restart['seconds']:.1f}"]]
    fault_rows = [[k, injected.get(k, 0), seen.get(k, 0)] for k in KINDS]
    fault_rows.append(["connection reset or refused (replica killed)", f"{kills} kills", seen.get("connection", 0)])
    cache_rows = [[name, a["rows"], a["duplicate_keys"], a["stored_twice"], a["wrong"], a["unknown"]] for name, a in audit.items()]
    growth = max(r["rss"]["end"] / r["rss"]["start"] - 1 for r in (full, restart))
    saved = full["stats"]["requests"] - restart["stats"]["requests"]
    flag = " --quick" if quick else ""
    how = ("async, awaited on TRL's event-loop thread" if full.get("async") else "sync, one event loop per call") + \
        f", TRL {_trl_version()}"
    command = f"python -m benchmarks --only soak{flag}" if sizes.mode == "batched" else f"python -m benchmarks.soak{flag} --mode {sizes.mode}"
    return "\n\n".join([
        "## Judge-layer soak: faults, dying replicas, a killed and restarted run",
        f"Command: `{command}` (code: `benchmarks/soak.py`, "
        f"`benchmarks/_soak_worker.py`); wall time {wall:.0f} s on {os.cpu_count()} shared CPU cores. "
        f"{sizes.steps} GRPO steps of {sizes.generations} completions x {sizes.criteria} criteria "
        f"({sizes.verdicts} verdicts) through `make_reward_func(GuardedJudge(build_judge(judge)), \"complexity\")` "
        f"({how}), "
        f"the judge `kind: openai, mode: {sizes.mode}` with {sizes.replicas} loopback replicas in `base_url`, "
        f"`requests_per_minute: {sizes.rpm:g}`, `timeout: {sizes.timeout:g}`, `max_retries: 3`, "
        f"`replica_retry_after: {sizes.retry_after:g}` and the SQLite verdict cache; answers after "
        f"{sizes.latency * 1000:.0f} ms. One answer in {sizes.every} is a fault, the kinds in turn; every "
        f"{sizes.kill_every:g} s one replica is stopped abruptly and started again {sizes.down:g} s later. "
        "Every correct verdict is a hash of (answer, criterion), so each reward is checked against the "
        "reward of the correct verdicts. *Full*: one run with its own cache. *Restart*: the same run in "
        f"a fresh cache, SIGKILLed after {killed['steps_done']} of {sizes.steps} steps "
        f"({killed['server_requests']} requests, {killed['seconds']:.1f} s), then started again on that cache.",
        md_table(["", "full run", "restart"], rows),
        "Faults injected by the replicas and seen by the judge's client, in the full run and the restart "
        f"together (the killed run's client died with it; {sum(killed['injected'].values())} faults and "
        f"{killed['kills']} kills fell in that run). A held answer cut by a kill is seen as a reset, not a "
        "timeout; a wrong id makes the judge ask that criterion again on its own; every 429 carried "
        f"`Retry-After` ({seen.get('retry_after_header', 0)} seen).",
        md_table(["fault", "injected", "seen"], fault_rows),
        "The verdict cache after the runs (`SELECT key, COUNT(*) FROM verdicts GROUP BY key`): "
        + ("a criterion answered in a batch is stored under its batched key, one asked again on its own "
           "under its per-criterion key; never both." if sizes.mode == "batched" else "one row per criterion."),
        md_table(["cache", "rows", "keys with > 1 row", "criteria stored twice", "wrong verdicts", "rows of no verdict asked"], cache_rows),
        f"Restart: {restart['stats']['cache_hits']} of {restart['asked']} verdicts were cache hits (the killed "
        f"run's answers), and it sent {restart['stats']['requests']} requests against the full run's "
        f"{full['stats']['requests']}: {saved} saved. Peak RSS growth after warm-up: {growth:+.1%} (goal <= 10%).",
    ])


def _trl_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("trl")
    except PackageNotFoundError:
        return "not installed"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK.verdicts} verdicts, a kill every {QUICK.kill_every:g} s")
    parser.add_argument("--mode", choices=("batched", "per_criterion"), default="batched", help="the judge's mode")
    parser.add_argument("--worker", action="store_true", help="the judge side (started by the benchmark itself)")
    parser.add_argument("--urls", default="")
    parser.add_argument("--cache", type=Path)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--sizes", default="{}")
    args = parser.parse_args(argv)
    if args.worker:
        from benchmarks._soak_worker import worker_main

        worker_main(Sizes(**json.loads(args.sizes)), args.urls.split(","), args.cache, args.out)
        return
    quick = quick_mode(args.quick)
    sizes = replace(QUICK if quick else FULL, mode=args.mode)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as d:
        result = soak(sizes, Path(d))
    body = section(result, sizes, quick, time.perf_counter() - t0)
    print(body)
    print(f"wrote {write_section('soak', body)}")
    missed = goals_missed(result)
    if missed:
        sys.exit("soak goals missed: " + "; ".join(missed))


def goals_missed(result: dict) -> list[str]:
    """The soak's goals that a result misses (none lost, wrong or stored twice, no request inside
    a Retry-After, peak RSS growth <= 10%)."""
    missed = []
    for name in ("full", "restart"):
        run = result["phases"][name]
        for key in ("lost", "wrong_rewards"):
            if run[key]:
                missed.append(f"{name}: {key} = {run[key]}")
        if run["seen"].get("inside_retry_after", 0):
            missed.append(f"{name}: {run['seen']['inside_retry_after']} requests inside a Retry-After")
        if run["rss"]["end"] > 1.1 * run["rss"]["start"]:
            missed.append(f"{name}: peak RSS {run['rss']['start']:.0f} -> {run['rss']['end']:.0f} MiB")
    for name, audit in result["audit"].items():
        for key in ("duplicate_keys", "stored_twice", "wrong", "unknown"):
            if audit[key]:
                missed.append(f"{name} cache: {key} = {audit[key]}")
    return missed


if __name__ == "__main__":
    main()
