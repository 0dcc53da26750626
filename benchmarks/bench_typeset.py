"""Rendered LaTeX length of every displayed equation of every engine model: the engine's raw
layout against the proved textbook form of ``vi_derivations.typeset``.

Displays: every step of every derivation chain, the ELBO with every constant and each CAVI
assignment.  Prints the table per model, the ten longest remaining displays, and writes
``benchmarks/results/typeset.json``.  Usage: ``python benchmarks/bench_typeset.py``.
"""
from __future__ import annotations

import json
import pathlib
import time

import vi_derivations as vd
from vi_derivations.render import latex, raw_latex
from vi_derivations.typeset import cache_clear, symbol_table, typeset

OUT = pathlib.Path(__file__).parent / "results" / "typeset.json"


def displays(model):
    """(label, expression, given) of every displayed equation of ``model`` (``given``: the other
    assignments of an update, whose symbols its display may use)."""
    d = vd.derive(model)
    for key, ch in d.chains.items():
        for n, st in enumerate(ch.steps):
            yield f"{key}[{n}]", st.expr, ()
    yield "elbo_full", vd.elbo(model, constants=True), ()
    for u in d.updates:
        for n, eq in enumerate(u.assignments):
            yield f"assign_{u.var}[{n}]", eq, tuple(u.assignments)


def measure():
    rows, seconds = [], {}
    for name in vd.models.available():
        model = vd.models.load(name)
        items = list(displays(model))        # derivation time is not typesetting time
        t0 = time.process_time()
        raw = [raw_latex(expr) for _, expr, _ in items]
        t1 = time.process_time()
        cache_clear()
        shown = [latex(expr, given=given) for _, expr, given in items]   # typeset and print, cold; CPU s
        t2 = time.process_time()
        seconds[name] = (t1 - t0, t2 - t1)
        for (label, expr, given), r, s in zip(items, raw, shown):
            ts = typeset(expr, given=given)
            rows.append({"model": name, "display": label, "raw": len(r), "typeset": len(s),
                         "rewritten": ts.rewritten, "proved": ts.proved, "latex": s})
    return rows, seconds


def _kl_diagonal():
    """KL(q || p) between diagonal Gaussians, as the KL chapter derives it with the engine."""
    D = vd.Plate("D", "j")
    j = D.index
    m = vd.Model("kl_diagonal_gaussians", "z ~ N(mu2, diag v2), q(z) = N(mu1, diag v1)")
    mu2 = m.hyper("mu2", (D,), latex=r"\mu_{2}", positive=False)
    v2 = m.hyper("v2", (D,), latex=r"\sigma^{2}_{2}")
    z = m.latent("z", (D,))
    m.factor(z, vd.Normal(mu2[j], var=v2[j]))
    mu1 = m.variational("mu1", (D,), latex=r"\mu_{1}")
    v1 = m.variational("v1", (D,), latex=r"\sigma^{2}_{1}", positive=True)
    m.q(z, vd.Normal(mu1[j], var=v1[j]))
    return -vd.elbo(m, constants=True)


def issue_examples():
    """The five displays quoted in issue 10, section 1."""
    gmm = vd.derive(vd.models.load("gmm"))
    ard = vd.derive(vd.models.load("linear_regression_ard"))
    upd = {u.var: u for u in gmm.updates}
    w = [u for u in ard.updates if u.var == "w"][0]
    return [("1 gmm log joint, expanded", gmm.chains["log_joint"].steps[1].expr),
            ("2 responsibility update", upd["c"].assignments[0]),
            ("3 KL between diagonal Gaussians", _kl_diagonal()),
            ("4a ARD mean update", w.assignments[0]),
            ("4b ARD covariance update", w.assignments[1]),
            ("5a entropy of q(c) (pi log pi)", gmm.chains["log_var"].steps[1].expr),
            ("5b gmm log joint, factor by factor ((x - mu)^2)", gmm.chains["log_joint"].steps[0].expr)]


def model_updates():
    """The matrix updates of the newer models: (label, model, assignment, the update's assignments)."""
    out = []
    for name, var in (("logistic_regression", "w"), ("logistic_regression", "xi"),
                      ("logistic_regression_alpha", "w"), ("bayesian_gmm", "mu"), ("linear_regression_ard", "w")):
        model = vd.models.load(name)
        (u,) = [u for u in vd.derive(model).updates if u.var == var]
        for eq in u.assignments:
            if var != "mu" or len(eq.lhs.indices) == 3:      # the mixture's W_k only
                out.append((f"{name}: {eq.lhs.base.label}", model, eq, tuple(u.assignments)))
    return out


def main():
    examples = [{"example": name, "raw": len(raw_latex(e)), "typeset": len(latex(e)),
                 "proved": typeset(e).proved, "latex": latex(e)} for name, e in issue_examples()]
    print("Issue 10 examples (rendered LaTeX characters, raw -> typeset):")
    for ex in examples:
        print(f"  {ex['raw']:5d} -> {ex['typeset']:5d}  proved={ex['proved']}  {ex['example']}")
    print()
    updates = []
    for label, model, eq, given in model_updates():
        with model.letters():
            tex = latex(eq, given=given)
            updates.append({"display": label, "raw": len(raw_latex(eq)), "typeset": len(tex),
                            "proved": typeset(eq, given=given).proved, "latex": tex})
    print("Matrix updates of the newer models (rendered LaTeX characters, raw -> typeset):")
    for ex in updates:
        print(f"  {ex['raw']:5d} -> {ex['typeset']:5d}  proved={ex['proved']}  {ex['display']}: {ex['latex']}")
    print()
    renamed = [{"model": name, "name": r[0], "kind": r[1], "declared": r[2], "displayed": r[3], "reason": r[4]}
               for name in vd.models.available() for r in symbol_table(vd.models.load(name)) if r[2] != r[3]]
    print("Symbol table: quantities displayed with another letter than declared:")
    for r in renamed:
        print(f"  {r['model']}: {r['name']} ({r['kind']}) {r['declared']} -> {r['displayed']}  ({r['reason']})")
    print()
    rows, seconds = measure()
    print(f"{'model':24s} {'displays':>8s} {'raw chars':>10s} {'typeset':>8s} {'ratio':>6s} {'unproved':>8s}"
          f" {'raw s':>6s} {'typeset s':>9s}")
    models = sorted({r["model"] for r in rows})
    per_model = {}
    for m in models:
        rs = [r for r in rows if r["model"] == m]
        raw, tys = sum(r["raw"] for r in rs), sum(r["typeset"] for r in rs)
        unproved = sum(r["rewritten"] and not r["proved"] for r in rs)
        per_model[m] = {"displays": len(rs), "raw": raw, "typeset": tys, "unproved_rewrites": unproved,
                        "raw_seconds": round(seconds[m][0], 3), "typeset_seconds": round(seconds[m][1], 3)}
        print(f"{m:24s} {len(rs):8d} {raw:10d} {tys:8d} {tys / raw:6.2f} {unproved:8d}"
              f" {seconds[m][0]:6.2f} {seconds[m][1]:9.2f}")
    raw, tys = sum(r["raw"] for r in rows), sum(r["typeset"] for r in rows)
    raw_s, total_s = sum(v[0] for v in seconds.values()), sum(v[1] for v in seconds.values())
    print(f"{'all':24s} {len(rows):8d} {raw:10d} {tys:8d} {tys / raw:6.2f} "
          f"{sum(v['unproved_rewrites'] for v in per_model.values()):8d} {raw_s:6.2f} {total_s:9.2f}")
    longest = sorted(rows, key=lambda r: -r["typeset"])[:10]
    print("\nTen longest remaining displays (typeset chars, raw chars):")
    for r in longest:
        print(f"  {r['typeset']:5d} {r['raw']:5d}  {r['model']}:{r['display']}")
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps({
        "what": "rendered LaTeX length, engine raw layout vs proved textbook form, every display of every model",
        "total": {"displays": len(rows), "raw": raw, "typeset": tys, "ratio": round(tys / raw, 3),
                  "raw_render_seconds": round(raw_s, 2),
                  "typeset_render_seconds_cold": round(total_s, 2)},
        "issue_examples": examples,
        "model_updates": updates,
        "symbol_table_renames": renamed,
        "models": per_model,
        "longest": [{k: r[k] for k in ("model", "display", "typeset", "raw", "latex")} for r in longest],
        "displays": [{k: r[k] for k in ("model", "display", "raw", "typeset", "rewritten", "proved")} for r in rows],
    }, indent=1) + "\n")
    print(f"\nwrote {OUT}")


if __name__ == "__main__":
    main()
