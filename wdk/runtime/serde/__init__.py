"""Values <-> JSON-compatible data, for every step argument, result, hook payload
and stream chunk (the supported types are listed in docs/serialization.md).

Plain JSON stays itself: a dict of str keys, lists, str, int, finite float, bool
and None encode to an equal copy, so events read well in the UI. Every other
supported value becomes a tagged dict ``{"$wdk": "<tag>", "v": ...}``; a user
dict that itself has a ``"$wdk"`` key (or non-str keys) is written in the tagged
``dict`` form, so a tag can never be forged by data. Classes are referenced as
``"module:QualName"`` and re-imported on decode, only when of an allowed kind.

    >>> from_builtins(to_builtins({"at": (1, 2)})) == {"at": (1, 2)}
    True

`encode` writes values (and exceptions), `decode` reads them back, `registry`
keeps the classes registered with `register_type`.
"""

from wdk.runtime.serde.decode import decode_call, decode_error, from_builtins, loads, untrusted
from wdk.runtime.serde.encode import (
    MAX_DEPTH,
    TAG,
    dumps,
    encode_call,
    encode_error,
    set_max_bytes,
    to_builtins,
)
from wdk.runtime.serde.registry import register_type

__all__ = [
    "MAX_DEPTH",
    "TAG",
    "decode_call",
    "decode_error",
    "dumps",
    "encode_call",
    "encode_error",
    "from_builtins",
    "loads",
    "register_type",
    "set_max_bytes",
    "to_builtins",
    "untrusted",
]
