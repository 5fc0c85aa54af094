"""The client layer: where `wdk.api`'s calls go (the in-process runtime, a
`wdk serve` over HTTP, or, in workflow code, the running workflow).

    from wdk.client import current_client
    run_id = await current_client().start(checkout, ("o1",), {}, StartOptions())

`wdk.api` is the public face of this package; use that.
"""

from wdk.client.base import Client, StartOptions, WorkflowRef
from wdk.client.choose import client_for, current_client

__all__ = ["Client", "StartOptions", "WorkflowRef", "client_for", "current_client"]
