"""Database round trips per run on PostgreSQL, counted (not timed): every
statement this process sends, from `start()` to the commit of the run's result.

start() is one round trip (the run and its queue message in one statement,
leased to this process's runtime); the runtime then advances the run without
a lease call or a read of its log: one append per step round.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest
from flows import basic

from wdk.api import start
from wdk.runtime import config
from wdk.runtime import engine as runtime_mod
from wdk.runtime.engine import get_runtime
from wdk.worlds import postgres as postgres_mod

pytestmark = pytest.mark.postgres_only


@pytest.fixture
def statements(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, tuple[Any, ...]]]]:
    """Every statement sent on any asyncpg connection of this process, in order."""
    sent: list[tuple[str, tuple[Any, ...]]] = []
    for name in ("execute", "executemany", "fetch", "fetchrow", "fetchval"):
        real = getattr(asyncpg.connection.Connection, name)

        def counted(self: Any, query: str, *args: Any, _real: Any = real, **kwargs: Any) -> Any:
            sent.append((query, args))
            return _real(self, query, *args, **kwargs)

        monkeypatch.setattr(asyncpg.connection.Connection, name, counted)
    # The idle consumer's polls and the in-flight cancel check are per process,
    # not per run: pushed out of the window, so every statement counted is the run's.
    monkeypatch.setattr(runtime_mod, "POLL_SECONDS", 3600.0)
    monkeypatch.setattr(runtime_mod, "CANCEL_CHECK_SECONDS", 3600.0)
    config.configure(reconcile_seconds=3600.0)
    monkeypatch.setattr(postgres_mod, "QUEUE_POLL_SECONDS", 3600.0)
    yield sent


def _appends(sent: list[tuple[str, tuple[Any, ...]]]) -> list[list[str]]:
    return [list(args[2]) for sql, args in sent if "append_events" in sql]


async def test_a_one_step_run_is_recorded_in_at_most_five_round_trips(
    statements: list[tuple[str, tuple[Any, ...]]],
) -> None:
    warm = await start(basic.one_step, 1, 2)  # connections, compile, the consumer's first polls
    assert await warm.result(timeout=30) == 3
    # result() answers from the run's committed end, before its ack is sent:
    # wait for the warm run's task to end, so its ack is not counted below.
    warm_task = (await get_runtime())._active.get(warm.id)
    if warm_task is not None:
        await warm_task
    statements.clear()

    run = await start(basic.one_step, 2, 3)
    # A loaded machine can still run the warm run's ack late: not this run's.
    at_start = len([s for s in statements if warm.id not in s[1]])
    assert await run.result(timeout=30) == 5

    ours = [s for s in statements if warm.id not in s[1]]
    assert at_start == 1, ours  # start(): one round trip
    recorded = next(i for i, (sql, args) in enumerate(ours) if "append_events" in sql and "run_completed" in args[2])
    upto = ours[: recorded + 1]
    assert len(upto) <= 5, [sql.split("(")[0] for sql, _ in upto]
    # Which ones: start, then one append per round; no lease, no read of the log.
    assert "start_run" in upto[0][0]
    assert _appends(upto) == [
        ["run_started", "step_created", "step_started"],
        ["step_completed", "run_completed"],
    ]
    # Nothing else: result() waits for the end of a run advanced here before
    # it reads the run (`Runtime.wait_terminal`).
    rest = [sql for sql, _ in upto if "append_events" not in sql and "start_run" not in sql]
    assert rest == [], rest
