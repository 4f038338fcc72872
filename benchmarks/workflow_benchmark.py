"""Time and peak memory of the cscniche workflow: the demo config and simulated tumours of N cells.

usage: python benchmarks/workflow_benchmark.py [--cells 50000 ...] [--demo] [--cores 2] [--out benchmarks/out]

Each run is a fresh Snakemake invocation in its own working folder. Printed per run: wall time, the
peak RSS of the largest job (getrusage of children), and per-rule wall time / max RSS from the rules'
Snakemake ``benchmark:`` files.
"""

from __future__ import annotations

import argparse
import platform
import resource
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]


def run(workdir: Path, config: dict, cores: int) -> tuple[float, float]:
    """Run Snakemake on ``config`` in ``workdir``; return (wall seconds, peak child RSS in MB)."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory",
                    str(workdir), "--configfile", str(workdir / "config.yaml"), "--cores", str(cores),
                    "--quiet", "--forceall"], check=True)
    wall = time.perf_counter() - start
    return wall, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def per_rule(results: Path) -> pd.DataFrame:
    """Sum of wall time and max of max_rss per rule, from the Snakemake benchmark files."""
    rows = []
    for f in sorted(results.glob("*/benchmarks/**/*.tsv")):
        rel = f.relative_to(results)
        rule = rel.parts[2].removesuffix(".tsv")
        t = pd.read_csv(f, sep="\t")
        rows.append({"dataset": rel.parts[0], "rule": rule, "s": t["s"].iloc[0], "max_rss_mb": t["max_rss"].iloc[0]})
    df = pd.DataFrame(rows)
    return df.groupby(["dataset", "rule"], sort=False).agg(jobs=("s", "size"), wall_s=("s", "sum"),
                                                           max_rss_mb=("max_rss_mb", "max")).reset_index()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cells", type=int, nargs="*", default=[50_000])
    parser.add_argument("--demo", action="store_true", help="also run the demo config (config/config.yaml)")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/out")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {platform.system()} {platform.release()}, cores used: {args.cores}; "
          f"python {platform.python_version()}, scanpy {metadata.version('scanpy')}, "
          f"snakemake {metadata.version('snakemake')}")
    runs = []
    if args.demo:
        demo = yaml.safe_load((REPO / "config/config.yaml").read_text())
        for ds in demo["datasets"].values():
            if "samples" in ds:
                ds["samples"] = str(REPO / ds["samples"])
        runs.append(("demo", demo))
    for n in args.cells:
        runs.append((f"sim{n}", {"seed": 0, "datasets": {f"sim{n}": {"simulate": {"n_cells": n, "n_patients": 4}}}}))
    for name, config in runs:
        workdir = args.out / name
        wall, peak = run(workdir, config, args.cores)
        print(f"\n== {name}: total wall {wall:.1f} s, peak RSS of the largest job {peak:.0f} MB")
        print(per_rule(workdir / "results").to_string(index=False, float_format=lambda v: f"{v:.1f}"))


if __name__ == "__main__":
    main()
