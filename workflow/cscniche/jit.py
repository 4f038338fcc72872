"""numba in jobs: umap's kernels compiled once per installation, parallel kernels on the job's threads."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

__all__ = ["follow_job_threads", "import_umap_cached"]


def follow_job_threads() -> None:
    """In a Snakemake job, give numba's parallel kernels the job's threads (unless ``NUMBA_NUM_THREADS`` is set).

    Snakemake limits BLAS and OpenMP to a job's ``threads``, not numba, which starts a thread per core in every
    job: jobs side by side then run more threads than cores, which wait on each other. The results do not
    depend on the number of threads. Called when :mod:`cscniche` is imported, before numba reads the variable;
    outside a Snakemake job (no ``snakemake`` object in the script) it does nothing.
    """
    job = getattr(sys.modules.get("__main__"), "snakemake", None)
    threads = getattr(job, "threads", None)
    if isinstance(threads, int) and "numba" not in sys.modules:
        os.environ.setdefault("NUMBA_NUM_THREADS", str(max(1, threads)))


def import_umap_cached() -> None:
    """Import umap (and pynndescent), their numba kernels cached on disk.

    Neither library caches its kernels, so every process that builds a kNN graph or a UMAP compiles them
    again: pynndescent's distances at import, umap's graph and layout kernels at first use, about 8 s a job.
    Imported here, with ``cache=True`` given to every ``numba.njit``/``numba.jit`` decorator of theirs, the
    first job compiles and later jobs load the machine code (numba checks it against the source files). The
    results are the same. Call it before scanpy's ``neighbors``, ``umap`` or approximate scrublet; it does
    nothing once umap is imported. Where numba can write no cache, umap is imported as it is.
    """
    if "umap" in sys.modules:
        return
    import numba

    njit, jit = numba.njit, numba.jit
    numba.njit, numba.jit = _caching(njit), _caching(jit)
    try:
        import umap  # noqa: F401
    except RuntimeError:  # numba found no writable cache folder: drop the half-imported modules, import as is
        for name in [m for m in sys.modules if m.split(".")[0] in ("umap", "pynndescent")]:
            del sys.modules[name]
    finally:
        numba.njit, numba.jit = njit, jit
    if "umap" not in sys.modules:
        import umap  # noqa: F401, F811


def _caching(decorator: Callable) -> Callable:
    def cached(*args, **kwargs):
        kwargs.setdefault("cache", True)
        return decorator(*args, **kwargs)

    return cached
