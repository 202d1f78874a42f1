"""One JSON encoder for the service: request replies, cached bodies and job results.

:func:`dumps` is orjson with numpy support (scalars and arrays), non-string
keys, and a fallback for pandas objects (a DataFrame becomes a list of
records, a Series a mapping, ``NA``/``NaT`` ``null``). NaN and infinities
become ``null``. :func:`plain` gives the same value as plain Python objects
(what a job returns to the server), and :func:`model_bytes` validates a value
against a response model before encoding it, so what a route declares is
what it sends.

Examples
--------
>>> import numpy as np, pandas as pd
>>> dumps({"a": np.int64(3), "b": [1.5, float("nan")], 7: np.arange(2)})
b'{"a":3,"b":[1.5,null],"7":[0,1]}'
>>> plain(pd.DataFrame({"x": [1, 2], "y": ["a", None]}))
[{'x': 1, 'y': 'a'}, {'x': 2, 'y': None}]
"""

from __future__ import annotations

import math
from typing import Any

import orjson

__all__ = ["dumps", "plain", "model_bytes"]

_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def _default(obj: Any) -> Any:
    import numpy as np
    import pandas as pd

    if isinstance(obj, pd.DataFrame):
        return obj.astype(object).where(obj.notna(), None).to_dict(orient="records")
    if isinstance(obj, pd.Series):
        return {str(k): v for k, v in obj.astype(object).where(obj.notna(), None).items()}
    if obj is pd.NA or obj is pd.NaT:
        return None
    if isinstance(obj, np.generic):  # numpy scalars orjson does not take (e.g. float16, datetime64)
        value = obj.item()
        return None if isinstance(value, float) and not math.isfinite(value) else value
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    return str(obj)


def dumps(obj: Any) -> bytes:
    """Compact JSON bytes (NaN and infinities become ``null``)."""
    return orjson.dumps(obj, default=_default, option=_OPTIONS)


def plain(obj: Any) -> Any:
    """``obj`` as plain JSON-compatible Python values (dicts, lists, str, int, float, bool, None)."""
    return orjson.loads(dumps(obj))


def model_bytes(model: Any, value: Any) -> bytes:
    """``value`` validated against the pydantic ``model``, encoded as JSON bytes.

    Examples
    --------
    >>> from connectome.api.schemas import Link
    >>> model_bytes(Link, {"url": "https://example.org/#!{}"})
    b'{"url":"https://example.org/#!{}","state_id":null,"state_url":null,"warnings":[]}'
    """
    return model.model_validate(plain(value)).model_dump_json().encode()
