"""Charts drawn on the server as inline SVG by pygal, with no JavaScript (the page's CSP allows no
inline script, and pygal's config script and tooltips are left out), readable without colour:
one series per chart, each bar named on its axis and labelled with its value. Each chart is
shown beside a table of the same numbers (the page's template) for screen readers.

pygal puts its CSS in a <style> element inside the SVG: the page's CSP names a per-response nonce
for it (`nonce` below), and pygal's one inline style attribute (the hidden tooltip) is removed.
"""
from __future__ import annotations

import re

import pygal
from markupsafe import Markup, escape
from pygal.style import Style

_STYLE = Style(
    background="#ffffff", plot_background="#ffffff", foreground="#1f2933", foreground_strong="#1f2933",
    foreground_subtle="#52606d", colors=("#1d4ed8",), font_family="system-ui, sans-serif",
    value_font_size=13, label_font_size=13, major_label_font_size=13, title_font_size=15,
    value_colors=("#1f2933",),
)
_SCRIPT = re.compile(r"<script\b.*?</script>", re.S)
_COMMENT = re.compile(r"<!--.*?-->", re.S)


def _options(title: str, height: int) -> dict:
    return {"js": [], "disable_xml_declaration": True, "show_legend": False, "print_values": True,
            "explicit_size": False, "width": 640, "height": height, "style": _STYLE, "title": title,
            "margin": 12, "truncate_label": -1, "no_data_text": "No data yet"}


def bars(title: str, rows: list[tuple[str, int]], nonce: str) -> Markup:
    """A horizontal bar chart, one bar per (label, count), each labelled with its count."""
    chart = pygal.HorizontalBar(**_options(title, 80 + 32 * max(len(rows), 1)))
    chart.x_labels = [label for label, _ in rows]
    chart.add(title, [count for _, count in rows])
    return _inline(chart, title, nonce)


def share_line(title: str, points: list[tuple[str, float | None]], nonce: str) -> Markup:
    """The share of verified identifications (per cent) over time, one labelled point per bucket."""
    chart = pygal.Line(**_options(title, 320), range=(0, 100), x_label_rotation=30, show_minor_x_labels=False,
                       x_labels_major_every=max(1, len(points) // 8))
    chart.x_labels = [label for label, _ in points]
    chart.add(title, [value for _, value in points], formatter=lambda v: "" if v is None else f"{v:g}%")
    return _inline(chart, title, nonce)


def _inline(chart, title: str, nonce: str) -> Markup:
    svg = chart.render(is_unicode=True)
    svg = _COMMENT.sub("", _SCRIPT.sub("", svg)).replace(' style="opacity: 0"', "")
    svg = svg.replace("<style", f'<style nonce="{escape(nonce)}"', 1)
    svg = svg.replace("<svg ", f'<svg role="img" aria-label="{escape(title)}" ', 1)
    return Markup(svg)
