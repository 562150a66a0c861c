"""One report page, written as a self-contained ``report.html`` (figures embedded, no network) and a
``report.md`` beside it (figures as PNG files next to it).

A page is a list of blocks added in order: headings, paragraphs, findings (sentences generated from the
numbers), tables (optionally searchable, rows optionally highlighted), figures, media referenced by path,
ordered lists of items and collapsible details. The HTML carries
:data:`rlscope.report.browser.READY_SCRIPT`, so headless Chromium can tell that every image loaded and no
script failed. A searchable table filters its rows by the text in its box; ``report.html#search=TEXT``
opens the page with TEXT in the box.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import io
import urllib.parse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rlscope.config import atomic_write_text
from rlscope.report.browser import READY_SCRIPT

CSS = """
body{font-family:system-ui,sans-serif;max-width:1000px;margin:1.5em auto;padding:0 1em;color:#222;line-height:1.45}
table{border-collapse:collapse;font-size:0.9em;margin:1em 0}
th,td{border:1px solid #bbb;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f0f0f0;cursor:pointer}
img{max-width:100%;border:1px solid #ddd}
.note{color:#777;font-size:0.9em}
pre{background:#f6f6f6;padding:8px;overflow-x:auto;font-size:0.85em;text-align:left;white-space:pre-wrap}
input.search{width:20em;padding:4px;margin:0.5em 0}
tr.highlight td{background:#fafaf0;font-style:italic}
ol.items li{margin:0.4em 0}
.warn{color:#a60}
.muted{color:#555}
"""

SEARCH_SCRIPT = """<script>
function rlscopeFilter(box) {
  var q = box.value.toLowerCase(), table = document.getElementById(box.dataset.table), shown = 0;
  var rows = table.tBodies[0].rows;
  for (var i = 0; i < rows.length; i++) {
    var hit = rows[i].textContent.toLowerCase().indexOf(q) >= 0;
    rows[i].style.display = hit ? "" : "none";
    if (hit) { shown++; }
  }
  table.dataset.shown = String(shown);
}
function rlscopeSort(th) {
  var table = th.closest("table"), body = table.tBodies[0], col = th.cellIndex;
  var rows = Array.prototype.slice.call(body.rows), asc = th.dataset.asc !== "1";
  rows.sort(function (a, b) {
    var ea = a.cells[col].querySelector("[data-v]"), eb = b.cells[col].querySelector("[data-v]");
    var x = ea ? ea.dataset.v : a.cells[col].textContent, y = eb ? eb.dataset.v : b.cells[col].textContent;
    var nx = parseFloat(x), ny = parseFloat(y);
    var c = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
    return asc ? c : -c;
  });
  rows.forEach(function (r) { body.appendChild(r); });
  th.dataset.asc = asc ? "1" : "0";
}
window.addEventListener("DOMContentLoaded", function () {
  var m = location.hash.match(/search=([^&]*)/);
  var boxes = document.querySelectorAll("input.search");
  for (var i = 0; i < boxes.length; i++) {
    if (m) { boxes[i].value = decodeURIComponent(m[1]); }
    rlscopeFilter(boxes[i]);
  }
});
</script>"""


def figure_axes(width: float, height: float):
    """A new matplotlib figure and its axes (drawn off screen), in inches."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(width, height))


def png(fig) -> bytes:
    """A matplotlib figure as PNG bytes (the figure is closed)."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def _cell(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3f}"
    return "—" if v is None else str(v)


class Page:
    """A report being assembled (see the module docstring)."""

    def __init__(self, title: str):
        self.title = title
        self._html: list[str] = []
        self._md: list[str] = []
        self._figures: dict[str, bytes] = {}
        self._tables = 0

    def heading(self, text: str, level: int = 2) -> None:
        self._html.append(f"<h{level}>{html.escape(text)}</h{level}>")
        self._md += ["", "#" * level + " " + text, ""]

    def paragraph(self, text: str, note: bool = False) -> None:
        self._html.append(f"<p{' class=note' if note else ''}>{html.escape(text)}</p>")
        self._md += [f"*{text}*" if note else text, ""]

    def findings(self, sentences: Sequence[str], markdown: Sequence[str] | None = None) -> None:
        """A list of findings (``markdown``: their Markdown form, e.g. with emphasis, when it differs)."""
        self._html.append("<ul class='findings'>" + "".join(f"<li>{html.escape(s)}</li>" for s in sentences) + "</ul>")
        self._md += [f"- {s}" for s in (markdown or sentences)] + [""]

    def table(self, columns: Sequence[str], rows: Sequence[Sequence[Any]], searchable: bool = False) -> str:
        """Add a table (sortable by a click on a heading); returns its element id."""
        self._tables += 1
        tid = f"table{self._tables}"
        head = "".join(f"<th onclick='rlscopeSort(this)'>{html.escape(c)}</th>" for c in columns)
        body = "".join(("<tr class='highlight'>" if isinstance(r, Highlighted) else "<tr>")
                       + "".join(f"<td>{_html_cell(v)}</td>" for v in r) + "</tr>" for r in rows)
        box = (f"<input class='search' type='search' placeholder='search' data-table='{tid}' "
               "oninput='rlscopeFilter(this)'>") if searchable else ""
        self._html.append(f"{box}<table id='{tid}' data-shown='{len(rows)}'><thead><tr>{head}</tr></thead>"
                          f"<tbody>{body}</tbody></table>")
        self._md += ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        self._md += ["| " + " | ".join(_md_cell(v) for v in r) + " |" for r in rows] + [""]
        return tid

    def figure(self, data: bytes, name: str, alt: str) -> None:
        """A PNG: embedded in the HTML, a file ``name`` beside the Markdown."""
        self._figures[name] = data
        self._html.append(f"<p><img alt='{html.escape(alt)}' src='data:image/png;base64,{base64.b64encode(data).decode()}'></p>")
        self._md += [f"![{alt}]({urllib.parse.quote(name)})", ""]

    def media(self, src: str, alt: str) -> None:
        """An image kept as a file (e.g. a large GIF), referenced by ``src``, a path relative to the report, in both
        the HTML and the Markdown; the report and the file can be moved together."""
        if Path(src).is_absolute():
            raise ValueError(f"media path must be relative to the report: {src}")
        quoted = urllib.parse.quote(Path(src).as_posix())
        self._html.append(f"<p><img alt='{html.escape(alt)}' src='{html.escape(quoted)}'></p>")
        self._md += [f"![{alt}]({quoted})", ""]

    def ordered_list(self, items: Sequence[ListItem]) -> None:
        """A numbered list of :class:`ListItem`; in the Markdown, the items' code follows the list, collapsed."""
        e = html.escape
        lis = []
        for it in items:
            line = f"<b>{e(it.title)}</b>" + (f": {e(it.text)}" if it.text else "")
            line += f" <span class='muted'>({e(it.note)})</span>" if it.note else ""
            if it.warnings:
                line += "<ul>" + "".join(f"<li class='warn'>warning: {e(w)}</li>" for w in it.warnings) + "</ul>"
            if it.code:
                line += f"<details><summary>{e(it.code_summary)}</summary><pre>{e(it.code)}</pre></details>"
            lis.append(f"<li>{line}</li>")
        self._html.append("<ol class='items'>" + "".join(lis) + "</ol>")
        for k, it in enumerate(items, 1):
            self._md.append(f"{k}. **{it.title}**" + (f": {it.text}" if it.text else "") + (f" ({it.note})" if it.note else ""))
            self._md += [f"   - warning: {w}" for w in it.warnings]
        self._md.append("")
        for it in items:
            if it.code:
                self._md += [f"<details><summary>{html.escape(it.code_summary)}</summary>", "", f"```{it.language}",
                             it.code.rstrip(), "```", "", "</details>", ""]

    def details(self, summary: str, text: str) -> None:
        """A collapsed block of preformatted text."""
        self._html.append(f"<details><summary>{html.escape(summary)}</summary><pre>{html.escape(text)}</pre></details>")
        self._md += [f"<details><summary>{html.escape(summary)}</summary>", "", "```", text.rstrip(), "```", "", "</details>", ""]

    def write(self, out: Path, stem: str = "report") -> dict[str, str]:
        """``out/<stem>.html``, ``out/<stem>.md`` and the figures' PNG files; returns their paths."""
        out.mkdir(parents=True, exist_ok=True)
        for name, data in self._figures.items():
            (out / name).write_bytes(data)
        page = ("<!doctype html>\n<html lang='en'><head><meta charset='utf-8'>"
                f"<meta name='viewport' content='width=device-width, initial-scale=1'><title>{html.escape(self.title)}</title>"
                f"<style>{CSS}</style>{READY_SCRIPT}{SEARCH_SCRIPT}</head>\n<body>\n<h1>{html.escape(self.title)}</h1>\n"
                + "\n".join(self._html) + "\n</body></html>\n")
        atomic_write_text(out / f"{stem}.html", page)
        atomic_write_text(out / f"{stem}.md", "\n".join([f"# {self.title}", "", *self._md]).rstrip() + "\n")
        return {"html": str(out / f"{stem}.html"), "markdown": str(out / f"{stem}.md")}


class Raw(str):
    """Table cell content that is already HTML (its Markdown form is the text without tags)."""


class Highlighted(tuple):
    """A table row shown highlighted in the HTML (``tr.highlight``), e.g. a total: ``Highlighted(cells)``."""


@dataclasses.dataclass(frozen=True)
class ListItem:
    """One entry of :meth:`Page.ordered_list`: **title**: text (note), its warnings nested, its code collapsed."""

    title: str
    text: str = ""
    note: str = ""
    """Shown muted, in parentheses (e.g. a verdict)."""
    warnings: Sequence[str] = ()
    code: str | None = None
    code_summary: str = "code"
    """The summary line of the collapsed code."""
    language: str = ""
    """The code's language, for the Markdown fence."""


def _html_cell(v: Any) -> str:
    return str(v) if isinstance(v, Raw) else html.escape(_cell(v))


def _md_cell(v: Any) -> str:
    import re

    text = re.sub(r"<[^>]+>", " ", str(v)) if isinstance(v, Raw) else _cell(v)
    return " ".join(text.split()).replace("|", "\\|")
