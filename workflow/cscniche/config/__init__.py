"""Configuration and sample-sheet validation (JSON schema), defaults and per-dataset settings."""

from .samples import (
    RESERVED_COLUMNS,
    SAMPLE_COLUMNS,
    check_comparisons,
    condition_arm,
    dataset_samples,
    read_sample_sheet,
    simulated_samples,
)
from .schema import (
    REPO,
    RESULTS,
    SCHEMA_DIR,
    STAGE_SECTIONS,
    ConfigError,
    load_config_file,
    load_schema,
    resolve_path,
    validate,
    validate_config,
)

__all__ = [
    "ConfigError", "REPO", "RESERVED_COLUMNS", "RESULTS", "SAMPLE_COLUMNS", "SCHEMA_DIR", "STAGE_SECTIONS",
    "check_comparisons", "condition_arm", "dataset_samples", "load_config_file", "load_schema", "read_sample_sheet",
    "resolve_path", "simulated_samples", "validate", "validate_config",
]
