"""The configuration: JSON-schema validation with the failing field named, defaults, per-dataset settings."""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import jsonschema

from ..io import InputError, read_yaml
from ..scorer_meta import STEMNESS_SCORERS, scorer_name_pattern

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas"


RESULTS = "results"


STAGE_SECTIONS = ("qc", "cluster", "annotate", "malignant", "stemness", "crosstalk", "biomarkers")


REPO = Path(__file__).resolve().parents[3]


class ConfigError(ValueError):
    """A configuration or sample sheet does not match its schema."""


def load_schema(name: str) -> dict:
    """Load ``workflow/schemas/<name>.schema.yaml`` (read once per process; each call gets its own copy)."""
    return copy.deepcopy(_read_schema(name))


@functools.cache
def _read_schema(name: str) -> dict:
    schema = read_yaml(SCHEMA_DIR / f"{name}.schema.yaml")
    if name == "config":  # the scorers' names come from the scorers' registry
        schema["$defs"]["stemness"]["properties"]["consensus_scorers"]["items"].update(
            pattern=scorer_name_pattern(),
            description=f"a scorer's name: {', '.join(s.shown for s in STEMNESS_SCORERS)}")
    return schema


def _where(error: jsonschema.ValidationError) -> str:
    return ".".join(str(p) for p in error.absolute_path) or "(top level)"


def _describe(error: jsonschema.ValidationError) -> str:
    if error.validator == "oneOf" and isinstance(error.instance, dict):
        return "give exactly one of `samples` (a sample sheet path) or `simulate` (simulation parameters)"
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        return f"{error.message}; expected one of {allowed}"
    expected = error.schema.get("description")
    return f"{error.message}" + (f" (expected: {expected.strip()})" if expected else "")


def validate(instance: Any, schema: dict, what: str) -> None:
    """Validate ``instance`` and raise :class:`ConfigError` naming each bad field and what was expected."""
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"{what}: field `{_where(e)}`: {_describe(e)}" for e in errors]
        raise ConfigError("invalid configuration\n  " + "\n  ".join(lines))


def _fill_defaults(instance: dict, schema: dict, root: dict) -> dict:
    """Return ``instance`` with the schema's defaults filled in, recursively through objects."""
    if "$ref" in schema:
        ref = schema["$ref"].split("/")[-1]
        schema = root["$defs"][ref]
    out = copy.deepcopy(instance)
    for key, sub in schema.get("properties", {}).items():
        resolved = root["$defs"][sub["$ref"].split("/")[-1]] if "$ref" in sub else sub
        if key not in out and "default" in resolved:
            out[key] = copy.deepcopy(resolved["default"])
        types = resolved.get("type")
        if key in out and isinstance(out[key], dict) and (types == "object" or isinstance(types, list)
                                                          and "object" in types):
            out[key] = _fill_defaults(out[key], resolved, root)
    return out


def _merge(base: dict, override: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in override.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def validate_config(config: dict) -> dict:
    """Validate a raw config and return it with every dataset's effective settings resolved.

    Returns
    -------
    A new dict: ``seed``, and ``datasets[name]`` each with complete stage sections (``qc``, ``cluster``,
    ``annotate``, ``malignant``), ``author_labels`` and (for simulated datasets) ``simulate``.
    """
    schema = load_schema("config")
    validate(config, schema, "config")
    defs = schema["$defs"]
    out = {"seed": config.get("seed", 0), "datasets": {},
           "download": _fill_defaults(config.get("download", {}), schema["properties"]["download"], schema)}
    for name, ds in config["datasets"].items():
        eff = {k: v for k, v in ds.items() if k not in STAGE_SECTIONS}
        for section in STAGE_SECTIONS:
            merged = _merge(config.get(section, {}), ds.get(section, {}))
            eff[section] = _fill_defaults(merged, defs[section], schema)
        eff = _fill_defaults(eff, defs["dataset"], schema)
        if "simulate" in eff:
            eff["simulate"] = _fill_defaults(eff["simulate"], defs["simulate"], schema)
        item = defs["dataset"]["properties"]["compare"]["items"]
        eff["compare"] = [_fill_defaults(dict(c), item, schema) for c in eff["compare"]]
        names = [c["name"] for c in eff["compare"]]
        if len(set(names)) < len(names):
            raise ConfigError(f"invalid configuration\n  dataset {name}: field `compare`: duplicated comparison "
                              f"name(s) {sorted({n for n in names if names.count(n) > 1})}")
        eff["annotate"]["markers"] = [resolve_path(m) for m in eff["annotate"]["markers"]]
        stem = eff["stemness"]
        stem["marker_sets"] = [resolve_path(m) for m in stem["marker_sets"]]
        stem["gmt"] = [{**g, "path": resolve_path(g["path"])} for g in stem["gmt"]]
        if stem["mrnasi_weights"]:
            stem["mrnasi_weights"] = resolve_path(stem["mrnasi_weights"])
        if eff["annotate"]["celltypist_model"]:
            eff["annotate"]["celltypist_model"] = resolve_path(eff["annotate"]["celltypist_model"])
        if eff["malignant"]["gene_positions"]:
            eff["malignant"]["gene_positions"] = resolve_path(eff["malignant"]["gene_positions"])
        talk = eff["crosstalk"]
        talk["axes"] = resolve_path(talk["axes"])
        if not talk["resource"].startswith("liana:"):
            talk["resource"] = resolve_path(talk["resource"])
        marks = eff["biomarkers"]
        marks["surface_markers"] = resolve_path(marks["surface_markers"])
        marks["gene_sets"] = [{**g, "path": resolve_path(g["path"])} for g in marks["gene_sets"]]
        qc = eff["qc"]
        if qc["max_genes"] is not None and qc["max_genes"] < qc["min_genes"]:
            raise ConfigError(f"invalid configuration\n  dataset {name}: field `qc.max_genes`: {qc['max_genes']} is "
                              f"below qc.min_genes {qc['min_genes']}, so every cell would be removed")
        _check_yaml_files(name, {"annotate.markers": eff["annotate"]["markers"],
                                 "stemness.marker_sets": stem["marker_sets"], "crosstalk.axes": [talk["axes"]]})
        cl = eff["cluster"]
        if cl["resolution"] not in cl["resolutions"]:
            cl["resolutions"] = sorted({*cl["resolutions"], cl["resolution"]})
        out["datasets"][name] = eff
    return out


def _check_yaml_files(name: str, files: dict[str, list[str]]) -> None:
    """Each local YAML file a field names loads safely (no ``!!python`` tags, valid YAML), before any job."""
    for field, paths in files.items():
        for path in paths:
            if Path(path).is_file():
                try:
                    read_yaml(path)
                except InputError as err:
                    raise ConfigError(f"invalid configuration\n  dataset {name}: field `{field}`: {err}") from None


def resolve_path(path: str) -> str:
    """A config path as given when it exists (working directory), else relative to the repository."""
    if Path(path).exists() or Path(path).is_absolute() or "://" in path:
        return path
    repo_path = REPO / path
    return str(repo_path) if repo_path.exists() else path


def load_config_file(path: str | Path) -> dict:
    """Read and validate a YAML config file."""
    return validate_config(read_yaml(path) or {})
