"""The SLURM profile on a real single-node SLURM cluster started here (.ci/slurm.sh), against a local run.

The simulated demo dataset's stemness (a job per patient, then their gathering) and crosstalk stages run
through ``workflow/profiles/slurm`` (status by squeue: no accounting database), from the local demo run's
stages up to the malignant calls (copied, times kept: a user who ran the first steps on a laptop). The
other stages, figures and the report are the same kind of job and are left to the local runs, to keep the
suite short. A first run fails in the crosstalk job on purpose (a broken axes file): the failure must name
the job's SLURM log; after the fix, the rerun must resume (no upstream job again) and reproduce the local
run.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import REAL_PATH, REPO, assert_same_tables, demo_config, snakemake_command

SCRIPT = REPO / ".ci/slurm.sh"
QUICK_STATUS = Path(__file__).with_name("snakemake_quick_status.py")
TABLES = ("stemness/summary.tsv", "crosstalk/interactions.tsv", "crosstalk/csc_specific.tsv", "crosstalk/axes.tsv")
TARGETS = [f"results/simulated/{table}" for table in TABLES]
UPSTREAM = ("truth", "raw", "ingest", "qc", "cluster", "identity")  # the demo run's folders before stemness


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    """Install (when missing) and start the cluster; stop the daemons it started afterwards."""
    home = tmp_path_factory.mktemp("slurm")
    env = {**os.environ, "PATH": REAL_PATH, "SLURM_HOME": str(home)}
    for step in ("install", "start"):
        run = subprocess.run([str(SCRIPT), step], env=env, capture_output=True, text=True, timeout=600)
        assert run.returncode == 0, f".ci/slurm.sh {step} failed:\n{run.stdout}\n{run.stderr}"
    yield home
    subprocess.run([str(SCRIPT), "stop"], env=env, capture_output=True, text=True, timeout=120)


def _slurm_run(workdir, config) -> subprocess.CompletedProcess:
    """Snakemake through the SLURM profile, checking job status every 2 s (``snakemake_quick_status.py``)."""
    cmd = ["timeout", "-k", "10", "1200"] + snakemake_command(workdir, config, TARGETS, entry=(str(QUICK_STATUS),)) + [
        "--workflow-profile", str(REPO / "workflow/profiles/slurm"), "--slurm-status-command", "squeue",
        "--slurm-init-seconds-before-status-checks", "2", "--retries", "0", "--jobs", "4",
        "--default-resources", "mem_mb=1500", "runtime=30"]
    return subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PATH": REAL_PATH})


@pytest.mark.slurm
def test_demo_through_slurm_resumes_and_matches_local(slurm, demo, tmp_path):
    workdir = tmp_path / "work"
    for folder in UPSTREAM:
        shutil.copytree(demo / "simulated" / folder, workdir / "results/simulated" / folder)
    axes = workdir / "axes.yaml"
    axes.write_text("axes: {broken: {pairs: [[VEGFA, KDR]]}}\n")  # no 'source': the crosstalk job fails
    config = demo_config(["simulated"])
    config["crosstalk"] = {"axes": str(axes)}

    failed = _slurm_run(workdir, config)
    log = failed.stdout + failed.stderr
    assert failed.returncode != 0, log[-3000:]
    submitted = re.findall(r"submitted with SLURM jobid (\d+)", log)
    assert len(submitted) >= 5, log[-3000:]  # stemness per patient, stemness, crosstalk
    upstream = {"simulate", "ingest", "qc", "cluster", "annotate", "malignant"}
    assert not set(re.findall(r"rule (\w+):", log)) & upstream, log[-3000:]
    assert re.search(r"slurm_logs/rule_crosstalk/\S+\.log", log), log[-3000:]  # the failure names its log
    assert (workdir / "results/simulated/stemness/stemness.h5ad").is_file()
    assert not (workdir / "results/simulated/crosstalk/csc_specific.tsv").exists()

    shutil.copy(REPO / "config/crosstalk/axes.yaml", axes)
    resumed = _slurm_run(workdir, config)
    log2 = resumed.stdout + resumed.stderr
    assert resumed.returncode == 0, log2[-3000:]
    rules = set(re.findall(r"rule (\w+):", log2))
    assert "crosstalk" in rules and not rules & {"simulate", "ingest", "qc", "cluster", "stemness"}, rules
    ids = submitted + re.findall(r"submitted with SLURM jobid (\d+)", log2)
    completed = (slurm / "log/jobcomp.txt").read_text()
    assert all(f"JobId={i} " in completed for i in ids)  # every job went through sbatch and was recorded

    # the same config and seed give identical tables, whatever the executor
    assert_same_tables(demo / "simulated", workdir / "results/simulated", tables=TABLES)
