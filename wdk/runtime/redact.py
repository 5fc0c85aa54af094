"""What the API, the web UI and `wdk inspect` show of the log: never its secrets.

    events = redact_events(await world.read_events(run_id))
    hooks = redact_hooks(await world.list_hooks(run_id))

A run's seed (with the store's secret it keys the workflow's random stream)
and a webhook's token (the credential in its URL: whoever has it can call
the webhook) are replaced by `REDACTED`. A plain hook's token is a name the
workflow chose and is shown. `wdk inspect --show-secrets` shows everything
to a local user who can read the store anyway. A payload still encrypted
(no WDK_ENCRYPTION_KEYS here: `wdk.crypto`) shows as `encrypted (key <id>)`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from wdk.crypto import is_sealed, key_id_of
from wdk.worlds.base import Event, HookInfo, RunInfo

__all__ = ["REDACTED", "redact_event", "redact_events", "redact_hooks", "redact_run", "shown"]

REDACTED = "[redacted]"


def _is_webhook(metadata: Any) -> bool:
    return isinstance(metadata, dict) and "webhook" in metadata


def shown(value: Any) -> Any:
    """`value`, or what stands for it when it is still sealed."""
    return f"encrypted (key {key_id_of(value)})" if is_sealed(value) else value


def redact_event(event: Event) -> Event:
    payload = event.payload
    changed = {k: shown(v) for k, v in payload.items() if is_sealed(v)}
    if event.type == "run_created" and "seed" in payload:
        changed["seed"] = REDACTED
    if event.type == "hook_created" and _is_webhook(payload.get("metadata")) and "token" in payload:
        changed["token"] = REDACTED
    return msgspec.structs.replace(event, payload={**payload, **changed}) if changed else event


def redact_run(run: RunInfo) -> RunInfo:
    return msgspec.structs.replace(run, output=shown(run.output)) if is_sealed(run.output) else run


def redact_events(events: Sequence[Event]) -> list[Event]:
    return [redact_event(e) for e in events]


def redact_hooks(hooks: Sequence[HookInfo]) -> list[HookInfo]:
    return [msgspec.structs.replace(h, token=REDACTED) if _is_webhook(h.metadata) else h for h in hooks]
