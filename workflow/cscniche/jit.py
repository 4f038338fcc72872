"""umap's and pynndescent's numba kernels compiled once per installation instead of once per job."""

from __future__ import annotations

import sys
from collections.abc import Callable

__all__ = ["import_umap_cached"]


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
