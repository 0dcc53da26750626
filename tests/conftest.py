"""Shared fixtures and settings for tests/.

Hypothesis profiles (choose with the environment variable HYPOTHESIS_PROFILE):
``ci`` (default) is derandomised and has no deadline, so results do not depend
on the load of a shared 2-core machine; ``thorough`` runs 1000 examples per
property. Tests may still set their own ``@settings``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

ROOT = Path(__file__).resolve().parent.parent
BUILD_HTML = ROOT / "_build" / "html"
MATHJAX_ENTRY = ROOT / "_mathjax" / "mathjax" / "tex-mml-chtml.js"

settings.register_profile(
    "ci",
    deadline=None,
    derandomize=True,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "thorough",
    max_examples=1000,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def jupyter_book_command() -> list[str]:
    """The jupyter-book executable of the running interpreter's environment."""
    exe = Path(sys.executable).parent / "jupyter-book"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "jupyter_book"]


def build_book() -> subprocess.CompletedProcess:
    """Full `-W -n` build of the book into _build/html (what `make book` does)."""
    if not MATHJAX_ENTRY.exists():
        pytest.fail(
            f"MathJax is not installed at {MATHJAX_ENTRY.relative_to(ROOT)}: run `make mathjax` "
            "(or `make test`, which does it) so the book can serve its math offline"
        )
    cmd = jupyter_book_command() + ["build", ".", "-W", "-n", "--keep-going", "--all"]
    env = {
        **os.environ,
        "FORCE_COLOR": "0",
        "NO_COLOR": "1",
        # kernels on Agg display no figure: the book must get the inline backend
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
    }
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def built_html() -> Path:
    """_build/html, built first if it is missing (the browser test needs a built book)."""
    if not (BUILD_HTML / "index.html").exists():
        result = build_book()
        if result.returncode != 0:
            pytest.fail("book build failed:\n" + result.stdout[-4000:] + result.stderr[-4000:])
    return BUILD_HTML


def toc_docnames(toc_path: Path | None = None) -> list[str]:
    """Document names (paths without extension, relative to the root) listed in _toc.yml, in order."""
    import yaml

    toc = yaml.safe_load((toc_path or ROOT / "_toc.yml").read_text(encoding="utf-8"))
    names = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                names.append(entry["file"])
            walk(entry.get("sections"))

    for part in toc.get("parts") or []:
        walk(part.get("chapters"))
    walk(toc.get("chapters"))
    return [str(Path(n).with_suffix("")) if Path(n).suffix in {".md", ".ipynb"} else n for n in names]
