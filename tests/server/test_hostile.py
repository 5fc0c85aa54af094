"""Hostile requests, written by hand (issue 15's probes, and more): none is a
500, none changes the event log, none starts, cancels or resumes anything.

The random counterpart is test_fuzz.py; each numbered item of the issue has
its own test in test_security.py."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp
import pytest
import security_flows
from support import AUTH, SECRET, WELL_KNOWN

from wdk.api import start
from wdk.runtime.engine import get_runtime
from wdk.server.app import Server
from wdk.server.signing import HEADER, sign

JSON = {"content-type": "application/json"}
DEEP = b"[" * 5000 + b"]" * 5000


def _signed(body: bytes, **kw: Any) -> dict[str, str]:
    return {HEADER: sign(body, SECRET, **kw)}


def _requests(run_id: str, token: str) -> list[tuple[str, str, dict[str, str], bytes]]:
    """(method, path, headers, body): each refused, none a 500."""
    api = "/api/runs"
    start_body = json.dumps({"workflow": "security_flows:echo", "args": ["x"]}).encode()
    reqs: list[tuple[str, str, dict[str, str], bytes]] = [
        # no credential, or a wrong one, on every API route
        ("GET", api, {}, b""),
        ("POST", api, JSON, start_body),
        ("POST", f"{api}/{run_id}/cancel", {}, b""),
        ("GET", f"{api}/{run_id}/events", {"authorization": "Bearer " + "A" * 10_000}, b""),
        ("GET", f"{api}/{run_id}", {"authorization": "Bearer \u00e9t\u00e9"}, b""),
        ("POST", f"/api/hooks/{token}", {"authorization": "bearer"}, b'{"payload": 1}'),
        ("GET", f"{WELL_KNOWN}/runs/{run_id}/stream", {"cookie": "wdk_session=x.y"}, b""),
        # cross-site, with the token even
        ("POST", api, {**AUTH, "content-type": "text/plain"}, start_body),
        ("POST", api, {**AUTH, "content-type": "multipart/form-data; boundary=x"}, b"--x--"),
        ("POST", api, {**AUTH, **JSON, "origin": "http://127.0.0.1.evil.example"}, start_body),
        ("POST", f"{api}/{run_id}/cancel", {**AUTH, "origin": "http://localhost:1"}, b""),
        ("POST", f"{api}/{run_id}/cancel", {**AUTH, "host": "attacker.example"}, b""),
        ("POST", f"{api}/{run_id}/cancel", {**AUTH, "host": "[::1"}, b""),
        ("POST", f"{api}/{run_id}/cancel", {**AUTH, "sec-fetch-site": "cross-site"}, b""),
        # traversal and SQL-ish ids
        ("GET", f"{api}/..%2f..%2fetc%2fpasswd", AUTH, b""),
        ("GET", f"{api}/'%20OR%201=1--/events", AUTH, b""),
        ("POST", f"{api}/{run_id}'%3B%20DROP%20TABLE%20events--/cancel", AUTH, b""),
        ("GET", "/api/hooks/%00", AUTH, b""),
        ("GET", f"{WELL_KNOWN}/runs/%2e%2e/stream", AUTH, b""),
        ("POST", f"{WELL_KNOWN}/webhook/..%2f..%2fapi%2fruns", {}, b"x"),
        ("POST", f"{WELL_KNOWN}/webhook/{token[:-1]}", {}, b"x"),
        # malformed and hostile bodies
        ("POST", api, {**AUTH, **JSON}, b"{"),
        ("POST", api, {**AUTH, **JSON}, b"\xff\xfe\x00"),
        ("POST", api, {**AUTH, **JSON}, b'{"workflow": "security_flows:echo", "args": ' + DEEP + b"}"),
        ("POST", api, {**AUTH, **JSON}, b'{"workflow": "os:system", "args": ["id"]}'),
        ("POST", api, {**AUTH, **JSON}, b'{"workflow": "../../etc/passwd:x"}'),
        ("POST", api, {**AUTH, **JSON}, b'{"workflow": "security_flows:echo", "args": [1, 2, 3]}'),
        ("POST", api, {**AUTH, **JSON}, b'{"workflow": "security_flows:echo", "kwargs": {"__class__": 1}}'),
        ("POST", api, {**AUTH, **JSON},
         b'{"workflow": "security_flows:echo", "args": [{"$wdk": "dataclass", "cls": "antigravity", "v": {}}]}'),
        ("POST", api, {**AUTH, **JSON},
         b'{"workflow": "security_flows:echo", "args": [{"$wdk": "exception", "v": {"type": "this.that"}}, 2]}'),
        ("POST", api, {**AUTH, **JSON},
         b'{"workflow": "security_flows:echo", "args": [{"$wdk": "encrypted", "k": "k9", "v": "AAAA"}]}'),
        ("POST", f"/api/hooks/{token}", {**AUTH, **JSON}, b'{"payload": ' + DEEP + b"}"),
        ("POST", "/api/hooks/nope", {**AUTH, **JSON}, b'{"payload": {"$wdk": "custom", "cls": "x:Y", "v": 1}}'),
        ("GET", f"{api}?limit=99999999999999999999", AUTH, b""),
        ("GET", f"{api}?cursor=" + "A" * 5000, AUTH, b""),
        ("GET", f"{api}/{run_id}?wait=1e308", AUTH, b""),
        ("GET", f"{WELL_KNOWN}/runs/{run_id}/stream?start=99999999999999999999999", AUTH, b""),
        # the signed endpoints
        ("POST", f"{WELL_KNOWN}/flow", {}, json.dumps({"run_id": run_id}).encode()),
        ("POST", f"{WELL_KNOWN}/flow", {HEADER: "t=1,n=aaaaaaaa,sha256=00"}, b"{}"),
        ("POST", f"{WELL_KNOWN}/flow", {HEADER: "t=" + "9" * 400 + ",n=x,sha256=1"}, b"{}"),
        ("POST", f"{WELL_KNOWN}/flow", {HEADER: ",,,==,,"}, b"{}"),
        ("POST", f"{WELL_KNOWN}/flow", _signed(b"{}", timestamp=time.time() + 3600), b"{}"),
        ("POST", f"{WELL_KNOWN}/step", _signed(DEEP), DEEP),
        ("POST", f"{WELL_KNOWN}/step", _signed(b'{"run_id": "wrun_x", "correlation_id": 5}'),
         b'{"run_id": "wrun_x", "correlation_id": 5}'),
        # odd methods and expectations
        ("DELETE", api, AUTH, b""),
        ("PATCH", f"{api}/{run_id}", AUTH, b""),
        ("TRACE", "/", {}, b""),
        ("POST", api, {**AUTH, **JSON, "expect": "\u00ff-continue"}, start_body),
        # health stays public, and tells nothing about runs
        ("GET", f"{WELL_KNOWN}/health?run={run_id}", {}, b""),
    ]
    return reqs


async def _log(run_id: str) -> Any:
    world = (await get_runtime()).world
    return [(e.seq, e.type, e.payload) for e in await world.read_events(run_id)], [
        r.id for r in (await world.list_runs(limit=1000)).items
    ]


async def test_hostile_requests_never_500_and_change_nothing(server: Server) -> None:
    run = await start(security_flows.one_webhook)
    world = (await get_runtime()).world
    while not (hooks := await world.list_hooks(run.id)):
        await asyncio.sleep(0.02)
    token = hooks[0].token
    before = await _log(run.id)
    answers: list[tuple[int, str, str]] = []
    async with aiohttp.ClientSession() as http:
        for method, path, headers, body in _requests(run.id, token):
            async with http.request(method, server.url + path, headers=headers, data=body or None,
                                    skip_auto_headers=["content-type"]) as resp:
                text = await resp.text(errors="replace")
                answers.append((resp.status, method, path + " " + body[:120].decode(errors="replace")))
                assert resp.status < 500, (resp.status, method, path, text[:300])
                assert "Traceback" not in text
                if resp.status >= 400 and resp.content_type == "application/json":
                    assert set(json.loads(text)) >= {"error", "type"}
    assert await _log(run.id) == before, [a for a in answers if a[0] < 400]
    # Each was refused (the health check is the only 200).
    assert [a[0] for a in answers if a[0] < 400] == [200], answers
    statuses = {a[0] for a in answers}
    assert {400, 401, 403, 404, 415} <= statuses, statuses


@pytest.mark.parametrize("path", ["/api/runs", f"{WELL_KNOWN}/flow"])
async def test_a_body_over_the_limit_is_refused_before_it_is_read(server: Server, path: str) -> None:
    big = b"[" + b"1," * (20 << 20) + b"1]"
    headers = {**AUTH, **JSON, **_signed(b"")}
    async with aiohttp.ClientSession() as http:
        async with http.post(server.url + path, data=_chunks(big), headers=headers) as resp:
            assert resp.status == 413


async def _chunks(data: bytes) -> Any:
    for i in range(0, len(data), 1 << 20):
        yield data[i : i + (1 << 20)]
