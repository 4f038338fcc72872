# Configuration validation (before any job), sample tables and input functions shared by the rules.
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError

sys.path.insert(0, str(Path(workflow.basedir) / "workflow"))
from cscniche.config import ConfigError, dataset_samples, validate_config  # noqa: E402

try:
    SETTINGS = validate_config(config)
    SAMPLES = {name: dataset_samples(name, ds) for name, ds in SETTINGS["datasets"].items()}
except ConfigError as err:
    raise WorkflowError(str(err)) from None

DATASETS = list(SETTINGS["datasets"])
SEED = SETTINGS["seed"]
ENV = "../../envs/scanpy.yaml"
REPORT_ENV = "../../envs/report.yaml"


wildcard_constraints:
    dataset="|".join(DATASETS),
    sample="[A-Za-z0-9][A-Za-z0-9_.-]*",
    key="[A-Za-z0-9_]+",
    patient="[^/]+",


def dataset(wildcards):
    """Effective settings of the dataset named by the wildcard."""
    return SETTINGS["datasets"][wildcards.dataset]


def sample_names(wildcards):
    return SAMPLES[wildcards.dataset]["sample"].tolist()


def sample_row(wildcards):
    table = SAMPLES[wildcards.dataset]
    return table[table["sample"] == wildcards.sample].iloc[0].to_dict()


def ingest_input(wildcards):
    """The simulator's folder for simulated data, else the sample's file (none for packaged data)."""
    if "simulate" in dataset(wildcards):
        return [f"results/{wildcards.dataset}/raw"]
    row = sample_row(wildcards)
    return [] if row["format"] == "packaged" else [row["path"]]


def umap_keys(name):
    labels = SETTINGS["datasets"][name]["author_labels"].values()
    return ["leiden", "sample", "patient", "cell_type", "malignant", "cnv_score", *[f"author_{v}" for v in labels]]


def patients(name):
    return sorted(SAMPLES[name]["patient"].astype(str).unique())


def input_mb(input, floor=1):
    """Total size of a job's inputs in MB (folders included)."""
    total = 0
    for f in input:
        p = Path(f)
        files = p.rglob("*") if p.is_dir() else [p]
        total += sum(q.stat().st_size for q in files if q.is_file())
    return max(floor, total / 1e6)


def all_outputs():
    out = []
    for name in DATASETS:
        out += [f"results/{name}/{f}" for f in ("report.html", "cells.tsv.gz", "adata.h5ad", "qc/summary.tsv")]
    return out
