"""Snakemake entry point: gather the patients' stemness, flag scorers, ssGSEA cross-check on metacells."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cscniche.io import read_h5ad_checked, write_annotations, write_table  # noqa: E402
from cscniche.logs import logged  # noqa: E402
from cscniche.stemness import read_patient, run_stemness  # noqa: E402

with logged(snakemake.log[0]) as log:
    adata = read_h5ad_checked(snakemake.input.h5ad)  # the identity annotations: no matrix
    result = run_stemness(adata, **snakemake.params.stemness, seed=snakemake.params.seed,
                          parts=[read_patient(f) for f in snakemake.input.patients])
    log.info("stemness:\n%s", result.summary.to_string())
    log.info("ssGSEA vs UCell on metacells:\n%s", result.ssgsea_check.to_string())
    for name in ("ssgsea", "ssgsea_check", "summary", "agreement", "coherence"):
        write_table(getattr(result, name), snakemake.output[name])
    write_annotations(adata, snakemake.output.h5ad)
