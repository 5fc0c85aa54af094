"""`wdk start`, `wdk inspect`, `wdk cancel`, `wdk replay`, in process through
`wdk.cli.main.main` (plus one subprocess run of `python -m wdk`)."""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from wdk.cli.main import main
from wdk.runtime import config, serde
from wdk.worlds import create_world

TESTS = Path(__file__).resolve().parent.parent
E2E = str(TESTS / "e2e")
HISTORIES = TESTS / "histories"


@pytest.fixture(autouse=True)
def _fresh_config() -> Iterator[None]:
    config.reset()
    yield
    config.reset()


@pytest.fixture
def wdk(tmp_path: Path, capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    """Run `wdk ARGS...` on a fresh data dir; returns (exit code, stdout, stderr)."""
    data_dir = str(tmp_path / "wdk")

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main([*args, "--data-dir", data_dir, "--path", E2E])
        out, err = capsys.readouterr()
        return code, out, err

    run.data_dir = data_dir  # type: ignore[attr-defined]
    return run


def _start(wdk, *args: str) -> str:  # type: ignore[no-untyped-def]
    code, out, err = wdk("start", *args)
    assert code == 0, err
    run_id = out.strip()
    assert run_id.startswith("wrun_")
    return run_id


@pytest.mark.parametrize("command", ["start", "inspect", "cancel", "replay"])
def test_every_command_has_help_with_an_example(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([command, "--help"]) == 0
    out = capsys.readouterr().out
    assert f"wdk {command}" in out and "examples:" in out


def test_inspect_views_have_help(capsys: pytest.CaptureFixture[str]) -> None:
    for view in ("runs", "run", "steps", "events", "hooks", "streams"):
        assert main(["inspect", view, "--help"]) == 0
        assert "--json" in capsys.readouterr().out


def test_start_wait_prints_the_result_as_json(wdk) -> None:  # type: ignore[no-untyped-def]
    code, out, err = wdk("start", "flows.basic:three_steps", "[4]", "--wait")
    assert code == 0, err
    assert json.loads(out) == 20
    assert err.startswith("started wrun_")


def test_start_wait_with_kwargs_and_a_single_argument(wdk) -> None:  # type: ignore[no-untyped-def]
    code, out, err = wdk("start", "flows.basic:three_steps", "--kwargs", '{"x": 1}', "--wait")
    assert (code, json.loads(out)) == (0, 14), err
    code, out, err = wdk("start", "flows.basic:parallel", "3", "--wait")
    assert (code, json.loads(out)) == (0, [0, 2, 4]), err


def test_start_wait_failed_run_exits_1_with_type_and_message(wdk) -> None:  # type: ignore[no-untyped-def]
    code, out, err = wdk("start", "flows.basic:fails_fatally", "--wait")
    assert code == 1 and out == ""
    assert "FatalError: card declined" in err.splitlines()[-1]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nosuch_module_xyz:f"], "cannot import 'nosuch_module_xyz'"),
        (["flows.basic:nope"], "has no 'nope'"),
        (["flows.basic"], "expected MODULE:FUNC"),
        (["flows.basic:three_steps", "[1,"], "ARGS_JSON is not valid JSON"),
        (["flows.basic:three_steps", "[1]", "--kwargs", "[]"], "--kwargs must be a JSON object"),
        (["flows.basic:add", "[1, 2]"], 'cannot start add: flows.basic:add is a step ("use step"), not a workflow'),
        (["flows.basic:double", "[1]"], "flows.basic:double is a step"),
        (["step//flows.basic//add", "[1, 2]"], "flows.basic:add is a step"),
        (["workflow//flows.basic//add", "[1, 2]"], "flows.basic:add is a step"),
    ],
)
def test_start_bad_input_is_one_clear_line(wdk, args: list[str], message: str) -> None:  # type: ignore[no-untyped-def]
    code, _, err = wdk("start", *args)
    assert code == 1
    assert message in err and err.count("\n") == 1, err


def test_start_without_wait_queues_then_cancel(wdk) -> None:  # type: ignore[no-untyped-def]
    run_id = _start(wdk, "flows.basic:three_steps", "[1]")
    code, out, _ = wdk("inspect", "runs", "--json")
    runs = json.loads(out)["runs"]
    assert [(r["id"], r["status"]) for r in runs] == [(run_id, "pending")]  # nothing ran it
    code, out, _ = wdk("inspect", "run", run_id)
    assert code == 0 and "pending" in out and "no steps yet" in out

    code, out, _ = wdk("cancel", run_id)
    assert (code, out.strip()) == (0, f"{run_id}: cancelled")
    code, out, _ = wdk("cancel", run_id)
    assert (code, out.strip()) == (0, f"{run_id}: already cancelled; nothing to cancel")
    code, out, _ = wdk("inspect", "runs", "--status", "cancelled")
    assert run_id in out and "cancelled" in out
    code, out, _ = wdk("replay", run_id)  # a cancel before the first step still replays
    assert code == 0 and "replays cleanly" in out


def test_start_with_arguments_that_do_not_fit_says_so_and_writes_nothing(wdk) -> None:  # type: ignore[no-untyped-def]
    # It used to queue a run that stayed pending, a traceback a second in the worker.
    code, out, err = wdk("start", "flows.arguments:process_order", '"o3"')
    assert (code, out) == (1, "")
    assert err == (
        "wdk: error: cannot start process_order(order_id, qty, *, express=False): "
        "missing a required argument: 'qty'\n"
    )
    code, out, err = wdk("start", "flows.arguments:process_order", '["o3", 1]', "--kwargs", '{"rush": 1}')
    assert code == 1 and "got an unexpected keyword argument 'rush'" in err
    code, out, _ = wdk("inspect", "runs", "--json")
    assert json.loads(out)["runs"] == []


def test_inspect_run_shows_a_cancelled_runs_sleep_as_cancelled(wdk) -> None:  # type: ignore[no-untyped-def]
    from wdk.runtime.engine import get_runtime, shutdown_runtime

    run_id = _start(wdk, "flows.basic:sleeps_long")

    async def advance_until_it_sleeps() -> None:
        config.configure(world="local", data_dir=wdk.data_dir)
        rt = await get_runtime()
        try:
            for _ in range(500):
                if await rt.world.list_waits(run_id):
                    return
                await asyncio.sleep(0.02)
            raise AssertionError("the run never slept")
        finally:
            await shutdown_runtime()

    asyncio.run(advance_until_it_sleeps())
    assert wdk("cancel", run_id)[:2] == (0, f"{run_id}: cancelled\n")
    _, out, _ = wdk("inspect", "run", run_id)
    [sleep_line] = [line for line in out.splitlines() if "sleep until" in line]
    assert "cancelled" in sleep_line and "waiting" not in sleep_line
    _, out, _ = wdk("inspect", "run", run_id, "--json")
    assert [w["status"] for w in json.loads(out)["waits"]] == ["cancelled"]


def test_start_with_idempotency_key_returns_the_same_run(wdk) -> None:  # type: ignore[no-untyped-def]
    first = _start(wdk, "flows.basic:three_steps", "[1]", "--idempotency-key", "k1")
    assert _start(wdk, "flows.basic:three_steps", "[1]", "--idempotency-key", "k1") == first
    assert _start(wdk, "flows.basic:three_steps", "[1]", "--idempotency-key", "k2") != first


def _completed_run(wdk) -> str:  # type: ignore[no-untyped-def]
    code, _, err = wdk("start", "flows.basic:three_steps", "[4]", "--wait")
    assert code == 0, err
    return _run_id(err)


def _run_id(stderr: str) -> str:
    """The id from `started wrun_...`, the first line `start --wait` writes to stderr."""
    return stderr.split()[1]


def test_inspect_runs_table_and_filters(wdk) -> None:  # type: ignore[no-untyped-def]
    done = _completed_run(wdk)
    queued = _start(wdk, "flows.basic:parallel", "[2]")
    code, out, _ = wdk("inspect", "runs")
    assert code == 0
    for text in (
        done,
        queued,
        "flows.basic:three_steps",
        "flows.basic:parallel",
        "completed",
        "pending",
    ):
        assert text in out
    assert out.index(queued) < out.index(done)  # newest first
    _, out, _ = wdk("inspect", "runs", "--workflow", "flows.basic:parallel")
    assert queued in out and done not in out
    _, out, _ = wdk("inspect", "runs", "--status", "completed", "--json")
    assert [r["id"] for r in json.loads(out)["runs"]] == [done]
    _, out, _ = wdk("inspect", "runs", "--limit", "1", "--json")
    page = json.loads(out)
    assert len(page["runs"]) == 1 and page["next_cursor"]
    _, out, _ = wdk("inspect", "runs", "--limit", "1", "--cursor", page["next_cursor"], "--json")
    assert [r["id"] for r in json.loads(out)["runs"]] == [done]
    _, out, _ = wdk("inspect", "runs", "--status", "failed")
    assert "no runs match" in out


def test_inspect_run_tree_steps_and_events(wdk) -> None:  # type: ignore[no-untyped-def]
    run_id = _completed_run(wdk)
    code, out, _ = wdk("inspect", "run", run_id)
    assert code == 0
    lines = out.splitlines()
    assert run_id in lines[0] and "completed" in lines[0]
    steps = [line for line in lines if "step " in line]
    assert [s.split("step ")[1].split()[0] for s in steps] == ["add", "double", "add"]
    assert all("1 attempt" in s for s in steps)
    assert "result 20" in out

    _, out, _ = wdk("inspect", "run", run_id, "--json")
    data = json.loads(out)
    assert data["run"]["output"] == 20 and len(data["steps"]) == 3 and data["waits"] == []

    _, out, _ = wdk("inspect", "steps", run_id, "--json")
    assert [s["status"] for s in json.loads(out)] == ["completed"] * 3
    _, out, _ = wdk("inspect", "steps", run_id)
    assert "3 steps" in out and "double" in out

    _, out, _ = wdk("inspect", "events", run_id, "--json")
    types = [e["type"] for e in json.loads(out)]
    assert types[0] == "run_created" and types[-1] == "run_completed"
    _, out, _ = wdk("inspect", "events", run_id)
    assert f"{len(types)} events" in out and "step_completed" in out


def test_inspect_run_shows_retries_waits_and_errors(wdk) -> None:  # type: ignore[no-untyped-def]
    code, _, err = wdk("start", "flows.basic:sleeper", "0.01", "--wait")
    assert code == 0, err
    _, out, _ = wdk("inspect", "run", _run_id(err))
    assert "sleep until" in out and "completed" in out
    code, _, err = wdk("start", "flows.basic:retrying", "1", "--wait")
    assert code == 0, err
    _, out, _ = wdk("inspect", "run", _run_id(err))
    assert "2 attempts" in out
    code, _, err = wdk("start", "flows.basic:fails_fatally", "--wait")
    _, out, _ = wdk("inspect", "run", _run_id(err))
    assert "failed" in out and "FatalError: card declined" in out


def test_inspect_hooks_and_streams(wdk) -> None:  # type: ignore[no-untyped-def]
    run_id = _start(wdk, "flows.basic:three_steps", "[1]")

    async def write() -> None:
        world = create_world("local", data_dir=wdk.data_dir)
        await world.open()
        run = await world.get_run(run_id)
        assert run is not None
        from wdk.worlds.base import NewEvent

        await world.append(
            run_id, run.last_seq, [NewEvent("hook_created", 1.0, "hook_1_x", {"token": "tok_1"})]
        )
        await world.stream_append(
            run_id, "progress", [serde.dumps({"done": 1}), serde.dumps("half")]
        )
        await world.stream_close(run_id, "progress")
        await world.close()

    asyncio.run(write())
    code, out, _ = wdk("inspect", "hooks")
    assert code == 0 and "tok_1" in out and run_id in out and "1 live hooks" in out
    _, out, _ = wdk("inspect", "hooks", run_id, "--json")
    assert [h["token"] for h in json.loads(out)] == ["tok_1"]
    _, out, _ = wdk("inspect", "run", run_id)
    assert "hook tok_1" in out
    _, out, _ = wdk("inspect", "streams", run_id, "--namespace", "progress")
    assert '{"done":1}' in out and '"half"' in out and "(closed)" in out
    _, out, _ = wdk("inspect", "streams", run_id, "--namespace", "progress", "--json")
    assert json.loads(out) == {
        "namespace": "progress",
        "closed": True,
        "chunks": [{"index": 0, "value": {"done": 1}}, {"index": 1, "value": "half"}],
    }
    assert asyncio.run(_append_default(wdk.data_dir, run_id)) == 1  # one chunk in "default"
    code, out, _ = wdk("inspect", "streams", run_id)  # no --namespace: the run's streams
    assert code == 0
    rows = [line.split() for line in out.splitlines()]
    assert ["default", "1", "open"] in rows and ["progress", "2", "closed"] in rows
    assert "2 streams" in out
    _, out, _ = wdk("inspect", "streams", run_id, "--json")
    assert json.loads(out) == {
        "streams": [
            {"namespace": "default", "length": 1, "closed": False},
            {"namespace": "progress", "length": 2, "closed": True},
        ]
    }
    code, out, err = wdk("inspect", "streams", run_id, "--namespace", "nosuch")
    assert (code, out) == (1, "")
    assert err == (
        f"wdk: error: run {run_id} has no stream namespace 'nosuch' "
        "(its streams: 'default', 'progress')\n"
    )


async def _append_default(data_dir: str, run_id: str) -> int:
    world = create_world("local", data_dir=data_dir)
    await world.open()
    try:
        return await world.stream_append(run_id, "default", [serde.dumps("hello")])
    finally:
        await world.close()


def test_inspect_streams_of_a_run_without_any(wdk) -> None:  # type: ignore[no-untyped-def]
    run_id = _start(wdk, "flows.basic:three_steps", "[1]")
    code, out, _ = wdk("inspect", "streams", run_id)
    assert code == 0 and "0 streams" in out
    code, _, err = wdk("inspect", "streams", run_id, "--namespace", "default")
    assert code == 1 and "has no stream namespace 'default' (its streams: none)" in err


@pytest.mark.parametrize(
    "args",
    [
        ["inspect", "run", "wrun_nope"],
        ["inspect", "steps", "wrun_nope"],
        ["inspect", "events", "wrun_nope"],
        ["inspect", "hooks", "wrun_nope"],
        ["inspect", "streams", "wrun_nope"],
        ["cancel", "wrun_nope"],
        ["replay", "wrun_nope"],
    ],
)
def test_unknown_run_id_is_one_clear_line(wdk, args: list[str]) -> None:  # type: ignore[no-untyped-def]
    code, out, err = wdk(*args)
    assert code == 1 and out == ""
    assert err.startswith("wdk: error: no run with id 'wrun_nope'") and err.count("\n") == 1


def test_replay_run_from_the_world_and_save(wdk, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run_id = _completed_run(wdk)
    saved = tmp_path / "h.json"
    code, out, _ = wdk("replay", run_id, "--save", str(saved))
    assert code == 0 and "replays cleanly" in out and "recorded result" in out
    code, out, _ = wdk("replay", "--history", str(saved), "--json")
    report = json.loads(out)
    assert code == 0 and report["ok"] and report["run_id"] == run_id and report["result_matches"]


def test_replay_divergent_history_exits_1(wdk) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = wdk("replay", "--history", str(HISTORIES / "divergent_step_renamed.json"))
    assert code == 1
    assert "DIVERGES at event 2" in out
    assert "history has: step step//flows.replayable//fetch_cost" in out
    assert "code called: step step//flows.replayable//fetch_price" in out
    assert "replayable.py:" in out
    code, out, _ = wdk(
        "replay", "--history", str(HISTORIES / "divergent_step_renamed.json"), "--json"
    )
    assert code == 1 and json.loads(out)["error"]["location"].split(":")[-1].isdigit()


def test_replay_divergence_inside_gather_names_the_workflows_line(wdk, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The diverging step runs in a task made by asyncio.gather: the error names
    the workflow's gather line, not asyncio/events.py."""
    history = json.loads((HISTORIES / "fan_out_parallel.json").read_text())
    history["events"][2]["payload"]["step_id"] = "step//flows.replayable//fetch_cost"
    path = tmp_path / "renamed.json"
    path.write_text(json.dumps(history))
    flows = TESTS / "e2e" / "flows" / "replayable.py"
    line = next(
        n for n, text in enumerate(flows.read_text().splitlines(), 1) if "asyncio.gather(" in text
    )
    code, out, _ = wdk("replay", "--history", str(path), "--json")
    assert code == 1
    assert json.loads(out)["error"]["location"] == f"{flows}:{line}"
    code, out, _ = wdk("replay", "--history", str(path))
    assert code == 1 and f"at {flows}:{line}" in out


def test_replay_argument_errors(wdk, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    code, _, err = wdk("replay")
    assert code == 1 and "give a run id or --history" in err
    code, _, err = wdk("replay", "--history", str(tmp_path / "missing.json"))
    assert code == 1 and "missing.json" in err


def test_python_m_wdk_start_wait_in_a_fresh_process(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": E2E, "WDK_DATA_DIR": str(tmp_path / "wdk")}
    done = subprocess.run(
        [sys.executable, "-m", "wdk", "start", "flows.basic:three_steps", "[2]", "--wait"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == 16


@pytest.mark.parametrize(
    "view",
    [
        ["inspect", "runs", "--json"],
        ["inspect", "run", "RUN", "--json"],
        ["inspect", "events", "RUN", "--json"],
        ["inspect", "streams", "RUN", "--json"],
        ["start", "flows.basic:three_steps", "[1]"],
        ["cancel", "RUN"],
        ["replay", "RUN", "--json"],
        ["inspect", "runs"],  # rich tables: rich stops quietly with status 1 itself
        ["inspect", "--help"],  # argparse ignores the error: status 0
    ],
)
def test_a_reader_that_went_away_ends_the_command_quietly(wdk, tmp_path: Path, view: list[str]) -> None:  # type: ignore[no-untyped-def]
    """stdout is a pipe whose reader has already closed it: the first write
    fails (EPIPE) whatever the output's size, in every command."""
    run_id = _start(wdk, "flows.basic:three_steps", "[1]")
    argv = [sys.executable, "-m", "wdk", *[run_id if a == "RUN" else a for a in view]]
    if "--help" not in view:
        argv += ["--data-dir", wdk.data_dir, "--path", E2E]
    cwd = tmp_path / "elsewhere"  # not tmp_path: its `wdk` data dir would shadow the package
    cwd.mkdir()
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run(argv, stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=60, cwd=cwd)
    finally:
        os.close(write_end)
    assert done.stderr == ""
    expected = {"runs": 1, "--help": 0}.get(view[-1], 141)
    assert done.returncode == expected


def test_head_of_a_long_listing_exits_quietly(wdk, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """`wdk inspect events RUN --json | head -c 10`: a 1 MB argument is far more
    than a pipe holds, so the pipe closes long before the output ends."""
    run_id = _start(wdk, "flows.basic:three_steps", json.dumps(["x" * 1_000_000]))
    argv = [sys.executable, "-m", "wdk", "inspect", "events", run_id, "--json", "--data-dir", wdk.data_dir]
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    done = subprocess.run(
        f"{shlex.join(argv)} | head -c 10", shell=True, capture_output=True, text=True, timeout=60, cwd=cwd
    )
    assert len(done.stdout) == 10
    assert done.stderr == ""
