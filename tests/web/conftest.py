"""Web UI fixtures: a fresh local world per test, the flows in `web_flows.py`
on sys.path, and `runs`: one run of each shape the UI draws.

The test's own loop runs the embedded runtime that advances the runs; the web
app served in that loop shares it (and so does its Cancel)."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from web_support import Runs, until

from wdk.runtime import config

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.delenv("WDK_SERVER_URL", raising=False)
    config.reset()
    d = tmp_path / "wdk"
    config.configure(world="local", data_dir=d)
    yield d
    config.reset()


@pytest.fixture
async def runs() -> AsyncIterator[Runs]:
    """Three runs, settled: completed (checkout), failed (refund_order), and
    sleeping for an hour (nap). The loop's runtime consumes (it advances them)."""
    import web_flows

    from wdk import WorkflowFailed
    from wdk.api import start
    from wdk.runtime.engine import get_runtime, shutdown_runtime

    rt = await get_runtime(consume=True)
    done = await start(web_flows.checkout, "A-1001")
    bad = await start(web_flows.refund_order, "A-1002")
    nap = await start(web_flows.nap)
    await done.result(timeout=10)
    with pytest.raises(WorkflowFailed):
        await bad.result(timeout=10)

    async def sleeping() -> bool:
        return bool(await rt.world.list_waits(nap.id))

    await until(sleeping, "the nap run to start sleeping")
    try:
        yield Runs(done.id, bad.id, nap.id)
    finally:
        await shutdown_runtime()
