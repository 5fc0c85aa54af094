"""Log lines: one per notable thing (a run failed, a step retried, a lease
lost, code that cannot load) with its run and step ids, as JSON when asked;
a message repeated about one run is said once a minute, not once a second."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import observe_flows
import pytest
from observe_support import ROOT

from wdk import WorkflowFailed
from wdk.api import start
from wdk.runtime.engine import get_runtime, shutdown_runtime
from wdk.runtime.leases import LeaseKeeper
from wdk.runtime.logs import JsonFormatter, RepeatFilter
from wdk.worlds.base import Lease


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(JsonFormatter())
        self.lines: list[dict[str, object]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


@pytest.fixture
def lines() -> Iterator[Lines]:
    handler = Lines()
    logger = logging.getLogger("wdk")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


async def test_a_retry_and_a_failed_run_are_one_json_line_each_with_their_ids(lines: Lines) -> None:
    await get_runtime()
    try:
        good = await start(observe_flows.checkout, "l-1")
        bad = await start(observe_flows.refund, "l-2")
        await good.result(timeout=10)
        with pytest.raises(WorkflowFailed):
            await bad.result(timeout=10)
    finally:
        await shutdown_runtime()
    retries = [line for line in lines.lines if line.get("event") == "step_retry"]
    assert len(retries) == 1
    (retry,) = retries
    assert retry["run_id"] == good.id and retry["step_id"] == "step//observe_flows//charge"
    assert retry["attempt"] == 1 and retry["error_type"] == "wdk.errors.RetryableError"
    assert retry["level"] == "INFO" and "payment gateway timeout" in str(retry["message"])
    (failed,) = [line for line in lines.lines if line.get("event") == "run_failed"]
    assert failed["run_id"] == bad.id and failed["workflow_id"] == "workflow//observe_flows//refund"
    assert failed["level"] == "WARNING" and "card declined for l-2" in str(failed["message"])
    assert set(failed) >= {"time", "level", "logger", "message"}


def test_a_repeated_message_about_one_run_passes_once_per_interval() -> None:
    repeat = RepeatFilter(every=60.0)

    def record(run_id: str) -> logging.LogRecord:
        return logging.LogRecord("wdk", logging.ERROR, __file__, 1, "wdk: advancing run %s failed", (run_id,), None)

    passed = [repeat.filter(record("wrun_a")) for _ in range(5)]
    assert passed == [True, False, False, False, False]
    assert repeat.filter(record("wrun_b"))  # another run is another line
    repeat.every = 0.0  # the interval is over: the next one passes and says how many were held back
    again = record("wrun_a")
    assert repeat.filter(again)
    assert again.suppressed == 4  # type: ignore[attr-defined]
    assert "(and 4 more like it" in str(again.msg)
    info = logging.LogRecord("wdk", logging.INFO, __file__, 1, "step %s retrying", ("x",), None)
    assert all(RepeatFilter().filter(info) for _ in range(3))  # below WARNING: never held back


def test_wdk_worker_with_wdk_log_format_json_writes_json_lines(data_dir: Path, tmp_path: Path) -> None:
    """A run whose workflow cannot be loaded: one JSON line (load_error) on the
    worker's stderr, with the run id, and no traceback."""
    broken = tmp_path / "mods"
    broken.mkdir()
    (broken / "broken_flow.py").write_text('async def flow() -> None:\n    "use workflow"\n')
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(broken), str(ROOT)]), "WDK_LOG_FORMAT": "json"}
    env.pop("WDK_SERVER_URL", None)
    code = (
        "import asyncio, sys\n"
        "from wdk.api import configure, start\n"
        "from wdk.runtime.engine import shutdown_runtime\n"
        "import broken_flow\n"
        f"configure(data_dir={str(data_dir)!r}, worker=False)\n"
        "async def main():\n"
        "    run = await start(broken_flow.flow)\n"
        "    print(run.id)\n"
        "    await shutdown_runtime()\n"
        "asyncio.run(main())\n"
    )
    run_id = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60, check=True
    ).stdout.strip()
    (broken / "broken_flow.py").write_text('async def flow() -> None:\n    "use workflow"\n    import os\n    raise\n(')
    worker = subprocess.Popen(
        [sys.executable, "-m", "wdk", "worker", "--data-dir", str(data_dir), "--path", str(broken)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert worker.stderr is not None
        line = json.loads(worker.stderr.readline())
    finally:
        worker.terminate()
        worker.communicate(timeout=20)
    assert line["event"] == "load_error" and line["run_id"] == run_id and line["level"] == "ERROR"
    assert "cannot load the workflow" in line["message"] and "traceback" not in line


async def test_a_lost_lease_is_one_line_with_the_run_and_the_worker(lines: Lines) -> None:
    """The lease thread finds a run's lease taken by another worker: one
    `lease_lost` line naming the run and this worker's lease owner."""
    class TakenRenewer:
        def extend(self, leases: list[Lease], lease_for: float) -> list[Lease]:
            return list(leases)  # every lease was taken

        def close(self) -> None:
            pass

    lost: asyncio.Future[Lease] = asyncio.get_running_loop().create_future()
    keeper = LeaseKeeper(TakenRenewer(), 0.03, asyncio.get_running_loop(), lost.set_result)
    lease = Lease("flow", "wrun_lost", b"", "host:1:abc@worker-7", 1, 1)
    try:
        keeper.hold(lease)
        assert await asyncio.wait_for(lost, 5) is lease
    finally:
        keeper.close()
    (line,) = [line for line in lines.lines if line.get("event") == "lease_lost"]
    assert line["run_id"] == "wrun_lost" and line["worker"] == "host:1:abc@worker-7"
    assert line["level"] == "WARNING"
