"""A run killed mid-job resumes with the README's commands."""

from __future__ import annotations

import os
import signal
import subprocess
import time

from conftest import assert_same_tables, demo_config, snakemake_command

# the tables up to the stage after the killed one (clustering): what a resumed run redoes
RESUMED_TABLES = ("qc/summary.tsv", "cluster/markers.tsv", "identity/clusters.tsv", "stemness/summary.tsv")


def test_a_run_killed_mid_job_resumes_with_the_readme_commands(request, tmp_path):
    """``kill -9`` of Snakemake and its jobs while clustering runs; then the README's commands (``--unlock``,
    then the same command with ``--rerun-incomplete``) finish the run: no temporary file is left and the
    tables are byte-identical to the uninterrupted demo run."""
    targets = [f"results/simulated/{table}" for table in RESUMED_TABLES]
    command = snakemake_command(tmp_path, demo_config(["simulated"]), targets) + ["--cores", "2", "--quiet"]
    run = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    started = tmp_path / "results/simulated/logs/cluster.log"
    deadline = time.monotonic() + 600
    while not started.exists() and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.5)
    time.sleep(3)  # well inside the clustering job
    assert run.poll() is None, "the run ended before it could be killed"
    os.killpg(run.pid, signal.SIGKILL)
    run.wait()
    assert not (tmp_path / "results/simulated/cluster/clustered.h5ad").exists()
    unlock = subprocess.run(snakemake_command(tmp_path, demo_config(["simulated"])) + ["--unlock"],
                            capture_output=True, text=True)
    assert unlock.returncode == 0, unlock.stderr[-2000:]
    resumed = subprocess.run(command + ["--rerun-incomplete"], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert not list((tmp_path / "results").rglob("*.tmp"))
    demo = request.getfixturevalue("demo")  # asked for here: a parallel worker may still be running it
    assert_same_tables(demo / "simulated", tmp_path / "results/simulated", tables=RESUMED_TABLES)
