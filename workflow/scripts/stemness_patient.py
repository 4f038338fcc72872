"""Snakemake entry point: stemness scorers, consensus and CSC calls of one patient's cells."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cscniche.io import read_stage  # noqa: E402
from cscniche.logs import logged  # noqa: E402
from cscniche.stemness import run_stemness_patient, write_patient  # noqa: E402

with logged(snakemake.log[0]) as log:
    patient = snakemake.wildcards.patient
    # only this patient's rows of the matrix and its part of the kNN graph are read
    adata = read_stage(snakemake.input.matrix, snakemake.input.h5ad, graph=True, where=("patient", patient))
    log.info("patient %s: read %d cells x %d genes", patient, adata.n_obs, adata.n_vars)
    part = run_stemness_patient(adata, **snakemake.params.stemness, seed=snakemake.params.seed)
    log.info("stemness:\n%s", part.summary.to_string())
    write_patient(part, adata.var_names, snakemake.output[0])
