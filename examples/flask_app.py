"""Flask with wdk: views start workflows and wait for results, a webhook resumes one.

    python examples/flask_app.py                          # drives the app with Flask's test client
    flask --app examples/flask_app.py:create_app run      # or serve it

Flask is synchronous, so `wdk.plugins.flask` runs wdk's runtime in a
background thread with its own event loop; `start`, `result` and
`resume_hook` are plain functions that views call. `setup(app)` mounts the
webhook and run-stream endpoints under /.well-known/workflow/v1/.

The app is built in a `create_app()` factory so that importing this module
creates no app. The module has workflows, so wdk also loads it into the
workflow sandbox, where a module-level `app = Flask(__name__)` would load as a
restricted value (docs/sandbox.md, "Module-level code"): harmless, but
pointless. In a real project keep the workflows in their own module and
import them from the app's (docs/frameworks.md).
"""

from __future__ import annotations

from flask import Flask, request

import wdk.plugins.flask as wdk_flask
from wdk import HookNotFound, create_hook, create_webhook

OUTBOX: list[str] = []  # the "emails" sent by ask_for_approval


async def charge(order_id: str, amount: int) -> str:
    "use step"
    return f"receipt-{order_id}-{amount}"


async def ask_for_approval(order_id: str, url: str) -> None:
    "use step"
    OUTBOX.append(url)  # a real step would email the link


async def checkout(order_id: str, amount: int) -> dict[str, str]:
    "use workflow"
    webhook = create_webhook()
    await ask_for_approval(order_id, webhook.url)
    approver = (await webhook).json()["by"]  # a manager clicks the link
    shipped = create_hook(token=f"shipped:{order_id}")  # the warehouse calls back with a known token
    carrier = (await shipped)["carrier"]
    return {"receipt": await charge(order_id, amount), "approved_by": approver, "carrier": carrier}


def create_app() -> Flask:
    app = Flask(__name__)
    wdk_flask.setup(app)

    @app.post("/orders/<order_id>")
    def place_order(order_id: str) -> dict[str, str]:
        return {"run_id": wdk_flask.start(checkout, order_id, int(request.args["amount"]))}

    @app.post("/warehouse/<order_id>/shipped")
    def shipped(order_id: str) -> tuple[dict[str, str], int]:
        try:
            return {"run_id": wdk_flask.resume_hook(f"shipped:{order_id}", request.get_json())}, 200
        except HookNotFound:
            return {"error": f"no run is waiting for {order_id} to ship"}, 404

    @app.get("/orders/<run_id>/result")
    def order_result(run_id: str) -> dict[str, object]:
        return {"result": wdk_flask.result(run_id, timeout=30)}

    return app


def demo() -> None:
    import os
    import tempfile
    import time

    from wdk.api import configure

    configure(data_dir=tempfile.mkdtemp(prefix="wdk-flask-"))
    os.environ["WDK_BASE_URL"] = "http://localhost"  # webhook URLs point at this app
    client = create_app().test_client()
    run_id = client.post("/orders/ord-9?amount=30").get_json()["run_id"]
    print(f"POST /orders/ord-9 -> run {run_id}")
    while not OUTBOX:
        time.sleep(0.01)
    print(f"the workflow asks for approval at {OUTBOX[0]}")
    print(f"POST to the webhook -> HTTP {client.post(OUTBOX[0], json={'by': 'grace'}).status_code}")
    while (resp := client.post("/warehouse/ord-9/shipped", json={"carrier": "DHL"})).status_code == 404:
        time.sleep(0.05)  # the run has not reached its `shipped` hook yet
    print(f"POST /warehouse/ord-9/shipped -> HTTP {resp.status_code}")
    print(f"result: {client.get(f'/orders/{run_id}/result').get_json()['result']}")
    wdk_flask.stop()


if __name__ == "__main__":
    demo()
