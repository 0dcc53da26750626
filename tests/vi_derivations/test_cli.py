"""`python -m vi_derivations`: lists the models, prints derivations as LaTeX / Markdown, generated
CAVI source; unknown models are a clear error with a non-zero exit status."""
import ast
import re
import subprocess
import sys

import numpy as np
import pytest

import vi_derivations as vd

MODELS = vd.models.available()


def run(*args):
    return subprocess.run([sys.executable, "-m", "vi_derivations", *args], capture_output=True, text=True,
                          timeout=300, env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})


def balanced(tex):
    """Braces balance (ignoring \\{ and \\}) and never close before they open."""
    depth = 0
    for tok in re.findall(r"\\[{}]|[{}]", tex):
        if tok in ("{", "}"):
            depth += 1 if tok == "{" else -1
            if depth < 0:
                return False
    return depth == 0


def aligned_blocks(tex):
    return re.findall(r"\\begin\{aligned\}(.*?)\\end\{aligned\}", tex, flags=re.S)


def test_balanced_guard():
    assert balanced(r"\frac{a}{b} \left\{ x \right\}")
    assert not balanced(r"\frac{a}{b")
    assert not balanced(r"}{")


def test_list_shows_every_model_with_its_description():
    for args in ((), ("list",)):
        r = run(*args)
        assert r.returncode == 0, r.stderr
        lines = r.stdout.strip().splitlines()
        assert len(lines) == len(MODELS)
        for name, line in zip(MODELS, lines):
            assert line.split()[0] == name
            assert vd.models.load(name).description in line


def test_unknown_model_is_an_error_listing_the_known_ones():
    r = run("show", "no_such_model")
    assert r.returncode != 0
    assert "unknown model 'no_such_model'" in r.stderr
    assert all(n in r.stderr for n in MODELS)
    assert r.stdout == ""
    r = run("show", "gmm", "--format", "pdf")
    assert r.returncode != 0 and "invalid choice" in r.stderr


def show_latex(name, capsys):
    """Subprocess for one model; in-process (same argparse entry point) for the others, for speed."""
    if name == "gmm_1d":
        r = run("show", name, "--format", "latex", "--part", "all")
        assert r.returncode == 0, r.stderr
        return r.stdout
    from vi_derivations.cli import main
    assert main(["show", name, "--format", "latex", "--part", "all"]) == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("name", MODELS)
def test_show_latex_has_every_update_and_valid_looking_latex(name, capsys):
    out = show_latex(name, capsys)
    M = vd.models.load(name)
    assert balanced(out)
    assert out.count(r"\begin{aligned}") == out.count(r"\end{aligned}") >= 3
    blocks = aligned_blocks(out)
    assert all(balanced(b) for b in blocks)
    assert all("&" in b for b in blocks)
    # everything outside the aligned blocks is a LaTeX comment
    rest = re.sub(r"\\begin\{aligned\}.*?\\end\{aligned\}", "", out, flags=re.S)
    assert all(line.startswith("%") for line in rest.splitlines() if line.strip())
    assert r"\mathcal{L}(q)" in out
    for u in vd.derive(M).updates:   # every update of a sweep, a local bound's parameter too
        for eq in u.assignments:
            lhs = vd.latex(eq, given=u.assignments).split(" = ")[0]   # V_{jl} = [..]_{jl} shows as V = ..
            assert lhs + " &= " in out, (u.var, lhs)
    for key, chain in vd.derive(M).chains.items():
        assert f"({key})" in out


@pytest.mark.parametrize("name", ["linear_regression_ard"])
def test_show_markdown_parts(name):
    M = vd.models.load(name)
    r = run("show", name, "--format", "markdown", "--part", "updates")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"# {name}")
    assert r"\begin{aligned}" not in r.stdout
    maths = re.findall(r"\$\$(.*?)\$\$", r.stdout, flags=re.S)
    assert len(maths) == sum(len(u.assignments) for u in vd.derive_updates(M))
    assert all(balanced(m) for m in maths)
    for u in vd.derive_updates(M):
        assert f"Update of q({u.var})" in r.stdout
    r = run("show", name, "--format", "markdown", "--part", "elbo")
    assert r.returncode == 0 and r"\mathcal{L}(q)" in r.stdout and "Update of" not in r.stdout
    r = run("show", name, "--format", "markdown", "--part", "steps")
    assert r.returncode == 0
    for chain in vd.derive(M).chains.values():
        assert f"**{chain.title}**" in r.stdout


def test_cavi_prints_the_generated_source():
    r = run("cavi", "gmm_prior_mean", "--order", "c,mu")
    assert r.returncode == 0, r.stderr
    tree = ast.parse(r.stdout)
    assert {"update_c", "update_mu", "elbo", "sweep", "fit"} <= {
        n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    r = run("cavi", "gmm_prior_mean", "--order", "c")
    assert r.returncode != 0 and "order must list every q factor" in r.stderr


# ----------------------------------------------------------------------------- standalone modules, model files
USER_MODEL = '''
"""A user's own model: G groups of binary outcomes, one Beta-distributed rate per group."""
from vi_derivations import Bernoulli, Beta, Model, Plate


def build():
    G, N = Plate("G", "g"), Plate("N", "n")
    g = G.index
    M = Model("my_groups", "Binary outcomes in groups, a Beta rate per group (a user model file)")
    a0, b0 = M.hyper("a0"), M.hyper("b0")
    rate = M.latent("rate", (G,))
    y = M.observed("y", (N, G))
    M.factor(rate, Beta(a0, b0))
    M.factor(y, Bernoulli(rate[g]))
    a, b = M.variational("a", (G,), positive=True), M.variational("b", (G,), positive=True)
    M.q(rate, Beta(a[g], b[g]))
    return M
'''


def test_cavi_writes_a_standalone_module_to_the_output_file(tmp_path):
    out = tmp_path / "fit_gmm.py"
    r = run("cavi", "gmm", "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert r.stdout == "" and "wrote" in r.stderr
    src = out.read_text()
    tree = ast.parse(src)
    assert {"fit", "elbo", "sweep", "update_mu", "update_c"} <= {
        n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert "import vi_derivations" not in src and "python -m vi_derivations cavi gmm" in src


def test_show_and_cavi_take_a_user_model_file(tmp_path):
    path = tmp_path / "my_groups.py"
    path.write_text(USER_MODEL)
    r = run("show", str(path), "--part", "updates", "--format", "markdown")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("# my_groups") and "Update of q(rate)" in r.stdout
    out = tmp_path / "fit_groups.py"
    r = run("cavi", str(path), "-o", str(out))
    assert r.returncode == 0, r.stderr
    ns = {}
    exec(compile(out.read_text(), str(out), "exec"), ns)
    y = np.array([[1, 0, 1], [1, 0, 0], [0, 0, 1], [1, 1, 1]], dtype=float)
    res = ns["fit"](y=y, a0=2.0, b0=0.5, tol=0, max_iter=2)
    # conjugate: one update gives the exact posterior Beta(a0 + successes, b0 + failures) per group
    np.testing.assert_allclose(res.params["a"], 2.0 + y.sum(axis=0), rtol=1e-12)
    np.testing.assert_allclose(res.params["b"], 0.5 + (1 - y).sum(axis=0), rtol=1e-12)


@pytest.mark.parametrize("body, message", [
    ("x = 1\n", "defines no build() function"),
    ("def build():\n    return 3\n", "must return a vi_derivations.Model"),
])
def test_a_bad_model_file_is_an_error(tmp_path, body, message):
    path = tmp_path / "bad_model.py"
    path.write_text(body)
    r = run("show", str(path))
    assert r.returncode == 2 and message in r.stderr and r.stdout == ""
    r = run("cavi", str(tmp_path / "missing.py"))
    assert r.returncode == 2 and "does not exist" in r.stderr


def test_show_updates_lists_a_local_bounds_parameter():
    from vi_derivations.cli import show
    M = vd.models.load("logistic_regression")
    (xi,) = [u for u in vd.derive(M).updates if u.var == "xi"]
    for fmt in ("latex", "markdown"):
        out = show(M, fmt, "updates")
        assert "update of q(w)" in out.lower() and "update of xi" in out.lower()
        assert vd.latex(xi.assignments[0]).split(" = ")[1] in out      # the engine's xi update
        assert re.search(r"\\lambda\(\\xi\) &?= ", out) and r"\tanh" in out   # lambda, used above, stated
        assert out.lower().index("update of q(w)") < out.lower().index("update of xi")   # q factors first
    out = show(vd.models.load("linear_regression_ard"), "latex", "updates")
    assert "xi" not in out and r"\lambda(" not in out                 # no bound, no lambda note
    r = run("show", "logistic_regression", "--part", "updates")
    assert r.returncode == 0 and r"\xi_{i} &= " in r.stdout
