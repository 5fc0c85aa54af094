"""Names the compiler gives things: a file's import name and function ids."""

from __future__ import annotations

import os
from pathlib import Path

from wdk.compiler.model import Kind


def module_name_for_path(path: str | os.PathLike[str]) -> str:
    """The import name of a file: its path below the nearest ancestor folder
    that has no `__init__.py` (what `fn.__module__` says at run time).

        module_name_for_path("app/orders/flows.py")  # "app.orders.flows" if app/ is a package
        module_name_for_path("shop.py")              # "shop"
    """
    file = Path(os.path.abspath(path))
    parts = [] if file.stem == "__init__" else [file.stem]
    folder = file.parent
    # Climb while the folder is a package; the first non-package folder is the root.
    while (folder / "__init__.py").is_file() and folder.parent != folder:
        parts.insert(0, folder.name)
        folder = folder.parent
    return ".".join(parts) or file.parent.name


def function_id(kind: Kind, module: str, qualname: str) -> str:
    """`workflow//shop.orders//checkout`, `step//shop.orders//Cart.total`."""
    return f"{kind}//{module}//{qualname}"


def nested_qualname(outer: str, name: str) -> str:
    """Python's `__qualname__` of a function defined inside function `outer`."""
    return f"{outer}.<locals>.{name}"
