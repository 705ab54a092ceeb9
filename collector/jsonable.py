"""One JSON rendering of the model's dataclasses, shared by the HTTP API and the CLI.

Dataclasses become objects (field order kept), integer enums their name (`"PRODUCER"`), string enums their
value, tuples and lists arrays, mappings objects; non-finite floats become null (JSON has no NaN).
"""

from __future__ import annotations

import dataclasses
import enum
import json
import math
from collections.abc import Mapping
from typing import Any


def to_jsonable(value: Any) -> Any:  # noqa: PLR0911 (one return per kind of value)
    """A structure of dicts, lists and JSON scalars equivalent to `value` (a model object or a collection of them)."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, enum.StrEnum):
        return value.value
    if isinstance(value, enum.IntEnum):
        return value.name
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in value]
    if isinstance(value, enum.Enum):
        return to_jsonable(value.value)
    return str(value)


def dumps(value: Any) -> str:
    """`value` rendered as compact JSON text."""
    return json.dumps(to_jsonable(value), separators=(",", ":"), ensure_ascii=False)
