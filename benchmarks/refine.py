"""Self-refined SFT data: what ``heartgrpo refine`` does and costs against a scripted loopback model.

``python -m benchmarks.refine [--quick]``

A loopback OpenAI-compatible server (:mod:`heartgrpo.io.loopback`) plays the writer with the
scripted replies of :mod:`heartgrpo.refine.loopback`: well-formed, malformed, truncated,
dropped connections, HTTP 500s, a query that copies a HealthBench-style prompt and a query that
repeats another. Four tables:

1. **Outcomes under faults**: ``N`` profiles, where each one ended (a row, or the failure file
   with its stage), the requests made, and what a rerun asks again (only the failed ones).
2. **Concurrency**: ``N`` clean profiles, every reply after a fixed latency, at
   ``max_concurrency`` 1, 4, 8; median wall time of several runs, each into a fresh folder (no
   cache), against the floor the latency sets (each profile is three requests in a row after its
   query), and the same runs against a server that answers at once (the CPU cost alone).
3. **Resume**: a finished run started again: requests made and wall time.
4. **``--measure`` cost**: both answers of every row graded by an ``openai`` judge on a loopback
   grader (:func:`heartgrpo.io.loopback.grading_responder`, same latency), five criteria a row.

No quality figure: the scripted writer and grader are not models. The section says what a
capable model measures and how. Writes the ``refine`` section of ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path

from benchmarks import ROOT, md_table, quick_mode, write_section
from heartgrpo.config.judge import JudgeSettings
from heartgrpo.config.refine import RefineSettings
from heartgrpo.io.jsonl import read_jsonl, write_jsonl
from heartgrpo.io.loopback import LoopbackServer, grading_responder
from heartgrpo.judge.factory import judge_in_use
from heartgrpo.refine.loopback import FAULTS, healthbench_fixture_row, refine_responder
from heartgrpo.refine.measure import measure_refinement
from heartgrpo.refine.pipeline import run_refine

KEY_ENV = "REFINE_BENCH_KEY"
SHARED_HEALTHBENCH = ROOT.parent / "shared" / "data" / "healthbench"


def settings(base_url: str, out: Path, n: int, concurrency: int, sources: list[str]) -> RefineSettings:
    return RefineSettings(model="writer", base_url=base_url, api_key_env=KEY_ENV, n_queries=n, max_concurrency=concurrency,
                          max_retries=1, max_attempts=2, replica_retry_after=0.05, contamination_sources=sources, out_dir=out)


def outcomes(tmp: Path, n: int) -> tuple[list[list[object]], dict]:
    """Table 1: one faulty run of ``n`` profiles and its rerun."""
    write_jsonl([healthbench_fixture_row()], tmp / "hb" / "planted.jsonl")
    sources = ["sample", str(tmp / "hb")] + ([str(SHARED_HEALTHBENCH)] if SHARED_HEALTHBENCH.is_dir() else [])
    with LoopbackServer(refine_responder()) as server:
        s = settings(server.base_url, tmp / "faults", n, 8, sources)
        t0 = time.perf_counter()
        first = run_refine(s, progress=False)
        seconds, asked = time.perf_counter() - t0, len(server.requests)
        again = run_refine(s, progress=False)
        asked_again = len(server.requests) - asked
    c, stages = first.report["counts"], Counter(f["stage"] for f in read_jsonl(first.failed))
    rows = [["profiles", c["profiles"]], ["rows in sft_refined.jsonl", c["rows"]],
            *[[f"failed: {stage}", k] for stage, k in sorted(stages.items())],
            ["rows + failed = profiles", c["rows"] + c["failed"] == c["profiles"]],
            ["evaluation prompts checked (contamination guard)", c["eval_prompts_checked"]],
            ["requests (a clean profile takes 4)", asked], ["wall seconds", f"{seconds:.2f}"],
            ["rerun: requests (failed profiles only)", asked_again],
            ["rerun: rows", again.report["counts"]["rows"]]]
    return rows, {"sources": first.report["eval_sources"]}


def timed_runs(base_url: str, root: Path, n: int, c: int, runs: int) -> tuple[list[float], Path]:
    """Wall seconds of ``runs`` complete runs, each into a fresh folder (no cache)."""
    times, out = [], root
    for r in range(runs):
        out = root / f"c{c}-{r}"
        t0 = time.perf_counter()
        result = run_refine(settings(base_url, out, n, c, ["sample"]), progress=False)
        times.append(time.perf_counter() - t0)
        assert result.report["counts"]["rows"] == n, result.report["counts"]
    return times, out


def concurrency(tmp: Path, n: int, latency: float, runs: int) -> tuple[list[list[object]], Path, list[float]]:
    """Tables 2 and 3; returns the last complete run's folder for the measure table."""
    table, resume = [], []
    with LoopbackServer(refine_responder(faults=False, delay=latency)) as server, \
            LoopbackServer(refine_responder(faults=False)) as instant:
        timed_runs(instant.base_url, tmp / "warm-up", n, 8, 1)  # imports and first connections, not timed
        for c in (1, 4, 8):
            before = len(server.requests)
            times, last = timed_runs(server.base_url, tmp / "latency", n, c, runs)
            requests = (len(server.requests) - before) // runs
            zero, _ = timed_runs(instant.base_url, tmp / "instant", n, c, runs)
            floor = latency * 4 * -(-n // c)  # rounds of c requests: the queries, then answer, critique, refinement in a row
            med = statistics.median(times)
            table.append([c, requests, f"{med:.2f}", f"{floor:.2f}", f"{statistics.median(zero):.2f}", f"{med / n * 1000:.0f}"])
        for _ in range(runs):
            before = len(server.requests)
            t0 = time.perf_counter()
            run_refine(settings(server.base_url, last, n, 8, ["sample"]), progress=False)
            resume.append(time.perf_counter() - t0)
            assert len(server.requests) == before, "a finished run asked the model again"
    return table, last, resume


def measure_cost(out: Path, latency: float, criteria: int) -> list[object]:
    rows = read_jsonl(out / "sft_refined.jsonl")
    rubrics = [{"id": r["id"], "rubrics": [{"criterion": f"Criterion {j} about the heart", "points": 5, "tags": ["axis:accuracy"]}
                                           for j in range(criteria)]} for r in rows]
    write_jsonl(rubrics, out / "rubrics.jsonl")
    with LoopbackServer(grading_responder(latency)) as server:
        judge_settings = JudgeSettings(kind="openai", model="grader", base_url=server.base_url, api_key_env=KEY_ENV)
        with judge_in_use(judge_settings) as judge:
            t0 = time.perf_counter()
            s = measure_refinement(out / "sft_refined.jsonl", out / "rubrics.jsonl", judge, out, n_bootstrap=200)
            seconds = time.perf_counter() - t0
        requests = len(server.requests)
    return [s["graded"], criteria, requests, f"{seconds:.2f}", s["excluded_judge_failures"]]


def section(fault_rows, fault_meta, conc_rows, resume, measure_row, n_faults: int, n: int, latency: float, runs: int, quick: bool) -> str:
    sources = ", ".join(f"`{Path(k).name if '/' in k else k}`: {v}" for k, v in fault_meta["sources"].items())
    return f"""## Self-refined SFT data (`heartgrpo refine`): wiring and cost against a scripted model

`python -m benchmarks.refine{" --quick" if quick else ""}` (2 shared CPU cores). The writer is a loopback
server with scripted replies (`heartgrpo/refine/loopback.py`), so these figures are about the
pipeline: where every profile ends, what a rerun asks again, how much the concurrency hides the
latency, what `--measure` costs. **No quality figure is measured here** (below).

**Outcomes under faults** ({n_faults} profiles at concurrency 8; the scripted faults: {"; ".join(f"case {k}: {v}" for k, v in FAULTS.items())};
contamination sources {sources}):

{md_table(["", "value"], fault_rows)}

**Concurrency** ({n} clean profiles, every reply after {latency * 1000:.0f} ms, median of {runs} runs, each into a fresh
folder without a cache; the floor is the latency times the rounds of requests: the queries, then
answer, critique and refinement in a row):

{md_table(["max_concurrency", "requests", "wall s", "latency floor s", "wall s, 0 ms replies", "ms per row"], conc_rows)}

"0 ms replies" is the same run against a server that answers at once: the CPU cost of the client,
the cache, the files and the in-process loopback server on these two shared cores, which the
latency does not hide.

**Resume**: the finished run started again asked 0 requests and took {statistics.median(resume):.2f} s (median of {runs}).

**`--measure` cost** (an `openai` judge, `per_criterion`, on a loopback grader with the same latency):

{md_table(["rows graded", "criteria per row", "judge requests", "wall s", "judge failures"], [measure_row])}

The loopback grader's verdicts are a hash of the prompt, so the win rate it yields means nothing
and is not reported.

**Not measured here: whether refinement helps.** That needs a capable writer (the question,
answer, critique and refinement) and a capable judge; neither runs on this machine's CPUs.
On a GPU box (e.g. `vllm serve Qwen/Qwen3-32B --port 8000` on an 80 GB card; Qwen3-14B on a
smaller one) or with an API model:

```
heartgrpo refine --config configs/qwen3-14b-rtx6000pro.yaml --model Qwen/Qwen3-32B --base-url http://localhost:8000/v1 --n-queries 200 --out runs/refine
heartgrpo rubrics generate --input runs/refine/questions.jsonl --out runs/refine-rubrics --model Qwen/Qwen3-32B --base-url http://localhost:8000/v1
heartgrpo refine --config configs/qwen3-14b-rtx6000pro.yaml --out runs/refine --measure --rubrics runs/refine-rubrics/records.jsonl
```

(an API model: `--set refine.model=gpt-4.1-mini --set refine.base_url=https://api.openai.com/v1`
with `OPENAI_API_KEY` set; the judge is the config's `judge:` section). `measure.md` then gives
the refined-vs-original win rate and mean HealthBench score change with bootstrap 95% CIs,
overall, per facet and per axis, with the length change beside them. A writer that also grades
its own refinements flatters them; use another model as judge where one is available.
"""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    quick = quick_mode(args.quick)
    n_faults, n, latency, runs = (12, 10, 0.02, 1) if quick else (40, 24, 0.05, 3)
    os.environ.setdefault(KEY_ENV, "loopback")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        fault_rows, fault_meta = outcomes(tmp, n_faults)
        conc_rows, last, resume = concurrency(tmp, n, latency, runs)
        measure_row = measure_cost(last, latency, criteria=5)
    body = section(fault_rows, fault_meta, conc_rows, resume, measure_row, n_faults, n, latency, runs, quick)
    print(body)
    print(f"wrote {write_section('refine', body)}")


if __name__ == "__main__":
    main()
