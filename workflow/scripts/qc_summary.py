"""Snakemake entry point: gather per-sample QC summaries."""
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cscniche.io import write_table  # noqa: E402
from cscniche.logs import logged  # noqa: E402

with logged(snakemake.log[0]):
    write_table(pd.concat([pd.read_csv(f, sep="\t") for f in snakemake.input], ignore_index=True),
                snakemake.output[0])
