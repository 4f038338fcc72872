"""Pseudobulk: raw counts summed over groups of cells (one per patient and cell group), and PyDESeq2's test.

Cells of one patient are not independent replicates; summing them per patient makes the patient the unit
of a differential-expression test (Squair et al., Nat Commun 12:5692, 2021).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

DE_COLUMNS = ["gene", "stat", "log2fc", "pvalue", "fdr", "base_mean"]


def sum_counts(counts, members: dict[str, np.ndarray], genes: pd.Index) -> pd.DataFrame:
    """Counts summed over each group's cells: one row per group (``members``: name -> row indices).

    ``counts``: any matrix whose rows can be indexed (scipy sparse, or anndata's on-disk sparse dataset).
    """
    rows = [np.asarray(counts[np.sort(cells)].sum(axis=0)).ravel() if len(cells) else np.zeros(len(genes))
            for cells in members.values()]
    return pd.DataFrame(np.rint(np.vstack(rows)).astype(np.int64), index=list(members), columns=genes)


def deseq2(bulk: pd.DataFrame, meta: pd.DataFrame, *, design: str, contrast: list[str], min_counts: int = 10,
           threads: int = 1, conservative: bool = False) -> pd.DataFrame:
    """PyDESeq2 Wald test of ``contrast`` (``[factor, tested, reference]``) under ``design``.

    Genes with fewer than ``min_counts`` counts over all pseudobulks are left out. ``threads``: processes
    for the per-gene fits (the results do not depend on it). ``conservative``: each gene's dispersion is
    the larger of its own estimate and the shrunken one (DESeq's ``sharingMode="maximum"``), for designs
    whose replicates are few patients with heterogeneous tumours: shrinkage toward the trend would
    understate a gene that varies in some patients only. Returns ``DE_COLUMNS``.
    """
    from pydeseq2.dds import DeseqDataSet
    from pydeseq2.default_inference import DefaultInference
    from pydeseq2.ds import DeseqStats

    bulk = bulk.loc[:, bulk.sum(axis=0) >= min_counts]
    logging.getLogger("pydeseq2").setLevel(logging.WARNING)
    inference = DefaultInference(n_cpus=threads)
    dds = DeseqDataSet(counts=bulk, metadata=meta.loc[bulk.index], design=design, inference=inference, quiet=True)
    if conservative:
        dds.fit_size_factors()
        dds.fit_genewise_dispersions()
        dds.fit_dispersion_trend()
        dds.fit_dispersion_prior()
        dds.fit_MAP_dispersions()
        dds.var["dispersions"] = np.fmax(dds.var["genewise_dispersions"], dds.var["MAP_dispersions"])
        dds.fit_LFC()
        dds.calculate_cooks()
        dds.refit()
        dds.cooks_outlier()
    else:
        dds.deseq2()
    stats = DeseqStats(dds, contrast=contrast, inference=inference, quiet=True)
    stats.summary()
    res = stats.results_df
    return pd.DataFrame({"gene": res.index, "stat": res["stat"].to_numpy(), "log2fc": res["log2FoldChange"].to_numpy(),
                         "pvalue": res["pvalue"].to_numpy(), "fdr": res["padj"].to_numpy(),
                         "base_mean": res["baseMean"].to_numpy()})[DE_COLUMNS]
