"""Benchmark: the engine-generated SVI (vi_derivations.svi) against the hand-written loop
(vi_impl.svi with vi_impl.models.lda) on LDA, same documents, same start, same minibatches.

Documents: rows of the scikit-learn docstring corpus (vi_impl.corpus) cut to L words each, as
one-hot w[d, n, v] for the engine and as counts for vi_impl (the engine's LDA has a fixed number
of word positions per document). For each size: CPU seconds per pass (time.process_time, one
BLAS thread; a pass is D / B steps) and the largest relative difference of lambda over the steps.

Run:  OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python benchmarks/bench_svi_engine.py \\
          --json benchmarks/results/svi_engine.json
"""
from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np
from threadpoolctl import threadpool_limits

import vi_derivations as vd
from vi_derivations.svi import SVI
from vi_impl.corpus import docstring_corpus
from vi_impl.models import lda
from vi_impl.svi import svi

K, ALPHA, ETA, BATCH, INNER, TAU0, KAPPA = 5, 0.1, 0.01, 16, 5, 4.0, 0.7


def documents(counts, n_docs, length, seed=0):
    """(one-hot w of shape (n_docs, length, V_used), counts of the same words)."""
    rng = np.random.default_rng(seed)
    rows = [r for r in range(counts.shape[0]) if counts[r].sum() >= length][:n_docs]
    tokens = [rng.permutation(np.repeat(counts[r].indices, counts[r].data.astype(int)))[:length]
              for r in rows]
    used = np.unique(np.concatenate(tokens))
    w = np.zeros((len(rows), length, used.size))
    for d, toks in enumerate(tokens):
        w[d, np.arange(length), np.searchsorted(used, toks)] = 1.0
    return w, w.sum(axis=1)


def measure(engine, w, X, passes):
    steps = passes * w.shape[0] // BATCH
    lam0 = lda.init_lambda(K, X.shape[1], seed=1)
    seen_impl, seen_engine = [], []
    t0 = time.process_time()
    svi(*lda.svi_parts(X, K, ALPHA, ETA, local_max_iter=INNER, local_tol=1e-300), X.shape[0],
        init={"lam": lam0}, batch_size=BATCH, n_steps=steps, tau0=TAU0, kappa=KAPPA, seed=2,
        monitor=lambda p: seen_impl.append(p["lam"].copy()) or 0.0, monitor_every=1)
    cpu_impl = time.process_time() - t0
    t0 = time.process_time()
    engine.run({"w": w}, {"alpha": ALPHA, "eta": ETA}, {"lam": lam0}, batch_size=BATCH,
               n_steps=steps, seed=2,
               monitor=lambda p: seen_engine.append(p["lam"].copy()) or 0.0, monitor_every=1)
    cpu_engine = time.process_time() - t0
    gap = max(float(np.max(np.abs(a - b) / b)) for a, b in zip(seen_engine, seen_impl))
    row = dict(documents=w.shape[0], words_per_document=w.shape[1], vocabulary=w.shape[2],
               steps=steps, passes=passes, engine_cpu_per_pass_s=cpu_engine / passes,
               vi_impl_cpu_per_pass_s=cpu_impl / passes,
               ratio_engine_over_vi_impl=cpu_engine / cpu_impl, max_rel_diff_lambda=gap)
    print(json.dumps(row))
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", type=str)
    parser.add_argument("--passes", type=int, default=3)
    args = parser.parse_args()
    threadpool_limits(1)
    counts, _ = docstring_corpus(("sklearn",))
    t0 = time.process_time()
    engine = SVI(vd.models.load("lda"), tau0=TAU0, kappa=KAPPA, local_steps=INNER + 1,
                 local_tol=0)
    derive = time.process_time() - t0
    rows = [measure(engine, *documents(counts, n, length), args.passes)
            for n, length in [(64, 20), (128, 20), (128, 40), (256, 40)]]
    doc = dict(date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
               machine=dict(arch=platform.machine(), python=platform.python_version(),
                            numpy=np.__version__),
               clock="CPU seconds (time.process_time, one BLAS thread)",
               settings=dict(K=K, alpha=ALPHA, eta=ETA, batch_size=BATCH, inner_sweeps=INNER,
                             tau0=TAU0, kappa=KAPPA),
               derive_cpu_s=derive, rows=rows)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=1)
            f.write("\n")


if __name__ == "__main__":
    main()
