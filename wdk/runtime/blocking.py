"""Runs whose history does not replay against the code running here.

A deploy that changes a workflow in a way its in-flight runs cannot replay
(a call moved, removed, or swapped) must not fail them: such a run is
*blocked* (`run_blocked` in its log, status `blocked`). Its hooks, waits and
streams stay as they are -- a webhook still answers 202 and its payload is
appended -- and the reconciler keeps queueing it, so every worker re-checks
it when it starts and at each pass. Code that replays it (the old code back,
or a `patched()` branch) resumes it with `run_unblocked`.

Re-checking is keyed by code version: a blocked run is replayed again here
only when the code of its workflow changed since this process found it
blocked (the replay of the same history against the same code would find the
same divergence: what is appended after the divergence does not matter).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from wdk.errors import ConflictError, NonDeterminismError, WorkflowNotFound
from wdk.runtime.loader import Loader
from wdk.runtime.logs import ids
from wdk.worlds.base import TERMINAL_STATUSES, NewEvent, RunInfo, World

log = logging.getLogger("wdk")

__all__ = ["BlockedRuns", "divergence_payload", "run_facts"]


def divergence_payload(exc: NonDeterminismError) -> dict[str, Any]:
    """What `run_blocked` records (and `wdk inspect`, the JSON API and the UI show)."""
    return {
        "message": getattr(exc, "summary", str(exc)),
        "expected": exc.expected,
        "actual": exc.actual,
        "location": exc.location,
    }


class BlockedRuns:
    """This process's record of the runs it found blocked, by code version."""

    def __init__(self, world: World, loader: Loader) -> None:
        self.world = world
        self.loader = loader
        self._seen: dict[str, tuple[str, str]] = {}  # run id -> (workflow id, code version)

    def version(self, workflow_id: str) -> str:
        try:
            return self.loader.code_version(workflow_id)
        except WorkflowNotFound:
            return "unknown"

    def unchanged(self, run_id: str) -> bool:
        """Whether the run was found blocked here against the code that is still here."""
        seen = self._seen.get(run_id)
        return seen is not None and self.version(seen[0]) == seen[1]

    def resumed(self, run_id: str) -> None:
        if self._seen.pop(run_id, None) is not None:
            log.info("wdk: run %s replays against the current code: it is no longer blocked", run_id)

    async def block(self, run_id: str, exc: NonDeterminismError) -> None:
        """Record the divergence as `run_blocked`, unless the log already
        says the same (same code version, same divergence)."""
        run = await self.world.get_run(run_id)
        if run is None or run.status in TERMINAL_STATUSES:
            return
        version = self.version(run.workflow_id)
        self._seen[run_id] = (run.workflow_id, version)
        payload = {"divergence": divergence_payload(exc), "code_version": version}
        if run.status == "blocked" and await self._last_block(run_id) == payload:
            return
        log.warning(
            "wdk: run %s is blocked: its history does not replay against this code: %s", run_id, exc,
            extra=ids("run_blocked", run_id, workflow_id=run.workflow_id),
        )
        try:
            await self.world.append(run_id, run.last_seq, [NewEvent("run_blocked", time.time(), None, payload)])
        except ConflictError:
            # Someone wrote meanwhile (a hook payload, a cancel): the next pass
            # looks again (the writer queued the run).
            self._seen.pop(run_id, None)

    async def _last_block(self, run_id: str) -> dict[str, Any] | None:
        last = None
        for event in await self.world.read_events(run_id):
            if event.type == "run_blocked":
                last = event.payload
            elif event.type == "run_unblocked":
                last = None
        return last


async def run_facts(world: World, run: RunInfo) -> dict[str, Any]:
    """What a listing shows of a run beyond its row (`wdk inspect`, the JSON
    API, the web UI): the code version that started it, the run it reruns,
    and, while it is blocked, the divergence that blocks it."""
    first = await world.read_events(run.id, -1, 1)
    created = first[0].payload if first else {}
    facts: dict[str, Any] = {
        "code_version": created.get("code_version"),
        "rerun_of": created.get("rerun_of"),
        "divergence": None,
    }
    if run.status == "blocked":
        for event in await world.read_events(run.id):
            if event.type == "run_blocked":
                facts["divergence"] = {**event.payload.get("divergence", {}), "code_version": event.payload.get("code_version")}
    return facts
