"""Bad inputs through Snakemake, as a user meets them: each is refused before any job where its header or the
configuration tells (``snakemake -n`` already), else by the first job that reads it; the message names the file
and the problem, and nothing is written outside ``results/`` (and Snakemake's own folder)."""

from __future__ import annotations

import gzip
import subprocess
from pathlib import Path

import anndata as ad
import numpy as np
import pytest

from conftest import snakemake_command


def _sheet(folder: Path, rows: list[tuple[str, ...]], header=("sample", "patient", "path", "format")) -> Path:
    path = folder / "samples.tsv"
    path.write_text("\n".join("\t".join(map(str, row)) for row in [header, *rows]) + "\n")
    return path


def _files(folder: Path) -> set[Path]:
    return {p.relative_to(folder) for p in folder.rglob("*") if p.is_file()
            and p.relative_to(folder).parts[0] not in (".snakemake", "inputs")}


def _run(folder: Path, config: dict, *options: str, targets: list[str] | None = None):
    """Snakemake on ``config`` in ``folder``; also returns the files it wrote outside inputs/ and .snakemake/."""
    before = _files(folder)
    run = subprocess.run(snakemake_command(folder, config, targets) + ["--cores", "1", *options],
                         capture_output=True, text=True)
    return run, _files(folder) - before - {Path("config.yaml")}


def _refused_before_any_job(folder: Path, config: dict, *patterns: str) -> str:
    run, written = _run(folder, config, "-n", "--quiet")
    message = run.stderr + run.stdout
    assert run.returncode != 0, message[-2000:]
    for pattern in patterns:
        assert pattern in message, message[-2000:]
    assert "Traceback" not in message and not written, (message[-2000:], written)
    return message


def _dataset(sheet: Path, **settings) -> dict:
    return {"seed": 0, "datasets": {"d": {"samples": str(sheet), **settings}}}


@pytest.fixture
def inputs(tmp_path) -> Path:
    folder = tmp_path / "inputs"
    folder.mkdir()
    return folder


def _h5ad(path: Path) -> Path:
    ad.AnnData(np.ones((3, 2), dtype=np.float32)).write_h5ad(path)
    return path


@pytest.mark.parametrize("case", ["empty", "corrupt", "no_x", "not_gzip", "ragged_table", "mtx_header",
                                  "header_only"])
def test_a_broken_input_file_stops_the_dry_run_naming_it(tmp_path, inputs, case):
    """Each broken file is named with its sheet line and what is wrong, before any job."""
    if case == "empty":
        path, fmt, problem = inputs / "a.h5ad", "h5ad", "empty file (0 bytes)"
        path.write_bytes(b"")
    elif case == "corrupt":
        path, fmt, problem = inputs / "a.h5ad", "h5ad", "not a readable h5ad file"
        path.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\x00" * 200)
    elif case == "no_x":
        path, fmt, problem = inputs / "a.h5ad", "h5ad", "has no expression matrix (X)"
        ad.AnnData(obs={"n": [1, 2]}).write_h5ad(path)
    elif case == "not_gzip":
        path, fmt, problem = inputs / "a.tsv.gz", "table", "not a readable gzip-compressed text file"
        path.write_bytes(b"\x1f\x8b\x08\x00" + bytes(range(256)) * 4)
    elif case == "ragged_table":
        path, fmt, problem = inputs / "a.tsv", "table", "line 2 has 2 fields but the header has 3"
        path.write_text("gene\tc1\tc2\nCD3E\t1\n")
    elif case == "header_only":
        path, fmt, problem = inputs / "a.csv", "table", "empty expression table"
        path.write_text("gene,c1,c2\n")
    else:
        path, fmt, problem = inputs / "mtx", "10x_mtx", "declares 1,000,000,000,000 entries"
        path.mkdir()
        (path / "matrix.mtx").write_text("%%MatrixMarket matrix coordinate integer general\n"
                                         "2 2 1000000000000\n1 1 5\n")
        (path / "features.tsv").write_text("g1\tCD3E\ng2\tMS4A1\n")
        (path / "barcodes.tsv").write_text("AAAC-1\nAAAG-1\n")
    sheet = _sheet(inputs, [("S1", "P1", _h5ad(inputs / "good.h5ad"), "h5ad"), ("S2", "P2", path, fmt)])
    _refused_before_any_job(tmp_path, _dataset(sheet), f"{sheet} line 3: field `path`", str(path), problem)


@pytest.mark.parametrize("case", ["ragged_sheet", "patient", "max_genes", "python_tag", "missing_column"])
def test_a_bad_sheet_or_setting_stops_the_dry_run_naming_the_field(tmp_path, inputs, case):
    good = _h5ad(inputs / "good.h5ad")
    sheet = _sheet(inputs, [("S1", "P1", good, "h5ad")])
    settings = {}
    if case == "ragged_sheet":
        sheet.write_text(sheet.read_text() + f"S2\tP2\t{good}\n")
        expected = [f"{sheet} line 3: 3 tab-separated fields, the header has 4"]
    elif case == "patient":
        sheet = _sheet(inputs, [("S1", "../x", good, "h5ad")])
        expected = [f"{sheet} line 2", "field `patient`"]
    elif case == "max_genes":
        settings = {"qc": {"min_genes": 200, "max_genes": 100}}
        expected = ["field `qc.max_genes`: 100 is below qc.min_genes 200"]
    elif case == "python_tag":
        markers = inputs / "markers.yaml"
        markers.write_text("T: !!python/object/apply:os.system ['echo hi']\n")
        settings = {"annotate": {"markers": [str(markers)]}}
        expected = ["field `annotate.markers`", str(markers)]
    else:
        sheet.write_text(f"sample\tpatient\tpath\nS1\tP1\t{good}\n")
        expected = [f"sample sheet {sheet}: missing column(s) ['format']"]
    _refused_before_any_job(tmp_path, _dataset(sheet, **settings), *expected)


def test_a_url_cannot_place_its_download_outside_the_cache(tmp_path, inputs):
    """``..`` segments in a URL name a file inside the download cache (the dry run lists the job's output)."""
    sheet = _sheet(inputs, [("S1", "P1", "https://example.org/data/../../../../outside/evil.h5ad", "h5ad")])
    run, written = _run(tmp_path, _dataset(sheet), "-n", targets=["results/d/ingest/S1.h5ad"])
    assert run.returncode == 0, run.stderr[-2000:]
    planned = [line.split(":", 1)[1].strip() for line in run.stdout.splitlines() if line.strip().startswith("output:")]
    cache = (tmp_path / "resources/downloads").resolve()
    assert planned and all((tmp_path / p).resolve().is_relative_to(cache) for p in planned
                           if "downloads" in p), planned
    assert any("downloads" in p for p in planned) and not written


def test_bad_values_stop_ingest_naming_the_place_and_leave_nothing(tmp_path, inputs):
    """A missing value in a table (knowable only by reading it) stops the first job: the log names the file,
    row and column; no output or temporary file is left, and no later job runs."""
    table = inputs / "a.tsv.gz"
    with gzip.open(table, "wt") as fh:
        fh.write("gene\tAAAC-1\tAAAG-1\nCD3E\t1\t\nMS4A1\t0\t2\n")
    sheet = _sheet(inputs, [("S1", "P1", table, "table")])
    run, written = _run(tmp_path, _dataset(sheet), targets=["results/d/ingest/S1.h5ad"])
    assert run.returncode != 0
    log = (tmp_path / "results/d/logs/ingest/S1.log").read_text()
    assert f"{table}: missing value at row 'CD3E', column 'AAAG-1'" in log, log[-2000:]
    assert "Traceback" not in log and f"cscniche error: {table}: missing value" in run.stderr
    assert "results/d/logs/ingest/S1.log" in run.stderr
    assert {p for p in written if not str(p).startswith("results/d/logs/")} == set(), written
    assert not list((tmp_path / "results").rglob("*.tmp"))


def _table(path: Path, genes: list[str], values: np.ndarray) -> Path:
    cells = [f"{path.stem.split('.')[0]}-{i}" for i in range(values.shape[1])]
    rows = ["gene\t" + "\t".join(cells)]
    rows += [g + "\t" + "\t".join(f"{v:g}" for v in row) for g, row in zip(genes, values, strict=True)]
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.mark.parametrize("case", ["mixed_scales", "no_shared_genes"])
def test_samples_that_cannot_be_merged_stop_before_qc(tmp_path, inputs, case):
    """Samples on different value scales, or with no gene name in common, stop right after ingest: the message
    names the samples and what differs, and no QC job runs."""
    rng = np.random.default_rng(0)
    genes = [f"GENE{i}" for i in range(40)]
    counts = rng.poisson(2.0, size=(40, 30)).astype(float)
    first = _table(inputs / "a.tsv", genes, counts)
    if case == "mixed_scales":
        second = _table(inputs / "b.tsv", genes, np.round(np.log1p(rng.poisson(2.0, size=(40, 30)) * 3.7), 3))
        expected = ["samples on different value scales", "S1: counts", "S2: log"]
    else:
        second = _table(inputs / "b.tsv", [f"OTHER{i}" for i in range(40)], counts)
        expected = ["samples share no gene name", "S1: GENE0", "S2: OTHER0"]
    rows = [("S1", "P1", first, "table", "genes_x_cells"), ("S2", "P2", second, "table", "genes_x_cells")]
    sheet = _sheet(inputs, rows, header=("sample", "patient", "path", "format", "orientation"))
    run, written = _run(tmp_path, _dataset(sheet), targets=["results/d/qc/S1.h5ad"])
    assert run.returncode != 0
    log = (tmp_path / "results/d/logs/ingest/samples.log").read_text()
    for text in expected:
        assert text in log and text in run.stderr, (text, log[-2000:])
    assert "Traceback" not in log
    assert not [p for p in written if p.parts[2] in ("qc", "cluster")], written
    assert not (tmp_path / "results/d/ingest/samples.tsv").exists()
