# Configuration validation (before any job), sample tables and input functions shared by the rules.
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError

sys.path.insert(0, str(Path(workflow.basedir) / "workflow"))
from cscniche.config import ConfigError, dataset_samples, validate_config  # noqa: E402
from cscniche.download import cache_path, is_url  # noqa: E402
from cscniche.resources import (  # noqa: E402, F401  (mem, minutes, per_patient: used by the rules)
    h5ad_cells,
    input_mb,
    mem,
    minutes,
    per_patient,
    qc_mem_mb,
    simulate_mem_mb,
)

try:
    SETTINGS = validate_config(config)
    SAMPLES = {name: dataset_samples(name, ds) for name, ds in SETTINGS["datasets"].items()}
except ConfigError as err:
    raise WorkflowError(str(err)) from None

DATASETS = list(SETTINGS["datasets"])
SEED = SETTINGS["seed"]
DOWNLOAD = SETTINGS["download"]


def local(value):
    """The cache path of a URL; any other value unchanged."""
    return str(cache_path(value, DOWNLOAD["cache"])) if is_url(value) else value


def dataset_downloads(name):
    """``{cache path: (url, sha256 or None)}`` of every URL a dataset names."""
    out = {}
    for row in SAMPLES[name].to_dict("records"):
        for column, checksum in (("path", "sha256"), ("annotation", "annotation_sha256")):
            if is_url(row.get(column)):
                out[local(row[column])] = (row[column], row.get(checksum) or None)
    mal = SETTINGS["datasets"][name]["malignant"]
    if is_url(mal["gene_positions"]):
        out[local(mal["gene_positions"])] = (mal["gene_positions"], mal["gene_positions_sha256"])
    return out


DOWNLOADS = {path: source for name in DATASETS for path, source in dataset_downloads(name).items()}
if DOWNLOAD["offline"]:
    _missing = [url for path, (url, _) in DOWNLOADS.items() if not Path(path).is_file()]
    if _missing:
        raise WorkflowError(
            f"download.offline is true but {len(_missing)} input(s) are not in the cache "
            f"{DOWNLOAD['cache']}: {', '.join(_missing[:5])}"
        )
ENV = "../../envs/scanpy.yaml"
REPORT_ENV = "../../envs/report.yaml"


wildcard_constraints:
    dataset="|".join(DATASETS),
    sample="[A-Za-z0-9][A-Za-z0-9_.-]*",
    label="[A-Za-z0-9_]+",
    patient="[^/]+",


def dataset(wildcards):
    """Effective settings of the dataset named by the wildcard."""
    return SETTINGS["datasets"][wildcards.dataset]


def sample_names(wildcards):
    return SAMPLES[wildcards.dataset]["sample"].tolist()


def sample_row(wildcards):
    """The sample's sheet row, with URLs replaced by their cache paths."""
    table = SAMPLES[wildcards.dataset]
    row = table[table["sample"] == wildcards.sample].iloc[0].to_dict()
    return {k: local(v) if k in ("path", "annotation") else v for k, v in row.items()}


def ingest_input(wildcards):
    """The simulator's folder for simulated data, else the sample's file (none for packaged data)."""
    if "simulate" in dataset(wildcards):
        return [f"results/{wildcards.dataset}/raw"]
    row = sample_row(wildcards)
    files = [] if row["format"] == "packaged" else [row["path"]]
    annotation = row.get("annotation")
    # an annotation may also name a file inside a tarball (read by ingest), which is not a job input
    if annotation and (annotation in DOWNLOADS or Path(annotation).exists()):
        files.append(annotation)
    return files


def ingest_share(wildcards, input):
    """Share of an ingest job's input that it reads: one sample of the simulator's folder, else all of it."""
    return 1 / len(SAMPLES[wildcards.dataset]) if "simulate" in dataset(wildcards) else 1.0


def malignant_params(wildcards):
    """The malignant settings, with a gene-position URL replaced by its cache path."""
    params = dict(dataset(wildcards)["malignant"])
    params["gene_positions"] = local(params["gene_positions"]) if params["gene_positions"] else None
    return params


# the per-cell table's columns drawn on the UMAP of every dataset (one job); the authors' labels, where a
# dataset has them, are drawn by a job each
UMAP_KEYS = ["leiden", "sample", "patient", "cell_type", "malignant", "cnv_score", "stemness", "csc"]


def umap_keys(name):
    labels = SETTINGS["datasets"][name]["author_labels"].values()
    return [*UMAP_KEYS, *[f"author_{v}" for v in labels]]


def figure_outputs(stems, *, caption, category, subcategory):
    """PNG and SVG outputs of figures (``{name: path without extension}``), named ``<name>_png`` and
    ``<name>_svg``; the PNGs go into Snakemake's report."""
    outputs = {}
    for name, stem in stems.items():
        outputs[f"{name}_png"] = report(f"{stem}.png", caption=caption, category=category, subcategory=subcategory)
        outputs[f"{name}_svg"] = f"{stem}.svg"
    return outputs


def patients(name):
    return sorted(SAMPLES[name]["patient"].astype(str).unique())


def qc_mem(wildcards, input, attempt):
    """``mem_mb`` of a QC job (:func:`cscniche.resources.qc_mem_mb`): by the sample's size and its scrublet
    chunks."""
    cells = h5ad_cells(input[0]) if Path(input[0]).is_file() else 1  # 1 MB and 1 cell in a dry run
    return qc_mem_mb(input_mb(input), cells, dataset(wildcards)["qc"]["scrublet_max_cells"], attempt)


def simulate_mem(wildcards, threads, attempt):
    """``mem_mb`` of the simulation (:func:`cscniche.resources.simulate_mem_mb`)."""
    params = dataset(wildcards)["simulate"]
    cells = params["n_cells"] / (params["n_patients"] * params["samples_per_patient"])
    return simulate_mem_mb(cells, params["n_genes"] or 9_500, params["mean_library_size"], threads, attempt)


def crosstalk_inputs(w):
    """The axes file and the LR resource (a CellPhoneDB folder or a table) unless it ships in liana."""
    params = dataset(w)["crosstalk"]
    resource = params["resource"]
    return [params["axes"]] + ([] if resource.startswith("liana:") else [resource])


def biomarker_inputs(w):
    """Local files the biomarker stage reads: GMT files, the surface list, the axes and the LR resource."""
    params, talk = dataset(w)["biomarkers"], dataset(w)["crosstalk"]
    files = [g["path"] for g in params["gene_sets"]] + [params["surface_markers"], talk["axes"]]
    return files + ([] if talk["resource"].startswith("liana:") else [talk["resource"]])


def comparison(name, comparison_name):
    """The settings of one comparison of a dataset (by its name)."""
    return next(c for c in SETTINGS["datasets"][name]["compare"] if c["name"] == comparison_name)


def comparison_tables(w):
    """The tables of a dataset's comparisons (for the report)."""
    files = ("composition.tsv", "resistance_genes.tsv", "resistance_gsea.tsv", "signalling.tsv", "notes.txt")
    return [f"results/{w.dataset}/compare/{c['name']}/{f}" for c in dataset(w)["compare"] for f in files]


def comparison_figures(w):
    """The figures of a dataset's comparisons (for the report)."""
    return [f"results/{w.dataset}/figures/compare_{c['name']}.png" for c in dataset(w)["compare"]]


def all_outputs():
    out = []
    for name in DATASETS:
        out += [f"results/{name}/{f}" for f in ("report.html", "cells.tsv.gz", "adata.h5ad", "qc/summary.tsv")]
        if dataset_downloads(name):
            out.append(f"results/{name}/downloads.tsv")
    return out
