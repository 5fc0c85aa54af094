"""A five-step workflow with a durable sleep, for the crash matrix.

Each step appends one line to the ledger file named by $CRASHY_LEDGER
(O_APPEND, so lines from several processes never interleave). A step kills
its own process with SIGKILL when $CRASHY_AT is "<step>:start" (before its
side effect) or "<step>:end" (after it, before its completion is committed);
the marker file $CRASHY_MARKER makes that happen once.
"""

from __future__ import annotations

import json
import os
import signal
from dataclasses import dataclass

from wdk import Writable, create_hook, get_step_metadata, get_writable, sleep
from wdk.api import start

SLEEP_SECONDS = 0.3


def _append(record: dict[str, object]) -> None:
    path = os.environ.get("CRASHY_LEDGER")
    if not path:
        return
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (json.dumps(record) + "\n").encode())
    finally:
        os.close(fd)


def crash_once() -> None:
    """SIGKILL this process unless the marker says it already happened."""
    marker = os.environ["CRASHY_MARKER"]
    try:
        os.close(os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
    except FileExistsError:
        return
    os.kill(os.getpid(), signal.SIGKILL)


def crash_point(name: str, when: str) -> None:
    """SIGKILL here (once) when $CRASHY_AT is "<name>:<when>"."""
    if os.environ.get("CRASHY_AT") == f"{name}:{when}":
        crash_once()


def _body(name: str, value: int, *, entered: bool = False) -> int:
    meta = get_step_metadata()
    if not entered:
        crash_point(name, "start")
    _append(
        {"step": name, "attempt": meta.attempt, "recovery": meta.recovery, "pid": os.getpid(), "run": meta.run_id}
    )
    crash_point(name, "end")
    return value


async def s1(x: int) -> int:
    "use step"
    return _body("s1", x + 1)


async def s2(x: int) -> int:
    "use step"
    return _body("s2", x * 2)


async def s3(x: int) -> int:
    "use step"
    return _body("s3", x + 3)


async def s4(x: int) -> int:
    "use step"
    return _body("s4", x * 4)


async def s5(x: int) -> int:
    "use step"
    return _body("s5", x + 5)


def expected(x: int) -> int:
    return ((((x + 1) * 2) + 3) * 4) + 5


async def five(x: int) -> int:
    "use workflow"
    a = await s1(x)
    b = await s2(a)
    await sleep(SLEEP_SECONDS)
    c = await s3(b)
    d = await s4(c)
    return await s5(d)


# --- the mixed workflow: a sync step, a child run, a hook, a stream ---------------


def sync_step(x: int) -> int:
    "use step"
    return _body("sync", x + 1)


async def c1(x: int) -> int:
    "use step"
    return _body("c1", x * 3)


async def child_flow(x: int) -> int:
    "use workflow"
    return await c1(x)


async def resume_own(token: str, value: int) -> None:
    "use step"
    from wdk.api import resume_hook

    crash_point("resume", "start")
    # Delivered while this step runs: the run's log moves under its worker.
    await resume_hook(token, value)
    _body("resume", value, entered=True)


async def streamer(x: int, out: Writable) -> int:
    "use step"
    for i in range(3):
        await out.write(f"{x}:{i}")
    await out.flush()  # committed: a kill after this leaves chunks to take back
    return _body("stream", x + 10)


MIXED_STEPS = ["sync", "c1", "resume", "stream"]


def mixed_expected(x: int) -> int:
    return (x + 1) * 3 + 10


async def mixed(x: int) -> int:
    "use workflow"
    a = await sync_step(x)
    child = await start(child_flow, a)
    b = await child.result()
    hook = create_hook(f"crashy-{x}")
    await resume_own(hook.token, b)
    payload = await hook
    return await streamer(payload, get_writable())


# --- a method step in a class-held workflow (tests/e2e/test_shapes.py) --------------


@dataclass
class Parcel:
    weight: int

    def ship(self, factor: int) -> int:
        "use step"
        return _body("ship", self.weight * factor)


class Depot:
    @classmethod
    async def route(cls, weight: int) -> int:
        "use workflow"
        return await Parcel(weight).ship(3)  # type: ignore[misc]
