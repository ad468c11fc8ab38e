"""Charts drawn on the server as SVG: horizontal bars, one group per row, one or two bars
per group (dark and light), a label and the value beside each. No script, no web font; the
numbers are always in the table beside the chart too (its ``title`` elements are for a
pointer's hover, not the only place a number is)."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

BAR = 170
"""The widest bar, in the chart's own units (the SVG scales to its box)."""
LABEL = 110
WIDTH = 400
"""The whole chart: labels, the widest bar, and room for its value."""
"""Where the bars start: the labels' column."""


@dataclass(frozen=True)
class Bar:
    value: float
    shown: str
    css: str = "in-force"
    """in-force (dark), proposed (light) or alert (the bottleneck, a missed target)."""


def bars(title: str, groups: list[tuple[str, list[Bar]]], chart_id: str) -> str:
    """One row per group, its bars scaled to the largest value of the chart."""
    most = max([0.0, *(bar.value for _, row in groups for bar in row)]) or 1.0
    height_of = 16 + 12 * max([1, *(len(row) for _, row in groups)])
    parts = []
    for n, (label, row) in enumerate(groups):
        y = 8 + n * (height_of + 4)
        parts.append(f'<text x="0" y="{y + 12}" class="chart-label">{escape(label)}</text>')
        for k, bar in enumerate(row):
            width = max(1, round(BAR * bar.value / most)) if bar.value > 0 else 0
            top = y + 16 + k * 12 - (16 if len(row) == 1 else 0)
            parts.append(
                f'<rect x="{LABEL}" y="{top}" width="{width}" height="10" class="{bar.css}">'
                f'<title>{escape(label)}: {escape(bar.shown)}</title></rect>'
                f'<text x="{LABEL + 6 + width}" y="{top + 9}" class="chart-count">'
                f'{escape(bar.shown)}</text>')
    height = 16 + len(groups) * (height_of + 4)
    return (f'<svg viewBox="0 0 {WIDTH} {height}" role="img" class="chart" '
            f'aria-labelledby="{chart_id}"><title id="{chart_id}">{escape(title)}</title>'
            f'{"".join(parts)}</svg>')
