"""A newcomer's own 10x folder with only a sample sheet (the MALT lymphoma) through every stage."""

from __future__ import annotations

import subprocess

import pandas as pd

from conftest import MALT_MTX, read_cells


def test_lymphoma_10x_folder_with_only_a_sample_sheet(tmp_path, shared_data):
    """A newcomer's own 10x folder (the MALT lymphoma): a sample sheet and nothing else. The workflow completes,
    the malignant calls are the B-cell clone and no T, NK or myeloid cell, and the report names the
    reference and the clone."""
    from conftest import snakemake_command

    sheet = tmp_path / "samples.tsv"
    sheet.write_text(f"sample\tpatient\tpath\tformat\nmalt\tP1\t{MALT_MTX}\t10x_mtx\n")
    config = {"datasets": {"mine": {"samples": str(sheet)}}}
    run = subprocess.run(snakemake_command(tmp_path, config) + ["--cores", "2", "--quiet"], capture_output=True,
                         text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    results = tmp_path / "results" / "mine"
    cells = read_cells(tmp_path / "results", "mine")
    called = cells["malignant"] == "malignant"
    assert called.sum() >= 200
    assert not called[cells["marker_cell_type"].isin(["T cell", "NK cell", "macrophage/monocyte"])].any()
    assert cells.loc[called, "marker_cell_type"].isin(["B cell", "plasma cell", "unassigned"]).all()
    clones = pd.read_csv(results / "identity/light_chains.tsv", sep="\t")
    assert clones["restricted"].sum() >= 1
    html = (results / "report.html").read_text()
    assert "kappa-restricted B-cell clone" in html and "CNV reference: " in html
