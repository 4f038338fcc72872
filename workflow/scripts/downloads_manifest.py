"""Snakemake entry point: record the sha256 of every downloaded input (pin them in the config)."""
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cscniche.download import sha256sum  # noqa: E402
from cscniche.io import write_table  # noqa: E402
from cscniche.logs import logged  # noqa: E402

with logged(snakemake.log[0]):
    rows = [{"url": url, "file": path, "sha256_expected": sha or "", "sha256": sha256sum(path),
             "pinned": bool(sha)} for path, (url, sha) in sorted(snakemake.params.sources.items())]
    write_table(pd.DataFrame(rows), snakemake.output[0])
