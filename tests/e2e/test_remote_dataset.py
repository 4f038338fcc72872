"""A dataset given by URLs, 'downloaded' from a local HTTP server, through the whole workflow."""

import subprocess
import sys

import anndata
import pandas as pd
import yaml
from sklearn.metrics import f1_score

from cscniche.download import sha256sum

from conftest import REPO
from http_server import LocalServer

MATRIX = "scrna/oligodendroglioma_expression_downsampled.counts.matrix.gz"
ANNOT = "scrna/oligodendroglioma_annotations_downsampled.txt"
POSITIONS = "gene_positions/hg38_gencode_v27.txt"


def _config(tmp_path, url, shared, *, offline=False):
    rows = ["sample\tpatient\tpath\tformat\tcell_pattern\tannotation\tsha256"]
    for p in ["93", "97", "MGH36", "MGH53", "MGH54"]:
        rows.append(f"{p}\t{p}\t{url}/data/{MATRIX}\ttable\t^{p}_\t{url}/data/{ANNOT}\t{sha256sum(shared / MATRIX)}")
    (tmp_path / "samples.tsv").write_text("\n".join(rows) + "\n")
    config = {
        "datasets": {"oligo_remote": {
            "samples": str(tmp_path / "samples.tsv"), "author_labels": {"label": "cell_type"},
            "qc": {"min_cells_per_sample": 5}, "cluster": {"integration": "none", "n_neighbors": 10},
            "annotate": {"markers": ["config/markers/tme.yaml", "config/markers/brain.yaml"]},
            "malignant": {"gene_positions": f"{url}/data/{POSITIONS}",
                          "reference_cell_types": ["microglia", "macrophage/monocyte", "oligodendrocyte"]}}},
        "download": {"offline": offline},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _snakemake(tmp_path, config, *targets: str):
    return subprocess.run([sys.executable, "-m", "snakemake", *targets, "--snakefile", str(REPO / "Snakefile"),
                           "--directory", str(tmp_path), "--configfile", str(config), "--cores", "2", "--quiet"],
                          capture_output=True, text=True)


def test_offline_with_an_empty_cache_stops_before_any_job(tmp_path, shared_data):
    run = _snakemake(tmp_path, _config(tmp_path, "http://127.0.0.1:9", shared_data, offline=True))
    assert run.returncode != 0
    assert "download.offline is true but 3 input(s) are not in the cache" in run.stderr + run.stdout
    assert not (tmp_path / "results").exists()


def test_dataset_downloaded_from_local_server_keeps_author_labels(tmp_path, shared_data):
    with LocalServer(shared_data) as server:
        # the malignant calls (the last stage reading a downloaded file) and the download manifest
        run = _snakemake(tmp_path, _config(tmp_path, server.url, shared_data),
                         "results/oligo_remote/identity/malignant_summary.tsv", "results/oligo_remote/downloads.tsv")
        assert run.returncode == 0, run.stderr[-3000:]
        assert sum(r.startswith("/data/") for r in server.requests) == 3  # each file once
    results = tmp_path / "results/oligo_remote"
    manifest = pd.read_csv(results / "downloads.tsv", sep="\t")
    assert len(manifest) == 3
    assert (manifest["sha256"] == [sha256sum(shared_data / f) for f in (POSITIONS, ANNOT, MATRIX)]).all()
    assert manifest["pinned"].tolist() == [False, False, True]
    cells = anndata.read_h5ad(results / "identity/identity.h5ad").obs  # the cells' calls (no matrix in it)
    assert cells["author_cell_type"].str.startswith("malignant").sum() >= 140
    f1 = f1_score(cells["author_cell_type"].str.startswith("malignant"), cells["malignant"] == "malignant")
    assert f1 >= 0.97
    summary = pd.read_csv(results / "identity/malignant_summary.tsv", sep="\t")
    assert summary["genes_placed"].iloc[0] > 0.9
