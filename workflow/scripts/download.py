"""Snakemake entry point: fetch one URL into the download cache."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cscniche.download import fetch  # noqa: E402
from cscniche.logs import logged  # noqa: E402

with logged(snakemake.log[0]) as log:
    url, sha256 = snakemake.params.source
    digest = fetch(url, snakemake.output[0], sha256=sha256, offline=snakemake.params.offline,
                   retries=snakemake.params.retries)
    log.info("%s -> %s (sha256 %s)", url, snakemake.output[0], digest)
