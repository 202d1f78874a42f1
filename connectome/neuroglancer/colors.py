"""Segment colours: by label, by prediction, by a user map.

Colours are ``#rrggbb`` strings in the state. Anything matplotlib understands is
accepted on input (``"red"``, ``"#f00"``, ``(1, 0, 0)``). Palettes are assigned to
the sorted labels, so the same labels always get the same colours.

Examples
--------
>>> to_hex("red")
'#ff0000'
>>> label_colors(["KC", "MBON", "KC"])
{'KC': '#1f77b4', 'MBON': '#ff7f0e'}
>>> label_colors(["KC", "MBON"], {"KC": "red"})
Traceback (most recent call last):
...
connectome.errors.InputError: colors: no colour for label(s) 'MBON' (colors covers 'KC'); add them to colors, or pass default_color= for the rest
"""

from __future__ import annotations

import colorsys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..errors import InputError

__all__ = ["to_hex", "palette", "label_colors", "MISSING_LABEL", "MISSING_COLOR"]

#: How a missing label value is shown (and keyed in colour maps).
MISSING_LABEL = "(none)"
#: Colour of segments whose label is missing, unless the colour map names ``MISSING_LABEL``.
MISSING_COLOR = "#808080"

_TAB10 = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
          "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]


def to_hex(color: Any, parameter: str = "colors") -> str:
    """``color`` as ``#rrggbb``; raises :class:`~connectome.errors.InputError` naming ``parameter``.

    Examples
    --------
    >>> to_hex((0, 1, 0)), to_hex("#ABC")
    ('#00ff00', '#aabbcc')
    >>> to_hex("reddish")
    Traceback (most recent call last):
    ...
    connectome.errors.InputError: colors: 'reddish' is not a colour; use a name ('red'), '#rrggbb' or an (r, g, b) tuple in 0..1
    """
    if isinstance(color, str) and len(color) == 4 and color.startswith("#"):
        color = "#" + "".join(ch * 2 for ch in color[1:])
    from matplotlib.colors import to_hex as _mpl_to_hex

    try:
        return _mpl_to_hex(color, keep_alpha=False).lower()
    except (ValueError, TypeError):
        raise InputError(f"{parameter}: {color!r} is not a colour; use a name ('red'), '#rrggbb' "
                         "or an (r, g, b) tuple in 0..1", parameter) from None


def palette(n: int) -> list[str]:
    """``n`` distinct colours: tab10 for up to 10, then evenly spaced hues (golden angle).

    Examples
    --------
    >>> palette(2)
    ['#1f77b4', '#ff7f0e']
    >>> len(set(palette(40)))
    40
    """
    if n <= len(_TAB10):
        return _TAB10[:n]
    out = list(_TAB10)
    i = 0
    while len(out) < n:
        h = (i * 0.618033988749895) % 1.0
        s, v = (0.85, 0.95) if i % 2 == 0 else (0.6, 0.8)
        r, g, b = colorsys.hsv_to_rgb(h, s, v)
        hx = f"#{round(r * 255):02x}{round(g * 255):02x}{round(b * 255):02x}"
        if hx not in out:
            out.append(hx)
        i += 1
    return out


def _label_key(value: Any) -> str:
    if value is None:
        return MISSING_LABEL
    try:
        import pandas as pd

        if pd.isna(value):
            return MISSING_LABEL
    except (TypeError, ValueError):
        pass
    return str(value)


def label_colors(labels: Iterable[Any], colors: Mapping[Any, Any] | Sequence[Any] | str | None = None,
                 default_color: Any = None, parameter: str = "colors") -> dict[str, str]:
    """Colour of each distinct label.

    Parameters
    ----------
    labels : iterable
        Label values (missing values become ``"(none)"``).
    colors : mapping, sequence or str, optional
        A map label → colour (must cover every label present, unless ``default_color``
        is given; missing labels default to grey), a list of colours assigned to the
        sorted labels in turn, or one colour for all. ``None``: a palette.
    default_color : colour, optional
        Colour of labels the map does not name.

    Returns
    -------
    dict
        Label (as ``str``) → ``#rrggbb``.
    """
    keys = sorted({_label_key(v) for v in labels}, key=lambda k: (k == MISSING_LABEL, k))
    named = [k for k in keys if k != MISSING_LABEL]
    if colors is None:
        pal = palette(len(named))
        out = dict(zip(named, pal))
    elif isinstance(colors, str) or (isinstance(colors, tuple) and len(colors) in (3, 4)
                                     and all(isinstance(x, (int, float)) for x in colors)):
        one = to_hex(colors, parameter)
        out = {k: one for k in named}
    elif isinstance(colors, Mapping):
        cmap = {_label_key(k): v for k, v in colors.items()}
        missing = [k for k in named if k not in cmap]
        if missing and default_color is None:
            shown = ", ".join(repr(k) for k in missing[:8]) + (f" and {len(missing) - 8} more" if len(missing) > 8 else "")
            covered = ", ".join(repr(k) for k in list(cmap)[:8]) or "nothing"
            raise InputError(f"{parameter}: no colour for label(s) {shown} (colors covers {covered}); "
                             "add them to colors, or pass default_color= for the rest", parameter)
        fill = to_hex(default_color, "default_color") if default_color is not None else None
        out = {k: to_hex(cmap[k], parameter) if k in cmap else fill for k in named}
        if MISSING_LABEL in cmap:
            out[MISSING_LABEL] = to_hex(cmap[MISSING_LABEL], parameter)
    elif isinstance(colors, Sequence):
        if len(colors) == 0:
            raise InputError(f"{parameter}: empty colour list; give at least one colour", parameter)
        seq = [to_hex(c, parameter) for c in colors]
        out = {k: seq[i % len(seq)] for i, k in enumerate(named)}
    else:
        raise InputError(f"{parameter}: expected a dict label -> colour, a list of colours or one colour, "
                         f"not {type(colors).__name__}", parameter)
    if MISSING_LABEL in keys and MISSING_LABEL not in out:
        out[MISSING_LABEL] = to_hex(default_color, "default_color") if default_color is not None else MISSING_COLOR
    return out
