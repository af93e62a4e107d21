"""Run the registered benchmarks: ``python -m benchmarks [--only NAME ...] [--quick] [--docs DIR]``.

Every module of :data:`benchmarks.REGISTRY` that exists (then any other ``benchmarks/*.py``
not yet registered) runs in its own process (a module registered with ``default=False``
only when named with ``--only`` or in ``--quick`` mode)
(``python -m benchmarks.<name>``, plus ``--quick`` arguments in quick mode), one after the
other, each under its own time limit; each regenerates its section of ``docs/benchmarks.md``
and its figures. Missing modules are skipped with a note. The exit status is non-zero when any
benchmark failed. A full run (no ``--only``, not ``--quick``) also rewrites the ``runner``
section: wall time of each benchmark on this machine.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from benchmarks import DOC_NAME, REGISTRY, ROOT, Benchmark, docs_dir, md_table, order_sections, write_section

TOTAL_BUDGET_S = 20 * 60


def _exists(bench: Benchmark) -> bool:
    return importlib.util.find_spec(f"benchmarks.{bench.name}") is not None


def discovered() -> list[Benchmark]:
    """Benchmark modules under ``benchmarks/`` that the registry does not list yet; they run
    after the registered ones (``--quick`` passed only when the module's source mentions it)."""
    known = {b.name for b in REGISTRY}
    out = []
    for path in sorted(Path(__file__).parent.glob("*.py")):
        name = path.stem
        if name.startswith("_") or name in known:
            continue
        quick = ("--quick",) if '"--quick"' in path.read_text(encoding="utf-8") else ()
        out.append(Benchmark(name, f"{name} (not in the registry)", quick_args=quick))
    return out


def run_one(bench: Benchmark, quick: bool, env: dict[str, str]) -> tuple[str, float]:
    """Run one benchmark module in a subprocess; returns (status, seconds)."""
    cmd = [sys.executable, "-m", f"benchmarks.{bench.name}", *bench.args, *(bench.quick_args if quick else ())]
    print(f"==> {' '.join(cmd[1:])}", flush=True)
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=ROOT, env=env, timeout=bench.timeout_s, check=False)
        status = "ok" if proc.returncode == 0 else f"failed (exit {proc.returncode})"
    except subprocess.TimeoutExpired:
        status = f"timed out after {bench.timeout_s:.0f} s"
    seconds = time.perf_counter() - t0
    print(f"<== {bench.name}: {status} in {seconds:.1f} s", flush=True)
    return status, seconds


def main(argv: list[str] | None = None) -> int:
    benches = [*REGISTRY, *discovered()]
    names = [b.name for b in benches]
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", choices=names, metavar="NAME",
                        help=f"run only this benchmark (repeatable): {', '.join(names)}")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    parser.add_argument("--docs", type=Path, default=None,
                        help="where benchmarks.md and figures/ are written (default: docs/)")
    parser.add_argument("--list", action="store_true", help="list the registry and exit")
    args = parser.parse_args(argv)

    if args.list:
        for b in benches:
            print(f"{b.name:18s} {'present' if _exists(b) else 'missing':8s} {b.title}")
        return 0

    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    env.setdefault("MPLBACKEND", "Agg")
    if args.quick:
        env["HEARTGRPO_BENCH_QUICK"] = "1"
    if args.docs is not None:
        env["HEARTGRPO_BENCH_DOCS"] = str(args.docs.resolve())
        os.environ["HEARTGRPO_BENCH_DOCS"] = env["HEARTGRPO_BENCH_DOCS"]

    selected = [b for b in benches if (b.name in args.only if args.only else b.default or args.quick)]
    for b in benches:
        if not args.only and not args.quick and not b.default:
            print(f"--- {b.name}: not in the default run (budget {b.timeout_s:.0f} s); "
                  f"run it with `python -m benchmarks --only {b.name}`", flush=True)
    results: list[tuple[Benchmark, str, float]] = []
    t0 = time.perf_counter()
    for bench in selected:
        if not _exists(bench):
            print(f"--- {bench.name}: benchmarks/{bench.name}.py is not present, skipped", flush=True)
            results.append((bench, "not present", 0.0))
            continue
        status, seconds = run_one(bench, args.quick, env)
        results.append((bench, status, seconds))
    total = time.perf_counter() - t0

    print("\nbenchmark           status                       seconds")
    for bench, status, seconds in results:
        print(f"{bench.name:19s} {status:28s} {seconds:7.1f}")
    print(f"{'total':19s} {'':28s} {total:7.1f}  (budget {TOTAL_BUDGET_S} s)")

    if not args.only and not args.quick:
        rows = [[b.name, status, f"{s:.0f}"] for b, status, s in results]
        rows.append(["**total**", f"budget {TOTAL_BUDGET_S} s", f"{total:.0f}"])
        body = "\n\n".join([
            "## Benchmark run",
            f"`make bench` on {os.cpu_count()} CPU cores, Python {platform.python_version()}, "
            f"{platform.system()} {platform.machine()}.",
            md_table(["benchmark", "status", "seconds"], rows),
        ])
        write_section("runner", body)
    doc = docs_dir() / DOC_NAME
    if doc.exists():  # sections in registry order, the runner's own last
        doc.write_text(order_sections(doc.read_text(encoding="utf-8"), [*names, "runner"]), encoding="utf-8")
    failed = [b.name for b, status, _ in results if status not in ("ok", "not present")]
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
