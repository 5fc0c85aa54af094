"""Subprocess helpers for the durability tests, and the child-side runner.

Test side: `start_in_child` starts a run in a fresh process (which may die
mid-run), `Worker` runs `python -m wdk worker` on a data dir, `wait_runs`
follows runs through the local world, `read_ledger` reads the steps' logs.

Child side (`python e2e_support.py --data-dir D --workflow flows.crashy:five
--args '[1]'`): starts the run with `wdk.api`, prints its id, then waits for
its result -- or SIGKILLs itself once the run's log holds an event of the
type given by `--kill-at-event`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from wdk.worlds import TERMINAL_STATUSES, Event, RunInfo, create_world

E2E = Path(__file__).resolve().parent
CHILD_TIMEOUT = 30.0


@dataclass(frozen=True)
class Child:
    pid: int
    status: int  # -9 when it was SIGKILLed
    run_id: str
    stderr: str
    stdout: str = ""  # the run id, then (unless it died) its result as JSON


def child_env(base: dict[str, str], **extra: str) -> dict[str, str]:
    env = {**base, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1", **extra}
    return env


def start_in_child(
    data_dir: Path,
    workflow: str,
    args: list[Any],
    env: dict[str, str],
    *,
    kill_at_event: str | None = None,
) -> Child:
    """Run the child-side runner to the end (or its death)."""
    cmd = [sys.executable, str(E2E / "e2e_support.py"), "--data-dir", str(data_dir)]
    cmd += ["--workflow", workflow, "--args", json.dumps(args)]
    if kill_at_event:
        cmd += ["--kill-at-event", kill_at_event]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = proc.communicate(timeout=CHILD_TIMEOUT)
    lines = out.decode().split()
    assert lines, f"the child printed no run id (status {proc.returncode}): {err.decode()}"
    return Child(proc.pid, proc.returncode, lines[0], err.decode(), out.decode())


class Worker:
    """`python -m wdk worker` on a data dir, stopped with SIGTERM."""

    def __init__(self, data_dir: Path, env: dict[str, str], log: Path, *extra: str) -> None:
        self.log = log
        self._log_file: IO[bytes] = open(log, "wb")
        cmd = [sys.executable, "-m", "wdk", "worker", "--data-dir", str(data_dir)]
        cmd += ["--path", str(E2E), *extra]
        self.proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=self._log_file)
        assert self.proc.stdout is not None
        banner = self.proc.stdout.readline().decode()  # printed once the runtime started
        assert banner.startswith("wdk worker"), f"worker did not start: {banner!r} {self.stderr()}"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stderr(self) -> str:
        self._log_file.flush()
        return self.log.read_text(errors="replace")

    def stop(self) -> int:
        """SIGTERM, then SIGKILL if it does not exit in time; its exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._log_file.close()
        return self.proc.returncode


@contextlib.contextmanager
def workers(
    data_dir: Path, env: dict[str, str], logs: Path, n: int = 1, extra: tuple[str, ...] = ()
) -> Iterator[list[Worker]]:
    """`n` workers on one data dir; each must exit cleanly when stopped."""
    started: list[Worker] = []
    try:
        for i in range(n):
            started.append(Worker(data_dir, env, logs / f"worker{i}.log", *extra))
        yield started
    finally:
        codes = [w.stop() for w in started]
        assert codes == [0] * len(started), f"workers exited with {codes}"


async def wait_runs(
    data_dir: Path, run_ids: Iterable[str], timeout: float = 20.0
) -> dict[str, RunInfo]:
    """Poll the store until every run ended; AssertionError naming the stragglers."""
    pending = set(run_ids)
    done: dict[str, RunInfo] = {}
    world = create_world("local", data_dir=data_dir)
    await world.open()
    try:
        deadline = time.monotonic() + timeout
        while pending:
            for run_id in list(pending):
                run = await world.get_run(run_id)
                assert run is not None, f"run {run_id} vanished"
                if run.status in TERMINAL_STATUSES:
                    done[run_id] = run
                    pending.discard(run_id)
            if pending:
                assert time.monotonic() < deadline, (
                    f"{len(pending)} runs unfinished after {timeout} s"
                )
                await asyncio.sleep(0.05)
        return done
    finally:
        await world.close()


async def run_state(data_dir: Path, run_id: str) -> tuple[RunInfo, list[Event]]:
    world = create_world("local", data_dir=data_dir)
    await world.open()
    try:
        run = await world.get_run(run_id)
        assert run is not None, f"no run {run_id}"
        return run, await world.read_events(run_id)
    finally:
        await world.close()


async def until(what: str, check: Any, timeout: float = 30.0) -> Any:
    """Poll `check()` (a plain or async callable) until it is true and return
    that value; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def unique(name: str) -> str:
    """A module name no other test uses (a process's loader remembers where a
    module's file is: two tests writing one name in two folders would mix)."""
    return f"{name}_{os.urandom(4).hex()}"


def deploy(folder: Path, module: str, source: str) -> Path:
    """Write (or rewrite) `folder/<module>.py`, as a deploy would: with a
    later mtime even within the clock's granularity, so loaders notice."""
    path = folder / f"{module}.py"
    path.write_text(source)
    stamp = path.stat().st_mtime_ns + 1_000_000_000
    os.utime(path, ns=(stamp, stamp))
    return path


def read_ledger(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def query(data_dir: Path, sql: str) -> list[tuple[Any, ...]]:
    """Read the local world's file directly (as an operator with sqlite3 would)."""
    with contextlib.closing(sqlite3.connect(data_dir / "wdk.sqlite3")) as conn:
        return conn.execute(sql).fetchall()


# --- child side ------------------------------------------------------------------


async def _child(args: argparse.Namespace) -> None:
    from wdk.api import configure, start

    configure(data_dir=args.data_dir)
    module_name, _, name = args.workflow.partition(":")
    workflow: Any = importlib.import_module(module_name)
    for part in name.split("."):  # "Depot.route": a workflow held by a class
        workflow = getattr(workflow, part)
    run = await start(workflow, *json.loads(args.args))
    print(run.id, flush=True)
    if args.kill_at_event:
        while not any(e.type == args.kill_at_event for e in await run.events()):
            await asyncio.sleep(0.01)
        os.kill(os.getpid(), signal.SIGKILL)
    print(json.dumps(await run.result(timeout=CHILD_TIMEOUT)), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--workflow", required=True, help="module:function")
    parser.add_argument("--args", default="[]", help="JSON list of arguments")
    parser.add_argument(
        "--kill-at-event", default=None, help="SIGKILL self once the log has this event type"
    )
    asyncio.run(_child(parser.parse_args()))


if __name__ == "__main__":
    main()
