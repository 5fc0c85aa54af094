"""`wdk.patched` and `wdk.deprecate_patch`: changing a workflow's code while
runs of it are in flight.

    if patched("approve-first"):
        approval, quote = await asyncio.gather(ask_approval(), get_quote())   # new code
    else:
        quote, approval = await asyncio.gather(get_quote(), ask_approval())   # the old order

A run that reaches `patched(name)` with the new code records a marker in its
log and takes the new branch, on every replay too; a run whose history was
written before the patch existed replays it with False. Once no run from
before the patch is left, `deprecate_patch(name)` replaces the `if` (it
refuses, as a divergence, a run that still needs the old branch) and later
goes too. docs/deploys.md has the recipe.
"""

from __future__ import annotations

from wdk.runtime.current import require_instance

__all__ = ["deprecate_patch", "patched"]


def patched(name: str) -> bool:
    """True when this run takes the new code of patch `name`, False when its
    history predates the patch. Stable for the run's whole life."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"a patch name must be a non-empty str, not {name!r}")
    return require_instance("wdk.patched()").patched(name)


def deprecate_patch(name: str) -> None:
    """Mark patch `name` as applied to every run: the old branch is gone. A run
    whose history predates the patch stops here with a NonDeterminismError
    (blocked, by default) that says so."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"a patch name must be a non-empty str, not {name!r}")
    require_instance("wdk.deprecate_patch()").deprecate_patch(name)
