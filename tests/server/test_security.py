"""Issue 15: security and privacy, over real HTTP against `wdk serve`'s app and `wdk web`'s.

One test per numbered item of the issue (1-6; 7 is tests/e2e/test_encryption.py
plus the HTTP and CLI views here). The hostile requests of each test are
refused without a 500 and leave the event log as it was.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import random
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import security_flows
from support import AUTH, SECRET, TOKEN, WELL_KNOWN

from wdk.api import get_run, start
from wdk.runtime import config
from wdk.runtime.engine import get_runtime
from wdk.server.app import Server, start_server
from wdk.server.signing import HEADER, sign
from wdk.web import create_app as create_web_app


async def _call(method: str, url: str, *, headers: dict[str, str] | None = None, cookies: Any = None,
                **kw: Any) -> tuple[int, Any]:
    async with aiohttp.ClientSession(cookie_jar=cookies) as http, http.request(
        method, url, headers=headers or {}, **kw
    ) as resp:
        raw = await resp.read()
        try:
            return resp.status, json.loads(raw)
        except ValueError:
            return resp.status, raw


async def _log(run_id: str) -> list[Any]:
    return [(e.seq, e.type, e.payload) for e in await (await get_runtime()).world.read_events(run_id)]


async def _hook_token(run_id: str) -> str:
    rt = await get_runtime()
    deadline = time.monotonic() + 10
    while not (hooks := await rt.world.list_hooks(run_id)):
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)
    return hooks[0].token


@pytest.fixture
async def web(server: Server) -> AsyncIterator[Server]:
    """`wdk web`'s app, on the same loop and world as `server`."""
    srv = await start_server("127.0.0.1", 0, app=create_web_app(api_token=TOKEN))
    try:
        yield srv
    finally:
        await srv.close()


# --- 1. the JSON API and the UI need a credential ---------------------------------------------


async def test_1_every_api_and_ui_request_needs_the_token(server: Server, web: Server) -> None:
    run = await start(security_flows.one_webhook)
    token = await _hook_token(run.id)
    before = await _log(run.id)
    api = server.url + "/api"
    refused = [
        ("GET", f"{api}/runs", None), ("GET", f"{api}/runs/{run.id}", None),
        ("GET", f"{api}/runs/{run.id}/events", None), ("POST", f"{api}/runs/{run.id}/cancel", None),
        ("POST", f"{api}/runs", {"workflow": "server_flows:adder", "args": [1, 2]}),
        ("POST", f"{api}/hooks/{token}", {"payload": 1}), ("GET", f"{api}/hooks/{token}", None),
        ("GET", f"{server.url}{WELL_KNOWN}/runs/{run.id}/stream", None),
        ("GET", f"{web.url}/api/runs", None), ("GET", f"{web.url}/api/runs/{run.id}/detail", None),
        ("POST", f"{web.url}/api/runs/{run.id}/cancel", None), ("GET", f"{web.url}/static/app.js", None),
    ]
    for wrong in ({}, {"authorization": "Bearer nope"}, {"authorization": TOKEN}, {"authorization": "Basic x"}):
        for method, url, body in refused:
            status, out = await _call(method, url, headers=wrong, json=body)
            assert status == 401, (method, url, wrong, status, out)
    status, page = await _call("GET", web.url + "/")
    assert status == 401 and b"login URL" in page
    assert await _log(run.id) == before  # nothing was started, cancelled or resumed
    # Health needs no token; the webhook URL is its own credential.
    assert (await _call("GET", f"{server.url}{WELL_KNOWN}/health"))[0] == 200
    assert (await _call("POST", f"{server.url}{WELL_KNOWN}/webhook/{token}", data=b"hi"))[0] == 202
    assert await get_run(run.id).result(timeout=10) == "hi"
    # With the token: the API answers.
    assert (await _call("GET", f"{api}/runs/{run.id}", headers=AUTH))[1]["status"] == "completed"


async def test_1_every_route_but_the_public_ones_needs_the_token(server: Server, web: Server) -> None:
    """Read from the apps' route tables: a route added later is covered too."""
    import re

    from wdk.server.auth import PUBLIC_PATHS, SIGNED_PATHS

    checked = 0
    for srv in (server, web):
        for route in srv.runner.app.router.routes():
            path = route.resource.canonical if route.resource else ""
            if route.method == "*" or route.method == "HEAD" or path.startswith(f"{WELL_KNOWN}/webhook/") \
                    or path in PUBLIC_PATHS or path in SIGNED_PATHS or "{tail" in path:
                continue
            url = srv.url + re.sub(r"\{[^}]+\}", "x", path)
            status, out = await _call(route.method, url, json={} if route.method == "POST" else None)
            assert status == 401, (route.method, path, status, out)
            checked += 1
    assert checked >= 20, checked


async def test_1_the_ui_logs_in_with_the_token_and_then_uses_a_session(web: Server) -> None:
    jar = aiohttp.CookieJar(unsafe=True)
    assert (await _call("GET", f"{web.url}/?token=wrong", cookies=jar))[0] == 401
    async with aiohttp.ClientSession(cookie_jar=jar) as http:
        async with http.get(f"{web.url}/?token={TOKEN}", allow_redirects=False) as resp:
            assert resp.status == 303 and resp.headers["location"] == "/"  # the token leaves the URL
            cookie = resp.cookies["wdk_session"]
            assert cookie["httponly"] and cookie["samesite"] == "Strict"
        async with http.get(f"{web.url}/api/runs") as resp:
            assert resp.status == 200
    # A forged cookie is no session.
    forged = aiohttp.CookieJar(unsafe=True)
    forged.update_cookies({"wdk_session": "0" * 32 + "." + "0" * 64})
    assert (await _call("GET", f"{web.url}/api/runs", cookies=forged))[0] == 401


async def test_1_guessing_the_api_token_is_limited(server: Server) -> None:
    wrong = {"authorization": "Bearer guess"}
    statuses = [(await _call("GET", f"{server.url}/api/runs", headers=wrong))[0] for _ in range(101)]
    assert statuses == [401] * 100 + [429]
    status, out = await _call("GET", f"{server.url}/api/runs", headers=AUTH)
    assert (status, out["type"]) == (429, "TooManyRequests")  # the right token too: no oracle
    assert (await _call("GET", f"{server.url}{WELL_KNOWN}/health"))[0] == 200


# --- 2. no cross-site requests -------------------------------------------------------------------


async def test_2_cross_site_requests_are_refused(server: Server, web: Server) -> None:
    run = await start(security_flows.one_webhook)
    await _hook_token(run.id)
    before = await _log(run.id)
    start_body = json.dumps({"workflow": "server_flows:adder", "args": [1, 2]})
    cancel = f"{server.url}/api/runs/{run.id}/cancel"
    for headers, status in (
        ({"origin": "https://evil.example"}, 403),
        ({"origin": "null"}, 403),
        ({"sec-fetch-site": "cross-site"}, 403),
        ({"host": "evil.example"}, 403),  # DNS rebinding: a loopback server answers loopback names only
        ({"host": "evil.example:3000", "origin": "http://evil.example:3000"}, 403),
        ({"content-type": "text/plain"}, 415),  # what a page may POST cross-site without asking
        ({"content-type": "application/x-www-form-urlencoded"}, 415),
    ):
        got = await _call("POST", f"{server.url}/api/runs", headers={**AUTH, **headers}, data=start_body)
        assert got[0] == status, (headers, got)
        if "content-type" not in headers:
            assert (await _call("POST", cancel, headers={**AUTH, **headers}))[0] == status, headers
    assert await _log(run.id) == before
    assert (await (await get_runtime()).world.list_runs()).items == [await (await get_runtime()).world.get_run(run.id)]

    # The UI's Cancel: a session cookie alone is not enough, its CSRF token is needed.
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as http:
        async with http.get(f"{web.url}/?token={TOKEN}") as resp:
            page = await resp.text()
        csrf = page.split('name="wdk-csrf" content="')[1].split('"')[0]
        assert len(csrf) == 64
        ui_cancel = f"{web.url}/api/runs/{run.id}/cancel"
        json_type = {"content-type": "application/json"}
        for headers in ({}, json_type, {**json_type, "x-wdk-csrf": "0" * 64},
                        {**json_type, "x-wdk-csrf": csrf, "origin": "https://evil.example"}):
            async with http.post(ui_cancel, headers=headers, data=b"{}") as resp:
                assert resp.status == 403, headers
        assert await _log(run.id) == before
        async with http.post(ui_cancel, headers={"x-wdk-csrf": csrf, "content-type": "text/plain"}) as resp:
            assert resp.status == 415
        same_origin = {**json_type, "x-wdk-csrf": csrf, "origin": web.url}
        async with http.post(ui_cancel, headers=same_origin, data=b"{}") as resp:
            assert (resp.status, (await resp.json())["status"]) == (200, "cancelled")


# --- 3. no request imports a module --------------------------------------------------------------


async def test_3_no_request_imports_a_module(server: Server, tmp_path: Path) -> None:
    (tmp_path / "planted_mod.py").write_text(f"open({str(tmp_path / 'ran')!r}, 'w').close()\nclass X: pass\n")
    sys.path.insert(0, str(tmp_path))
    try:
        for tagged in (
            {"$wdk": "dataclass", "cls": "planted_mod", "v": {}},  # no ':' (the probe)
            {"$wdk": "dataclass", "cls": "planted_mod:X", "v": {}},
            {"$wdk": "struct", "cls": "planted_mod", "v": {}},
            {"$wdk": "enum", "cls": "planted_mod:X", "v": 1},
            {"$wdk": "namedtuple", "cls": "planted_mod:X", "v": []},
            {"$wdk": "custom", "cls": "planted_mod:X", "v": 1},
            {"$wdk": "exception", "v": {"type": "planted_mod.X", "message": "m", "args": []}},
        ):
            body = {"workflow": "server_flows:adder", "args": [tagged, 1]}
            status, out = await _call("POST", f"{server.url}/api/runs", headers=AUTH, json=body)
            assert status in (400, 201), (tagged, status, out)  # an exception decodes as a StepError
            status, _ = await _call("POST", f"{server.url}/api/hooks/nope", headers=AUTH,
                                    json={"payload": tagged})
            assert status in (400, 404)
        assert "planted_mod" not in sys.modules
        assert not (tmp_path / "ran").exists()  # its top-level code never ran
    finally:
        sys.path.remove(str(tmp_path))


# --- 4. secrets are not served -----------------------------------------------------------------


async def test_4_seeds_and_webhook_tokens_are_not_served(server: Server, web: Server) -> None:
    run = await start(security_flows.one_webhook)
    token = await _hook_token(run.id)
    assert token.startswith("wdkh_")
    seed = (await (await get_runtime()).world.read_events(run.id))[0].payload["seed"]
    for url in (f"{server.url}/api/runs/{run.id}/events", f"{web.url}/api/runs/{run.id}/events",
                f"{web.url}/api/runs/{run.id}/detail", f"{server.url}/api/runs/{run.id}",
                f"{server.url}/api/runs"):
        status, out = await _call("GET", url, headers=AUTH)
        text = json.dumps(out)
        assert status == 200 and token not in text and seed not in text, url
    events = (await _call("GET", f"{server.url}/api/runs/{run.id}/events", headers=AUTH))[1]["events"]
    assert events[0]["payload"]["seed"] == "[redacted]"
    assert [e["payload"]["token"] for e in events if e["type"] == "hook_created"] == ["[redacted]"]


async def test_4_the_event_log_does_not_reveal_the_random_stream(server: Server) -> None:
    status, out = await _call("POST", f"{server.url}/api/runs", headers=AUTH,
                              json={"workflow": "security_flows:lucky"})
    assert status == 201
    run_id = out["run_id"]
    result = (await _call("GET", f"{server.url}/api/runs/{run_id}?wait=10", headers=AUTH))[1]["output"]
    # An attacker holding the whole log (the seed included) recomputes the
    # stream as wdk used to seed it: it is not the run's any more.
    seed = (await (await get_runtime()).world.read_events(run_id))[0].payload["seed"]
    guess = random.Random(int.from_bytes(hashlib.blake2b(seed.encode(), digest_size=8).digest(), "big"))
    assert result["bits"] != guess.getrandbits(64)
    # Replay is still deterministic: the same code replays the run without divergence.
    from wdk.runtime.replay import replay_events

    rt = await get_runtime()
    report = replay_events(await rt.world.read_events(run_id), store_secret=await rt.world.store_secret())
    assert report.ok and report.result_matches


def test_4_inspect_redacts_unless_asked(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from wdk.cli.main import main
    from wdk.runtime.engine import shutdown_runtime

    async def made() -> tuple[str, str]:
        run = await start(security_flows.one_webhook)
        token = await _hook_token(run.id)
        await shutdown_runtime()
        return run.id, token

    run_id, token = asyncio.run(made())
    for view in (["events", run_id, "--json"], ["hooks", run_id, "--json"], ["run", run_id, "--json"]):
        assert main(["inspect", *view, "--data-dir", str(data_dir)]) == 0
        out = capsys.readouterr().out
        assert token not in out and "[redacted]" in out, view
        assert main(["inspect", *view, "--data-dir", str(data_dir), "--show-secrets"]) == 0
        assert token in capsys.readouterr().out


# --- 5. signatures cannot be replayed ------------------------------------------------------------


async def test_5_a_signed_request_is_accepted_once(server: Server) -> None:
    run = await start(security_flows.one_webhook)
    await _hook_token(run.id)
    flow = f"{server.url}{WELL_KNOWN}/flow"
    body = json.dumps({"run_id": run.id}).encode()
    signed = {HEADER: sign(body, SECRET)}
    assert (await _call("POST", flow, headers=signed, data=body))[0] == 202
    status, out = await _call("POST", flow, headers=signed, data=body)
    assert status == 401 and "replayed" in out["error"]
    stale = {HEADER: sign(body, SECRET, timestamp=time.time() - 600)}
    status, out = await _call("POST", flow, headers=stale, data=body)
    assert status == 401 and "stale" in out["error"]
    old_style = {HEADER: "sha256=" + __import__("hmac").new(SECRET.encode(), body, "sha256").hexdigest()}
    assert (await _call("POST", flow, headers=old_style, data=body))[0] == 401
    # Same nonce, other body: the MAC covers both.
    other = json.dumps({"run_id": "wrun_other"}).encode()
    t, n = signed[HEADER].split(",")[:2]
    assert (await _call("POST", flow, headers={HEADER: f"{t},{n},sha256=00"}, data=other))[0] == 401


# --- 6. limits -----------------------------------------------------------------------------------


async def test_6_deeply_nested_json_is_a_400(server: Server) -> None:
    deep = b"[" * 1000 + b"]" * 1000
    deep_object = b'{"a":' * 1000 + b"1" + b"}" * 1000
    run = await start(security_flows.one_webhook)
    await _hook_token(run.id)
    before = await _log(run.id)
    json_type = {"content-type": "application/json"}
    for url, body in (
        (f"{server.url}/api/runs", b'{"workflow": "server_flows:adder", "args": ' + deep + b"}"),
        (f"{server.url}/api/runs", deep_object),
        (f"{server.url}/api/hooks/nope", b'{"payload": ' + deep + b"}"),
    ):
        status, out = await _call("POST", url, headers={**AUTH, **json_type}, data=body)
        assert status == 400 and out["error"], (url, status, out)
    for path in ("/flow", "/step"):
        status, out = await _call("POST", server.url + WELL_KNOWN + path, data=deep_object,
                                  headers={HEADER: sign(deep_object, SECRET)})
        assert status == 400, (path, status, out)
    assert await _log(run.id) == before


async def test_6_payload_limit_names_the_limit(monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> None:
    monkeypatch.setenv("WDK_API_TOKEN", TOKEN)
    config.configure(max_payload_bytes=4096)
    srv = await start_server("127.0.0.1", 0, secret=SECRET, api_token=TOKEN)
    try:
        body = {"workflow": "security_flows:echo", "args": ["x" * 5000]}
        status, out = await _call("POST", f"{srv.url}/api/runs", headers=AUTH, json=body)
        assert status == 400
        assert "over the payload limit of 4096 bytes (WDK_MAX_PAYLOAD_BYTES)" in out["error"], out
        assert (await (await get_runtime()).world.list_runs()).items == []  # nothing written
        # A step's result over the limit fails the step with the same message.
        status, out = await _call("POST", f"{srv.url}/api/runs", headers=AUTH,
                                  json={"workflow": "security_flows:big_result", "args": [5000]})
        assert status == 201
        run = (await _call("GET", f"{srv.url}/api/runs/{out['run_id']}?wait=10", headers=AUTH))[1]
        assert run["status"] == "failed" and "WDK_MAX_PAYLOAD_BYTES" in json.dumps(run["error"]), run
        # So does a stream chunk over the limit...
        status, out = await _call("POST", f"{srv.url}/api/runs", headers=AUTH,
                                  json={"workflow": "security_flows:big_chunk", "args": [5000]})
        run = (await _call("GET", f"{srv.url}/api/runs/{out['run_id']}?wait=10", headers=AUTH))[1]
        assert run["status"] == "failed" and "chunk is 5002 bytes" in json.dumps(run["error"]), run
        # ... and a hook payload is refused, the hook still waiting.
        status, out = await _call("POST", f"{srv.url}/api/runs", headers=AUTH,
                                  json={"workflow": "security_flows:plain_hook", "args": ["limit-hook"]})
        hook_run = out["run_id"]
        await _hook_token(hook_run)
        status, out = await _call("POST", f"{srv.url}/api/hooks/limit-hook", headers=AUTH, json={"payload": "x" * 5000})
        assert status == 400 and "payload limit of 4096 bytes (WDK_MAX_PAYLOAD_BYTES)" in out["error"], out
        assert (await _call("GET", f"{srv.url}/api/hooks/limit-hook", headers=AUTH))[1]["open"] is True
    finally:
        await srv.close()


async def test_6_a_payload_is_stored_once(server: Server, data_dir: Path) -> None:
    size = 8 << 20
    value = "x" * size
    body = json.dumps({"workflow": "security_flows:through_a_step", "args": [value]}).encode()
    status, out = await _call("POST", f"{server.url}/api/runs", data=io.BytesIO(body),
                              headers={**AUTH, "content-type": "application/json"})
    assert status == 201
    run = (await _call("GET", f"{server.url}/api/runs/{out['run_id']}?wait=20", headers=AUTH))[1]
    assert run["output"] == value
    events = await (await get_runtime()).world.read_events(out["run_id"])
    assert [e.payload["result"] for e in events if e.type == "step_completed"] == [value]
    await server.close()
    from wdk.runtime.engine import shutdown_runtime

    await shutdown_runtime()  # checkpoints the WAL into the file
    on_disk = sum(p.stat().st_size for p in data_dir.glob("wdk.sqlite3*"))
    # Five places, one copy: the issue saw 41 MB for an 8 MiB start.
    assert on_disk < size * 1.2, on_disk


async def test_6_webhook_guessing_is_rate_limited(server: Server) -> None:
    run = await start(security_flows.one_webhook)
    token = await _hook_token(run.id)
    before = await _log(run.id)
    statuses = [(await _call("POST", f"{server.url}{WELL_KNOWN}/webhook/wdkh_guess{i}", data=b"x"))[0]
                for i in range(40)]
    assert statuses[:30] == [404] * 30 and set(statuses[30:]) == {429}, statuses
    async with aiohttp.ClientSession() as http, http.post(f"{server.url}{WELL_KNOWN}/webhook/{token}") as resp:
        # Even a right guess is refused while the client is limited (else 429 vs 202 tells).
        assert resp.status == 429 and int(resp.headers["retry-after"]) >= 1
        assert (await resp.json())["type"] == "TooManyRequests"
    assert await _log(run.id) == before


async def test_2_behind_a_proxy_the_public_name_is_allowed(monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> None:
    monkeypatch.setenv("WDK_ALLOWED_HOSTS", "wdk.example.com, other.example.com")
    srv = await start_server("127.0.0.1", 0, secret=SECRET, api_token=TOKEN)
    try:
        proxied = {**AUTH, "host": "wdk.example.com", "origin": "https://wdk.example.com"}
        assert (await _call("GET", f"{srv.url}/api/runs", headers=proxied))[0] == 200
        assert (await _call("GET", f"{srv.url}/api/runs", headers={**AUTH, "host": "WDK.example.com:443"}))[0] == 200
        # A proxy that rewrites Host: the browser's Origin is the public name, listed.
        rewritten = {**AUTH, "host": "other.example.com", "origin": "https://wdk.example.com"}
        assert (await _call("GET", f"{srv.url}/api/runs", headers=rewritten))[0] == 200
        foreign = {**AUTH, "host": "wdk.example.com", "origin": "https://evil.example"}
        assert (await _call("GET", f"{srv.url}/api/runs", headers=foreign))[0] == 403
        for host in ("127.0.0.1", "evil.example", "wdk.example.com.evil.example"):
            assert (await _call("GET", f"{srv.url}/api/runs", headers={**AUTH, "host": host}))[0] == 403, host
    finally:
        await srv.close()
