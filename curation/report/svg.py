"""Small hand-written SVG plots: horizontal bars, grouped columns, a cumulative line, shares over
rounds, a heatmap.

Each function returns one `<svg id=...>` element with a <title> (read by screen readers and
shown on hover); numbers are written on the plot, so it reads without axes ticks.
"""

from __future__ import annotations

from html import escape

WIDTH = 640
LABEL_WIDTH = 170  # room for a row label at the left of horizontal bars
FONT = 'font-family="system-ui, sans-serif" font-size="12"'
BLUE, RED, ORANGE, GREY = "#4c78a8", "#e45756", "#f58518", "#9d9d9d"


def _svg(plot_id: str, title: str, height: int, body: list[str], width: int = WIDTH) -> str:
    return (
        f'<svg id="{escape(plot_id)}" class="plot" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" {FONT}>'
        f"<title>{escape(title)}</title>{''.join(body)}</svg>"
    )


def _text(x: float, y: float, text: str, anchor: str = "start", fill: str = "#222", bold: bool = False) -> str:
    weight = ' font-weight="bold"' if bold else ""
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" fill="{fill}"{weight}>{escape(text)}</text>'


def _rect(x: float, y: float, w: float, h: float, fill: str, tip: str = "") -> str:
    hover = f"<title>{escape(tip)}</title>" if tip else ""
    return f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(w, 0):.1f}" height="{h:.1f}" fill="{fill}">{hover}</rect>'


def _short(label: str, size: int = 26) -> str:
    return label if len(label) <= size else label[: size - 1] + "…"


def _legend(y: float, entries: list[tuple[str, str]], x: float = LABEL_WIDTH) -> list[str]:
    body = []
    for name, color in entries:
        body += [_rect(x, y - 10, 12, 12, color), _text(x + 16, y, name)]
        x += 28 + 8 * len(name)
    return body


def _nothing(plot_id: str, title: str, message: str) -> str:
    return _svg(plot_id, title, 40, [_text(10, 24, message, fill=GREY)])


def hbars(plot_id: str, title: str, rows: list[tuple[str, list[float], str]], colors: list[str],
          legend: list[str] | None = None, max_value: float | None = None, empty: str = "no data yet") -> str:
    """One row per (label, stacked segment values, text written after the bar)."""
    if not rows:
        return _nothing(plot_id, title, empty)
    top = max_value or max((sum(values) for _, values, _ in rows), default=0) or 1
    span = WIDTH - LABEL_WIDTH - 170  # the rest holds the text after the longest bar
    body, y = [], 8
    if legend:
        body += _legend(y + 12, list(zip(legend, colors)))
        y += 22
    for label, values, note in rows:
        body.append(_text(LABEL_WIDTH - 8, y + 14, _short(label), anchor="end"))
        x = LABEL_WIDTH
        for k, value in enumerate(values):
            w = span * max(value, 0) / top
            tip = f"{label}: {legend[k] + ' ' if legend else ''}{value:g}"
            body.append(_rect(x, y + 2, w, 16, colors[k % len(colors)], tip))
            x += w
        body.append(_text(x + 6, y + 14, note))
        y += 22
    return _svg(plot_id, title, y + 8, body)


def columns(plot_id: str, title: str, caption: str, categories: list[str], series: list[tuple[str, str, list[int]]]) -> str:
    """Grouped columns: for each category, one column per (name, color, counts) series; `caption` above."""
    top = max((v for _, _, counts in series for v in counts), default=0)
    if not categories or not top:
        return _nothing(plot_id, title, "no ratings yet")
    height, base, column = 210, 180, 22
    group = column * len(series) + 18
    left = 40
    body = [_text(left - 6, 14, caption, bold=True), *_legend(34, [(name, color) for name, color, _ in series], left)]
    body[0:0] = [f'<line x1="{left - 6}" y1="{base}" x2="{left + group * len(categories)}" y2="{base}" stroke="{GREY}"/>']
    for i, category in enumerate(categories):
        x0 = left + i * group
        for k, (name, color, counts) in enumerate(series):
            h = 120 * counts[i] / top
            x = x0 + k * column
            body.append(_rect(x, base - h, column - 3, h, color, f"{name}, {category}: {counts[i]}"))
            body.append(_text(x + (column - 3) / 2, base - h - 4, str(counts[i]), anchor="middle"))
        body.append(_text(x0 + (group - 18) / 2, base + 16, category, anchor="middle", bold=True))
    return _svg(plot_id, title, height, body, width=max(WIDTH // 2, left + group * len(categories) + 10))


def cumulative_line(plot_id: str, title: str, points: list[tuple[float, int]], first: str, last: str) -> str:
    """A rising line of (time in seconds since the first point, running count) with its ends labelled."""
    if not points:
        return _nothing(plot_id, title, "no reviews yet")
    height, left, right, top_y, base = 200, 50, WIDTH - 20, 20, 170
    duration = points[-1][0] or 1
    peak = points[-1][1]
    xy = [(left + (right - left) * t / duration, base - (base - top_y) * n / peak) for t, n in points]
    steps = [f"{left:.1f},{base:.1f}"]
    for (x, y), (_, previous_y) in zip(xy, [(left, base)] + xy[:-1]):
        steps += [f"{x:.1f},{previous_y:.1f}", f"{x:.1f},{y:.1f}"]  # a step up at each review
    body = [
        f'<line x1="{left}" y1="{base}" x2="{right}" y2="{base}" stroke="{GREY}"/>',
        f'<line x1="{left}" y1="{base}" x2="{left}" y2="{top_y}" stroke="{GREY}"/>',
        f'<polyline points="{" ".join(steps)}" fill="none" stroke="{BLUE}" stroke-width="2"/>',
        _text(left - 6, top_y + 4, str(peak), anchor="end"),
        _text(left - 6, base, "0", anchor="end"),
        _text(left, base + 18, first),
        _text(right, base + 18, last, anchor="end"),
    ]
    return _svg(plot_id, title, height, body)


def shares_over(plot_id: str, title: str, labels: list[str], series: list[tuple[str, str, list[float | None]]]) -> str:
    """Lines of shares (0 to 1) over ordered steps `labels`, one per (name, color, values) series;
    a None value leaves a gap, and a series of only None is left out."""
    series = [s for s in series if any(v is not None for v in s[2])]
    if not labels or not series:
        return _nothing(plot_id, title, "nothing to compare over rounds yet")
    height, left, right, top_y, base = 230, 50, WIDTH - 20, 44, 190
    step = (right - left) / max(len(labels) - 1, 1)
    body = [*_legend(16, [(name, color) for name, color, _ in series], left),
            f'<line x1="{left}" y1="{base}" x2="{right}" y2="{base}" stroke="{GREY}"/>',
            f'<line x1="{left}" y1="{base}" x2="{left}" y2="{top_y}" stroke="{GREY}"/>',
            _text(left - 6, top_y + 4, "100%", anchor="end"), _text(left - 6, base, "0%", anchor="end")]
    for i, label in enumerate(labels):
        body.append(_text(left + step * i, base + 18, _short(label, 18), anchor="middle" if 0 < i < len(labels) - 1
                          else ("start" if i == 0 else "end")))
    for name, color, values in series:
        points = [(left + step * i, base - (base - top_y) * v, v) for i, v in enumerate(values) if v is not None]
        runs, run = [], []
        for i, v in enumerate(values):  # a None splits the line
            if v is None:
                runs, run = runs + [run] if run else runs, []
            else:
                run.append(f"{left + step * i:.1f},{base - (base - top_y) * v:.1f}")
        runs += [run] if run else []
        body += [f'<polyline points="{" ".join(r)}" fill="none" stroke="{color}" stroke-width="2"/>' for r in runs]
        body += [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{color}"><title>{escape(f"{name}: {v * 100:.1f}%")}'
                 f"</title></circle>" for x, y, v in points]
    return _svg(plot_id, title, height, body)


def heatmap(plot_id: str, title: str, scale: list, matrix: list[list[int]], row_title: str, col_title: str) -> str:
    """A table of counts, darker for more: rows `row_title` values, columns `col_title` values."""
    peak = max((v for row in matrix for v in row), default=0)
    if not peak:
        return _nothing(plot_id, title, "no pairs to compare yet")
    cell, left, top = 40, 120, 46
    body = [_text(left + cell * len(scale) / 2, 14, col_title, anchor="middle", bold=True),
            _text(8, top + cell * len(scale) / 2, row_title, bold=True)]
    for j, value in enumerate(scale):
        body.append(_text(left + cell * j + cell / 2, top - 8, str(value), anchor="middle"))
        body.append(_text(left - 8, top + cell * j + cell / 2 + 4, str(value), anchor="end"))
    for i, row in enumerate(matrix):
        for j, count in enumerate(row):
            strength = count / peak
            fill = BLUE if count else "#f2f2f2"
            opacity = 0.15 + 0.85 * strength if count else 1
            x, y = left + cell * j, top + cell * i
            body.append(f'<rect x="{x}" y="{y}" width="{cell - 2}" height="{cell - 2}" fill="{fill}" '
                        f'fill-opacity="{opacity:.2f}"><title>{escape(f"{row_title} {scale[i]}, {col_title} {scale[j]}: {count}")}</title></rect>')
            body.append(_text(x + cell / 2 - 1, y + cell / 2 + 3, str(count), anchor="middle",
                              fill="#fff" if strength > 0.6 else "#222"))
    return _svg(plot_id, title, top + cell * len(scale) + 10, body, width=left + cell * len(scale) + 20)
