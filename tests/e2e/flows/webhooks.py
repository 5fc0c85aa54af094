"""Workflows that wait on webhooks."""

from __future__ import annotations

from wdk import WebhookResponse, create_webhook


async def announce(url: str) -> str:
    "use step"
    return url


async def wait_request() -> dict[str, object]:
    "use workflow"
    webhook = create_webhook()
    await announce(webhook.url)
    request = await webhook
    return {
        "method": request.method,
        "body": request.json(),
        "content_type": request.headers.get("content-type"),
        "custom": request.headers.get("x-custom"),
    }


async def fixed_response() -> str:
    "use workflow"
    webhook = create_webhook(response=WebhookResponse.make(200, "thanks", {"x-reply": "fixed"}))
    await announce(webhook.url)
    request = await webhook
    return request.text()


async def computed_response() -> int:
    "use workflow"
    webhook = create_webhook(respond_with=True)
    await announce(webhook.url)
    request = await webhook
    n = int(request.json()["n"])
    await request.respond_with(status=201, body={"doubled": n * 2}, headers={"x-run": "yes"})
    return n


async def many_requests(count: int) -> list[str]:
    "use workflow"
    webhook = create_webhook()
    await announce(webhook.url)
    got: list[str] = []
    async for request in webhook:
        got.append(request.text())
        if len(got) == count:
            break
    return got


async def never_answers() -> str:
    "use workflow"
    webhook = create_webhook(respond_with=True)
    await announce(webhook.url)
    await webhook
    return "ended without respond_with"
