"""A workflow whose every payload carries a secret marker (issue 15: encryption at rest)."""

from __future__ import annotations

from wdk import create_hook, get_writable

MARKER = "CARD-4111-1111-1111-1111"


async def charge(card: str) -> dict[str, str]:
    "use step"
    out = get_writable()
    await out.write({"charged": card})
    await out.close()
    return {"receipt": card + "-receipt"}


async def checkout(card: str, token: str) -> dict[str, object]:
    "use workflow"
    receipt = await charge(card)
    approval = await create_hook(token)
    return {"receipt": receipt, "approval": approval, "card": card}


async def keep(value: str) -> str:
    "use step"
    return value


async def big_echo(value: str) -> str:
    "use workflow"
    return await keep(value)
