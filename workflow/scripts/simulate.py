"""Snakemake entry point: simulate a tumour with planted truth (samples made side by side, written as made)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cscniche.io import write_atomic, write_h5ad, write_table  # noqa: E402
from cscniche.logs import logged  # noqa: E402
from cscniche.simulate import simulate_tumour  # noqa: E402

with logged(snakemake.log[0]) as log:
    raw = Path(snakemake.output.raw)
    raw.mkdir(parents=True, exist_ok=True)

    def write_sample(sample, adata):
        write_h5ad(adata, raw / f"{sample}.h5ad")
        log.info("%s: %d cells x %d genes", sample, adata.n_obs, adata.n_vars)

    sim = simulate_tumour(snakemake.params.simulate, seed=snakemake.params.seed, sink=write_sample,
                          threads=snakemake.threads)
    write_table(sim.truth, snakemake.output.truth)
    write_table(sim.lr_pairs, snakemake.output.lr_pairs)
    write_table(sim.cnv_events, snakemake.output.cnv_events)
    write_atomic(snakemake.output.csc_genes, lambda tmp: tmp.write_text("\n".join(sim.csc_genes) + "\n"))
