"""Which client `wdk.api` uses: chosen once per event loop from the
configuration (`configure(server_url=...)`, WDK_SERVER_URL), and again after
`configure()` changes it; inside workflow code, always the workflow's.

    client = current_client()      # LocalClient(), HttpClient(url) or WorkflowClient()
"""

from __future__ import annotations

import asyncio
import weakref

from wdk.client.base import Client
from wdk.runtime.current import in_workflow
from wdk.settings import current_settings, generation

__all__ = ["client_for", "current_client"]

# loop -> (configuration generation, the client chosen then)
_chosen: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, tuple[int, Client]] = weakref.WeakKeyDictionary()
_workflow_client: Client | None = None


def client_for(server_url: str | None) -> Client:
    """The HTTP client of `server_url`, else the in-process runtime's."""
    # Each implementation pulls in its own machinery (aiohttp's client; the
    # runtime and the compiler), so it is imported when it is chosen:
    # `import wdk` stays light, and a script that talks to a server never
    # loads the runtime.
    if server_url:
        from wdk.client.http import HttpClient

        return HttpClient(server_url)
    from wdk.client.local import LocalClient

    return LocalClient()


def _configured() -> Client:
    return client_for(current_settings().server_url)


def current_client() -> Client:
    """The client for a call made here and now."""
    global _workflow_client
    if in_workflow():
        if _workflow_client is None:
            from wdk.client.in_workflow import WorkflowClient  # see client_for

            _workflow_client = WorkflowClient()
        return _workflow_client
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return _configured()  # sync code (`get_run(...)` in a script): nothing to keep it for
    now = generation()
    chosen = _chosen.get(loop)
    if chosen is None or chosen[0] != now:
        chosen = (now, _configured())
        _chosen[loop] = chosen
    return chosen[1]
