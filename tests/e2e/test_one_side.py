"""Inputs with one side missing (no tumour cells; tumour cells only) through every stage."""

from __future__ import annotations

import subprocess

import pandas as pd
import pytest

from conftest import SHARED, read_cells


def test_inputs_without_one_side_complete_and_say_so(tmp_path):
    """A tissue without tumour cells and a tumour-only input (organoids, sorted cells) run through every stage:
    the tables keep their columns and the report says, in words, what is missing and why. The tumour-only
    patients fall in two response groups with a planted CSC share each: the comparison finds it with the
    patient as the unit."""
    from conftest import snakemake_command

    condition = {"column": "response", "groups": ["responder", "non-responder"], "csc_fraction": [0.1, 0.3]}
    config = {"seed": 0, "datasets": {
        "normal_only": {"simulate": {"n_cells": 600, "n_patients": 2, "n_genes": 3000, "malignant_fraction": 0.0}},
        "tumour_only": {"simulate": {"n_cells": 800, "n_patients": 4, "n_genes": 3000, "malignant_fraction": 1.0,
                                     "condition": condition},
                        "malignant": {"method": "all"},
                        "compare": [{"name": "response", "column": "response",
                                     "groups": ["responder", "non-responder"]}]}},
        "cluster": {"resolutions": [0.3], "resolution": 0.3},
        "crosstalk": {"rank_aggregate": False}}  # liana's ranks are tested on the demo
    hallmark = SHARED / "gene_sets/h.all.v7.0.symbols.gmt"
    if hallmark.is_file():  # GSEA of the resistance genes (skipped where ../shared is absent)
        config["biomarkers"] = {"gene_sets": [{"path": str(hallmark), "source": "hallmark"}]}
    run = subprocess.run(snakemake_command(tmp_path, config) + ["--cores", "2", "--quiet"], capture_output=True,
                         text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    results = tmp_path / "results"
    assert "Traceback" not in "".join(p.read_text() for p in results.glob("*/logs/**/*.log"))
    normal, tumour = read_cells(results, "normal_only"), read_cells(results, "tumour_only")
    assert not normal["malignant"].eq("malignant").any() and tumour["malignant"].eq("malignant").all()
    assert tumour["cell_type"].eq("malignant").all() and tumour["marker_cell_type"].notna().all()
    stem = pd.read_csv(results / "normal_only/stemness/summary.tsv", sep="\t")
    assert (stem["signal"] == "too_few_cells").all() and {"coherence_pvalue", "bic_gain"} <= set(stem)
    specific = pd.read_csv(results / "normal_only/crosstalk/csc_specific.tsv", sep="\t")
    assert specific.empty and {"ligand", "receptor", "mode"} <= set(specific)
    text = {name: (results / name / "report.html").read_text() for name in ("normal_only", "tumour_only")}
    assert "No malignant cells were found" in text["normal_only"]
    assert "no normal reference exists" in text["tumour_only"] and "No TME cells" in text["tumour_only"]
    assert "No TME cells" not in text["normal_only"]
    per_patient = pd.read_csv(results / "tumour_only/compare/response/composition_per_patient.tsv", sep="\t")
    share = per_patient.set_index("patient")["csc_high_share"]
    assert share[["P1", "P3"]].max() < share[["P2", "P4"]].min(), per_patient
    test = pd.read_csv(results / "tumour_only/compare/response/composition.tsv", sep="\t").set_index("measure")
    assert test.loc["csc_high_share", "difference"] > 0.1 and test.loc["csc_high_share", "n_patients_b"] == 2
    assert test.loc["csc_high_share", "pvalue"] == pytest.approx(1 / 3)  # 2 vs 2 patients: the exact floor
    assert "Comparisons" in text["tumour_only"]
    genes = pd.read_csv(results / "tumour_only/compare/response/resistance_genes.tsv", sep="\t")
    assert {"gene", "log2fc", "fdr", "log2fc_csc_low", "test"} <= set(genes) and len(genes) > 100
    assert "Resistance genes of CSC-high cells" in text["tumour_only"]
    notes = (results / "tumour_only/compare/response/notes.txt").read_text()
    assert "pseudobulk DESeq2 (~ unit + csc + csc_in_b)" in notes and genes["pvalue"].notna().all()
    gsea = pd.read_csv(results / "tumour_only/compare/response/resistance_gsea.tsv", sep="\t")
    if hallmark.is_file():
        assert len(gsea) > 0 and gsea["nes"].notna().all(), notes  # GSEA of the DESeq2 statistic ran
