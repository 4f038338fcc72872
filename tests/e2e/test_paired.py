"""A paired design (patients sampled before and during treatment) through the comparison stage."""

from __future__ import annotations

import subprocess

import pandas as pd
import pytest


def test_paired_design_through_the_workflow(tmp_path):
    """4 patients sampled before and during treatment (simulated, paired): the CSC share rises in each patient
    (paired sign-flip test at its exact floor, 2/16), AXL and CD274 planted in the second samples' CSCs lead
    the resistance genes, and the planted CSC signalling (CD274-PDCD1 to T cells, GAS6-AXL into CSCs) leads
    the signalling ranking, each patient's samples scored apart."""
    from conftest import snakemake_command

    config = {"seed": 0, "datasets": {"paired": {
        "simulate": {"n_cells": 2400, "n_patients": 4, "samples_per_patient": 2, "condition": {
            "column": "timepoint", "groups": ["before", "during"], "csc_fraction": [0.1, 0.3], "paired": True}},
        "compare": [{"name": "timepoint", "column": "timepoint", "groups": ["before", "during"],
                     "paired_by": "patient"}]}},
        "cluster": {"resolutions": [0.3], "resolution": 0.3},
        "crosstalk": {"rank_aggregate": False}}  # liana's ranks are tested on the demo
    folder = "results/paired/compare/timepoint"
    run = subprocess.run(snakemake_command(tmp_path, config, [f"{folder}/signalling.tsv"]) + ["--cores", "2",
                                                                                               "--quiet"],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    per_patient = pd.read_csv(tmp_path / folder / "composition_per_patient.tsv", sep="\t")
    share = per_patient.pivot(index="patient", columns="group", values="csc_high_share")
    assert len(share) == 4 and (share["during"] > share["before"] + 0.1).all(), share
    composition = pd.read_csv(tmp_path / folder / "composition.tsv", sep="\t").set_index("measure")
    assert composition.loc["csc_high_share", "pvalue"] == pytest.approx(2 / 16)
    assert composition.loc["csc_high_share", "test"].startswith("exact paired")
    genes = pd.read_csv(tmp_path / folder / "resistance_genes.tsv", sep="\t")
    assert set(genes.head(2)["gene"]) == {"AXL", "CD274"} and genes["test"].str.contains("a unit is").all()
    signalling = pd.read_csv(tmp_path / folder / "signalling.tsv", sep="\t")
    head = signalling.head(6)
    top = set(zip(head["ligand"], head["receptor"], head["partner"], strict=True))
    assert ("CD274", "PDCD1", "T cell") in top and ("GAS6", "AXL", "macrophage/monocyte") in top, top
    assert signalling.head(6)["test"].str.startswith("exact paired sign-flip").all()
    assert (signalling["pvalue"].dropna() >= 2 / 16 - 1e-12).all()
    notes = (tmp_path / folder / "notes.txt").read_text()
    assert "~ patient + arm" in notes and "paired sign-flip" in notes
