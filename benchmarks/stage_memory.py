"""Peak memory of one stage, step by step, on a workflow benchmark's files (RSS sampled every 50 ms).

usage: python benchmarks/stage_memory.py qc benchmarks/out/sim100000 [--sample P1_S1]
       python benchmarks/stage_memory.py cluster benchmarks/out/sim200000

Runs the stage as its Snakemake script does, outside Snakemake, on the files of an earlier
``workflow_benchmark.py`` run (its ``config.yaml`` and ``results/``), and prints, for each step the stage
logs, the peak resident memory during the step and the memory held after it: Snakemake's ``benchmark:``
files sample memory at intervals, so a copy of the matrix that lives for seconds can be missed there. ``qc`` runs
``qc.run_qc`` and the writes on one ingested sample; ``cluster`` merges the QC'd samples, normalises,
clusters and ranks the markers. Outputs go to a temporary folder and are removed.
"""

from __future__ import annotations

import argparse
import logging
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "workflow"))


class PeakMemory(logging.Handler):
    """Samples this process's RSS; each ``cscniche`` log record ends a step: prints the step's peak and the RSS
    after it."""

    def __init__(self) -> None:
        super().__init__()
        self.peak, self.start = 0.0, time.perf_counter()
        threading.Thread(target=self._sample, daemon=True).start()

    @staticmethod
    def rss_mb() -> float:
        with open("/proc/self/status") as fh:
            return next(int(line.split()[1]) / 1024 for line in fh if line.startswith("VmRSS"))

    def _sample(self) -> None:
        while True:
            self.peak = max(self.peak, self.rss_mb())
            time.sleep(0.05)

    def emit(self, record: logging.LogRecord) -> None:
        self.mark(record.getMessage())

    def mark(self, done: str) -> None:
        """End the step that ``done`` names: print its peak and the RSS after it; start the next step."""
        print(f"{time.perf_counter() - self.start:7.1f} s  {done:<40} peak {self.peak:7.0f} MB, "
              f"then {self.rss_mb():7.0f} MB", flush=True)
        self.peak = self.rss_mb()


def run_qc(results: Path, params: dict, seed: int, sample: str, out: Path, monitor: PeakMemory) -> None:
    from cscniche import qc
    from cscniche.io import read_h5ad_checked, write_h5ad, write_table

    adata = read_h5ad_checked(results / "ingest" / f"{sample}.h5ad")
    monitor.mark(f"read {sample}")
    result = qc.run_qc(adata, **params["qc"], annotate=params["annotate"], seed=seed)
    monitor.mark("run_qc (metrics, scrublet, marker types)")
    write_table(result.cells, out / "cells.tsv.gz")
    write_h5ad(result.kept, out / "qc.h5ad")
    monitor.mark("written")


def run_cluster(results: Path, params: dict, seed: int, out: Path, monitor: PeakMemory) -> None:
    from cscniche import cluster
    from cscniche.io import read_h5ad_checked, write_table

    samples = [read_h5ad_checked(f) for f in sorted((results / "qc").glob("*.h5ad"))]
    monitor.mark("read the QC'd samples")
    result = cluster.run_cluster(samples, **params["cluster"], min_cells_per_gene=params["qc"]["min_cells_per_gene"],
                                 seed=seed, out=out / "clustered.h5ad")  # logs its steps
    write_table(result.markers, out / "markers.tsv")
    monitor.mark("markers")


def main() -> None:
    from cscniche.config import validate_config

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stage", choices=["qc", "cluster"])
    parser.add_argument("workdir", type=Path, help="a workflow_benchmark.py output folder (config.yaml, results/)")
    parser.add_argument("--sample", default=None, help="qc: the sample (default: the first ingested one)")
    args = parser.parse_args()
    config = validate_config(yaml.safe_load((args.workdir / "config.yaml").read_text()))
    name, params = next(iter(config["datasets"].items()))
    results = args.workdir / "results" / name
    monitor = PeakMemory()
    logging.getLogger("cscniche").addHandler(monitor)
    logging.getLogger("cscniche").setLevel(logging.INFO)
    with tempfile.TemporaryDirectory(dir=args.workdir) as out:
        if args.stage == "qc":
            sample = args.sample or sorted((results / "ingest").glob("*.h5ad"))[0].stem
            run_qc(results, params, config["seed"], sample, Path(out), monitor)
        else:
            run_cluster(results, params, config["seed"], Path(out), monitor)
    print(f"{args.stage}: peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB (getrusage)")


if __name__ == "__main__":
    main()
