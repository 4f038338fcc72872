"""numba in jobs: kernels compiled once per installation and only when called, parallel kernels on the job's threads."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import ModuleType

__all__ = ["follow_job_threads", "import_liana", "import_umap_cached"]


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
    """Import umap (and pynndescent), their numba kernels cached on disk and compiled when first called.

    Neither library caches its kernels, so every process that builds a kNN graph or a UMAP compiles them
    again: pynndescent's distances at import, umap's graph and layout kernels at first use, about 8 s a job.
    Imported here, with ``cache=True`` given to every ``numba.njit``/``numba.jit`` decorator of theirs, the
    first job compiles and later jobs load the machine code (numba checks it against the source files); and
    the kernels pynndescent compiles at import for the signatures it declares (34, about 8 s where nothing is
    cached yet) are compiled for those signatures when first called instead (``DeferredDispatcher``):
    a UMAP of a graph of fewer than 4,096 cells (which scanpy builds with scikit-learn) calls 2 of them. The results
    are the same. Call it before scanpy's ``neighbors``, ``umap`` or approximate scrublet; it does nothing once
    umap is imported. Where numba can write no cache, umap is imported as it is.
    """
    if "umap" in sys.modules:
        return
    try:
        with _patched_jit(cache=True, defer=("umap", "pynndescent")):
            import umap  # noqa: F401
    except RuntimeError:  # numba found no writable cache folder: drop the half-imported modules, import as is
        for name in [m for m in sys.modules if m.split(".")[0] in ("umap", "pynndescent")]:
            del sys.modules[name]
    if "umap" not in sys.modules:
        import umap  # noqa: F401, F811


def import_liana() -> ModuleType:
    """Import liana, the numba kernels it compiles at import compiled when first called instead.

    liana compiles the kernels of its spatial metrics when imported, for the signatures they declare (about
    8 s where numba has no cached copy); cscniche calls none of them. Imported here, each is compiled for
    those signatures when first called (``DeferredDispatcher``); liana's results are the same.
    """
    if "liana" not in sys.modules:
        with _patched_jit(defer=("liana",)):
            import liana  # noqa: F401
    return sys.modules["liana"]


@contextmanager
def _patched_jit(*, cache: bool = False, defer: tuple[str, ...] = ()) -> Iterator[None]:
    """``numba.njit`` and ``numba.jit`` patched while packages are imported.

    ``cache``: ``cache=True`` given to every decorator. ``defer``: the kernels of these packages that declare
    their signatures are made ``DeferredDispatcher`` (compiled for them when first called, not when decorated).
    """
    import numba

    njit, jit = numba.njit, numba.jit
    numba.njit, numba.jit = _patched(njit, cache=cache, defer=defer), _patched(jit, cache=cache, defer=defer)
    try:
        yield
    finally:
        numba.njit, numba.jit = njit, jit


def _patched(decorator: Callable, *, cache: bool, defer: tuple[str, ...]) -> Callable:
    def patched(*args, **kwargs):
        if cache:
            kwargs.setdefault("cache", True)
        if not args or callable(args[0]):  # no signatures: compiled at first call already
            return decorator(*args, **kwargs)
        declared = args[0] if isinstance(args[0], list) else [args[0]]

        def decorate(func: Callable):
            if func.__module__.split(".")[0] not in defer:
                return decorator(*args, **kwargs)(func)
            return _defer(decorator(*args[1:], **kwargs)(func), declared)

        return decorate

    return patched


def _defer(dispatcher, signatures: list):
    """``dispatcher`` (a lazily compiling numba kernel) made a :class:`DeferredDispatcher` of ``signatures``."""
    dispatcher.__class__ = _deferred_dispatcher_class()
    dispatcher._declared = signatures
    return dispatcher


@functools.cache
def _deferred_dispatcher_class() -> type:
    """:class:`DeferredDispatcher`, made when first needed (importing this module imports no numba)."""
    from numba.core import typeinfer
    from numba.core.compiler_lock import global_compiler_lock
    from numba.core.registry import CPUDispatcher

    class DeferredDispatcher(CPUDispatcher):
        """A numba kernel whose declared signatures are compiled when it is first called, not when decorated.

        First called from Python or from another kernel, it compiles its declared signatures and, as numba does
        at decoration, no other, and converts arguments to the declared ones: the same machine code, called the
        same way.
        """

        def compile(self, sig):
            with global_compiler_lock:
                declared, self._declared = getattr(self, "_declared", []), []
                if not declared:
                    return super().compile(sig)
                with typeinfer.register_dispatcher(self):
                    for signature in declared:
                        super().compile(signature)
                self.disable_compile()
            return lambda *args: self(*args)  # numba calls what compile returns: now the declared match

        def _reduce_class(self) -> type:
            return CPUDispatcher  # pickled, it is rebuilt as numba builds it at decoration

        def _reduce_states(self) -> dict:
            states = super()._reduce_states()
            if getattr(self, "_declared", []):
                states.update(can_compile=False, sigs=list(self._declared))
            return states

    return DeferredDispatcher
