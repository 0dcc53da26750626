"""Benchmark: LDA by batch CAVI and by stochastic VI (vi_impl) against scikit-learn's
LatentDirichletAllocation (batch and online), on the docstring corpus of the installed
scikit-learn, SciPy and NumPy (vi_impl.corpus; offline, fixed by the pinned versions).

Same corpus, same priors (alpha = doc_topic_prior, eta = topic_word_prior), same K, same
starting lambda (scikit-learn's initialiser is overridden to use ours), same number of passes:

* batch: vi_impl.lda.fit_batch vs learning_method='batch' (max_iter = passes);
* online: vi_impl.lda.fit_svi (minibatches drawn at random) vs learning_method='online'
  (learning_offset = tau0, learning_decay = kappa, same batch size; passes = max_iter);
* after the passes, for every method's lambda: the full ELBO on the training documents (our
  formula, gamma from our local step at tol 1e-6) and scikit-learn's own bound (score), the
  held-out log predictive per word (documents split in halves: gamma from one half, the other
  half predicted), and CPU time per pass (time.process_time, one thread);
* the held-out log predictive against wall time for our batch and stochastic runs.

Run:  OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python benchmarks/bench_lda.py \
          --json benchmarks/results/lda.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
import warnings

import numpy as np
from threadpoolctl import threadpool_limits

from vi_impl.corpus import docstring_corpus
from vi_impl.models import lda

K, ALPHA, ETA = 20, 0.1, 0.01
BATCH, TAU0, KAPPA = 256, 64.0, 0.7


def sklearn_lda(lam0, method, passes):
    from sklearn.decomposition import LatentDirichletAllocation

    class SharedStart(LatentDirichletAllocation):
        def _init_latent_vars(self, n_features, dtype=np.float64):
            super()._init_latent_vars(n_features, dtype)
            self.components_ = lam0.copy()
            self.exp_dirichlet_component_ = np.exp(
                lda._dirichlet_expectation(self.components_))

    return SharedStart(K, doc_topic_prior=ALPHA, topic_word_prior=ETA, learning_method=method,
                       max_iter=passes, batch_size=BATCH, learning_offset=TAU0,
                       learning_decay=KAPPA, evaluate_every=-1, random_state=0)


def evaluate(name, lam, train, obs, test, cpu, passes, extra=None):
    gamma, _ = lda.e_step(train, lam, ALPHA, max_iter=500, tol=1e-6)
    row = dict(method=name, passes=passes, cpu_per_pass_s=cpu / passes,
               train_elbo=lda.elbo(train, gamma, lam, ALPHA, ETA),
               heldout_log_pred_per_word=lda.heldout_log_predictive(obs, test, lam, ALPHA))
    row.update(extra or {})
    print(json.dumps(row))
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--passes", type=int, default=10)
    parser.add_argument("--json", type=str)
    args = parser.parse_args()
    threadpool_limits(1)                      # one BLAS thread: per-thread CPU time
    import sklearn

    X, vocab = docstring_corpus()
    rng = np.random.default_rng(0)
    perm = rng.permutation(X.shape[0])
    n_train = int(0.9 * X.shape[0])
    train, heldout = X[perm[:n_train]], X[perm[n_train:]]
    obs, test = lda.split_heldout(heldout, 0.5, seed=1)
    lam0 = lda.init_lambda(K, X.shape[1], seed=0)
    P = args.passes
    steps = P * int(np.ceil(n_train / BATCH))
    monitor = lambda lam: lda.heldout_log_predictive(obs, test, lam, ALPHA)  # noqa: E731
    rows, traces = [], {}

    t0 = time.process_time()
    ours_b = lda.fit_batch(train, K, alpha=ALPHA, eta=ETA, n_passes=P, init=lam0,
                           monitor=monitor)
    cpu = time.process_time() - t0          # includes the monitor; subtract its share below
    traces["ours_batch"] = dict(wall_s=ours_b.wall.tolist(), cpu_s=ours_b.cpu.tolist(),
                                heldout=ours_b.monitor.tolist(), elbo=ours_b.elbo.tolist())
    t0 = time.process_time()
    lda.fit_batch(train, K, alpha=ALPHA, eta=ETA, n_passes=P, init=lam0)
    cpu = time.process_time() - t0
    rows.append(evaluate("vi_impl batch CAVI", ours_b["lam"], train, obs, test, cpu, P))

    every = max(1, int(np.ceil(n_train / BATCH)) // 2)
    ours_s = lda.fit_svi(train, K, alpha=ALPHA, eta=ETA, batch_size=BATCH, n_steps=steps,
                         tau0=TAU0, kappa=KAPPA, init=lam0, seed=0, monitor=monitor,
                         monitor_every=every)
    traces["ours_svi"] = dict(wall_s=ours_s.wall.tolist(), cpu_s=ours_s.cpu.tolist(),
                              heldout=ours_s.monitor.tolist(), steps=ours_s.steps_at.tolist())
    t0 = time.process_time()
    lda.fit_svi(train, K, alpha=ALPHA, eta=ETA, batch_size=BATCH, n_steps=steps, tau0=TAU0,
                kappa=KAPPA, init=lam0, seed=0)
    cpu = time.process_time() - t0
    rows.append(evaluate("vi_impl SVI", ours_s["lam"], train, obs, test, cpu, P,
                         dict(steps=steps, batch_size=BATCH, tau0=TAU0, kappa=KAPPA)))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for method, label in (("batch", "scikit-learn batch"), ("online", "scikit-learn online")):
            t0 = time.process_time()
            sk = sklearn_lda(lam0, method, P).fit(train)
            cpu = time.process_time() - t0
            rows.append(evaluate(label, sk.components_, train, obs, test, cpu, P,
                                 dict(sklearn_score=float(sk.score(train)),
                                      sklearn_heldout_perplexity=float(sk.perplexity(heldout)))))

    by = {r["method"]: r for r in rows}
    ratios = dict(
        batch_cpu_per_pass_sklearn_over_ours=by["scikit-learn batch"]["cpu_per_pass_s"]
        / by["vi_impl batch CAVI"]["cpu_per_pass_s"],
        online_cpu_per_pass_sklearn_over_ours=by["scikit-learn online"]["cpu_per_pass_s"]
        / by["vi_impl SVI"]["cpu_per_pass_s"])
    order = np.argsort(-ours_b["lam"].sum(axis=1))
    topics = [[vocab[w] for w in np.argsort(-ours_b["lam"][k])[:8]] for k in order[:10]]
    result = dict(date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                  machine=dict(arch=platform.machine(), cores=os.cpu_count(),
                               python=platform.python_version(), numpy=np.__version__,
                               sklearn=sklearn.__version__),
                  clock="cpu per pass (time.process_time, one thread); traces in CPU and wall"
                        " seconds",
                  corpus=dict(documents=int(X.shape[0]), train=int(n_train),
                              heldout=int(heldout.shape[0]), vocabulary=int(X.shape[1]),
                              tokens=int(X.sum())),
                  settings=dict(K=K, alpha=ALPHA, eta=ETA, passes=P, batch_size=BATCH,
                                tau0=TAU0, kappa=KAPPA),
                  rows=rows, ratios=ratios, traces=traces, topics=topics)
    print(json.dumps(ratios))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(result, fh, indent=1)


if __name__ == "__main__":
    main()
