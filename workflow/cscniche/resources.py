"""Job resources that grow with the input: ``mem_mb`` and ``runtime`` of the rules, for Snakemake.

The rules call these through ``workflow/rules/common.smk``; each returned callable has the signature
Snakemake gives a resource function (``wildcards, input, attempt``). Sizes count an h5ad file by its arrays'
uncompressed size (what a job holds in memory, whatever the file's compression). A file that does not
exist yet (a dry run) counts as 1 MB and as one patient's whole share.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

ResourceFunction = Callable[..., int]


def h5ad_mb(path: str | Path) -> float:
    """Uncompressed size (MB) of all arrays in an HDF5 file; its size on disk when it is not readable HDF5.

    A corrupt or empty input must reach the job that reads it, which then names the file and the problem.
    """
    import h5py

    total = 0

    def add(_: str, obj: object) -> None:
        nonlocal total
        if isinstance(obj, h5py.Dataset):
            total += (obj.size or 0) * obj.dtype.itemsize

    try:
        with h5py.File(path, "r") as fh:
            fh.visititems(add)
    except OSError:
        return Path(path).stat().st_size / 1e6
    return total / 1e6


def input_mb(paths: Iterable[str | Path], floor: float = 1) -> float:
    """Size of a job's inputs in MB, at least ``floor``.

    h5ad files count by :func:`h5ad_mb`, other files and folders by their size on disk.
    """
    total = 0.0
    for path in map(Path, paths):
        files = path.rglob("*") if path.is_dir() else [path]
        total += sum(h5ad_mb(f) if f.suffix == ".h5ad" else f.stat().st_size / 1e6 for f in files if f.is_file())
    return max(floor, total)


def h5ad_cells(path: str | Path) -> int:
    """Number of cells (rows of ``obs``) of an h5ad file, read from its header (0 when it cannot be read)."""
    import h5py

    try:
        with h5py.File(path, "r") as fh:
            return len(fh["obs"][fh["obs"].attrs["_index"]])
    except (OSError, KeyError):
        return 0


def patient_share(matrix: str | Path, patient: str) -> float:
    """Share of the cells of an h5ad file that belong to ``patient`` (``obs['patient']``).

    1 before the file exists (a dry run) or when it has no cells.
    """
    import h5py
    import numpy as np
    from anndata.io import read_elem

    if not Path(matrix).is_file():
        return 1.0
    with h5py.File(matrix, "r") as fh:
        values = np.asarray(read_elem(fh["obs/patient"])).astype(str)
    return float((values == str(patient)).mean()) if len(values) else 1.0


def mem(base: float, per_mb: float, share: Callable[..., float] | None = None) -> ResourceFunction:
    """``mem_mb`` of a job: ``base`` plus ``per_mb`` per MB of input (:func:`input_mb`), doubled on each retry.

    ``share(wildcards, input)``, when given, scales the input to the part the job reads (see
    :func:`per_patient`). The factors of the rules are the largest peak memory per input MB measured at
    100k, 200k and 500k cells x 20k genes, plus ~10-30%. No job forks workers that share its pages, so its
    peak is the same whether a scheduler counts PSS (cgroups) or sums its processes' RSS.
    """
    def resource(wildcards: object, input: Iterable[str], attempt: int) -> int:
        size = input_mb(input) * (share(wildcards, input) if share else 1.0)
        return int((base + per_mb * size) * 2 ** (attempt - 1))

    return resource


minutes = mem  # ``runtime`` (minutes) of a job: the same form, with minutes per MB of input


def per_patient(base: float, per_mb: float) -> ResourceFunction:
    """:func:`mem` (or :func:`minutes`) of a per-patient job: over the patient's share of ``input.matrix``."""
    return mem(base, per_mb, share=lambda wildcards, input: patient_share(input.matrix, wildcards.patient))


def qc_mem_mb(sample_mb: float, cells: int, scrublet_max_cells: int, attempt: int = 1) -> int:
    """``mem_mb`` of a QC job, doubled on each retry.

    The sample's matrix held a few times, plus scrublet on at most ``scrublet_max_cells`` cells at a time
    (its simulated doublets and a sparse PCA of the chunk). Peak RSS measured at 20,000 genes: 2.3 GB at
    12,500 cells (357 MB of arrays), 3.1 GB at 25,000 cells (452 MB), 5.3 GB at 62,500 cells (937 MB, in
    3 chunks); this asks 20-40% more.
    """
    chunk = min(1.0, scrublet_max_cells / max(1, cells))
    return int((1000 + 5.5 * sample_mb + chunk * sample_mb) * 2 ** (attempt - 1))


def simulate_mem_mb(cells_per_sample: float, genes: int, mean_library_size: float, threads: int,
                    attempt: int = 1) -> int:
    """``mem_mb`` of the simulation, doubled on each retry.

    Samples are written as they are made, one per thread, so per thread one sample's counts (at most one
    non-zero per UMI or gene, 8 bytes each) held about three times while it is assembled, plus the gene
    programmes. Measured at 200k cells in 8 samples (6,000 UMIs, 20k genes): 6.7 GB holding all samples.
    """
    sample_mb = cells_per_sample * min(genes, mean_library_size) * 8 / 1e6
    return int((2500 + 3 * sample_mb * threads) * 2 ** (attempt - 1))
