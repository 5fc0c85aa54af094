"""The orchestrator's side of flow control: which limits a step execution
honours, and getting and giving back its slots and tokens.

A step's limits are resolved when its `step_started` is made (`with_limits`:
the key functions read the call's arguments once) and recorded in that event.
They are asked for right then (`prefetch`), so that the lease of a slot or
token joins the commit of the `step_started` (the local world's group
commit); the step awaits them just before it runs (`acquire`). A step that
does not start after all (the commit conflicted) gives them back (`drop`).
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from typing import Any

from wdk.runtime import serde
from wdk.runtime.flow_control import Limit, declared, limits_payload, resolve
from wdk.runtime.instance import StepCall
from wdk.runtime.limiter import Held, Limiter
from wdk.runtime.loader import Loader
from wdk.settings import Settings
from wdk.worlds.base import World

__all__ = ["StepLimits"]

_UNSEEN = object()  # a step id `_limited_step` was not asked about yet


class StepLimits:
    def __init__(self, world: World, loader: Loader, settings: Settings) -> None:
        self.world = world
        self.loader = loader
        self.settings = settings
        # Set by the runtime (its owner, its lease thread); else made on first use.
        self.limiter: Limiter | None = None
        self._limited: dict[str, Any] = {}  # step id -> its function when it declares limits, else None
        # step id -> (its limits, as recorded) when no key function reads the arguments: resolved once.
        self._fixed: dict[str, tuple[tuple[Limit, ...], list[dict[str, Any]]]] = {}

    def get_limiter(self) -> Limiter:
        if self.limiter is None:
            owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
            self.limiter = Limiter(self.world, owner, self.settings.lease_seconds)
        return self.limiter

    def _limited_step(self, step_id: str) -> Any:
        """The step's function when it declares limits, else None; remembered
        (`with_limits` reads the answer: the common step declares none and
        costs one dict lookup there)."""
        fn: Any = None
        if "<locals>" not in step_id:  # nested steps: their closure is per call (no limits)
            try:
                candidate = self.loader.step_function(step_id)
                fn = candidate if declared(candidate) else None
            except Exception:
                fn = None  # it fails when it runs, with the loader's error
        self._limited[step_id] = fn
        return fn

    def with_limits(self, call: StepCall, payload: dict[str, Any]) -> dict[str, Any]:
        """Resolve the step's limits for this execution and record them in `payload`."""
        call.limits, call.limit_error = (), None
        # _limited_step's cached answer, inlined (every step execution asks).
        fn = self._limited.get(call.name, _UNSEEN)
        if fn is _UNSEEN:
            fn = self._limited_step(call.name)
        if fn is None:
            return payload
        fixed = self._fixed.get(call.name)
        if fixed is not None:
            call.limits, payload["limits"] = fixed
            return payload
        try:
            # The arguments are decoded only for a key function to read them.
            keyed = any(d.key is not None for d in declared(fn))
            args, kwargs, _ = serde.decode_call(call.input) if keyed else ((), {}, None)
            call.limits = tuple(resolve(fn, call.name, args, kwargs))
        except Exception as exc:
            call.limit_error = exc
            return payload
        payload["limits"] = limits_payload(call.limits)
        if not keyed:
            self._fixed[call.name] = (call.limits, payload["limits"])
        return payload

    def prefetch(self, priority: int, to_start: list[StepCall]) -> list[StepCall]:
        """Start acquiring the limits of the steps about to start."""
        calls = [c for c in to_start if c.limits and c.limit_error is None and c.acquiring is None]
        for call in calls:
            call.acquiring = self.get_limiter().start(call.limits, priority)
        return calls

    def drop(self, calls: list[StepCall]) -> None:
        """Give back what was acquired for steps that did not start after all."""
        for call in calls:
            task, call.acquiring = call.acquiring, None
            if task is None:
                continue
            if isinstance(task, Held):
                self.get_limiter().release(task)
                continue
            task.cancel()  # a grant that raced the cancel is released by the callback
            task.add_done_callback(self._release_done)

    def _release_done(self, task: asyncio.Future[Held]) -> None:
        if not task.cancelled() and task.exception() is None:
            self.get_limiter().release(task.result())

    async def acquire(self, call: StepCall, priority: int) -> Held:
        """The step's slots and tokens (asked for by `prefetch`, or now), ready to run."""
        task, call.acquiring = call.acquiring, None
        limiter = self.get_limiter()
        if isinstance(task, Held):
            held = task  # kept here: taken without a wait
        else:
            held = await (task if task is not None else limiter.acquire(call.limits, priority))
        if limiter.needs_ready(held):
            await limiter.ready(held)
        return held

    async def acquire_run(self, limits: list[Limit], priority: int) -> Held:
        """A workflow's own limits, for one advance of its run."""
        held = await self.get_limiter().acquire(limits, priority)
        await self.get_limiter().ready(held)
        return held

    def release(self, held: Held) -> None:
        self.get_limiter().release(held)
