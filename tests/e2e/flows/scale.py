"""Ten short steps per run, for the scale-out test: each attempt is logged
to the ledger of `flows.ledger` ($LEDGER_PATH)."""

from __future__ import annotations

from flows.ledger import work

STEPS = 10


async def ten(x: int) -> int:
    "use workflow"
    for i in range(STEPS):
        x = await work(x, i)
    return x
