"""A run killed mid-job resumes with the commands in docs/cluster.md and gives the tables of an uninterrupted run."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time

from conftest import DETERMINISTIC_TABLES, assert_same_tables, demo_config, snakemake_command

BIOMARKER_FILES = ("biomarkers", "logs/biomarkers.log", "benchmarks/biomarkers.tsv")


def test_a_run_killed_mid_job_resumes_with_the_documented_commands(request, tmp_path):
    """``kill -9`` of Snakemake and its jobs while the oligodendroglioma's biomarker job runs; then the commands
    in docs/cluster.md (``--unlock``, then the same command with ``--rerun-incomplete``) finish the run: no temporary
    file is left and every stage table is identical to the uninterrupted demo run's (the same config and seed
    give the same tables).

    The run starts from the demo's finished upstream stages (copied, their times kept), so that only the biomarker
    job runs, is killed and reruns."""
    demo = request.getfixturevalue("demo") / "oligodendroglioma"
    dataset = tmp_path / "results/oligodendroglioma"
    shutil.copytree(demo, dataset, ignore=lambda folder, names: [
        n for n in names if os.path.relpath(os.path.join(folder, n), demo) in BIOMARKER_FILES])
    config = demo_config(["oligodendroglioma"])
    targets = [f"results/oligodendroglioma/{table}" for table in DETERMINISTIC_TABLES]
    command = snakemake_command(tmp_path, config, targets) + ["--cores", "2"]
    plan = subprocess.run(command + ["--dry-run"], capture_output=True, text=True)
    assert set(re.findall(r"^rule (\w+):", plan.stdout, re.M)) == {"biomarkers"}, plan.stdout + plan.stderr
    command.append("--quiet")
    run = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    started = dataset / "logs/biomarkers.log"
    deadline = time.monotonic() + 600
    while not started.exists() and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1)  # inside the biomarker job (its pseudobulk DESeq2 alone takes longer)
    assert run.poll() is None, "the run ended before it could be killed"
    os.killpg(run.pid, signal.SIGKILL)
    run.wait()
    assert not (dataset / "biomarkers/biomarkers.tsv").exists()
    unlock = subprocess.run(snakemake_command(tmp_path, config) + ["--unlock"], capture_output=True, text=True)
    assert unlock.returncode == 0, unlock.stderr[-2000:]
    resumed = subprocess.run(command + ["--rerun-incomplete"], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert not list((tmp_path / "results").rglob("*.tmp"))
    assert_same_tables(demo, dataset)
