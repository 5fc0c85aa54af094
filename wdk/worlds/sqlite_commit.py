"""The local world's group commit: one SQLite connection's batching.

Every write goes through a group commit: writes requested in the same event
loop tick run in ONE transaction; a conflict fails only its own caller (the
batch then runs again with a SAVEPOINT per write, see `flush`). Futures
resolve after COMMIT, so nothing a caller sees can be lost by a crash (at
synchronous=NORMAL: a process crash; FULL: a power loss). SQLite is called
on the loop thread: a thread hop costs more than the query.

`GroupCommit` also keeps the runs' states its committed appends (and run
creations) left, so the next append of a run this process drives skips its
read (see `sqlite_log.append`). LocalWorld (`local.py`) holds one and binds its
`write` and `sync` as its own `_write` and `_sync`.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from wdk.errors import WorldError
from wdk.worlds import sqlite_log
from wdk.worlds.base import Event, NewEvent
from wdk.worlds.sqlite_checkpoint import Checkpointer

RUN_STATES_KEPT = 10_000
EAGER_IN_A_ROW = 8  # appends committed at once in a row, at most (GroupCommit.write)

_Op = tuple[Callable[..., Any], tuple[Any, ...], "asyncio.Future[Any]"]  # (work, its arguments, its future)
_Outcome = tuple["asyncio.Future[Any]", Any, bool]  # (the write's future, its result or error, ok)


class Write(Protocol):
    """`GroupCommit.write`'s signature (what FlowMethods and LocalWorld call as `_write`)."""

    def __call__(self, work: Callable[..., Any], *args: Any, eager: bool = False) -> asyncio.Future[Any]: ...


class GroupCommit:
    """Batches the writes on one connection; `attach` it to an open one, `detach` at close."""

    def __init__(self, path: Path, label: str) -> None:
        self.path = path  # named in the WorldErrors of a failed write
        self.label = label  # the world, named when it is used while closed
        self.conn: sqlite3.Connection | None = None
        # One cursor for the transactions' own statements and the appends':
        # Connection.execute makes a cursor per statement.
        self.cursor: sqlite3.Cursor | None = None
        self.checkpointer: Checkpointer | None = None
        self._pending: list[_Op] = []
        self._flush_scheduled = False
        self._eager_left = EAGER_IN_A_ROW
        # Runs' states as this connection's appends committed them (spares
        # the next append its read, see sqlite_log.append), and those of the
        # transaction under way, kept once it commits.
        self.run_states: dict[str, sqlite_log.RunState] = {}
        self.uncommitted: list[tuple[str, sqlite_log.RunState | None]] = []

    def attach(self, conn: sqlite3.Connection, checkpointer: Checkpointer | None) -> None:
        """Write on `conn` from now on, telling `checkpointer` (if any) after each commit."""
        self.conn = conn
        self.cursor = conn.cursor()
        self.checkpointer = checkpointer
        self.run_states = {}

    def detach(self) -> None:
        """Commit what is pending; the caller closes the connection."""
        self.flush()
        if self.cursor is not None:
            self.cursor.close()
        self.conn = None
        self.cursor = None
        self.checkpointer = None

    @property
    def db(self) -> sqlite3.Connection:
        if self.conn is None:
            raise WorldError(f"{self.label} is not open: await world.open() first")
        return self.conn

    def write(self, work: Callable[..., Any], *args: Any, eager: bool = False) -> asyncio.Future[Any]:
        """Queue `work(*args)` for the next group commit; the future resolves after COMMIT.
        `eager`: commit at once when nothing else could join the group (see below)."""
        if self.conn is None:  # fail fast when closed, not in the flush
            raise WorldError(f"{self.label} is not open: await world.open() first")
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        self._pending.append((work, args, fut))
        if self._flush_scheduled:
            return fut
        # Nothing else is ready to run before the flush would (the loop's
        # ready queue is empty; unknown on loops without one): committing now
        # groups nothing less and spares the caller a loop iteration. Every
        # EAGER_IN_A_ROW-th waits its turn, so that timers and I/O still run
        # between the steps of a run that never waits otherwise.
        if eager and self._eager_left > 0 and not getattr(loop, "_ready", True):
            self._eager_left -= 1
            self.flush()
            return fut
        self._eager_left = EAGER_IN_A_ROW
        self._flush_scheduled = True
        loop.call_soon(self.flush)
        return fut

    def sync(self) -> sqlite3.Connection:
        """The connection, for a read: it sees every write requested before it, even one not awaited yet."""
        if self._pending:
            self.flush()
        return self.db

    def flush(self) -> None:
        """Run the pending writes in one transaction and resolve their futures."""
        self._flush_scheduled = False
        batch = self._pending
        if not batch:
            return
        self._pending = []
        if self.conn is None:
            return
        # All in one transaction without savepoints first (two statements
        # fewer per write). If a write fails and others share the transaction,
        # it is rolled back and run again with a savepoint per write, so the
        # failure is that write's alone: a write is a function of the database,
        # and does the same again on the same state.
        outcomes = self._run(batch, savepoints=False)
        if outcomes is None:
            outcomes = self._run(batch, savepoints=True)
            assert outcomes is not None
        for fut, value, ok in outcomes:
            if fut.done():
                continue
            if ok:
                fut.set_result(value)
            else:
                fut.set_exception(value)

    def _run(self, batch: list[_Op], *, savepoints: bool) -> list[_Outcome] | None:
        """The batch's outcomes once its transaction ended; None: a write failed
        without savepoints among others (all rolled back)."""
        conn, tx = self.conn, self.cursor  # attached: `flush` checked (an attribute, not `db`'s property)
        assert conn is not None and tx is not None
        outcomes: list[_Outcome] = []
        self.uncommitted.clear()
        try:
            tx.execute("BEGIN IMMEDIATE")
            for work, args, fut in batch:
                if fut.cancelled():  # its caller is gone: not run
                    continue
                if savepoints:
                    tx.execute("SAVEPOINT op")
                try:
                    result = work(*args)
                except Exception as exc:
                    if not savepoints:
                        tx.execute("ROLLBACK")
                        self.uncommitted.clear()
                        return None if len(batch) > 1 else [(fut, self._failure(exc), False)]
                    tx.execute("ROLLBACK TO op")
                    tx.execute("RELEASE op")
                    outcomes.append((fut, self._failure(exc), False))
                else:
                    if savepoints:
                        tx.execute("RELEASE op")
                    outcomes.append((fut, result, True))
            tx.execute("COMMIT")
            if self.uncommitted:
                self._keep_run_states()
            if self.checkpointer is not None:
                self.checkpointer.wrote(len(batch))
        except sqlite3.Error as exc:
            self.uncommitted.clear()
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            error = WorldError(f"{self.path}: write failed: {exc}")
            return [(fut, error, False) for _, _, fut in batch]
        return outcomes

    def _failure(self, exc: Exception) -> Exception:
        # Callers handle WorldError, not a driver's exception.
        return WorldError(f"{self.path}: {exc}") if isinstance(exc, sqlite3.Error) else exc

    # --- the run states kept after COMMIT ---------------------------------------------

    def append(self, run_id: str, expected_seq: int, events: tuple[NewEvent, ...]) -> list[Event]:
        """`sqlite_log.append` with the run's kept state; a write's work (inside `flush`)."""
        try:
            written, state = sqlite_log.append(
                self.cursor or self.db, run_id, expected_seq, events, self.run_states.get(run_id)
            )
        except Exception:
            self.run_states.pop(run_id, None)
            raise
        # Kept only if the transaction commits (an error rolls this op back before that).
        self.uncommitted.append((run_id, state))
        return written

    def created(self, run_id: str, state: sqlite_log.RunState) -> None:
        """A run this transaction created, kept (as an append's state is) once it commits:
        call it last in the write's work, after every statement that could fail."""
        self.uncommitted.append((run_id, state))

    def _keep_run_states(self) -> None:
        """After COMMIT: the states the committed appends left."""
        states = self.run_states
        if len(states) > RUN_STATES_KEPT:
            states.clear()  # runs this process stopped driving: read again when needed
        for run_id, state in self.uncommitted:
            if state is None:
                states.pop(run_id, None)
            else:
                states[run_id] = state
        self.uncommitted.clear()
