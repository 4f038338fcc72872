"""Snakemake entry point: gather per-sample QC summaries."""
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cscniche.io import write_table  # noqa: E402
from cscniche.logs import logged  # noqa: E402
from cscniche.qc import removal_by_type  # noqa: E402

with logged(snakemake.log[0]) as log:
    write_table(pd.concat([pd.read_csv(f, sep="\t") for f in snakemake.input.summaries], ignore_index=True),
                snakemake.output.summary)
    columns = ["marker_type", "qc_pass", "fail_low_counts", "fail_low_genes", "fail_high_genes", "fail_high_mt",
               "fail_doublet"]
    cells = pd.concat([pd.read_csv(f, sep="\t", usecols=columns, keep_default_na=False)
                       for f in snakemake.input.cells], ignore_index=True)
    by_type = removal_by_type(cells, max_loss=snakemake.params.max_type_loss)
    for row in by_type[by_type["warning"]].itertuples():
        log.warning("QC removed %d of %d %s cells (%.0f%%)", row.removed, row.cells, row.marker_type,
                    100 * row.share_removed)
    write_table(by_type, snakemake.output.by_type)
