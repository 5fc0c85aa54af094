"""`wdk schedules`: list with next fire times, pause and resume (local world)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from wdk.cli.main import main
from wdk.runtime import config
from wdk.worlds import create_world
from wdk.worlds.base import ScheduleState


@pytest.fixture(autouse=True)
def _fresh_config() -> Iterator[None]:
    config.reset()
    yield
    config.reset()


def _store(data_dir: Path) -> None:
    async def go() -> None:
        world = create_world("local", data_dir=data_dir)
        await world.open()
        try:
            spec = {"workflow_id": "workflow//app//report", "cron": "0 9 * * MON", "tz": "Europe/Paris",
                    "overlap": "skip", "catchup": None}
            await world.save_schedule(ScheduleState("weekly", spec, last_tick=1_780_000_000.0))
        finally:
            await world.close()

    asyncio.run(go())


def test_list_pause_resume(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data_dir = tmp_path / "wdk"
    _store(data_dir)
    assert main(["schedules", "--json", "--data-dir", str(data_dir)]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert (row["name"], row["paused"], row["cron"]) == ("weekly", False, "0 9 * * MON")
    assert row["next_fire"] is not None
    assert main(["schedules", "--data-dir", str(data_dir)]) == 0
    table = capsys.readouterr().out
    assert "weekly" in table and "Europe/Paris" in table and "active" in table

    assert main(["schedules", "pause", "weekly", "--json", "--data-dir", str(data_dir)]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert row["paused"] and row["next_fire"] is None
    assert main(["schedules", "resume", "weekly", "--json", "--data-dir", str(data_dir)]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert not row["paused"] and row["next_fire"] is not None

    assert main(["schedules", "pause", "nope", "--data-dir", str(data_dir)]) == 1
    assert "no schedule named 'nope'" in capsys.readouterr().err
    assert main(["schedules", "pause", "--data-dir", str(data_dir)]) == 1
