"""Snakemake entry point: gather the patients' stemness, flag scorers, ssGSEA cross-check on metacells."""
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cscniche.io import read_h5ad_checked, write_annotations, write_table  # noqa: E402
from cscniche.logs import logged  # noqa: E402
from cscniche.stemness import combine_patients, gather_metacells, load_gene_sets, read_patient, ssgsea_check  # noqa: E402

with logged(snakemake.log[0]) as log:
    params = snakemake.params.stemness
    adata = read_h5ad_checked(snakemake.input.h5ad)  # the identity annotations: no matrix
    parts = [read_patient(f) for f in snakemake.input.patients]
    summary, agreement = combine_patients(adata, parts, params)
    log.info("stemness:\n%s", summary.to_string())
    metacells, check = ssgsea_check(*gather_metacells(parts), load_gene_sets(params), seed=snakemake.params.seed)
    log.info("ssGSEA vs UCell on metacells:\n%s", check.to_string())
    write_table(metacells, snakemake.output.ssgsea)
    write_table(check, snakemake.output.ssgsea_check)
    write_table(summary, snakemake.output.summary)
    write_table(agreement, snakemake.output.agreement)
    write_table(pd.concat([part.coherence for part in parts], ignore_index=True), snakemake.output.coherence)
    write_annotations(adata, snakemake.output.h5ad)
