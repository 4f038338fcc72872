"""Shared fixtures: paths to ../shared/data and small generated inputs.

``tests/unit`` tests the library on small generated data (and on the real data beside the checkout where it
is there); ``tests/e2e`` runs Snakemake: the demo, bad inputs, presets, downloads and SLURM.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CSCNICHE_SHARED", REPO.parent / "shared")) / "data"
OLIGO_MATRIX = SHARED / "scrna" / "oligodendroglioma_expression_downsampled.counts.matrix.gz"
OLIGO_ANNOT = SHARED / "scrna" / "oligodendroglioma_annotations_downsampled.txt"
MALT_MTX = SHARED / "scrna" / "MALT_10x_target_1100cells"

SMALL_SIM = {"n_cells": 600, "n_patients": 2, "samples_per_patient": 1, "n_genes": 1500,
             "malignant_fraction": 0.45, "csc_fraction": 0.15, "low_quality_fraction": 0.05,
             "doublet_fraction": 0.05, "mean_library_size": 4000}


# The SLURM executor plugin asks ``scontrol show config`` whenever Snakemake starts; with SLURM's client tools
# installed and no controller running (here after the SLURM test, or on a login-less machine) each start waits
# ~9 s for it to fail. Snakemake runs of the other tests find a stand-in that fails at once; the SLURM test
# uses REAL_PATH.
# (This module is imported twice, as pytest's conftest and by the tests' "from conftest import": the stand-in is
# made once and REAL_PATH never holds it.)
STAND_IN_PREFIX = "cscniche-no-slurm-"
REAL_PATH = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if STAND_IN_PREFIX not in p)
if STAND_IN_PREFIX not in os.environ["PATH"]:
    _stand_in = Path(tempfile.mkdtemp(prefix=STAND_IN_PREFIX))
    (_stand_in / "scontrol").write_text("#!/bin/sh\nexit 1\n")
    (_stand_in / "scontrol").chmod(0o755)
    os.environ["PATH"] = f"{_stand_in}{os.pathsep}{REAL_PATH}"


# Parallel workers (``make test``: one per core) each compute on their share of the cores. BLAS, OpenMP and
# numba otherwise start one thread per core in every worker, and the threads of one worker spin while the other
# worker computes: ``make test-unit`` took 110 s (206 s CPU) that way, 65 s (118 s CPU) with one thread a worker.
# BLAS and OpenMP are limited in this process only (threadpoolctl), as their variables would reach the tests'
# programs too (``nproc`` reads OMP_NUM_THREADS); NUMBA_NUM_THREADS reaches Snakemake's jobs, which results
# do not depend on.
if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
    import scipy.linalg  # noqa: F401  (loads scipy's BLAS, to be limited with numpy's)
    import sklearn  # noqa: F401  (loads OpenMP)
    from threadpoolctl import threadpool_limits

    THREADS_PER_WORKER = max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"]))
    os.environ.setdefault("NUMBA_NUM_THREADS", str(THREADS_PER_WORKER))
    threadpool_limits(THREADS_PER_WORKER)


def pytest_itemcollected(item):
    """Mark the tests under tests/e2e ``e2e`` as they are collected (before ``-m`` selects)."""
    if "e2e" in item.path.parts:
        item.add_marker(pytest.mark.e2e)


# The order of the test files: pytest-xdist (``make test``: two workers, one file at a time each) starts the
# demo on one worker (the SLURM and resume files follow it there, ``AFTER_DEMO``) and the dry runs of bad
# inputs and presets on the other, which compile no numba kernels: by the time that worker starts its first
# Snakemake run, the demo has compiled the kernels into numba's disk cache, and it loads them instead of
# compiling them a second time. Then the longest files, longest first, so that the suite ends with short files
# rather than one long one.
LONGEST_FIRST = ("test_demo.py", "test_slurm.py", "test_resume.py", "test_bad_inputs.py", "test_presets.py",
                 "test_one_side.py", "test_remote_dataset.py", "test_paired.py", "test_own_10x.py",
                 "test_compare.py", "test_stemness.py", "test_crosstalk.py", "test_biomarkers.py", "test_cluster.py",
                 "test_malignant.py", "test_annotate.py")


# The tests that start from the demo run's files: they run after the demo's tests on the same worker (no
# waiting for the run), while the other worker runs the other scenarios.
AFTER_DEMO = ("test_slurm.py", "test_resume.py")


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist: pytest runs without it too
def pytest_xdist_make_scheduler(config, log):
    """``--dist loadfile`` with the ``AFTER_DEMO`` files in the demo's unit of work."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class DemoFirst(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            scope = super()._split_scope(nodeid)
            return str(Path(scope).with_name("test_demo.py")) if Path(scope).name in AFTER_DEMO else scope

    return DemoFirst(config, log)


@pytest.hookimpl(trylast=True)  # after pytest groups the tests by fixture
def pytest_collection_modifyitems(items):
    """Order the test files longest first (a stable sort: the tests of a file keep their order)."""
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real public data beside the checkout (``../shared/data``, or ``$CSCNICHE_SHARED/data``).

    Tests that read it skip where it is absent (a user's clone), unless ``CSCNICHE_REQUIRE_SHARED`` is set, as
    ``make test`` and CI do, where its absence fails them.
    """
    if not SHARED.is_dir():
        message = f"real data folder {SHARED} not found (set CSCNICHE_SHARED to the folder holding data/)"
        if os.environ.get("CSCNICHE_REQUIRE_SHARED"):
            pytest.fail(message)
        pytest.skip(message)
    return SHARED


def simulated_tumour(params: dict, *, seed: int):
    """``simulate_tumour(params, seed=seed)`` made once per test session (per worker): the unit tests' simulated
    tumours all come from here. Each call gets its own copies of the samples and tables."""
    import dataclasses

    from cscniche.simulate import simulate_tumour

    sim = _once(_TUMOURS, params, seed, lambda: simulate_tumour(params, seed=seed))
    return dataclasses.replace(sim, samples={name: adata.copy() for name, adata in sim.samples.items()},
                               truth=sim.truth.copy(), lr_pairs=sim.lr_pairs.copy(), csc_genes=list(sim.csc_genes),
                               cnv_events=sim.cnv_events.copy())


_TUMOURS: dict = {}


def _once(store: dict, params: dict, seed: int, make):
    """``make()`` the first time ``params`` and ``seed`` are asked for in this session; its result after."""
    key = (repr(sorted(params.items())), seed)
    if key not in store:
        store[key] = make()
    return store[key]


@pytest.fixture(scope="session")
def small_tumour():
    """The small tumour most unit tests of QC, clustering, annotation and CNV calling start from."""
    return simulated_tumour(SMALL_SIM, seed=1)


@pytest.fixture(scope="session")
def small_annotated(small_tumour):
    """A function giving the small tumour through QC, clustering and annotation (``run_chain``, default
    settings), run once per test session (per worker): each call gets its own copy."""
    annotated = run_chain(small_tumour.samples, default_settings())
    return annotated.copy


def demo_config(datasets: list[str] | None = None) -> dict:
    """The repository's demo config (optionally some of its datasets), with local GMT files for biomarkers."""
    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    if datasets is not None:
        config["datasets"] = {k: v for k, v in config["datasets"].items() if k in datasets}
    for ds in config["datasets"].values():
        if "samples" in ds:
            ds["samples"] = str(REPO / ds["samples"])
    if SHARED.is_dir():  # local GMT files (they stay outside the repository)
        config["biomarkers"] = {"gene_sets": [
            {"path": str(SHARED / "gene_sets/h.all.v7.0.symbols.gmt"), "source": "hallmark"},
            {"path": str(SHARED / "gene_sets/c2.v6.0_stemness_subset.symbols.gmt"), "source": "stemness"},
            {"path": str(SHARED / "gene_sets/3CA_Gavish2023_metaprograms.gmt"), "source": "3CA metaprogram"}]}
    return config


def tiny_10x_folder(folder: Path, *, n_cells: int = 30, seed: int = 0) -> Path:
    """A small 10x MatrixMarket folder of integer counts, written by the workflow's own 10x export."""
    import anndata as ad
    import scipy.sparse as sp

    from cscniche.export import write_10x_mtx

    genes = ["CD3E", "CD3D", "MS4A1", "CD79A", "LYZ", "CD14", "COL1A1", "PECAM1", "EPCAM", "KRT8", "MT-CO1",
             "RPL13", "ACTB", "GAPDH", "MALAT1", "NKG7", "GNLY", "IGKC", "IGLC2", "VWF"]
    counts = sp.random(n_cells, len(genes), density=0.5, format="csr", random_state=seed,
                       data_rvs=lambda n: np.random.default_rng(seed).integers(1, 20, n)).astype(np.float32)
    barcodes = [f"{''.join('ACGT'[(i >> (2 * k)) & 3] for k in range(16))}-1" for i in range(n_cells)]
    with tempfile.TemporaryDirectory() as tmp:
        ad.AnnData(counts, obs=pd.DataFrame(index=barcodes), var=pd.DataFrame(index=genes)).write_h5ad(
            Path(tmp) / "counts.h5ad")
        write_10x_mtx(Path(tmp) / "counts.h5ad", folder)
    return folder


def snakemake_command(workdir: Path, config: dict, targets: list[str] | None = None, *,
                      entry: tuple[str, ...] = ("-m", "snakemake")) -> list[str]:
    """Write ``config`` into ``workdir`` and return the Snakemake command line that runs it (or only ``targets``)
    there. Targets come first: options such as ``--quiet`` or ``--default-resources`` would take them as values.
    ``entry``: what Python runs (a script that starts Snakemake instead of the module)."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    return [sys.executable, *entry, *(targets or []), "--snakefile", str(REPO / "Snakefile"),
            "--directory", str(workdir), "--configfile", str(workdir / "config.yaml")]


def run_demo(workdir: Path, datasets: list[str] | None = None, targets: list[str] | None = None) -> Path:
    """Run the demo config (optionally some of its datasets, or only ``targets``) locally in ``workdir``; return
    its results folder."""
    run = subprocess.run(snakemake_command(workdir, demo_config(datasets), targets) + ["--cores", "2", "--quiet"],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    return workdir / "results"


def read_cells(results: Path, name: str) -> pd.DataFrame:
    """The per-cell table of dataset ``name`` in a results folder."""
    return pd.read_csv(results / name / "cells.tsv.gz", sep="\t", dtype={"leiden": str, "sample": str,
                                                                         "patient": str})


DETERMINISTIC_TABLES = ("cells.tsv.gz", "qc/summary.tsv", "cluster/markers.tsv", "stemness/summary.tsv",
                        "crosstalk/interactions.tsv", "crosstalk/csc_specific.tsv", "crosstalk/axes.tsv",
                        "biomarkers/biomarkers.tsv", "biomarkers/de.tsv", "biomarkers/gsea.tsv")


def assert_same_tables(first: Path, second: Path, *, tables: tuple[str, ...] = DETERMINISTIC_TABLES) -> None:
    """The stage tables of two runs of one dataset (results/<dataset> folders) are identical (``.gz`` files to
    the byte)."""
    for rel in tables:
        pd.testing.assert_frame_equal(pd.read_csv(first / rel, sep="\t"), pd.read_csv(second / rel, sep="\t"),
                                      check_exact=True, obj=rel)
        if rel.endswith(".gz"):
            assert (first / rel).read_bytes() == (second / rel).read_bytes(), rel


@pytest.fixture(scope="session")
def demo(tmp_path_factory) -> Path:
    """The demo run locally once per test session (results folder).

    Under pytest-xdist the workers share one run: the first to ask runs it under a file lock, the others wait
    for it and read its results.
    """
    if "PYTEST_XDIST_WORKER" not in os.environ:
        return run_demo(tmp_path_factory.mktemp("demo1"))
    import fcntl

    folder = tmp_path_factory.getbasetemp().parent / "demo1"  # the workers' common folder
    folder.mkdir(exist_ok=True)
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder / ".done").exists():
            run_demo(folder)
            (folder / ".done").touch()
    return folder / "results"


def default_settings(**overrides) -> dict:
    """Effective settings of a dataset from the schema defaults (plus overrides per section)."""
    from cscniche.config import validate_config

    return validate_config({"datasets": {"d": {"simulate": {}, **overrides}}})["datasets"]["d"]


def run_chain(samples: dict, settings: dict, *, seed: int = 0, value_scale: str = "counts"):
    """The workflow's library chain without Snakemake: QC, merge, cluster, annotate (AnnData out)."""
    from cscniche import annotate, cluster, qc

    kept = []
    for name, adata in samples.items():
        adata = adata.copy()
        adata.obs["sample"], adata.obs["patient"] = name, name.split("_")[0]
        adata.uns["ingest"] = {**adata.uns.get("ingest", {}), "sample": name, "value_scale": value_scale}
        kept.append(qc.run_qc(adata, **settings["qc"], seed=seed).kept)
    merged = cluster.run_cluster(kept, **settings["cluster"], min_cells_per_gene=settings["qc"]["min_cells_per_gene"],
                                 seed=seed).adata
    annotate.run_annotate(merged, **settings["annotate"])
    return merged


# The simulator's CSC variants as the stemness stage sees them. "csc_diversity: False" is their default: a
# program that does not raise the number of genes detected, as in real CSC states, so CytoTRACE-style
# diversity carries no information.
VARIANT_BASE = {"n_cells": 2000, "n_patients": 2, "samples_per_patient": 1, "n_genes": 3000,
                "malignant_fraction": 0.8, "csc_fraction": 0.15, "low_quality_fraction": 0.0,
                "doublet_fraction": 0.0, "mean_library_size": 6000, "csc_diversity": False}


def simulated_variant(overrides: dict, *, seed: int = 3):
    """A simulated variant as the stemness stage sees it: log-normalised, the truth's malignant labels, a kNN graph.

    Each design is simulated once per test session (per worker); every call gets its own copy of the cells.
    """
    sim, adata = _once(_VARIANTS, overrides, seed, lambda: _simulate_variant(overrides, seed=seed))
    return sim, adata.copy()


_VARIANTS: dict = {}


def _simulate_variant(overrides: dict, *, seed: int):
    import anndata as ad
    import scanpy as sc

    from cscniche.jit import import_umap_cached

    sim = simulated_tumour({**VARIANT_BASE, **overrides}, seed=seed)
    adata = ad.concat(list(sim.samples.values()))
    truth = sim.truth.set_index("cell_id").loc[adata.obs_names]
    adata.obs = truth[["patient", "cell_type"]].assign(
        malignant=np.where(truth["malignant"], "malignant", "non-malignant"), truth_csc=truth["csc"].to_numpy(),
        truth_level=truth["stemness_level"].to_numpy())
    adata.layers["counts"] = adata.X.copy()
    sc.pp.normalize_total(adata, target_sum=1e4)
    sc.pp.log1p(adata)
    sc.pp.pca(adata, n_comps=20)
    import_umap_cached()  # as the library does before a kNN graph: umap's kernels from the disk cache
    sc.pp.neighbors(adata, n_neighbors=15, random_state=0)
    return sim, adata
