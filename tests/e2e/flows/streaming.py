"""Workflows that stream output."""

from __future__ import annotations

import asyncio

from wdk import RetryableError, Writable, get_step_metadata, get_writable


async def produce(n: int, delay: float) -> int:
    "use step"
    out = get_writable()
    for i in range(n):
        await out.write({"i": i})
        if delay:
            await asyncio.sleep(delay)
    await out.close()
    return n


async def tokens(n: int, delay: float) -> int:
    "use workflow"
    return await produce(n, delay)


async def write_to(out: Writable, words: list[str]) -> None:
    "use step"
    for w in words:
        await out.write(w)
    await out.close()


async def passes_writer(words: list[str]) -> str:
    "use workflow"
    out = get_writable("words")
    await write_to(out, words)
    return "ok"


# --- issue 8 item 5: streams across retries, crashes and close -----------------

# Gates a test opens to let attempt 1 of `tell` fail only once a live reader
# has its chunks (the step runs in the test's process).
GATES: dict[str, asyncio.Event] = {}
ATTEMPT_1 = ["Order c05 ", "looks fine. ", "Ship"]
ATTEMPT_2 = ["Order c05 ", "looks fine. ", "Ship ", "it."]


async def tell(gate: str) -> str:
    "use step"
    attempt = get_step_metadata().attempt
    out = get_writable()
    for word in ATTEMPT_1 if attempt == 1 else ATTEMPT_2:
        await out.write(word)
    if attempt == 1:
        await out.flush()
        if gate in GATES:
            await GATES[gate].wait()
        raise RetryableError("the model stopped mid-sentence", retry_after=0)
    await out.close()
    return "shipped"


async def retried_story(gate: str) -> str:
    "use workflow"
    return await tell(gate)


async def close_with_another_writer() -> str:
    "use step"
    w = get_writable()
    await w.write("a")
    await w.write("b")
    await get_writable().close()  # a second writer object for the same stream
    return "closed"


async def two_writers() -> str:
    "use workflow"
    return await close_with_another_writer()


async def write_after_close() -> str:
    "use step"
    out = get_writable("notes")
    await out.write("first")
    await out.close()
    await get_writable("notes").write("too late")
    return "unreachable"


async def writes_after_close() -> str:
    "use workflow"
    return await write_after_close()


async def leave_open(n: int) -> int:
    "use step"
    out = get_writable()
    for i in range(n):
        await out.write(i)
    return n  # no close(): the stream ends with the run


async def never_closes(n: int, gate: str) -> int:
    "use workflow"
    count = await leave_open(n)
    await wait_for_gate(gate)
    return count


async def wait_for_gate(gate: str) -> None:
    "use step"
    if gate in GATES:
        await GATES[gate].wait()


async def crash_after_writing() -> str:
    "use step"
    from flows.crashy import crash_once

    # A crash is not a failure: the resumed execution is attempt 1 again, recovery 1.
    first = get_step_metadata().recovery == 0
    out = get_writable()
    for word in ATTEMPT_1 if first else ATTEMPT_2:
        await out.write(word)
    await out.flush()
    if first:
        crash_once()  # SIGKILL: this attempt's chunks are committed, its result never is
    await out.close()
    return "shipped"


async def crashes_mid_stream() -> str:
    "use workflow"
    return await crash_after_writing()


async def close_notes() -> None:
    "use step"
    await get_writable("notes").close()


async def write_notes() -> None:
    "use step"
    await get_writable("notes").write("after the close")


async def closes_then_writes() -> str:
    "use workflow"
    await close_notes()
    await write_notes()
    return "unreachable"


async def close_then_fail() -> str:
    "use step"
    attempt = get_step_metadata().attempt
    out = get_writable()
    await out.write(f"draft {attempt}")
    await out.close()
    if attempt == 1:
        raise RetryableError("failed after closing", retry_after=0)
    return "done"


async def closes_then_retries() -> str:
    "use workflow"
    return await close_then_fail()
