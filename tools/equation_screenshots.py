"""Before/after screenshots of the displays quoted in issue 10, section 1.

Each display is rendered twice by the book's own MathJax (``_mathjax/mathjax``, installed by
``make mathjax``) in headless Chromium (``make browser``), offline:

* **before** -- the engine's raw form, ``vi_derivations.render.raw_latex`` (SymPy's layout with the
  engine's declared letters);
* **after** -- the typeset form the book prints, ``vi_derivations.latex`` (norms, inner products,
  collected constants, the symbol table; every form proved equal to the raw expression).

The displays are those of ``issue_examples`` in ``benchmarks/bench_typeset.py`` (the mixture's
log joint, the responsibility update, the KL between diagonal Gaussians, the ARD mean and
covariance updates, the entropy of q(c) with its pi log pi, the log joint factor by factor with its
(x - mu)^2), plus a denominator written with its sign (``-a / (rho^2 - 1)``). Each is shown as one line, unbroken, so that its width is
the width of the formula itself.

Writes ``benchmarks/results/equations/<n>_<slug>_{before,after}.png`` and ``equations.json`` with
the rendered width and height in CSS pixels of each form. Usage::

    python tools/equation_screenshots.py [--out DIR]

Not part of the default test run (it needs Chromium and takes about ten seconds).
"""
from __future__ import annotations

import argparse
import functools
import http.server
import importlib.util
import json
import re
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "equations"
MATHJAX = ROOT / "_mathjax" / "mathjax"
#: The page the formulas are typeset on: the book's display font size, one formula per page.
PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8">
<style>body{margin:0;padding:16px;background:#fff;font-size:16px;} #eq{display:inline-block;}</style>
<script>window.MathJax = {tex: {inlineMath: [["$", "$"]]}, chtml: {displayAlign: "left"},
  startup: {typeset: false}};</script>
<script src="mathjax/tex-mml-chtml.js"></script></head>
<body><div id="eq"></div></body></html>"""
#: Typesets one formula in display style and returns the box of the rendered math, in CSS px.
TYPESET_JS = """
const [tex, done] = [arguments[0], arguments[arguments.length - 1]];
MathJax.startup.promise.then(() => {
  const box = document.getElementById('eq');
  box.innerHTML = '';
  box.appendChild(MathJax.tex2chtml(tex, {display: true}));
  MathJax.startup.document.clear(); MathJax.startup.document.updateDocument();
  return document.fonts.ready.then(() => new Promise(r => setTimeout(r, 50))).then(() => {
  const err = box.querySelector('mjx-merror, [data-mjx-error]');
  const math = box.querySelector('mjx-math') || box;
  const r = math.getBoundingClientRect();
  done({width: Math.ceil(r.width), height: Math.ceil(r.height), left: Math.floor(r.left),
        top: Math.floor(r.top), error: err ? (err.getAttribute('data-mjx-error') || err.textContent) : null});
  });
}).catch(e => done({error: String(e)}));
"""


def _kl_diagonal():
    """KL(q || p) between diagonal Gaussians, as the KL chapter derives it with the engine (the
    model of ``benchmarks/bench_typeset.py``)."""
    spec = importlib.util.spec_from_file_location("bench_typeset", ROOT / "benchmarks" / "bench_typeset.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module._kl_diagonal()


def _denominator():
    import sympy as sp
    rho, a = sp.Symbol("rho", real=True), sp.Symbol("a", positive=True)
    return -a / (rho ** 2 - 1)


def _display(model_name, pick):
    """The display ``pick(derivation)`` of the packaged model ``model_name``, printed right after the
    model is built: the engine's printer reads the letters of the most recently built model, and
    two models may give one Python name two letters (``sigma2`` is tau^2 in the mixture, sigma^2
    in the regression)."""
    def build():
        import vi_derivations as vd
        return pick(vd.derive(vd.models.load(model_name)))
    return build


def _update(var, n):
    return lambda d: next(u for u in d.updates if u.var == var).assignments[n]


#: (name, builder of the SymPy expression): the displays of ``issue_examples`` in
#: ``benchmarks/bench_typeset.py``, and a denominator written with its sign.
EXAMPLES = [
    ("1 gmm log joint, expanded", _display("gmm", lambda d: d.chains["log_joint"].steps[1].expr)),
    ("2 responsibility update", _display("gmm", _update("c", 0))),
    ("3 KL between diagonal Gaussians", _kl_diagonal),
    ("4a ARD mean update", _display("linear_regression_ard", _update("w", 0))),
    ("4b ARD covariance update", _display("linear_regression_ard", _update("w", 1))),
    ("5a entropy of q(c) (pi log pi)", _display("gmm", lambda d: d.chains["log_var"].steps[1].expr)),
    ("5b gmm log joint, factor by factor ((x - mu)^2)", _display("gmm", lambda d: d.chains["log_joint"].steps[0].expr)),
    ("5c a denominator and its sign", _denominator),
]


def examples():
    """(name, raw LaTeX, typeset LaTeX) of every display, each printed right after it is built."""
    from vi_derivations.render import latex, raw_latex
    out = []
    for name, build in EXAMPLES:
        expr = build()
        out.append((name, raw_latex(expr), latex(expr)))
    return out


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")[:48]


def _chromium():
    import os
    for program in ("chromium", "chromedriver"):
        if shutil.which(program) is None and not Path(f"/usr/bin/{program}").exists():
            raise SystemExit(f"{program} not found: `make browser` installs Debian's chromium and chromium-driver")
    os.environ.setdefault("SE_OFFLINE", "true")
    os.environ.setdefault("SE_AVOID_STATS", "true")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    profile = tempfile.mkdtemp(prefix="vi-eq-chromium-")
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--hide-scrollbars", "--force-device-scale-factor=1",
                 "--window-size=3000,600", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    service = Service(executable_path=shutil.which("chromedriver") or "/usr/bin/chromedriver")
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_script_timeout(60)
    return driver, profile


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def _serve(directory: Path):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(directory)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _crop(png: bytes, box: dict, path: Path, pad: int = 8) -> None:
    from io import BytesIO

    from PIL import Image
    image = Image.open(BytesIO(png))
    left, top = max(box["left"] - pad, 0), max(box["top"] - pad, 0)
    right = min(box["left"] + box["width"] + pad, image.width)
    bottom = min(box["top"] + box["height"] + pad, image.height)
    image.crop((left, top, right, bottom)).save(path)


def render(forms: list[tuple[str, str, str]], out: Path) -> list[dict]:
    """Typeset each (name, which, tex) and save its PNG under ``out``; returns their boxes."""
    if not (MATHJAX / "tex-mml-chtml.js").is_file():
        raise SystemExit(f"{MATHJAX} has no MathJax: run `make mathjax`")
    site = Path(tempfile.mkdtemp(prefix="vi-eq-site-"))
    (site / "mathjax").symlink_to(MATHJAX)
    (site / "index.html").write_text(PAGE)
    server = _serve(site)
    driver, profile = _chromium()
    results = []
    try:
        driver.get(f"http://127.0.0.1:{server.server_address[1]}/index.html")
        for name, which, tex in forms:
            box = driver.execute_async_script(TYPESET_JS, tex)
            if box.get("error"):
                raise RuntimeError(f"{name} ({which}): MathJax error {box['error']}")
            if box["left"] + box["width"] > 2990:
                driver.set_window_size(box["left"] + box["width"] + 100, 600)
                box = driver.execute_async_script(TYPESET_JS, tex)
            path = out / f"{slug(name)}_{which}.png"
            _crop(driver.get_screenshot_as_png(), box, path)
            results.append({"name": name, "which": which, "width_px": box["width"],
                            "height_px": box["height"], "png": str(path.relative_to(ROOT)), "latex": tex})
    finally:
        driver.quit()
        server.shutdown()
        shutil.rmtree(profile, ignore_errors=True)
        shutil.rmtree(site, ignore_errors=True)
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT, help="folder of the PNGs and equations.json")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    items = examples()
    forms = []
    for name, raw, shown in items:
        forms += [(name, "before", raw), (name, "after", shown)]
    args.out.mkdir(parents=True, exist_ok=True)
    shots = render(forms, args.out)
    rows = []
    for name, _, _ in items:
        before, after = (next(s for s in shots if s["name"] == name and s["which"] == w) for w in ("before", "after"))
        rows.append({"equation": name,
                     "before": {k: before[k] for k in ("width_px", "height_px", "png", "latex")},
                     "after": {k: after[k] for k in ("width_px", "height_px", "png", "latex")},
                     "width_ratio": round(after["width_px"] / before["width_px"], 3)})
        print(f"{before['width_px']:5d} px -> {after['width_px']:5d} px  {name}")
    report = {"what": "rendered width and height (CSS px, MathJax 3 CHTML at 16 px, display style, one line) "
                      "of each display of issue 10 section 1: the engine's raw form (render.raw_latex) "
                      "before, the typeset form the book prints (vi_derivations.latex) after",
              "seconds": round(time.perf_counter() - t0, 1), "equations": rows}
    (args.out / "equations.json").write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {len(shots)} PNGs and equations.json to {args.out} in {report['seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
