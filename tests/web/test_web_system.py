"""The system view in headless Chromium: runs by status (each a link to the
filtered list), the queue, the live worker and its lease, and the runs that
ended per minute; then the runs list filtered by status and by time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import web_flows
import web_gate
from test_web_browser import page as page  # the headless Chromium fixture
from web_support import TOKEN, Runs, until

from wdk.api import start
from wdk.runtime.engine import current_runtime
from wdk.server.app import Server, start_server
from wdk.web import create_app


@pytest.fixture
async def held(runs: Runs) -> AsyncIterator[str]:
    """A fourth run, whose step waits at a gate: its lease is held meanwhile."""
    web_gate.GATE = asyncio.Event()
    run = await start(web_flows.held)
    rt = current_runtime()
    assert rt is not None

    async def leased() -> bool:
        return (await rt.world.queue_depth("flow")).leased == 1

    await until(leased, "the held run's lease")
    try:
        yield run.id
    finally:
        web_gate.GATE.set()
        await run.result(timeout=10)
        web_gate.GATE = None


@pytest.fixture
async def server(held: str) -> AsyncIterator[Server]:
    srv = await start_server("127.0.0.1", 0, app=create_app(api_token=TOKEN))
    try:
        yield srv
    finally:
        await srv.close()


async def test_system_view(page: Any, server: Server, runs: Runs, held: str, tmp_path: Path) -> None:
    from playwright.async_api import expect

    rt = current_runtime()
    assert rt is not None and rt.worker_id
    await page.goto(f"{server.url}/?token={TOKEN}")  # log in
    await page.goto(server.url + "/#/system")

    counts = page.locator("#counts")
    for status, n in (("pending", 0), ("running", 2), ("blocked", 0), ("completed", 1), ("failed", 1), ("cancelled", 0)):
        await expect(counts.locator(f'.count[data-status="{status}"] .count-n')).to_have_text(str(n))

    # The queue: the nap's wake-up is scheduled, the held run is leased.
    await expect(page.locator("#queue-ready")).to_have_text("0")
    await expect(page.locator("#queue-scheduled")).to_have_text("1")
    await expect(page.locator("#queue-leased")).to_have_text("1")

    # The worker (this test's runtime) and its one lease.
    worker = page.locator(f'tr.worker-row[data-worker="{rt.worker_id}"]')
    await expect(worker.locator(".leases")).to_have_text("1")

    # No schedule is declared in this store.
    await expect(page.locator("#no-schedules")).to_be_visible()

    # Throughput: 15 minutes; the completed and the failed run ended in this one.
    cols = page.locator(".chart .col")
    await expect(cols).to_have_count(15)
    await expect(page.locator("#throughput-total")).to_have_text("2 runs ended in the last 15 min")
    # (In one column, or two if a minute turned between the two runs' ends.)
    await expect(page.locator(".chart .seg.s-completed")).to_have_count(1)
    await expect(page.locator(".chart .seg.s-failed")).to_have_count(1)
    await page.screenshot(path=str(tmp_path / "system.png"), full_page=True)

    # A count is a link to the runs it counts.
    await counts.locator('.count[data-status="running"]').click()
    rows = page.locator("tr.run-row")
    await expect(rows).to_have_count(2)
    assert sorted([await r.get_attribute("data-run") for r in await rows.all()]) == sorted([runs.sleeping, held])

    # The time filter keeps the status and lives in the URL.
    await page.select_option("#since", "15m")
    await expect(page).to_have_url(f"{server.url}/#/?status=running&since=15m")
    await expect(rows).to_have_count(2)
    await page.click('a[data-status="all"]')
    await expect(page).to_have_url(f"{server.url}/#/?since=15m")
    await expect(rows).to_have_count(4)
    await page.screenshot(path=str(tmp_path / "runs.png"), full_page=True)

    # Once the gate opens, the held run completes: the worker is still alive, with no lease.
    assert web_gate.GATE is not None
    web_gate.GATE.set()
    await page.click("#nav-system")
    await expect(worker.locator(".leases")).to_have_text("0")
    await expect(page.locator("tr.worker-row")).to_have_count(1)
    await expect(counts.locator('.count[data-status="completed"] .count-n')).to_have_text("2")
    await expect(page.locator("#throughput-total")).to_have_text("3 runs ended in the last 15 min")
    print(f"\nscreenshot in {tmp_path}")
