"""Dataset presets: each is one --configfile away, and a broken one fails before any job."""

import subprocess
import sys

import pytest
import yaml

from cscniche.config import validate_config

from conftest import REPO

PRESETS = sorted((REPO / "config/datasets").glob("*.yaml"))


def _dry_run(configfile, cwd=REPO):
    return subprocess.run([sys.executable, "-m", "snakemake", "-n", "--snakefile", str(REPO / "Snakefile"),
                           "--configfile", str(configfile), "--cores", "1"], cwd=cwd, capture_output=True, text=True)


def test_at_least_five_presets():
    assert len(PRESETS) >= 5


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.stem)
def test_preset_is_documented_and_plans_its_downloads(preset):
    text = preset.read_text()
    assert "GSE" in text and "et al." in text and "Run:" in text
    config = validate_config(yaml.safe_load(text))
    assert list(config["datasets"]) == [preset.stem]  # only this dataset runs, not the demo ones
    run = _dry_run(preset)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "rule download:" in run.stdout
    assert "results/simulated" not in run.stdout


def test_broken_preset_fails_before_any_job(tmp_path):
    sheet = tmp_path / "samples.tsv"
    sheet.write_text(f"sample\tpatient\tpath\nA\tP1\t{tmp_path}/a.h5ad\n")
    config = tmp_path / "preset.yaml"
    config.write_text(yaml.safe_dump({"datasets": {"broken": {"samples": str(sheet)}}}))
    run = _dry_run(config, cwd=tmp_path)
    assert run.returncode != 0 and "missing column(s) ['format']" in run.stderr + run.stdout
    sheet.write_text(f"sample\tpatient\tpath\tformat\nA\tP1\t{tmp_path}/missing.h5ad\th5ad\n")
    run = _dry_run(config, cwd=tmp_path)
    out = run.stderr + run.stdout
    assert run.returncode != 0 and "field `path`:" in out and "missing.h5ad does not exist" in out
    assert not (tmp_path / "results").exists()


def test_jerby_arnon_preset_reads_gse115978_shaped_files(tmp_path, shared_data):
    """GSE115978's layout, written as R's write.csv does (quoted names, an empty first header cell): a genes x
    cells read-count table and a cell annotation table. The preset's own sheet rows and labels select each
    tumour's cells, decode the authors' cell types and carry the treatment group to every cell."""
    import csv

    import pandas as pd

    from cscniche.config import check_comparisons, read_sample_sheet
    from cscniche.ingest import ingest_sample

    from conftest import OLIGO_ANNOT, OLIGO_MATRIX

    preset = yaml.safe_load((REPO / "config/datasets/melanoma_jerby_arnon2018.yaml").read_text())
    settings = preset["datasets"]["melanoma_jerby_arnon2018"]
    sheet = read_sample_sheet(REPO / settings["samples"], check_paths=False)
    assert len(sheet) == 33 and sheet["patient"].nunique() == 31
    assert sheet.drop_duplicates("patient")["treatment"].value_counts().to_dict() == {
        "post.treatment": 16, "treatment.naive": 15}
    check_comparisons("melanoma_jerby_arnon2018", validate_config(preset)["datasets"][
        "melanoma_jerby_arnon2018"]["compare"], sheet)

    table = pd.read_csv(OLIGO_MATRIX, sep="\t", index_col=0).iloc[:400, :120].round().astype(int)
    labels = pd.read_csv(OLIGO_ANNOT, sep="\t", header=None, index_col=0)[1].loc[table.columns]
    cells = [f"cy{i}_CD45_neg_1_B{i:02d}_S{i}_comb" for i in range(120)]
    rows = sheet.set_index("sample").loc[["Mel04.3", "Mel129pa"]]
    annotation = pd.DataFrame({
        "cells": cells, "samples": ["Mel04.3"] * 70 + ["Mel129pa"] * 50,
        "cell.types": ["Mal" if v.startswith("malignant") else "?" if "Oligo" in v else "Macrophage"
                       for v in labels],
        "treatment.group": [rows.loc["Mel04.3", "treatment"]] * 70 + [rows.loc["Mel129pa", "treatment"]] * 50,
        "Cohort": "New", "no.of.genes": 4000, "no.of.reads": 100000})
    counts, annotations = tmp_path / "GSE115978_counts.csv.gz", tmp_path / "GSE115978_cell.annotations.csv.gz"
    table.set_axis(cells, axis=1).rename_axis("").to_csv(counts, quoting=csv.QUOTE_NONNUMERIC, compression="gzip")
    annotation.to_csv(annotations, index=False, quoting=csv.QUOTE_NONNUMERIC, compression="gzip")
    assert counts.read_bytes()[:2] == b"\x1f\x8b"

    for sample, n in (("Mel04.3", 70), ("Mel129pa", 50)):
        row = {**rows.loc[sample].to_dict(), "sample": sample, "path": str(counts), "annotation": str(annotations)}
        adata = ingest_sample({k: v for k, v in row.items() if v != ""}, author_labels=settings["author_labels"],
                              author_codes=settings["author_codes"])
        assert adata.shape == (n, 400) and adata.uns["ingest"]["value_scale"] == "counts"
        assert (adata.obs["author_treatment_group"] == adata.obs["treatment"]).all()
        assert adata.obs["patient"].iloc[0] == {"Mel04.3": "Mel04", "Mel129pa": "Mel129"}[sample]
        assert set(adata.obs["author_cell_type"]) <= {"malignant", "", "Macrophage"}
        assert "malignant" in set(adata.obs["author_cell_type"]) and "A2M" in adata.var_names
