"""Repository-wide pytest configuration (applies to tests/ and to the notebooks under book/).

* Environment defaults so a bare `pytest` behaves like `make test` (headless
  matplotlib, one BLAS thread); the Makefile sets the same variables. The
  matplotlib backend is the inline one, never Agg: notebook kernels (nbval, the
  book build) inherit this environment, and a kernel on Agg shows no figure.
* The nbval sanitize file is found relative to this file, whatever the cwd.
* Scheduling under pytest-xdist (`-n 2 --dist loadgroup --no-loadscope-reorder`,
  as `make test` runs it): all cells of one notebook stay in one worker, in
  order (nbval needs that: they share a kernel); the book build and the browser
  test form one group that runs first, in that order, because it is the longest
  job; notebooks come next, unit tests last.

  The grouping is done by a scheduler of our own (hook `pytest_xdist_make_scheduler`)
  that reads the groups from the node ids, because with pytest 9.2 and
  pytest-xdist 3.8 the `xdist_group` mark is silently ignored (xdist still writes
  the old `_nodeid` attribute; pytest-dev/pytest-xdist#1386).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent

INLINE_BACKEND = "module://matplotlib_inline.backend_inline"
if os.environ.get("MPLBACKEND", "").lower() in {"", "agg"}:
    os.environ["MPLBACKEND"] = INLINE_BACKEND

for _name, _value in {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "PYDEVD_DISABLE_FILE_VALIDATION": "1",
    "JUPYTER_PLATFORM_DIRS": "1",
}.items():
    os.environ.setdefault(_name, _value)

BOOK_GROUP = "book"
# Test files that need the built book; they run in this order, in one worker.
BOOK_TEST_FILES = ("tests/book/test_book_build.py", "tests/book/test_browser.py")
# Test files whose tests share one costly module-scoped fixture: one worker runs the whole file,
# so the fixture is built once (every display of every model, about 15 s).
SHARED_FIXTURE_FILES = ("tests/vi_derivations/test_typeset.py",)


def pytest_configure(config: pytest.Config) -> None:
    if getattr(config.option, "nbval_sanitize_with", None) is None and hasattr(
        config.option, "nbval_sanitize_with"
    ):
        config.option.nbval_sanitize_with = str(ROOT / "tools" / "nbval_sanitize.cfg")


def xdist_scope(nodeid: str) -> str:
    """The unit of work a test belongs to: tests of one scope run in one worker, in order."""
    path, _, rest = nodeid.partition("::")
    if "@" in rest and rest.rfind("@") > rest.rfind("]"):
        return rest[rest.rfind("@") + 1 :]  # an explicit xdist_group, if xdist ever sets it again
    if path in BOOK_TEST_FILES:
        return BOOK_GROUP
    if path.endswith(".ipynb") or path in SHARED_FIXTURE_FILES:
        return path
    return nodeid


def pytest_xdist_make_scheduler(config, log):
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class NotebookAwareScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return xdist_scope(nodeid)

    return NotebookAwareScheduling(config, log)


def _is_notebook_item(item: pytest.Item) -> bool:
    return str(getattr(item, "path", "")).endswith(".ipynb")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("book") is not None and item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(name=BOOK_GROUP))
        elif _is_notebook_item(item) and item.get_closest_marker("xdist_group") is None:
            rel = Path(item.path).resolve().relative_to(ROOT).as_posix()
            item.add_marker(pytest.mark.xdist_group(name=f"nb:{rel}"))

    def rank(item: pytest.Item) -> int:
        if xdist_scope(item.nodeid) == BOOK_GROUP or item.get_closest_marker("book") is not None:
            return 0
        if _is_notebook_item(item):
            return 1
        return 2

    items.sort(key=rank)  # stable: keeps the order inside each rank
