"""Matrices as shaded HTML tables (attention, similarity, confusion): crisp at any size, no plotting library."""

import html
from collections.abc import Sequence
from typing import Any


def heatmap_html(
    rows: Sequence[str],
    columns: Sequence[str],
    matrix: Any,
    caption: str,
    *,
    css_class: str = "lm-heatmap",
    corner: str = "",
    show_values: bool = False,
) -> str:
    """A shaded table, darker for larger values; `caption` is trusted HTML, labels are escaped."""
    values = [[float(v) for v in row] for row in matrix]
    peak = max((max(row) for row in values if row), default=0.0) or 1.0
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = []
    for name, row in zip(rows, values):
        cells = "".join(
            f'<td title="{v:.3f}" style="background: rgba(79,70,229,{0.08 + 0.8 * max(v, 0) / peak:.2f})">'
            f"{f'{v:g}' if show_values else ''}</td>"
            for v in row
        )
        body.append(f"<tr><th>{html.escape(name)}</th>{cells}</tr>")
    return (
        f"<p>{caption}</p><table class=\"{css_class}\"><tr><th>{html.escape(corner)}</th>{head}</tr>"
        f"{''.join(body)}</table>"
    )
