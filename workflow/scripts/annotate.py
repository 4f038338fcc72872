"""Snakemake entry point: marker-based cell-type annotation."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cscniche.annotate import run_annotate  # noqa: E402
from cscniche.io import read_stage, write_annotations, write_table  # noqa: E402
from cscniche.logs import logged  # noqa: E402

with logged(snakemake.log[0]) as log:
    params = snakemake.params.annotate
    adata = read_stage(snakemake.input.h5ad, graph=params["smooth"])
    result = run_annotate(adata, **params)
    for warning in result.warnings:
        log.warning("%s", warning)
    log.info("cell types: %s", adata.obs["cell_type"].value_counts().to_dict())
    for name in ("clusters", "marker_sets", "marker_expression", "agreement"):
        write_table(getattr(result, name), snakemake.output[name])
    write_annotations(adata, snakemake.output.h5ad)
