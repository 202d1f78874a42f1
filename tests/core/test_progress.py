"""Progress bars count items as integers (issue 23: `2.00/100` came from unit_scale on counts)."""

from __future__ import annotations

import io

from connectome.progress import progress_bar


def test_a_bar_of_items_shows_whole_numbers():
    out = io.StringIO()
    with progress_bar(total=100, desc="null samples", unit="sample", progress=True, file=out) as bar:
        bar.update(2)
        shown = str(bar)
    assert "2/100" in shown and "2.00" not in shown


def test_a_bar_of_millions_of_rows_is_scaled():
    out = io.StringIO()
    with progress_bar(total=2_700_513, desc="edges", unit="row", progress=True, file=out) as bar:
        bar.update(1_350_000)
        shown = str(bar)
    assert "1.35M/2.70M" in shown
