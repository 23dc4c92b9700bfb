"""Charts as server-side SVG (pygal), embedded as images; every chart's numbers are also shown
as a table beside it (for screen readers, and for anyone who would rather read)."""

import base64

import pygal
from pygal.style import Style

# Colours with at least 4.5:1 contrast on white for labels; bars distinguishable without colour
# alone because each chart has its table.
STYLE = Style(
    background="white",
    plot_background="white",
    foreground="#1f2933",
    foreground_strong="#1f2933",
    foreground_subtle="#52606d",
    opacity=".9",
    opacity_hover="1",
    transition="0s",
    colors=("#1b6e3a", "#b7791f", "#b42318", "#3e4c59"),
    font_family="system-ui, sans-serif",
    label_font_size=13,
    major_label_font_size=13,
    legend_font_size=14,
    title_font_size=16,
    value_font_size=12,
)

COMMON = dict(style=STYLE, js=[], show_legend=True, legend_at_bottom=True, print_values=False, margin=12,
              explicit_size=False, no_data_text="Belum ada data", min_scale=2, max_scale=8)  # fmt: skip
# Two drawings of each chart: a phone shows the narrow one, so its labels stay readable.
SIZES = {"wide": dict(width=800, height=360, legend_at_bottom_columns=3),
         "narrow": dict(width=400, height=320, legend_at_bottom_columns=1)}  # fmt: skip


def ticks(highest: int, count: int) -> list[int]:
    """Whole-number axis labels (people are counted in whole numbers), at most about `count`."""
    step = max(1, -(-highest // count))
    return list(range(0, highest + step + 1, step)) if highest else [0, 1]


def short(label: str, size: dict) -> str:
    limit = 30 if size["width"] > 500 else 14
    return label if len(label) <= limit else label[: limit - 1] + "…"


def data_uris(make) -> dict[str, str]:
    """{"wide": data URI, "narrow": data URI} for `make(size_options)`, a pygal chart."""
    return {size: "data:image/svg+xml;base64," + base64.b64encode(make(options).render()).decode()
            for size, options in SIZES.items()}  # fmt: skip


def sessions(rows: list[dict]) -> dict[str, str]:
    def make(size):
        highest = max((r["present"] for r in rows), default=0)
        chart = pygal.StackedBar(**COMMON, **size, x_title="Sesi", y_title="Peserta",
                                 y_labels=ticks(highest, 6 if size["width"] > 500 else 4))  # fmt: skip
        chart.x_labels = [str(r["session"]) for r in rows]
        chart.add("Hadir dan dihitung", [r["counted"] for r in rows])
        chart.add("Hadir, kurang durasi", [r["present"] - r["counted"] for r in rows])
        return chart

    return data_uris(make)


def outlook(rows: list[tuple[str, dict]]) -> dict[str, str]:
    """Per group: completed / can still complete / can no longer complete (withdrawn apart)."""

    def make(size):
        tall = {**size, "height": max(size["height"] - 60, 90 + 34 * len(rows))}
        highest = max((sum(c.get(k, 0) for k in ("completed", "in_progress", "cannot_complete")) for _, c in rows),
                      default=0)  # fmt: skip
        chart = pygal.HorizontalStackedBar(**COMMON, **tall, truncate_legend=-1,
                                           y_labels=ticks(highest, 6 if size["width"] > 500 else 3))  # fmt: skip
        chart.x_labels = [short(label, size) for label, _ in rows]
        chart.add("Lulus", [c.get("completed", 0) for _, c in rows])
        chart.add("Masih bisa lulus", [c.get("in_progress", 0) for _, c in rows])
        chart.add("Tidak bisa lulus lagi", [c.get("cannot_complete", 0) for _, c in rows])
        return chart

    return data_uris(make)


def issued(points: list[tuple[str, int]]) -> dict[str, str]:
    """Cumulative certificates issued (first issues), per period."""
    total, values = 0, []
    for _, n in points:
        total += n
        values.append(total)

    def make(size):
        every = max(1, len(points) // (8 if size["width"] > 500 else 4))
        kind = pygal.Bar if len(points) < 3 else pygal.Line  # one or two periods: a line says nothing
        chart = kind(**{**COMMON, **size, "show_legend": False}, y_labels=ticks(total, 5),
                           x_label_rotation=30, show_minor_x_labels=False, y_title="Kumulatif")  # fmt: skip
        chart.x_labels = [label for label, _ in points]
        chart.x_labels_major = [label for i, (label, _) in enumerate(points) if i % every == 0]
        chart.add("Sertifikat terbit", values)
        return chart

    return data_uris(make)
