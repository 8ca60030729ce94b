"""Charts as inline SVG, drawn on the server: no script, no style attribute (the pages'
Content-Security-Policy forbids both), only SVG presentation attributes. Pure functions.

    line_chart(points)   share per week (0..1): a polyline through the known points (a week
                         with nothing to measure is a gap), a dot with a <title> per point
    bar_chart(rows)      per unit: open / overdue / escalated side by side, counts printed

Every text is escaped; every value is also on the element as data-value, so a test (or a
screen reader, via <title>) reads exactly what is drawn.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from markupsafe import Markup

WIDTH, HEIGHT = 560, 220
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 44, 16, 16, 36
BAR_COLOURS = ("#2b6cb0", "#c53030", "#b7791f")


def _svg(chart_id: str, label: str, width: int, height: int, body: list[str]) -> Markup:
    head = (f'<svg id="{escape(chart_id)}" class="chart" role="img" '
            f'aria-label="{escape(label)}" viewBox="0 0 {width} {height}" '
            f'width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">'
            f"<title>{escape(label)}</title>")
    return Markup(head + "".join(body) + "</svg>")  # noqa: S704 - every part escaped above


def line_chart(points: Sequence[tuple[str, float | None]], *, chart_id: str, label: str,
               colour: str = "#2b6cb0") -> Markup:
    """``points``: (x label, share 0..1 or None), oldest first."""
    plot_w, plot_h = WIDTH - PAD_LEFT - PAD_RIGHT, HEIGHT - PAD_TOP - PAD_BOTTOM
    step = plot_w / max(1, len(points) - 1)
    body = []
    for tick in (0, 25, 50, 75, 100):
        y = PAD_TOP + plot_h * (1 - tick / 100)
        body.append(f'<line x1="{PAD_LEFT}" x2="{WIDTH - PAD_RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
                    f'stroke="#e2e8f0"/><text x="{PAD_LEFT - 6}" y="{y + 4:.1f}" '
                    f'text-anchor="end" font-size="11" fill="#4a5568">{tick}%</text>')
    runs: list[list[str]] = [[]]
    for i, (x_label, value) in enumerate(points):
        x = PAD_LEFT + step * i
        if i % max(1, len(points) // 6) == 0 or i == len(points) - 1:
            body.append(f'<text x="{x:.1f}" y="{HEIGHT - 12}" text-anchor="middle" '
                        f'font-size="11" fill="#4a5568">{escape(x_label)}</text>')
        if value is None:
            runs.append([])
            continue
        y = PAD_TOP + plot_h * (1 - max(0.0, min(1.0, value)))
        runs[-1].append(f"{x:.1f},{y:.1f}")
        shown = f"{round(value * 100)}%"
        body.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{escape(colour)}" '
                    f'data-week="{escape(x_label)}" data-value="{shown}">'
                    f"<title>{escape(x_label)}: {shown}</title></circle>")
    lines = [f'<polyline points="{" ".join(run)}" fill="none" stroke="{escape(colour)}" '
             f'stroke-width="2"/>' for run in runs if len(run) > 1]
    return _svg(chart_id, label, WIDTH, HEIGHT, body[:5] + lines + body[5:])


def bar_chart(rows: Sequence[tuple[str, Sequence[int]]], legend: Sequence[str], *,
              chart_id: str, label: str) -> Markup:
    """``rows``: (name, one count per legend entry); horizontal groups of bars."""
    bar_h, gap, name_w = 12, 10, 210
    group_h = bar_h * len(legend) + gap
    height = PAD_TOP + group_h * max(1, len(rows)) + 24
    top = max([1, *(v for _, values in rows for v in values)])
    scale = (WIDTH - name_w - 60) / top
    body = []
    for j, name in enumerate(legend):
        x = name_w + j * 120
        body.append(f'<rect x="{x}" y="2" width="10" height="10" fill="{BAR_COLOURS[j % 3]}"/>'
                    f'<text x="{x + 14}" y="11" font-size="11" fill="#2d3748">'
                    f"{escape(name)}</text>")
    for i, (name, values) in enumerate(rows):
        y0 = PAD_TOP + 8 + i * group_h
        body.append(f'<text x="{name_w - 8}" y="{y0 + group_h / 2:.1f}" text-anchor="end" '
                    f'font-size="12" fill="#2d3748">{escape(name)}</text>')
        for j, value in enumerate(values):
            y, w = y0 + j * bar_h, max(1.0, value * scale)
            body.append(f'<rect x="{name_w}" y="{y}" width="{w:.1f}" height="{bar_h - 2}" '
                        f'fill="{BAR_COLOURS[j % 3]}" data-series="{escape(legend[j])}" '
                        f'data-value="{value}"><title>{escape(name)} · {escape(legend[j])}: '
                        f'{value}</title></rect><text x="{name_w + w + 4:.1f}" '
                        f'y="{y + bar_h - 3}" font-size="10" fill="#2d3748">{value}</text>')
    return _svg(chart_id, label, WIDTH, height, body)
