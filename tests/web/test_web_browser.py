"""The UI in a real headless browser (Debian's chromium, driven by playwright).

Three runs (completed, failed, asleep for an hour): the list shows them with
their statuses; the failed one shows its error; the completed one its steps
on the timeline; the sleeping one is cancelled with its Cancel button.
"""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, NoReturn

import pytest
from web_support import Runs

from wdk.server.app import Server, start_server
from wdk.web import create_app

CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium keeps calling home, which
# on a closed network is a flood of refused connections.
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _skip(reason: str) -> NoReturn:
    print(f"\nskipping the browser test: {reason}", file=sys.stderr)
    pytest.skip(reason)


@pytest.fixture
async def page(tmp_path: Path) -> AsyncIterator[Any]:
    if not os.access(CHROMIUM, os.X_OK):
        _skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        _skip("playwright is not installed (pip install -e '.[dev]')")
    async with async_playwright() as p:
        context = await p.chromium.launch_persistent_context(
            str(tmp_path / "profile"),  # a fresh profile per test
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS,
            headless=True,
            viewport={"width": 1280, "height": 900},
        )
        context.set_default_timeout(10_000)
        tab = context.pages[0] if context.pages else await context.new_page()
        errors: list[str] = []
        tab.on("pageerror", lambda exc: errors.append(str(exc)))
        tab.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        try:
            yield tab
        finally:
            await context.close()
        assert errors == [], errors


@pytest.fixture
async def server(runs: Runs) -> AsyncIterator[Server]:
    srv = await start_server("127.0.0.1", 0, app=create_app())
    try:
        yield srv
    finally:
        await srv.close()


async def test_runs_errors_timeline_and_cancel(page: Any, server: Server, runs: Runs, tmp_path: Path) -> None:
    from playwright.async_api import expect

    await page.goto(server.url + "/")
    rows = page.locator("tr.run-row")
    await expect(rows).to_have_count(3)
    for run_id, status in (
        (runs.completed, "completed"),
        (runs.failed, "failed"),
        (runs.sleeping, "running"),
    ):
        await expect(page.locator(f'tr[data-run="{run_id}"] .badge')).to_have_text(status)

    # The status filter narrows the list (and lives in the URL).
    await page.click('a[data-status="failed"]')
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_have_attribute("data-run", runs.failed)

    # The failed run: its error and traceback.
    await page.click(f'a[href="#/run/{runs.failed}"]')
    await expect(page.locator("#run-error")).to_have_text("FatalError: card declined for A-1002")
    await expect(page.locator(".traceback pre")).to_contain_text('raise FatalError(f"card declined')
    await expect(page.locator(".run-header .badge")).to_have_text("failed")
    await expect(page.locator("#cancel")).to_have_count(0)

    # The completed run: three steps on the timeline, the retries of one, its stream.
    await page.click("text=← All runs")
    await page.click('a[data-status="all"]')
    await page.click(f'a[href="#/run/{runs.completed}"]')
    steps = page.locator('.tl-item[data-kind="step"]')
    await expect(steps).to_have_count(3)
    await expect(steps.locator(".name")).to_have_text(["reserve", "charge", "ship"])
    await expect(steps.nth(1)).to_contain_text("3 attempts")
    await expect(steps.nth(1).locator(".bar.seg")).to_have_count(3)
    await expect(steps.nth(1).locator(".attempt-errors li")).to_have_count(2)
    await expect(page.locator('.tl-item[data-kind="sleep"]')).to_have_count(1)
    await expect(page.locator("#chunks li")).to_have_count(3)
    await expect(page.locator(".stream-state")).to_have_text("closed")
    await expect(page.locator("table.events tbody tr")).to_have_count(18)
    await page.screenshot(path=str(tmp_path / "completed-run.png"), full_page=True)

    # The sleeping run: Cancel, and it becomes cancelled.
    await page.goto(f"{server.url}/#/run/{runs.sleeping}")
    await expect(page.locator('.tl-item[data-kind="sleep"]')).to_have_attribute("data-status", "waiting")
    payload = page.locator('table.events tr[data-type="run_created"] details')
    await payload.locator("summary").click()
    await page.click("#cancel")
    await expect(page.locator(".run-header .badge")).to_have_text("cancelled")
    await expect(page.locator("#cancel")).to_have_count(0)
    await expect(page.locator('table.events tr[data-type="run_cancelled"]')).to_have_count(1)
    await expect(page.locator('.tl-item[data-kind="sleep"]')).to_have_attribute("data-status", "cancelled")
    # The page was patched, not rebuilt: the payload opened before is still open.
    await expect(payload).to_have_attribute("open", "")
    await page.screenshot(path=str(tmp_path / "cancelled-run.png"), full_page=True)

    # Back on the list, the auto-refresh shows the new status.
    await page.click("text=← All runs")
    await expect(page.locator(f'tr[data-run="{runs.sleeping}"] .badge')).to_have_text("cancelled")
    await page.screenshot(path=str(tmp_path / "runs.png"), full_page=True)
    print(f"\nscreenshots in {tmp_path}")


async def test_schedules_page_lists_and_pauses(page: Any, server: Server) -> None:
    from playwright.async_api import expect

    from wdk.runtime.engine import get_runtime
    from wdk.worlds.base import ScheduleState

    world = (await get_runtime(consume=False)).world
    spec = {"workflow_id": "workflow//web_flows//nap", "cron": "0 9 * * MON", "tz": "Europe/Paris",
            "overlap": "skip", "catchup": None}
    await world.save_schedule(ScheduleState("weekly", spec, last_tick=1_780_000_000.0))
    await page.goto(server.url + "/#/schedules")
    row = page.locator('tr.schedule-row[data-schedule="weekly"]')
    await expect(row).to_have_count(1)
    await expect(row).to_contain_text("0 9 * * MON")
    await expect(row).to_contain_text("Europe/Paris")
    await row.locator("button.toggle").click()
    await expect(row).to_have_attribute("data-paused", "1")
    await expect(row.locator("button.toggle")).to_have_text("Resume")
