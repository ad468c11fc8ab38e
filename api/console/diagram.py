"""The diagram of a process, drawn from the very transition table its workflow obeys, with
the case's current status marked: it cannot drift from what the process does."""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from html import escape

from workflows.registry import ProcessSpec

NODE_W, NODE_H, GAP_X, GAP_Y = 132, 34, 44, 18


def transitions_of(spec: ProcessSpec) -> Mapping[str, Sequence[str]]:
    """The process's TRANSITIONS, from its workflow module."""
    table: Mapping[str, Sequence[str]] = importlib.import_module(
        spec.workflow.__module__).TRANSITIONS
    return table


def statuses(table: Mapping[str, Sequence[str]]) -> list[str]:
    """Every status, in the order the table first names it (the first is where cases start)."""
    seen: dict[str, None] = {}
    for source, targets in table.items():
        seen.setdefault(source)
        for target in targets:
            seen.setdefault(target)
    return list(seen)


def columns(table: Mapping[str, Sequence[str]]) -> dict[str, int]:
    """Each status's column: the longest way to it from the start, loops back not counted."""
    order = statuses(table)
    depth = dict.fromkeys(order, 0)
    on_path: set[str] = set()

    def walk(status: str, at: int) -> None:
        if status in on_path or (at and at <= depth[status]):
            return
        depth[status] = max(depth[status], at)
        on_path.add(status)
        for target in table.get(status, ()):
            walk(target, at + 1)
        on_path.discard(status)

    walk(order[0], 0)
    return depth


def svg(spec: ProcessSpec, current: str | None) -> str:
    """An accessible SVG of the process; the current status is marked ``aria-current``."""
    label = f"{spec.name.replace('_', ' ')}: " + (f"now {current}" if current else "diagram")
    return drawing(transitions_of(spec), current, label)


def drawing(table: Mapping[str, Sequence[str]], current: str | None, label: str,
            faults: Sequence[str] = ()) -> str:
    """The SVG of any table of steps (the first is where cases start): ``current`` is
    marked ``aria-current``, each of ``faults`` is marked as a step at fault."""
    depth = columns(table)
    rows: dict[int, int] = {}
    place: dict[str, tuple[int, int]] = {}
    for status in statuses(table):
        column = depth[status]
        place[status] = (column * (NODE_W + GAP_X), rows.get(column, 0) * (NODE_H + GAP_Y))
        rows[column] = rows.get(column, 0) + 1
    width = (max(depth.values()) + 1) * (NODE_W + GAP_X)
    height = max(rows.values()) * (NODE_H + GAP_Y) + GAP_Y
    parts = [f'<svg class="diagram" role="img" viewBox="-4 -4 {width + 8} {height + 8}" '
             f'aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg">',
             '<defs><marker id="arrow" viewBox="0 0 8 8" refX="8" refY="4" markerWidth="7" '
             'markerHeight="7" orient="auto"><path d="M0,0 L8,4 L0,8 z"/></marker></defs>']
    for source, targets in table.items():
        for target in targets:
            parts.append(_edge(place[source], place[target]))
    for status, (x, y) in place.items():
        classes = ["step"] + (["final"] if not table.get(status) else [])
        classes += ["fault"] if status in faults else []
        mark = ""
        if status == current:
            classes.append("current")
            mark = ' aria-current="step"'
        parts.append(
            f'<g class="{" ".join(classes)}" data-status="{escape(status)}"{mark}>'
            f'<rect x="{x}" y="{y}" width="{NODE_W}" height="{NODE_H}" rx="8"/>'
            f'<text x="{x + NODE_W / 2}" y="{y + NODE_H / 2 + 4}" text-anchor="middle">'
            f'{escape(status.replace("_", " "))}</text></g>')
    parts.append("</svg>")
    return "".join(parts)


def _edge(start: tuple[int, int], end: tuple[int, int]) -> str:
    (x1, y1), (x2, y2) = start, end
    if x2 > x1:
        d = (f"M{x1 + NODE_W},{y1 + NODE_H / 2} C{x1 + NODE_W + GAP_X / 2},{y1 + NODE_H / 2} "
             f"{x2 - GAP_X / 2},{y2 + NODE_H / 2} {x2},{y2 + NODE_H / 2}")
    else:  # back, or within a column: around the top
        d = (f"M{x1 + NODE_W / 2},{y1} C{x1 + NODE_W / 2},{y1 - GAP_Y} "
             f"{x2 + NODE_W / 2},{y2 - GAP_Y} {x2 + NODE_W / 2},{y2}")
    return f'<path class="edge" d="{d}" marker-end="url(#arrow)"/>'
