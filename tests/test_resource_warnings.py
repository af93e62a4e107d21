"""Clients belong to their event loop: a notebook that calls ``asyncio.run(judge.grade(...))``
again and again leaves no socket or client session open.

The check runs in a fresh interpreter under ``-W error::ResourceWarning`` and
``PYTHONASYNCIODEBUG=1``: five ``asyncio.run`` calls per judge mode against a loopback server, no
``aclose``. A control run in the same interpreter set-up unhooks the closing of the per-loop
clients and must show the warnings, so the check is known to see them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = textwrap.dedent(
    """
    import asyncio, gc, os, sys
    from heartgrpo.judge import OpenAIJudge
    from heartgrpo.io.loopback import LoopbackServer, grading_responder
    import heartgrpo.io.endpoint as endpoint

    if sys.argv[1] == "unhooked":  # the fault: per-loop clients are no longer closed with their loop
        endpoint._hook_to_loop = lambda *args: None
    conv = [{"role": "user", "content": "Chest pain while on a blood thinner: what now?"}]
    rubric = [{"criterion": "Advises calling emergency services", "points": 5},
              {"criterion": "Asks about an aspirin allergy", "points": 3}]
    os.environ["HEARTGRPO_TEST_KEY"] = "sk-test"
    with LoopbackServer(grading_responder()) as server:
        for mode in ("per_criterion", "batched"):
            judge = OpenAIJudge("judge-model", base_url=server.base_url, api_key_env="HEARTGRPO_TEST_KEY",
                                mode=mode, timeout=10)
            for _ in range(5):
                verdicts = asyncio.run(judge.grade(conv, "Call 911 now.", rubric))
                assert all(v.met is not None for v in verdicts), verdicts
            del judge
    gc.collect()
    print("graded")
    """
)


def _run(tmp_path: Path, variant: str) -> subprocess.CompletedProcess:
    script = tmp_path / "five_runs.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "PYTHONASYNCIODEBUG": "1", "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-W", "error::ResourceWarning", str(script), variant],
                          capture_output=True, text=True, env=env, timeout=240, cwd=tmp_path)


def _warnings(proc: subprocess.CompletedProcess) -> list[str]:
    return [line for line in (proc.stdout + proc.stderr).splitlines() if "ResourceWarning" in line or "Unclosed" in line]


@pytest.mark.slow
def test_five_asyncio_runs_of_a_judge_leave_nothing_open(tmp_path):
    proc = _run(tmp_path, "as-built")
    assert proc.returncode == 0 and "graded" in proc.stdout, proc.stderr[-3000:]
    assert _warnings(proc) == []


@pytest.mark.slow
def test_the_check_sees_clients_left_open(tmp_path):
    proc = _run(tmp_path, "unhooked")
    assert proc.returncode == 0 and "graded" in proc.stdout, proc.stderr[-3000:]
    assert any("unclosed" in line.lower() for line in _warnings(proc)), (proc.stdout + proc.stderr)[-3000:]


def test_clients_on_a_loop_in_another_thread_are_closed_and_the_loop_keeps_running():
    """TRL gathers ``async def`` reward functions on a daemon-thread loop that it only stops at
    exit; :func:`close_clients_on` closes what the endpoints made there and leaves it running."""
    import asyncio
    import threading

    from heartgrpo.io.endpoint import Endpoint, close_clients_on
    from heartgrpo.io.loopback import LoopbackServer, Reply

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        with LoopbackServer(lambda request, i: Reply("fine")) as server:
            endpoints = [Endpoint("m", server.base_url, "HEARTGRPO_TEST_KEY", timeout=10) for _ in range(2)]
            idle = Endpoint("m", server.base_url, "HEARTGRPO_TEST_KEY")  # never used on that loop

            async def ask_all() -> list[str]:
                return [await e.ask([{"role": "user", "content": "hi"}], str) for e in endpoints]

            assert asyncio.run_coroutine_threadsafe(ask_all(), loop).result(30) == ["fine", "fine"]
            clients = [c for e in endpoints for c in e._loops[loop].clients]
            assert clients and not any(c.is_closed() for c in clients)
            assert close_clients_on(loop) == 2
            assert all(c.is_closed() for c in clients) and all(loop not in e._loops for e in endpoints + [idle])
            assert loop.is_running()
            # the loop serves again, on new clients
            assert asyncio.run_coroutine_threadsafe(ask_all(), loop).result(30) == ["fine", "fine"]
            assert close_clients_on(loop) == 2
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()
    assert close_clients_on(loop) == 0 and close_clients_on(None) == 0
