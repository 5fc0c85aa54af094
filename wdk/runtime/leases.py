"""Keeping the leases of the runs this process advances, from a thread.

A run is leased while a worker advances it; the lease is what stops a second
worker from starting the same step. Renewing it from the event loop would tie
the lease to the loop's health: a step that blocks the loop (sync code in an
`async def`, a long C call) would let the lease lapse while the step is still
running, and another worker would start a second attempt. So one thread per
runtime renews every held lease on a connection of its own.

A renewal that finds a lease gone (it expired while this whole process was
frozen, and another worker took the run) reports it to the loop, which stops
advancing that run: the other worker owns it now. What can still overlap is
documented in docs/guide.md ("Guarantees").
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable

from wdk.worlds.base import Lease, LeaseRenewer

log = logging.getLogger("wdk")


class LeaseKeeper:
    """Renews the held leases every `lease_for / 3` seconds from a daemon thread.

    `on_lost(lease)` is called on `loop` (thread-safely) for each lease that
    another owner took."""

    def __init__(
        self,
        renewer: LeaseRenewer,
        lease_for: float,
        loop: asyncio.AbstractEventLoop,
        on_lost: Callable[[Lease], None],
    ) -> None:
        self._renewer = renewer
        self._lease_for = lease_for
        self._loop = loop
        self._on_lost = on_lost
        self._held: dict[str, Lease] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="wdk-leases", daemon=True)
        self._thread.start()

    def hold(self, lease: Lease) -> None:
        with self._lock:
            self._held[lease.key] = lease

    def held(self) -> int:
        """How many leases this keeper renews now."""
        return len(self._held)

    def release(self, lease: Lease) -> None:
        with self._lock:
            if self._held.get(lease.key) is lease:
                del self._held[lease.key]

    def close(self) -> None:
        """Stop renewing (the thread closes its connection on the way out)."""
        self._stop.set()
        self._thread.join(timeout=5.0)

    def _run(self) -> None:
        try:
            while not self._stop.wait(self._lease_for / 3):
                if self._loop.is_closed():  # the runtime's loop is gone without stopping us
                    return
                self._renew_once()
        finally:
            try:
                self._renewer.close()
            except Exception:
                log.debug("wdk: closing the lease renewer failed", exc_info=True)

    def _renew_once(self) -> None:
        with self._lock:
            leases = list(self._held.values())
        if not leases:
            return
        try:
            lost = self._renewer.extend(leases, self._lease_for)
        except Exception as exc:  # the store is away: keep trying, the lease may still hold
            log.warning("wdk: cannot renew %d lease(s): %s", len(leases), exc)
            return
        for lease in lost:
            with self._lock:
                if self._held.get(lease.key) is not lease:
                    continue  # released meanwhile: acked, not lost
                del self._held[lease.key]
            log.warning(
                "wdk: lost the lease of run %s to another worker; stopping it here", lease.key,
                extra={"event": "lease_lost", "run_id": lease.key, "worker": lease.owner},
            )
            try:
                self._loop.call_soon_threadsafe(self._on_lost, lease)
            except RuntimeError:  # the loop is closed: nothing left to stop
                return
