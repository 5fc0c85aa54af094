"""Workflows of the security tests (issue 15)."""

from __future__ import annotations

import random
import secrets

from wdk import create_hook, create_webhook, get_writable


async def lucky() -> dict[str, object]:
    "use workflow"
    # What an attacker with the event log would like to predict.
    return {"bits": random.getrandbits(64), "hex": secrets.token_hex(8)}


async def one_webhook() -> str:
    "use workflow"
    webhook = create_webhook()
    request = await webhook
    return request.text()


async def big_result(size: int) -> int:
    "use workflow"
    return len(await make(size))


async def make(size: int) -> str:
    "use step"
    return "x" * size


make.max_retries = 0


async def echo(value: str) -> int:
    "use workflow"
    return len(value)


async def keep(value: str) -> str:
    "use step"
    return value


async def through_a_step(value: str) -> str:
    "use workflow"
    # The value is in the run's input, the step's input and result, the
    # run's result and its output: five places, stored once.
    return await keep(value)


async def plain_hook(token: str) -> object:
    "use workflow"
    return await create_hook(token)


async def write_chunk(size: int) -> None:
    "use step"
    out = get_writable()
    await out.write("x" * size)


write_chunk.max_retries = 0


async def big_chunk(size: int) -> None:
    "use workflow"
    await write_chunk(size)
