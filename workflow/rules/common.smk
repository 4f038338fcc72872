# Configuration validation (before any job), sample tables and input functions shared by the rules.
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError

sys.path.insert(0, str(Path(workflow.basedir) / "workflow"))
from cscniche.config import ConfigError, dataset_samples, validate_config  # noqa: E402
from cscniche.download import cache_path, is_url  # noqa: E402

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
        raise WorkflowError(f"download.offline is true but {len(_missing)} input(s) are not in the cache "
                            f"{DOWNLOAD['cache']}: {', '.join(_missing[:5])}")
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


def malignant_params(wildcards):
    """The malignant settings, with a gene-position URL replaced by its cache path."""
    params = dict(dataset(wildcards)["malignant"])
    params["gene_positions"] = local(params["gene_positions"]) if params["gene_positions"] else None
    return params


def umap_keys(name):
    labels = SETTINGS["datasets"][name]["author_labels"].values()
    return ["leiden", "sample", "patient", "cell_type", "malignant", "cnv_score", "stemness", "csc",
            *[f"author_{v}" for v in labels]]


def patients(name):
    return sorted(SAMPLES[name]["patient"].astype(str).unique())


def input_mb(input, floor=1):
    """Size of a job's inputs in MB: h5ad files by their arrays' uncompressed size (what a job holds in
    memory, whatever the file's compression), other files and folders by their size on disk."""
    total = 0
    for f in input:
        p = Path(f)
        files = p.rglob("*") if p.is_dir() else [p]
        total += sum(h5ad_mb(q) if q.suffix == ".h5ad" else q.stat().st_size / 1e6 for q in files if q.is_file())
    return max(floor, total)


def h5ad_mb(path):
    """Uncompressed size (MB) of all arrays in an HDF5 file."""
    import h5py

    total = 0

    def add(_, obj):
        nonlocal total
        if isinstance(obj, h5py.Dataset):
            total += (obj.size or 0) * obj.dtype.itemsize

    with h5py.File(path, "r") as fh:
        fh.visititems(add)
    return total / 1e6


def mem(base, per_mb, share=None):
    """``mem_mb`` of a job: ``base`` plus ``per_mb`` per MB of input (:func:`input_mb`), doubled on each retry.

    ``share(wildcards, input)``, when given, scales the input to the part the job reads (see
    :func:`per_patient`). The factors of the rules are the largest peak memory (PSS) per input MB measured
    at 100k, 200k and 500k cells x 20k genes, plus ~10-30%.
    """
    def resource(wildcards, input, attempt):
        size = input_mb(input) * (share(wildcards, input) if share else 1.0)
        return int((base + per_mb * size) * 2 ** (attempt - 1))

    return resource


minutes = mem  # ``runtime`` (minutes) of a job: the same form, with minutes per MB of input


def h5ad_cells(path):
    """Number of cells (rows of ``obs``) of an h5ad file, read from its header."""
    import h5py

    with h5py.File(path, "r") as fh:
        return len(fh["obs"][fh["obs"].attrs["_index"]])


def qc_mem(wildcards, input, attempt):
    """``mem_mb`` of a QC job: the sample's matrix held a few times, plus scrublet on at most
    ``qc.scrublet_max_cells`` cells at a time (its simulated doublets and a sparse PCA of the chunk). Peak
    RSS measured at 20,000 genes: 2.3 GB at 12,500 cells (357 MB of arrays), 3.1 GB at 25,000 cells
    (452 MB), 5.3 GB at 62,500 cells (937 MB, in 3 chunks); this asks 20-40% more."""
    sample_mb = input_mb(input)  # 1 MB before the file exists (a dry run)
    cells = h5ad_cells(input[0]) if Path(input[0]).is_file() else 1
    chunk = min(1.0, dataset(wildcards)["qc"]["scrublet_max_cells"] / max(1, cells))
    return int((1000 + 5.5 * sample_mb + chunk * sample_mb) * 2 ** (attempt - 1))


def simulate_mem(wildcards, threads, attempt):
    """``mem_mb`` of the simulation: samples are written as they are made, one per thread, so per thread one
    sample's counts (at most one non-zero per UMI or gene, 8 bytes each) held about three times while it is
    assembled, plus the gene programmes. Measured at 200k cells in 8 samples (6,000 UMIs, 20k genes): 6.7 GB
    holding all samples."""
    params = dataset(wildcards)["simulate"]
    cells = params["n_cells"] / (params["n_patients"] * params["samples_per_patient"])
    genes = params["n_genes"] or 9_500
    sample_mb = cells * min(genes, params["mean_library_size"]) * 8 / 1e6
    return int((2500 + 3 * sample_mb * threads) * 2 ** (attempt - 1))


def patient_share(matrix, patient):
    """Share of the cells of an h5ad file that belong to ``patient`` (``obs['patient']``)."""
    import h5py
    import numpy as np
    from anndata.io import read_elem

    if not Path(matrix).is_file():  # a dry run, before the file exists
        return 1.0
    with h5py.File(matrix, "r") as fh:
        values = np.asarray(read_elem(fh["obs/patient"])).astype(str)
    return float((values == str(patient)).mean()) if len(values) else 1.0


def per_patient(base, per_mb):
    """:func:`mem` (or :func:`minutes`) of a per-patient job: over the patient's share of ``input.matrix``."""
    return mem(base, per_mb, share=lambda wildcards, input: patient_share(input.matrix, wildcards.patient))


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


def all_outputs():
    out = []
    for name in DATASETS:
        out += [f"results/{name}/{f}" for f in ("report.html", "cells.tsv.gz", "adata.h5ad", "qc/summary.tsv")]
        if dataset_downloads(name):
            out.append(f"results/{name}/downloads.tsv")
    return out
