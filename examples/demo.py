"""wdk's main demo: a durable order workflow that survives `kill -9`.

    python examples/demo.py

1. A worker process starts `process_order` and runs it until a step kills
   that process with SIGKILL (as a crashed machine would).
2. A second process starts, finds the unfinished run in the local world
   (one SQLite file) and finishes it. Steps that had completed do not run again.
3. This script watches the event log the whole time and shows what happened.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


async def phase_start(data_dir: str) -> None:
    """Child process 1: start the run and work on it until the crash."""
    from orders.flows import process_order

    from wdk.api import configure, start

    configure(data_dir=data_dir)
    run = await start(process_order, "ord_42", ["teapot", "kettle", "mug"])
    print(run.id, flush=True)
    await run.result()  # never returns: pack_box kills this process


async def phase_resume(data_dir: str, run_id: str) -> None:
    """Child process 2: the embedded runtime resumes every unfinished run."""
    from wdk.api import configure, get_run

    configure(data_dir=data_dir)
    await get_run(run_id).result(timeout=60)


async def watch(data_dir: str, stop: asyncio.Event, run_ids: list[str]) -> None:
    """Print each new event of the run as it is committed."""
    from rich.console import Console

    from wdk.worlds import create_world

    console = Console()
    world = create_world("local", data_dir=data_dir)
    await world.open()
    names: dict[str, str] = {}
    seen = -1
    try:
        while True:
            if run_ids:
                for ev in await world.read_events(run_ids[0], seen):
                    seen = ev.seq
                    if ev.type == "step_created":
                        names[ev.correlation_id or ""] = str(ev.payload["step_id"]).rsplit("//", 1)[-1]
                    what = names.get(ev.correlation_id or "", "")
                    style = {"step_completed": "green", "step_retrying": "yellow", "run_completed": "bold green",
                             "wait_created": "cyan", "wait_completed": "cyan", "run_failed": "bold red"}.get(ev.type, "default")
                    extra = ""
                    if ev.type == "step_retrying":
                        extra = f"  ({ev.payload['error'].get('message')})"
                    if ev.type == "step_started":
                        extra = f"  attempt {ev.payload.get('attempt')}"
                    console.print(f"  [dim]{ev.seq:>3}[/dim] [{style}]{ev.type:<15}[/{style}] {what}{extra}")
            if stop.is_set():
                return
            await asyncio.sleep(0.05)
    finally:
        await world.close()


async def main_demo(data_dir: str) -> int:
    from rich.console import Console
    from rich.panel import Panel
    from rich.table import Table

    from wdk.worlds import create_world

    console = Console()
    shutil.rmtree(data_dir, ignore_errors=True)
    marker = Path(data_dir) / "crash-marker"
    env = {**os.environ, "DEMO_CRASH_MARKER": str(marker), "PYTHONUNBUFFERED": "1"}
    console.print(Panel.fit("wdk demo: an order workflow that survives [bold]kill -9[/bold]", style="bold"))
    run_ids: list[str] = []
    stop = asyncio.Event()
    watcher = asyncio.ensure_future(watch(data_dir, stop, run_ids))

    console.print("[bold]process 1[/bold] starts the run ...")
    t0 = time.monotonic()
    p1 = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--phase", "start", "--data-dir", data_dir,
        env=env, stdout=asyncio.subprocess.PIPE,
    )
    assert p1.stdout is not None
    run_ids.append((await p1.stdout.readline()).decode().strip())
    code = await p1.wait()
    await asyncio.sleep(0.2)
    console.print(f"[bold red]process 1 died[/bold red] (exit status {code}, SIGKILL) mid-run.\n")

    console.print("[bold]process 2[/bold] starts and resumes the run from the log ...")
    p2 = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--phase", "resume", "--data-dir", data_dir, "--run", run_ids[0], env=env
    )
    code2 = await p2.wait()
    await asyncio.sleep(0.2)
    stop.set()
    await watcher
    if code2 != 0:
        console.print(f"[bold red]process 2 failed with status {code2}[/bold red]")
        return 1

    world = create_world("local", data_dir=data_dir)
    await world.open()
    try:
        run = await world.get_run(run_ids[0])
        steps = await world.list_steps(run_ids[0])
    finally:
        await world.close()
    assert run is not None
    table = Table(title=f"run {run.id}: {run.status} in {time.monotonic() - t0:.1f} s")
    table.add_column("step")
    table.add_column("status")
    table.add_column("attempts", justify="right")
    for s in steps:
        table.add_row(s.step_id.rsplit("//", 1)[-1], s.status, str(s.attempt))
    console.print(table)
    console.print(f"result: {run.output}")
    console.print(
        "Every step that finished before the crash ran once; only pack_box, in flight when "
        "the process died, ran again."
    )
    return 0 if run.status == "completed" else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--phase", choices=["demo", "start", "resume"], default="demo")
    parser.add_argument("--data-dir", default=str(Path(".wdk") / "demo"))
    parser.add_argument("--run", default="")
    args = parser.parse_args()
    if args.phase == "start":
        asyncio.run(phase_start(args.data_dir))
        return 0
    if args.phase == "resume":
        asyncio.run(phase_resume(args.data_dir, args.run))
        return 0
    return asyncio.run(main_demo(args.data_dir))


if __name__ == "__main__":
    sys.exit(main())
