"""A small in-process Dask cluster shared by the tests of vi_impl.scale (no worker processes
to leak; closed at the end of the session)."""
import pytest


@pytest.fixture(scope="session")
def dask_client():
    from distributed import Client, LocalCluster
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                      dashboard_address=":0") as cluster, Client(cluster) as client:
        yield client


def mixture_data(N, seed=0, D=2, K=3, spread=4.0):
    """N points from K well separated unit-variance clusters (for the tests)."""
    import numpy as np
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=spread, size=(K, D))
    return rng.normal(size=(N, D)) + centres[rng.integers(0, K, N)]
