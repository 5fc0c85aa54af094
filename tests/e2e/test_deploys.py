"""Safe deploys with real worker processes, on both worlds (docs/deploys.md).

The workflow module is written to a folder of the test's own and rewritten
between worker processes, as a deploy would: three runs wait for approval,
the code changes under them, and they must end up blocked (never failed),
keep answering their webhooks, and finish once code that replays them runs.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from e2e_support import child_env, deploy, unique, until, workers

from wdk import WebhookRequest
from wdk.api import configure, get_run, resume_webhook, start
from wdk.runtime.engine import get_runtime
from wdk.worlds import RunInfo

HEADER = '''
import asyncio
from wdk import create_webhook, patched


async def get_quote(n: int) -> int:
    "use step"
    return n * 10


async def notify(n: int) -> str:
    "use step"
    return f"told {n}"
'''

ORIGINAL = HEADER + '''

async def approval(n: int) -> str:
    "use workflow"
    hook = create_webhook()
    quote, note = await asyncio.gather(get_quote(n), notify(n))
    request = await hook
    return f"{quote}/{note}/{request.json()['ok']}"
'''

# The deploy that broke runs in flight: the same calls, in another order.
SWAPPED = ORIGINAL.replace(
    "quote, note = await asyncio.gather(get_quote(n), notify(n))",
    "note, quote = await asyncio.gather(notify(n), get_quote(n))",
)

# The fix: new runs take the new order, runs from before take the old one.
PATCHED = ORIGINAL.replace(
    "    quote, note = await asyncio.gather(get_quote(n), notify(n))\n",
    '''    if patched("notify-first"):
        note, quote = await asyncio.gather(notify(n), get_quote(n))
    else:
        quote, note = await asyncio.gather(get_quote(n), notify(n))
''',
)

# A change that replays: a step's body, and a new step after where the runs wait.
UNRELATED = HEADER.replace("return n * 10", "return n * 10  # cached now") + '''

async def audit(n: int) -> str:
    "use step"
    return f"audited {n}"


async def approval(n: int) -> str:
    "use workflow"
    hook = create_webhook()
    quote, note = await asyncio.gather(get_quote(n), notify(n))
    request = await hook
    trail = await audit(n)
    return f"{quote}/{note}/{request.json()['ok']}/{trail}"
'''


@pytest.fixture
def flows_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "deployed"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    configure(worker=False)  # only the worker processes advance runs: they hold "the deployed code"
    return folder


async def _run(run_id: str) -> RunInfo:
    info = await (await get_runtime()).world.get_run(run_id)
    assert info is not None
    return info


async def _statuses(run_ids: list[str]) -> list[str]:
    return [(await _run(r)).status for r in run_ids]


async def _webhook_tokens(run_ids: list[str]) -> list[str]:
    world = (await get_runtime()).world
    tokens = []
    for run_id in run_ids:
        hooks = await world.list_hooks(run_id)
        tokens += [h.token for h in hooks if h.status == "active"]
    return tokens


async def _waiting_for_approval(run_ids: list[str]) -> bool:
    if len(await _webhook_tokens(run_ids)) != len(run_ids):
        return False
    for run_id in run_ids:
        if sum(e.type == "step_completed" for e in await get_run(run_id).events()) != 2:
            return False
    return True


async def _start_waiting(folder: Path, module: str, data_dir: Path, env: dict[str, str], logs: Path) -> list[str]:
    deploy(folder, module, ORIGINAL)
    with workers(data_dir, env, logs, extra=("--path", str(folder))):
        runs = [await start(f"workflow//{module}//approval", n) for n in (1, 2, 3)]
        ids = [r.id for r in runs]
        await until("three runs waiting for approval", lambda: _waiting_for_approval(ids))
    return ids


def _logs(tmp_path: Path, name: str) -> Path:
    folder = tmp_path / "logs" / name
    folder.mkdir(parents=True)
    return folder


async def test_a_swapped_gather_blocks_runs_then_a_patch_finishes_them(
    flows_dir: Path, data_dir: Path, subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    module = unique("approvals_patch")
    ids = await _start_waiting(flows_dir, module, data_dir, subprocess_env, _logs(tmp_path, "v1"))
    tokens = await _webhook_tokens(ids)

    deploy(flows_dir, module, SWAPPED)
    with workers(data_dir, subprocess_env, _logs(tmp_path, "v2"), extra=("--path", str(flows_dir))):
        await until("every run blocked", lambda: _blocked(ids))
        for run_id in ids:
            blocked = [e for e in await get_run(run_id).events() if e.type == "run_blocked"][-1]
            divergence = blocked.payload["divergence"]
            assert f"step//{module}//get_quote" in divergence["expected"]
            assert f"step//{module}//notify" in divergence["actual"]
            assert divergence["location"].startswith(str(flows_dir / f"{module}.py") + ":")
        # Blocked runs keep their webhooks: each answers 202 and keeps the payload.
        for token in tokens:
            reply = await resume_webhook(token, WebhookRequest.make("POST", body={"ok": token[-4:]}))
            assert reply.status == 202
        await until("payloads recorded", lambda: _received(ids))
        assert await _statuses(ids) == ["blocked"] * 3

    deploy(flows_dir, module, PATCHED)
    with workers(data_dir, subprocess_env, _logs(tmp_path, "v3"), extra=("--path", str(flows_dir))):
        results = [await get_run(r).result(timeout=30) for r in ids]
        assert results == [f"{n * 10}/told {n}/{t[-4:]}" for n, t in zip((1, 2, 3), tokens, strict=True)]
        for run_id in ids:
            types = [e.type for e in await get_run(run_id).events()]
            assert "run_unblocked" in types and "patch_recorded" not in types  # the old branch
        # A run started now takes the new branch, and says so in its log.
        fresh = await start(f"workflow//{module}//approval", 4)
        await until("the new run waits", lambda: _waiting_for_approval([fresh.id]))
        [token] = await _webhook_tokens([fresh.id])
        await resume_webhook(token, WebhookRequest.make("POST", body={"ok": "new"}))
        assert await fresh.result(timeout=30) == "40/told 4/new"
        events = await fresh.events()
        marker = next(e for e in events if e.type == "patch_recorded")
        assert marker.payload == {"name": "notify-first"}
        steps = [e.payload["step_id"].rsplit("//", 1)[1] for e in events if e.type == "step_created"]
        assert steps == ["notify", "get_quote"]
    for run_id in ids:
        assert all(e.type != "run_failed" for e in await get_run(run_id).events())


async def test_reverting_the_code_unblocks_the_runs(
    flows_dir: Path, data_dir: Path, subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    module = unique("approvals_revert")
    ids = await _start_waiting(flows_dir, module, data_dir, subprocess_env, _logs(tmp_path, "v1"))
    deploy(flows_dir, module, SWAPPED)
    with workers(data_dir, subprocess_env, _logs(tmp_path, "v2"), extra=("--path", str(flows_dir))):
        await until("every run blocked", lambda: _blocked(ids))
    deploy(flows_dir, module, ORIGINAL)
    with workers(data_dir, subprocess_env, _logs(tmp_path, "v3"), extra=("--path", str(flows_dir))):
        await until("every run unblocked", lambda: _unblocked(ids))
        for token in await _webhook_tokens(ids):
            await resume_webhook(token, WebhookRequest.make("POST", body={"ok": "yes"}))
        assert [await get_run(r).result(timeout=30) for r in ids] == [f"{n * 10}/told {n}/yes" for n in (1, 2, 3)]


async def test_a_running_worker_re_checks_blocked_runs_at_each_reconcile_pass(
    flows_dir: Path, data_dir: Path, subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    """No restart: the worker that blocked the runs sees the code change back
    on disk at its next reconciler pass, replays them and resumes them."""
    module = unique("approvals_pass")
    ids = await _start_waiting(flows_dir, module, data_dir, subprocess_env, _logs(tmp_path, "v1"))
    deploy(flows_dir, module, SWAPPED)
    env = child_env(subprocess_env, WDK_RECONCILE_SECONDS="0.3")
    with workers(data_dir, env, _logs(tmp_path, "v2"), extra=("--path", str(flows_dir))):
        await until("every run blocked", lambda: _blocked(ids))
        deploy(flows_dir, module, ORIGINAL)
        await until("every run unblocked", lambda: _unblocked(ids))
        for token in await _webhook_tokens(ids):
            await resume_webhook(token, WebhookRequest.make("POST", body={"ok": "yes"}))
        assert [await get_run(r).result(timeout=30) for r in ids] == [f"{n * 10}/told {n}/yes" for n in (1, 2, 3)]


async def test_an_unrelated_change_blocks_nothing(
    flows_dir: Path, data_dir: Path, subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    module = unique("approvals_unrelated")
    ids = await _start_waiting(flows_dir, module, data_dir, subprocess_env, _logs(tmp_path, "v1"))
    deploy(flows_dir, module, UNRELATED)
    with workers(data_dir, subprocess_env, _logs(tmp_path, "v2"), extra=("--path", str(flows_dir))):
        for token in await _webhook_tokens(ids):
            await resume_webhook(token, WebhookRequest.make("POST", body={"ok": "yes"}))
        results = [await get_run(r).result(timeout=30) for r in ids]
    assert results == [f"{n * 10}/told {n}/yes/audited {n}" for n in (1, 2, 3)]
    for run_id in ids:
        assert all(e.type != "run_blocked" for e in await get_run(run_id).events())


async def _blocked(run_ids: list[str]) -> bool:
    return await _statuses(run_ids) == ["blocked"] * len(run_ids)


async def _unblocked(run_ids: list[str]) -> bool:
    for run_id in run_ids:
        types = [e.type for e in await get_run(run_id).events()]
        if "run_unblocked" not in types or (await _run(run_id)).status != "running":
            return False
    return True


async def _received(run_ids: list[str]) -> bool:
    for run_id in run_ids:
        if not any(e.type == "hook_received" for e in await get_run(run_id).events()):
            return False
    return True
