"""Check that an HTML report loads in a real browser: headless Chromium dumps the DOM after the
page's images have loaded, and the page itself says how many loaded and how many failed.

A page takes part by embedding :data:`READY_SCRIPT`: once every ``<img>`` has loaded or failed it
sets ``data-ready`` (images with a decoded size) and ``data-broken`` (the others) on ``<body>``.
"""

from __future__ import annotations

import html.parser
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from rlscope.errors import RlscopeError

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
"""Executables tried, in order."""
BROWSER_PACKAGE = "chromium"
"""Debian package of the browser (``scripts/install-system-deps.sh`` installs it)."""

READY_SCRIPT = """<script>
window.rlscopeErrors = 0;
window.addEventListener("error", function (e) { if (!e.target || e.target === window) { window.rlscopeErrors++; } });
window.addEventListener("load", function () {
  var ok = 0, bad = 0;
  for (var i = 0; i < document.images.length; i++) {
    var im = document.images[i];
    if (im.complete && im.naturalWidth > 0) { ok++; } else { bad++; }
  }
  document.body.dataset.ready = String(ok);
  document.body.dataset.broken = String(bad);
  document.body.dataset.errors = String(window.rlscopeErrors);
});
</script>"""
"""Inline script for a report page: the ``load`` event fires once every image has loaded or failed; script
errors until then are counted in ``data-errors``."""


def find_browser() -> str | None:
    """Path of a Chromium-family browser on ``PATH``, or None."""
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    return None


def check_page(html_path: str | Path, timeout_s: float = 60.0) -> dict[str, int | str]:
    """Load a page in headless Chromium and read what its :data:`READY_SCRIPT` recorded.

    Returns ``{"images_loaded", "images_broken", "images_total", "title"}``; ``images_total`` counts
    the ``<img>`` elements of the rendered DOM.

    Raises
    ------
    RlscopeError
        No browser is installed (names the Debian package), the browser fails or times out, or
        the page never recorded its images (it lacks the script, or did not finish loading).
    """
    page = Path(html_path).resolve()
    dom = dump_dom(page, timeout_s=timeout_s)
    parsed = _PageParser()
    parsed.feed(dom)
    if "data-ready" not in parsed.body_attrs:
        raise RlscopeError(f"{page}: the page did not record its images (no data-ready on <body>: "
                           "it lacks rlscope.report.browser.READY_SCRIPT or did not finish loading)")
    try:
        loaded = int(parsed.body_attrs["data-ready"] or "")
        broken = int(parsed.body_attrs.get("data-broken") or "")
    except ValueError:
        raise RlscopeError(f"{page}: malformed data-ready/data-broken on <body>: {parsed.body_attrs}") from None
    errors = int(parsed.body_attrs.get("data-errors") or 0)
    return {"images_loaded": loaded, "images_broken": broken, "images_total": parsed.images, "title": parsed.title.strip(),
            "script_errors": errors}


def dump_dom(html_path: str | Path, fragment: str = "", timeout_s: float = 60.0) -> str:
    """The DOM of a page after headless Chromium loaded it (and ran its scripts), opened at ``#fragment``."""
    page = Path(html_path).resolve()
    if not page.is_file():
        raise RlscopeError(f"{page}: no such page")
    browser = find_browser()
    if browser is None:
        raise RlscopeError(f"no Chromium found on PATH (tried {', '.join(BROWSERS)}); on Debian: apt-get install {BROWSER_PACKAGE}")
    with tempfile.TemporaryDirectory(prefix="rlscope-browser-") as profile:
        cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
               f"--user-data-dir={profile}", "--virtual-time-budget=5000", "--dump-dom",
               page.as_uri() + (f"#{fragment}" if fragment else "")]
        return _run(cmd, timeout_s)


def screenshot(html_path: str | Path, png_path: str | Path, width: int = 1100, height: int = 3000,
               timeout_s: float = 60.0) -> Path:
    """A PNG of a page as headless Chromium renders it in a ``width`` x ``height`` window (its top part, scripts run)."""
    page, png = Path(html_path).resolve(), Path(png_path).resolve()
    if not page.is_file():
        raise RlscopeError(f"{page}: no such page")
    browser = find_browser()
    if browser is None:
        raise RlscopeError(f"no Chromium found on PATH (tried {', '.join(BROWSERS)}); on Debian: apt-get install {BROWSER_PACKAGE}")
    png.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="rlscope-browser-") as profile:
        _run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
              f"--user-data-dir={profile}", "--virtual-time-budget=5000", "--hide-scrollbars",
              f"--window-size={width},{height}", f"--screenshot={png}", page.as_uri()], timeout_s, want_output=False)
    if not png.is_file():
        raise RlscopeError(f"{browser} wrote no screenshot of {page}")
    return png


def _run(cmd: list[str], timeout_s: float, want_output: bool = True) -> str:
    """Run the browser in its own process group (it forks helpers); kill the group on timeout."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise RlscopeError(f"{cmd[0]} did not finish within {timeout_s:.0f} s") from None
    if proc.returncode != 0 or (want_output and not out.strip()):
        reason = (err.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
        raise RlscopeError(f"{cmd[0]} failed: {reason}")
    return out


class _PageParser(html.parser.HTMLParser):
    """Collects the ``<body>`` attributes, the ``<title>`` text and the number of ``<img>`` elements."""

    def __init__(self) -> None:
        super().__init__()
        self.body_attrs: dict[str, str | None] = {}
        self.title = ""
        self.images = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "body":
            self.body_attrs = dict(attrs)
        elif tag == "img":
            self.images += 1
        elif tag == "title":
            self._in_title = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
