"""The built book, opened the way a reader opens it: in a real (headless) browser
with no internet.

For every page of _toc.yml, served from _build/html on 127.0.0.1, Debian's
Chromium (driven through chromedriver by selenium) must show:

* typeset math: every math element holds MathJax output, no raw TeX delimiters
  are left in the text, and MathJax reported no TeX error;
* every image loaded (naturalWidth > 0);
* no broken internal link: each local href points to a file of the build and
  each #anchor to an id that exists on the target page;
* no resource that failed to load (a CDN the machine cannot reach shows here);
* no displayed equation overflows its column, at 1280 px and at 400 px wide: at 1280 px (a
  laptop) every display of a chapter fits its column with no scroll bar, as in a printed book
  (``vi_book.display`` breaks a long display over aligned rows); at 400 px (a phone) a display
  either fits or scrolls inside its own box (``_static/vi_book.css``). The number of displays
  that need to scroll at each width is printed and written to ``_screenshots/overflow.json``,
  with a screenshot of each page's widest display at 400 px.

A screenshot of each page is saved to _build/html/_screenshots/ for a person to
look at. Chromium is installed by `make test` (`make browser`); when it is
missing the test fails under CI=true and is skipped otherwise.
"""

from __future__ import annotations

import base64
import functools
import http.server
import json
import os
import re
import shutil
import tempfile
import threading
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from tests.conftest import toc_docnames

pytestmark = pytest.mark.book

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1200,1600",
]
MATHJAX_TIMEOUT_S = 30

# Runs in the page once MathJax is done (or absent); returns what the checks need.
INSPECT_PAGE_JS = r"""
const done = arguments[arguments.length - 1];
const t0 = Date.now();
function loadImage(src) {
  return new Promise(resolve => {
    const probe = new Image();
    probe.onload = () => resolve(probe.naturalWidth);
    probe.onerror = () => resolve(0);
    probe.src = src;
  });
}
async function inspect(mathjaxState) {
  const images = [];
  for (const img of Array.from(document.images)) {
    let width = img.complete ? img.naturalWidth : 0;
    if (!img.complete) await new Promise(r => { img.addEventListener("load", r); img.addEventListener("error", r); setTimeout(r, 10000); });
    if (!width) width = img.naturalWidth;
    if (!width && img.currentSrc !== "") width = await loadImage(img.currentSrc || img.src);
    images.push({src: img.getAttribute("src"), width: width});
  }
  const rawTex = [];
  const skip = "script, style, pre, code, textarea, mjx-container, .highlight, .cell_input";
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const parent = node.parentElement;
    if (!parent || parent.closest(skip)) continue;
    const text = node.nodeValue;
    if (/\\\(|\\\[|\$\$|\\begin\{/.test(text)) rawTex.push(text.trim().slice(0, 120));
  }
  const mathElements = Array.from(document.querySelectorAll(".math"));
  const untypeset = mathElements
    .filter(el => !el.querySelector("mjx-container") && !el.closest("mjx-container"))
    .map(el => el.textContent.trim().slice(0, 120));
  return {
    mathjax: mathjaxState,
    mathCount: mathElements.length,
    mjxCount: document.querySelectorAll("mjx-container").length,
    untypeset: untypeset,
    texErrors: Array.from(document.querySelectorAll("mjx-merror, [data-mjx-error]"))
      .map(el => (el.getAttribute("data-mjx-error") || el.textContent).slice(0, 120)),
    rawTex: rawTex,
    images: images,
    links: Array.from(document.querySelectorAll("a[href]")).map(a => a.href),
    height: Math.max(document.body.scrollHeight, document.documentElement.scrollHeight),
  };
}
(function wait() {
  const hasScript = Array.from(document.scripts).some(s => /mathjax/i.test(s.src));
  if (!hasScript) { inspect("absent").then(done); return; }
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    MathJax.startup.promise.then(() => inspect("typeset"), () => inspect("failed")).then(done);
  } else if (Date.now() - t0 > %TIMEOUT_MS%) {
    inspect("not-loaded").then(done);
  } else {
    setTimeout(wait, 50);
  }
})();
""".replace("%TIMEOUT_MS%", str(MATHJAX_TIMEOUT_S * 1000))


# Runs in the page at the current viewport width: where each visible displayed equation sits
# relative to the text column, and whether a box between the two scrolls horizontally.
OVERFLOW_JS = r"""
const col = document.querySelector('.bd-article') || document.querySelector('article')
  || document.querySelector('main') || document.body;
const cr = col.getBoundingClientRect();
const right = Math.min(cr.right, document.documentElement.clientWidth);
const left = Math.max(cr.left, 0);
const out = [];
for (const c of document.querySelectorAll('mjx-container[display="true"]')) {
  const box = c.getBoundingClientRect();
  if (box.width === 0 || box.height === 0) continue;           // inside a collapsed box
  const math = c.querySelector('mjx-math') || c;
  const inner = math.getBoundingClientRect();
  let scroller = null;
  for (let el = c; el && el !== col.parentElement; el = el.parentElement) {
    const ox = getComputedStyle(el).overflowX;
    if ((ox === 'auto' || ox === 'scroll') && el.scrollWidth > el.clientWidth + 1) { scroller = el; break; }
  }
  const sr = scroller ? scroller.getBoundingClientRect() : null;
  out.push({
    tex: (c.getAttribute('aria-label') || c.textContent || '').slice(0, 80),
    width: Math.round(inner.width),
    column: Math.round(right - left),
    spills: scroller ? (sr.right > right + 1 || sr.left < left - 1) : (inner.right > right + 1 || inner.left < left - 1),
    scrolls: !!scroller,
  });
}
return out;
"""

#: Viewport widths at which every page is measured (a laptop and a phone held upright).
WIDTHS = (1280, 400)
#: The width at which no display may need a scroll bar (a printed page never scrolls sideways).
NO_SCROLL_WIDTH = 1280
#: Pages whose displays may scroll at NO_SCROLL_WIDTH: the errata appendix quotes the course
#: documents' formulas as written (Markdown from vi_ledger.render), not displays laid out by vi_book.
MAY_SCROLL = {"book/appendix_ledger"}

def overflow_problems(displays: list[dict], width: int, strict: bool = False) -> list[str]:
    """Displays that run out of their column at this width (a display that scrolls inside its
    own box is not cut off); with ``strict``, also every display that needs a scroll bar."""
    problems = []
    for d in displays:
        if d["spills"]:
            problems.append(f"{width} px: a display {d['width']} px wide runs out of its {d['column']} px column: {d['tex']!r}")
        elif d["scrolls"] and strict:
            problems.append(f"{width} px: a display {d['width']} px wide needs a scroll bar: {d['tex']!r}")
    return problems


def measure_displays(driver, width: int) -> list[dict]:
    """Set the viewport to ``width`` px (no reload: the layout reflows) and measure every display."""
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": 1600, "deviceScaleFactor": 1, "mobile": False})
    driver.execute_script("return document.body.offsetHeight;")   # force the reflow
    return driver.execute_script(OVERFLOW_JS)


def _widest_screenshot(driver, path: Path) -> bool:
    """Scroll the widest visible display into view and save a PNG; False if the page has none."""
    found = driver.execute_script(
        """let best = null, w = -1;
           for (const c of document.querySelectorAll('mjx-container[display="true"]')) {
             const r = (c.querySelector('mjx-math') || c).getBoundingClientRect();
             if (r.height > 0 && r.width > w) { w = r.width; best = c; }
           }
           if (!best) return false;
           best.scrollIntoView({block: 'center'});
           return true;""")
    if found:
        driver.save_screenshot(str(path))
    return bool(found)


class _IdCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        for key, value in attrs:
            if key == "id" or (key == "name" and tag == "a"):
                if value:
                    self.ids.add(value)


@functools.lru_cache(maxsize=None)
def _anchors_of(path: Path) -> frozenset[str]:
    parser = _IdCollector()
    parser.feed(path.read_text(encoding="utf-8", errors="replace"))
    return frozenset(parser.ids)


def broken_internal_links(links: list[str], page_path: Path, root: Path, origin: str) -> list[str]:
    """Local hrefs (same origin) whose file or #anchor does not exist in the build."""
    broken = []
    for href in links:
        parts = urlsplit(href)
        if f"{parts.scheme}://{parts.netloc}" != origin:
            continue  # external link or mailto: not fetched, the test runs offline
        rel = unquote(parts.path).lstrip("/")
        target = root / rel
        if rel == "" or target.is_dir():
            target = target / "index.html"
        if not target.is_file():
            broken.append(f"{href} (no file {target.relative_to(root)})")
            continue
        fragment = unquote(parts.fragment)
        if fragment and target.suffix == ".html" and fragment not in _anchors_of(target):
            broken.append(f"{href} (no id '{fragment}' in {target.relative_to(root)})")
    return broken


def page_problems(report: dict, page_path: Path, root: Path, origin: str) -> list[str]:
    """Everything a reader would see as broken on one page, from the browser's report."""
    problems = []
    has_math = 'class="math' in page_path.read_text(encoding="utf-8", errors="replace")
    if has_math:
        if report["mathjax"] != "typeset":
            problems.append(f"MathJax state is '{report['mathjax']}', expected 'typeset'")
        if report["mjxCount"] == 0:
            problems.append("page has math but MathJax produced no mjx-container")
    problems += [f"math not typeset: {t!r}" for t in report["untypeset"]]
    problems += [f"TeX error: {t!r}" for t in report["texErrors"]]
    problems += [f"raw TeX left in the text: {t!r}" for t in report["rawTex"]]
    problems += [f"image did not load: {img['src']}" for img in report["images"] if not img["width"]]
    problems += [f"broken link: {b}" for b in broken_internal_links(report["links"], page_path, root, origin)]
    return problems


# --------------------------------------------------------------------------- fixtures


def _require(program: str) -> str:
    path = shutil.which(program) or (f"/usr/bin/{program}" if Path(f"/usr/bin/{program}").exists() else None)
    if path is None:
        message = (
            f"{program} not found: install Debian's chromium and chromium-driver "
            "(`make browser` does it as root)"
        )
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(message)
        pytest.skip(message)
    return path


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def _serve(directory: Path):
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server


@pytest.fixture(scope="module")
def browser():
    chromium = _require("chromium")
    chromedriver = _require("chromedriver")
    os.environ.setdefault("SE_OFFLINE", "true")  # never let selenium fetch a driver
    os.environ.setdefault("SE_AVOID_STATS", "true")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="vi-book-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS + [f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # Return at DOMContentLoaded: the page script then waits for MathJax and for each image itself.
    options.page_load_strategy = "eager"
    driver = webdriver.Chrome(options=options, service=Service(executable_path=chromedriver))
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(MATHJAX_TIMEOUT_S + 30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def site(built_html):
    server = _serve(built_html)
    try:
        yield built_html, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _screenshot(driver, path: Path) -> None:
    """PNG of what the reader sees first (1200x1600) and, when the page has a
    figure, a second one scrolled to its first figure (``<name>__figure.png``).
    A full-page capture costs 2-4 s per long chapter; these cost about 0.3 s."""
    driver.execute_script("window.scrollTo(0, 0);")
    driver.save_screenshot(str(path))
    has_figure = driver.execute_script(
        """const img = document.querySelector('main img, article img, .bd-article img');
           if (!img) return false;
           img.scrollIntoView({block: 'center'});
           return true;"""
    )
    if has_figure:
        driver.save_screenshot(str(path.with_name(path.stem + "__figure.png")))


def _failed_resources(driver) -> list[str]:
    failures = []
    for entry in driver.get_log("browser"):
        message = entry.get("message", "")
        if entry.get("level") == "SEVERE" and ("Failed to load resource" in message or "net::ERR" in message):
            if "favicon.ico" not in message:
                failures.append(message[:200])
    return failures


def inspect_page(driver, url: str) -> dict:
    driver.get(url)
    return driver.execute_async_script(INSPECT_PAGE_JS)


# --------------------------------------------------------------------------- tests


def test_the_checks_catch_a_broken_page(browser, tmp_path):
    """The checks below must fail on a page with raw TeX, a missing image and a dead link."""
    good_png = base64.b64decode(
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
    )
    (tmp_path / "ok.png").write_bytes(good_png)
    (tmp_path / "other.html").write_text('<html><body><h1 id="here">x</h1></body></html>')
    page = tmp_path / "bad.html"
    page.write_text(
        "<html><body>"
        '<p><span class="math notranslate nohighlight">\\(x^2\\)</span> and $$y$$</p>'
        '<img src="ok.png"><img src="missing.png">'
        '<a href="other.html#here">fine</a><a href="other.html#gone">bad anchor</a>'
        '<a href="nowhere.html">bad file</a><a href="https://example.org/">external</a>'
        "</body></html>"
    )
    server = _serve(tmp_path)
    try:
        origin = f"http://127.0.0.1:{server.server_address[1]}"
        report = inspect_page(browser, f"{origin}/bad.html")
        problems = page_problems(report, page, tmp_path, origin)
    finally:
        server.shutdown()
        server.server_close()
    text = "\n".join(problems)
    assert "MathJax state is 'absent'" in text
    assert "math not typeset" in text and "raw TeX left in the text" in text
    assert "missing.png" in text and "ok.png" not in text
    assert "other.html#gone" in text and "nowhere.html" in text
    assert "other.html#here" not in text and "example.org" not in text


def test_the_overflow_check_catches_a_display_that_runs_off_the_column(browser, tmp_path):
    """A display wider than the column is reported when nothing scrolls it and accepted when its
    own box scrolls (reported too in strict mode), at either width."""
    wide = '<mjx-math style="display:inline-block;width:900px">x</mjx-math>'
    narrow = '<mjx-math style="display:inline-block;width:120px">y</mjx-math>'
    (tmp_path / "wide.html").write_text(
        '<html><body><article class="bd-article" style="max-width:360px;margin:0">'
        f'<mjx-container display="true" style="display:block">{wide}</mjx-container>'
        f'<mjx-container display="true" style="display:block;overflow-x:auto">{wide}</mjx-container>'
        f'<mjx-container display="true" style="display:block">{narrow}</mjx-container>'
        "</article></body></html>")
    server = _serve(tmp_path)
    try:
        browser.get(f"http://127.0.0.1:{server.server_address[1]}/wide.html")
        at_400 = measure_displays(browser, 400)
        problems_400 = overflow_problems(at_400, 400)
        problems_1280 = overflow_problems(measure_displays(browser, 1280), 1280)
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
        server.shutdown()
        server.server_close()
    assert [d["spills"] for d in at_400] == [True, False, False]
    assert [d["scrolls"] for d in at_400] == [False, True, False]
    assert len(problems_400) == 1 and "runs out" in problems_400[0]
    assert len(problems_1280) == 1 and "runs out" in problems_1280[0]
    strict = overflow_problems(at_400, 400, strict=True)
    assert len(strict) == 2 and "scroll bar" in strict[1]


def test_every_page_renders_in_a_real_browser(browser, site):
    root, origin = site
    shots = root / "_screenshots"
    shutil.rmtree(shots, ignore_errors=True)
    shots.mkdir()
    names = toc_docnames()
    assert names, "_toc.yml lists no page"
    browser.get_log("browser")  # drop messages from earlier tests
    failures: dict[str, list[str]] = {}
    typeset_pages = 0
    seconds: dict[str, float] = {}
    scrolled = {w: 0 for w in WIDTHS}
    n_displays = {w: 0 for w in WIDTHS}
    per_page: dict[str, dict] = {}
    t0 = time.monotonic()
    for name in names:
        page_path = root / f"{name}.html"
        if not page_path.is_file():
            failures[name] = [f"{name}.html is not in the build"]
            continue
        t_page = time.monotonic()
        report = inspect_page(browser, f"{origin}/{name}.html")
        problems = page_problems(report, page_path, root, origin)
        problems += [f"resource failed: {m}" for m in _failed_resources(browser)]
        typeset_pages += report["mjxCount"] > 0
        _screenshot(browser, shots / (name.replace("/", "__") + ".png"))
        try:
            for width in WIDTHS:
                displays = measure_displays(browser, width)
                problems += overflow_problems(displays, width,
                                              strict=width == NO_SCROLL_WIDTH and name not in MAY_SCROLL)
                scrolled[width] += sum(d["scrolls"] for d in displays)
                n_displays[width] += len(displays)
                per_page.setdefault(name, {})[width] = {
                    "displays": len(displays), "scroll": sum(d["scrolls"] for d in displays),
                    "widest_px": max([d["width"] for d in displays] or [0])}
            _widest_screenshot(browser, shots / (name.replace("/", "__") + "__400px_widest.png"))
        finally:
            browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
        seconds[name] = time.monotonic() - t_page
        if problems:
            failures[name] = problems
    elapsed = time.monotonic() - t0
    (shots / "overflow.json").write_text(json.dumps(per_page, indent=1) + "\n")
    assert not failures, "\n".join(f"{name}:\n  " + "\n  ".join(p) for name, p in failures.items())
    assert typeset_pages >= 1, "no page showed typeset math"
    slowest = ", ".join(f"{n} {t:.1f} s" for n, t in sorted(seconds.items(), key=lambda kv: -kv[1])[:3])
    print(f"browser check: {len(names)} pages in {elapsed:.1f} s (slowest: {slowest}); screenshots in {shots}")
    print("displayed equations: " + ", ".join(
        f"{w} px: {n_displays[w]} visible, {scrolled[w]} scroll inside their box" for w in WIDTHS))
