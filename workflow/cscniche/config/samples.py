"""Sample sheets read verbatim and validated, the simulator's sheet, and comparisons checked against them."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..download import is_url
from ..inputs import check_input
from ..io import InputError
from .schema import RESULTS, ConfigError, load_schema, validate

SAMPLE_COLUMNS = ("sample", "patient", "path", "format")


RESERVED_COLUMNS = (*SAMPLE_COLUMNS, "cell_pattern", "annotation", "orientation", "sha256", "annotation_sha256",
                    "annotation_rows", "cell_filter", "doublet_rate", "value_scale")


def condition_arm(params: dict, sample: str) -> int:
    """A simulated sample's group under ``condition`` (0 or 1).

    Its patient's (P1, P3, ... in the first), or with ``paired`` its own (each patient's S1, S3, ... first).
    """
    patient, index = sample.split("_S")
    paired = (params.get("condition") or {}).get("paired")
    return (int(index) - 1) % 2 if paired else (int(patient[1:]) - 1) % 2


def simulated_samples(name: str, params: dict) -> pd.DataFrame:
    """Sample sheet of a simulated dataset: ``P<i>_S<j>`` samples written by the simulate rule."""
    rows = [
        {
            "sample": f"P{p}_S{s}",
            "patient": f"P{p}",
            "path": f"{RESULTS}/{name}/raw/P{p}_S{s}.h5ad",
            "format": "h5ad",
            "doublet_rate": str(params.get("doublet_fraction", "")),  # the simulated lane's rate, as planted
        }
        for p in range(1, params["n_patients"] + 1)
        for s in range(1, params["samples_per_patient"] + 1)
    ]
    sheet = pd.DataFrame(rows)
    condition = params.get("condition")
    if condition and condition.get("paired") and params["samples_per_patient"] < 2:
        raise ConfigError(f"dataset {name!r}, field `simulate.condition.paired`: each patient needs a sample in "
                          "both groups; set simulate.samples_per_patient to 2 or more")
    if condition:
        groups = condition["groups"]
        sheet[condition["column"]] = [groups[condition_arm(params, sample)] for sample in sheet["sample"]]
    return sheet


def check_comparisons(name: str, comparisons: list[dict], sheet: pd.DataFrame) -> None:
    """Each comparison's column is in the sample sheet and each group has >= 2 patients.

    Unpaired, each patient is in one group; with ``paired_by: patient``, patients with samples in both
    groups are counted (at least 2 unless ``descriptive``).

    Raises
    ------
    ConfigError
        Naming the dataset, the comparison and the field.
    """
    for i, comp in enumerate(comparisons):
        where = f"dataset {name}: field `compare[{i}]` ({comp['name']})"
        column = comp["column"]
        if column not in sheet:
            extra = [c for c in sheet.columns if c not in RESERVED_COLUMNS]
            raise ConfigError(f"{where}: column {column!r} is not in the sample sheet; its metadata columns: {extra}")
        in_groups = sheet[sheet[column].astype(str).isin(comp["groups"])]
        per_patient = in_groups.groupby("patient")[column].nunique()
        _check_covariates(where, comp, in_groups)
        if comp.get("paired_by"):
            n = int(per_patient.eq(2).sum())
            if n < 2 and not comp["descriptive"]:
                raise ConfigError(f"{where}: {n} patient(s) have samples in both groups {comp['groups']} of column "
                                  f"{column!r}; a paired test needs at least 2 (set descriptive: true for tables "
                                  "without tests)")
            continue
        mixed = per_patient.index[per_patient > 1].tolist()
        if mixed:
            raise ConfigError(f"{where}: patient(s) {mixed} have samples in more than one {column} group; the "
                              "patient is the unit of the comparison (set paired_by: patient when the groups are "
                              "samples of the same patients, e.g. before and during treatment)")
        patients = sheet.drop_duplicates("patient").set_index("patient")[column].astype(str)
        for group in comp["groups"]:
            n = int(patients.eq(group).sum())
            if n < 2 and not comp["descriptive"]:
                raise ConfigError(f"{where}: group {group!r} of column {column!r} has {n} patient(s); at least 2 "
                                  "are needed for a test (set descriptive: true for tables without tests)")


def _check_covariates(where: str, comp: dict, sheet: pd.DataFrame) -> None:
    """Each covariate is a sample-sheet column with one value per patient, and the design is not paired."""
    covariates = comp.get("covariates") or []
    if covariates and comp.get("paired_by"):
        raise ConfigError(f"{where}: field `covariates`: a paired design compares each patient with itself, so "
                          "patient covariates cancel; leave covariates out or paired_by")
    for covariate in covariates:
        if covariate not in sheet:
            extra = [c for c in sheet.columns if c not in RESERVED_COLUMNS]
            raise ConfigError(f"{where}: field `covariates`: column {covariate!r} is not in the sample sheet; its "
                              f"metadata columns: {extra}")
        varying = sheet.groupby("patient")[covariate].nunique()
        if (varying > 1).any():
            raise ConfigError(f"{where}: field `covariates`: {covariate!r} differs between the samples of patient(s) "
                              f"{varying.index[varying > 1].tolist()}; a covariate has one value per patient")


def _read_tsv_strictly(path: Path) -> pd.DataFrame:
    """A tab-separated sheet, read verbatim.

    ``#`` and quotes inside values are kept; lines starting with ``#`` are comments; a line with more or
    fewer fields than the header is refused, naming the line. The index holds each row's line number.
    """
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    numbered = [(i, line) for i, line in enumerate(lines, start=1) if line.strip() and not line.startswith("#")]
    if not numbered:
        return pd.DataFrame()
    header = numbered[0][1].split("\t")
    rows, line_numbers = [], []
    for i, line in numbered[1:]:
        fields = line.split("\t")
        if len(fields) != len(header):
            raise ConfigError(f"sample sheet {path} line {i}: {len(fields)} tab-separated fields, the header has "
                              f"{len(header)} ({', '.join(header)})")
        rows.append([f.strip() for f in fields])
        line_numbers.append(i)
    return pd.DataFrame(rows, columns=[h.strip() for h in header], index=line_numbers, dtype=str)


def _check_local_inputs(row: dict, where: str) -> None:
    """The row's local input and annotation files open and fit their format (URLs: checked once downloaded)."""
    try:
        if not is_url(row["path"]):
            check_input(row["path"], row["format"])
    except InputError as err:
        raise ConfigError(f"{where}: field `path`: {err}") from None
    annotation = row.get("annotation") or ""
    if annotation and not is_url(annotation) and Path(annotation).is_file() and Path(annotation).stat().st_size == 0:
        raise ConfigError(f"{where}: field `annotation`: {annotation}: empty file (0 bytes)")


def read_sample_sheet(path: str | Path, *, check_paths: bool = True) -> pd.DataFrame:
    """Read and validate a sample sheet (TSV), one row per sample.

    Raises
    ------
    ConfigError
        Naming the sheet, the row and the field when a value is missing or malformed, a sample is
        duplicated, or an input path does not exist.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"sample sheet {path}: file not found")
    sheet = _read_tsv_strictly(path)
    missing = [c for c in SAMPLE_COLUMNS if c not in sheet.columns]
    if missing:
        raise ConfigError(f"sample sheet {path}: missing column(s) {missing}; required: {list(SAMPLE_COLUMNS)}")
    if sheet.empty:
        raise ConfigError(f"sample sheet {path}: no samples")
    schema = load_schema("samples")
    for i, row in zip(sheet.index, sheet.to_dict("records"), strict=True):
        row = {k: v for k, v in row.items() if v != "" or k in SAMPLE_COLUMNS}
        validate(row, schema, f"sample sheet {path} line {i}")
        if check_paths and row["format"] != "packaged" and not is_url(row["path"]) and not Path(row["path"]).exists():
            raise ConfigError(f"sample sheet {path} line {i}: field `path`: {row['path']} does not exist")
    dup = sheet["sample"][sheet["sample"].duplicated()].tolist()
    if dup:
        raise ConfigError(f"sample sheet {path}: field `sample`: duplicated sample name(s) {dup}")
    if check_paths:  # the files' headers, once every row is well-formed
        for i, row in zip(sheet.index, sheet.to_dict("records"), strict=True):
            _check_local_inputs(row, f"sample sheet {path} line {i}")
    return sheet.reset_index(drop=True)


def dataset_samples(name: str, dataset: dict) -> pd.DataFrame:
    """The validated sample sheet of a dataset (simulated or read from its ``samples`` file)."""
    sheet = simulated_samples(name, dataset["simulate"]) if "simulate" in dataset else \
        read_sample_sheet(dataset["samples"])
    check_comparisons(name, dataset.get("compare", []), sheet)
    return sheet
