"""Record the replay fixtures in tests/histories/ from real runs.

    .venv/bin/python scripts/record_histories.py

Runs each workflow of tests/e2e/flows/replayable.py on a throwaway local
world and writes its event log as JSON; then derives the one deliberately
divergent history (a recorded step id renamed) that the replay tests expect
to fail. Re-run after an intended change to those workflows, and review the
diff: a history that changes means old runs would stop replaying.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path
from typing import Any

import msgspec

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "histories"
sys.path[:0] = [str(ROOT / "tests" / "e2e"), str(ROOT)]

from flows import replayable  # noqa: E402

from wdk.api import configure, start  # noqa: E402
from wdk.errors import WorkflowFailed  # noqa: E402
from wdk.runtime.replay import dump_history, load_history  # noqa: E402

# name -> (workflow, args): each a different shape of history.
CASES: dict[str, tuple[Any, tuple[Any, ...]]] = {
    "checkout_sequential": (replayable.checkout, ("ada", ["pen", "notebook"])),
    "fan_out_parallel": (replayable.fan_out, (["a", "bb", "ccc"],)),
    "retry_and_sleep": (replayable.retry_and_sleep, (42,)),
    "partial_failure": (replayable.partial_failure, (["pen", "missing", "ink"],)),
}
DIVERGENT = "divergent_step_renamed"


async def record() -> None:
    for name, (workflow, args) in CASES.items():
        run = await start(workflow, *args)
        try:
            await run.result(timeout=30)
        except WorkflowFailed:
            pass  # partial_failure ends failed on purpose
        dump_history(await run.events(), OUT / f"{name}.json")
        print(f"recorded {name}: {run.id} ({await run.status()})")


def make_divergent() -> None:
    """checkout_sequential with its first step recorded under another id."""
    events = load_history(OUT / "checkout_sequential.json")
    renamed = "step//flows.replayable//fetch_cost"
    for i, event in enumerate(events):
        if event.type == "step_created":
            events[i] = msgspec.structs.replace(
                event, payload={**event.payload, "step_id": renamed}
            )
            break
    dump_history(events, OUT / f"{DIVERGENT}.json")
    print(f"derived {DIVERGENT}: first step renamed to {renamed}")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as data_dir:
        configure(world="local", data_dir=data_dir)
        asyncio.run(record())
    make_divergent()


if __name__ == "__main__":
    main()
