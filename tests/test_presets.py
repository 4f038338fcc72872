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
