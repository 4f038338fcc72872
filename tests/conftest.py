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
