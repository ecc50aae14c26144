"""Limit the BLAS thread pools of numpy and scipy at run time (no threadpoolctl dependency).

A fit works on matrices of a few hundred rows: multi-threaded BLAS only adds thread
synchronisation, and on a busy or shared machine (CI, HPC nodes running one Snakemake job per
core) it makes a fit 10x slower. The CLI and benchmarks therefore pin BLAS to one thread;
environment variables (OPENBLAS_NUM_THREADS=1) do the same when set before numpy loads.
"""

from __future__ import annotations

import ctypes
import glob
import os

_SYMBOLS = ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads", "openblas_set_num_threads64_",
            "openblas_set_num_threads")


def limit_blas_threads(n: int = 1) -> int:
    """Set every bundled OpenBLAS (numpy.libs, scipy.libs) to ``n`` threads; returns how many were set."""
    import numpy
    import scipy

    done = 0
    for pkg in (numpy, scipy):
        libdir = os.path.join(os.path.dirname(os.path.dirname(pkg.__file__)), f"{pkg.__name__}.libs")
        for path in glob.glob(os.path.join(libdir, "*openblas*.so*")):
            try:
                lib = ctypes.CDLL(path)
            except OSError:
                continue
            for sym in _SYMBOLS:
                fn = getattr(lib, sym, None)
                if fn is not None:
                    fn(ctypes.c_int(n))
                    done += 1
                    break
    return done
