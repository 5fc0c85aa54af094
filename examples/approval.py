"""Human approval with a webhook: the workflow sends a link, waits (durably,
for up to two days) for the reviewer's click, answers that HTTP request
itself, and pays only if approved.

    python examples/approval.py                 # a simulated reviewer clicks "approve"
    python examples/approval.py --interactive   # you approve with curl

The script starts the wdk server in process (`wdk serve` does the same as a
command) on a free port, starts the run, and plays the reviewer.
"""

from __future__ import annotations

import asyncio

from wdk import create_webhook, get_step_metadata

OUTBOX: list[str] = []  # the "emails" sent by send_approval_request


async def send_approval_request(expense_id: str, amount: float, url: str) -> None:
    "use step"
    # A real step would email or post to chat; this one prints and keeps it.
    print(f"  [email] expense {expense_id} ({amount:.2f} EUR) needs approval: POST {url}")
    OUTBOX.append(url)


async def pay(expense_id: str, amount: float) -> str:
    "use step"
    return f"paid {amount:.2f} EUR for {expense_id} (payment key {get_step_metadata().idempotency_key})"


async def approve_expense(expense_id: str, amount: float) -> str:
    "use workflow"
    webhook = create_webhook(respond_with=True)
    await send_approval_request(expense_id, amount, webhook.url)
    try:
        request = await asyncio.wait_for(webhook, 2 * 24 * 3600)  # a durable two-day deadline
    except TimeoutError:
        return f"{expense_id}: nobody decided within two days"
    decision = request.json()
    approved = bool(decision.get("approve"))
    reviewer = str(decision.get("reviewer", "someone"))
    await request.respond_with(
        status=200, body={"expense": expense_id, "approved": approved, "thanks": reviewer}
    )
    if not approved:
        return f"{expense_id} rejected by {reviewer}"
    return await pay(expense_id, amount)


async def demo(interactive: bool) -> None:
    import os
    import tempfile

    import aiohttp

    from wdk.api import configure, start
    from wdk.runtime.engine import current_runtime
    from wdk.server.app import start_server

    configure(data_dir=tempfile.mkdtemp(prefix="wdk-approval-"))
    server = await start_server("127.0.0.1", 0)
    os.environ["WDK_BASE_URL"] = server.url  # webhook URLs point at this server
    try:
        run = await start(approve_expense, "exp-42", 129.5)
        print(f"run {run.id} started; it waits for a reviewer")
        while not OUTBOX:
            await asyncio.sleep(0.01)
        url = OUTBOX[0]
        if interactive:
            print("\napprove it from another terminal:")
            print(f"  curl -X POST {url} -H 'content-type: application/json' "
                  "-d '{\"approve\": true, \"reviewer\": \"you\"}'\n")
        else:
            await asyncio.sleep(0.5)  # the reviewer reads the email...
            async with aiohttp.ClientSession() as http, http.post(
                url, json={"approve": True, "reviewer": "ada"}
            ) as resp:
                print(f"  [reviewer] clicked approve -> HTTP {resp.status} {await resp.json()}")
        print(f"result: {await run.result()}")
        statuses = [e.type for e in await run.events()]
        print(f"{len(statuses)} events: {' '.join(statuses)}")
    finally:
        await server.close()
        rt = current_runtime()
        if rt is not None:
            await rt.stop()


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--interactive", action="store_true", help="wait for you to approve with curl")
    asyncio.run(demo(parser.parse_args().interactive))
