"""Snakemake entry point: one comparison's composition, resistance-gene, GSEA and signalling tables."""
import sys
from functools import partial
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cscniche.compare import run_compare  # noqa: E402
from cscniche.io import read_stage, write_atomic, write_table  # noqa: E402
from cscniche.logs import logged  # noqa: E402

with logged(snakemake.log[0]) as log:
    comp = snakemake.params.comparison
    cells = pd.read_csv(snakemake.input.cells, sep="\t", dtype={"patient": str, comp["column"]: str,
                                                                 **dict.fromkeys(comp["covariates"], str)},
                        keep_default_na=False, na_values=[""])
    interactions = pd.read_csv(snakemake.input.interactions, sep="\t", dtype={"patient": str})
    result = run_compare(cells, interactions, partial(read_stage, snakemake.input.matrix, snakemake.input.h5ad),
                         **comp, biomarkers=snakemake.params.biomarkers, crosstalk=snakemake.params.crosstalk,
                         seed=snakemake.params.seed, threads=snakemake.threads)
    log.info("%s: %s vs %s\n%s", comp["name"], *comp["groups"], result.composition.to_string())
    log.info("%s\nresistance genes:\n%s", "\n".join(result.notes), result.genes.head(20).to_string())
    log.info("signalling:\n%s", result.signalling.head(20).to_string())
    write_table(result.per_patient, snakemake.output.per_patient)
    write_table(result.composition, snakemake.output.test)
    for name in ("genes", "gsea", "signalling"):
        write_table(getattr(result, name), snakemake.output[name])
    write_atomic(snakemake.output.notes, lambda tmp: tmp.write_text("\n".join(result.notes) + "\n"))
