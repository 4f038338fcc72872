"""Shared fixtures: paths to ../shared/data and small generated inputs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CSCNICHE_SHARED", REPO.parent / "shared")) / "data"
OLIGO_MATRIX = SHARED / "scrna" / "oligodendroglioma_expression_downsampled.counts.matrix.gz"
OLIGO_ANNOT = SHARED / "scrna" / "oligodendroglioma_annotations_downsampled.txt"
MALT_MTX = SHARED / "scrna" / "MALT_10x_target_1100cells"

SMALL_SIM = {"n_cells": 600, "n_patients": 2, "samples_per_patient": 1, "n_genes": 1500,
             "malignant_fraction": 0.45, "csc_fraction": 0.15, "low_quality_fraction": 0.05,
             "doublet_fraction": 0.05, "mean_library_size": 4000}


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED.is_dir():
        pytest.fail(f"shared data folder {SHARED} not found (set CSCNICHE_SHARED)")
    return SHARED


@pytest.fixture(scope="session")
def small_tumour():
    from cscniche.simulate import simulate_tumour

    return simulate_tumour(SMALL_SIM, seed=1)


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
        adata.uns["ingest"] = {"sample": name, "value_scale": value_scale}
        qc.run_qc(adata, settings["qc"], seed=seed)
        kept.append(qc.passing_cells(adata, settings["qc"]))
    merged = cluster.merge_samples(kept, min_cells_per_gene=settings["qc"]["min_cells_per_gene"])
    cluster.cluster(merged, settings["cluster"], seed=seed)
    sets = annotate.load_marker_sets(settings["annotate"]["markers"])
    return annotate.annotate(merged, sets, settings["annotate"])
