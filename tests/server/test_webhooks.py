"""Webhooks end to end, against a real server on 127.0.0.1."""

from __future__ import annotations

import aiohttp
import pytest
from flows import webhooks
from support import WELL_KNOWN, hook_token, step_result

from wdk import HookNotFound, WebhookRequest
from wdk.api import resume_webhook, start
from wdk.server.app import Server


async def test_workflow_waits_on_a_webhook_and_finishes(server: Server) -> None:
    run = await start(webhooks.wait_request)
    token = await hook_token(run)
    url = await step_result(run)  # the workflow's own webhook.url
    assert url == f"{server.url}{WELL_KNOWN}/webhook/{token}"
    assert token.startswith("wdkh_") and len(token) == 5 + 32  # 128 random bits
    async with aiohttp.ClientSession() as http, http.post(
        str(url), json={"order": 7}, headers={"x-custom": "hi"}
    ) as resp:
        assert resp.status == 202
    result = await run.result(timeout=10)
    assert result == {"method": "POST", "body": {"order": 7}, "content_type": "application/json", "custom": "hi"}


async def test_fixed_response(server: Server) -> None:
    run = await start(webhooks.fixed_response)
    token = await hook_token(run)
    async with aiohttp.ClientSession() as http, http.put(
        f"{server.url}{WELL_KNOWN}/webhook/{token}", data=b"payload"
    ) as resp:
        assert resp.status == 200
        assert await resp.text() == "thanks"
        assert resp.headers["x-reply"] == "fixed"
    assert await run.result(timeout=10) == "payload"


async def test_respond_with_a_step_computed_response(server: Server) -> None:
    run = await start(webhooks.computed_response)
    token = await hook_token(run)
    async with aiohttp.ClientSession() as http, http.post(
        f"{server.url}{WELL_KNOWN}/webhook/{token}", json={"n": 21}
    ) as resp:
        assert resp.status == 201
        assert await resp.json() == {"doubled": 42}
        assert resp.headers["x-run"] == "yes"
    assert await run.result(timeout=10) == 21
    steps = [e.payload.get("step_id") for e in await run.events() if e.type == "step_created"]
    assert "step//wdk.runtime.webhooks//respond" in steps


async def test_respond_with_run_ends_without_answer_gives_502(server: Server) -> None:
    run = await start(webhooks.never_answers)
    token = await hook_token(run)
    async with aiohttp.ClientSession() as http, http.post(
        f"{server.url}{WELL_KNOWN}/webhook/{token}", data=b"x"
    ) as resp:
        assert resp.status == 502
        assert "without answering" in (await resp.json())["error"]
    assert await run.result(timeout=10) == "ended without respond_with"


async def test_several_requests_into_one_webhook(server: Server) -> None:
    run = await start(webhooks.many_requests, 3)
    token = await hook_token(run)
    async with aiohttp.ClientSession() as http:
        for body in (b"a", b"b", b"c"):
            async with http.post(f"{server.url}{WELL_KNOWN}/webhook/{token}", data=body) as resp:
                assert resp.status == 202
    assert await run.result(timeout=10) == ["a", "b", "c"]


async def test_resume_webhook_in_process() -> None:
    run = await start(webhooks.computed_response)
    token = await hook_token(run)
    reply = await resume_webhook(token, WebhookRequest.make("POST", body={"n": 5}))
    assert (reply.status, reply.json()) == (201, {"doubled": 10})
    assert await run.result(timeout=10) == 5
    with pytest.raises(HookNotFound):
        await resume_webhook(token, WebhookRequest.make(body=b"late"))


async def test_plain_hooks_are_not_reachable_by_url(server: Server) -> None:
    from flows import hooks

    run = await start(hooks.one_payload, "guessable-token")
    await hook_token(run)
    async with aiohttp.ClientSession() as http, http.post(
        f"{server.url}{WELL_KNOWN}/webhook/guessable-token", data=b"x"
    ) as resp:
        assert resp.status == 404
    await run.cancel()


async def test_webhook_over_the_size_limit_is_413(server: Server) -> None:
    run = await start(webhooks.wait_request)
    token = await hook_token(run)
    url = f"{server.url}{WELL_KNOWN}/webhook/{token}"
    async with aiohttp.ClientSession() as http:
        async with http.post(url, data=b"x" * (64 * 1024 + 1)) as resp:
            assert resp.status == 413

        async def body():  # chunked: no content-length to refuse up front
            for _ in range(100):
                yield b"y" * 1024

        async with http.post(url, data=body()) as resp:
            assert resp.status == 413
        async with http.post(url, json={"fits": True}) as resp:
            assert resp.status == 202
    assert (await run.result(timeout=10))["body"] == {"fits": True}
