"""Charts drawn on the server as SVG: no script, no inline style (the CSP forbids both).

Each chart has a title and a description for screen readers, values written on the chart so
colour is never the only cue, and the page shows the same figures as a table.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from markupsafe import Markup

# GOV.UK Design System colours, dark enough for white text and distinct in greyscale.
GRADE_COLOURS = ("#00703c", "#1d70b8", "#f47738", "#d4351c")
TEXT_ON = ("#ffffff", "#ffffff", "#0b0c0c", "#ffffff")
FONT = 'font-family="GDS Transport, arial, sans-serif"'


def _text(x: float, y: float, text: str, size: int = 14, anchor: str = "start",
          fill: str = "#0b0c0c", weight: str = "normal") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" {FONT} font-size="{size}" font-weight="{weight}" '
            f'text-anchor="{anchor}" fill="{fill}">{escape(text)}</text>')


def stacked_bars(chart_id: str, title: str, rows: Sequence[tuple[str, Sequence[int]]],
                 series: Sequence[str], width: int = 760) -> Markup:
    """Horizontal stacked bars, one per row, each segment labelled with its count."""
    longest = max((len(label) for label, _ in rows), default=10)
    label_w, bar_h, gap, top = int(min(340, 7.6 * min(longest, 42) + 20)), 28, 14, 56
    plot_w = width - label_w - 70
    biggest = max((sum(c) for _, c in rows), default=0) or 1
    height = top + len(rows) * (bar_h + gap) + 20
    desc = "; ".join(f"{label}: " + ", ".join(f"{n} {s}" for s, n in zip(series, counts, strict=True))
                     for label, counts in rows) or "No audits"
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="app-chart" viewBox="0 0 {width} {height}" '
             f'width="{width}" height="{height}" role="img" aria-labelledby="{chart_id}-t {chart_id}-d">',
             f'<title id="{chart_id}-t">{escape(title)}</title>',
             f'<desc id="{chart_id}-d">{escape(desc)}</desc>',
             f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>']
    x = 0.0
    for i, name in enumerate(series):  # legend
        parts.append(f'<rect x="{x:.1f}" y="8" width="16" height="16" fill="{GRADE_COLOURS[i]}"/>')
        parts.append(_text(x + 22, 21, name, 14))
        x += 44 + 8 * len(name)
    for r, (label, counts) in enumerate(rows):
        y = top + r * (bar_h + gap)
        short = label if len(label) <= 42 else label[:40].rsplit(" ", 1)[0] + "…"
        parts.append(_text(label_w - 10, y + bar_h / 2 + 5, short, 14, "end"))
        x = float(label_w)
        for i, n in enumerate(counts):
            if not n:
                continue
            w = plot_w * n / biggest
            parts.append(f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{bar_h}" '
                         f'fill="{GRADE_COLOURS[i]}" stroke="#ffffff" stroke-width="1"/>')
            if w >= 18:
                parts.append(_text(x + w / 2, y + bar_h / 2 + 5, str(n), 13, "middle", TEXT_ON[i],
                                   "bold"))
            x += w
        parts.append(_text(x + 6, y + bar_h / 2 + 5, f"{sum(counts)}", 14, "start",
                           weight="bold"))
    parts.append("</svg>")
    return Markup("".join(parts))


def lines(chart_id: str, title: str, labels: Sequence[str],
          series: Sequence[tuple[str, Sequence[float | None], str]], width: int = 760,
          height: int = 300) -> Markup:
    """A percentage line chart over months; each series has its own marker and end label."""
    left, right, top, bottom = 50, 190, 20, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    step = plot_w / max(1, len(labels) - 1)

    def y_of(v: float) -> float:
        return top + plot_h * (1 - v / 100)

    desc = "; ".join(f"{name}: " + ", ".join(
        f"{m} {'no audits' if v is None else f'{v:g}%'}" for m, v in zip(labels, values, strict=True))
        for name, values, _ in series)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="app-chart" viewBox="0 0 {width} {height}" '
             f'width="{width}" height="{height}" role="img" aria-labelledby="{chart_id}-t {chart_id}-d">',
             f'<title id="{chart_id}-t">{escape(title)}</title>',
             f'<desc id="{chart_id}-d">{escape(desc)}</desc>',
             f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>']
    for pct in (0, 25, 50, 75, 100):
        y = y_of(pct)
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" '
                     f'stroke="#b1b4b6" stroke-width="1"/>')
        parts.append(_text(left - 6, y + 5, f"{pct}%", 12, "end", "#505a5f"))
    for i, label in enumerate(labels):
        parts.append(_text(left + i * step, height - 14, label, 12, "middle", "#505a5f"))
    ends: list[list] = []
    for s, (name, values, colour) in enumerate(series):
        points = [(left + i * step, y_of(v)) for i, v in enumerate(values) if v is not None]
        if len(points) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
            dash = ' stroke-dasharray="8 5"' if s % 2 else ""
            parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" '
                         f'stroke-width="3"{dash}/>')
        for x, y in points:
            if s % 2:
                parts.append(f'<rect x="{x - 5:.1f}" y="{y - 5:.1f}" width="10" height="10" '
                             f'fill="{colour}"/>')
            else:
                parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="5" fill="{colour}"/>')
        if points:
            last = [v for v in values if v is not None][-1]
            ends.append([points[-1][1], f"{name} {last:g}%", colour])
    ends.sort(key=lambda e: e[0])
    for i in range(1, len(ends)):  # keep end labels apart when the lines finish close together
        ends[i][0] = max(ends[i][0], ends[i - 1][0] + 18)
    for y, text, colour in ends:
        parts.append(_text(left + plot_w + 12, y + 5, text, 13, "start", colour, "bold"))
    parts.append("</svg>")
    return Markup("".join(parts))
