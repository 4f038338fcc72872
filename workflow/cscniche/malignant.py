"""Malignant-cell calling.

CNV inference (infercnvpy) against automatically chosen normal reference cells, then per-patient calls
from CNV correlation with the tumour's CNV profile and CNV signal.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.stats import binomtest

from . import clonality
from .io import InputError
from .labels import UNASSIGNED

CALLS = ("malignant", "non-malignant", "uncertain")
MALIGNANT_LABEL = "malignant"  # cell_type of malignant cells
CHROMOSOMES = [f"chr{c}" for c in [*range(1, 23), "X", "Y"]]
CNV_BLOCK_CELLS = 20_000  # a multiple of infercnvpy's 5,000-cell chunks
SHIPPED_GENE_POSITIONS = Path(__file__).parent / "data" / "hg38_gencode_v27.txt.gz"
SHIPPED_GENE_POSITIONS_NAME = "GRCh38 GENCODE v27 gene order (shipped with cscniche)"


def read_gene_positions(path: str | Path) -> pd.DataFrame:
    """Gene positions from an inferCNV gene-order table (symbol, chr, start, end; no header) or a GTF.

    Returns a DataFrame indexed by gene (symbol, or Ensembl id for the ``gene_id`` column of a GTF is
    not used: GTF genes are indexed by ``gene_name``) with ``chromosome, start, end``; chromosome names
    get a ``chr`` prefix.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: gene position file not found")
    name = path.name.lower()
    try:
        if name.endswith((".gtf", ".gtf.gz")):
            gtf = pd.read_csv(path, sep="\t", comment="#", header=None, usecols=[0, 2, 3, 4, 8],
                              names=["chromosome", "feature", "start", "end", "attributes"], dtype={0: str})
            gtf = gtf[gtf["feature"] == "gene"]
            gtf["gene"] = gtf["attributes"].str.extract(r'gene_name "([^"]+)"', expand=False)
            table = gtf.dropna(subset=["gene"])[["gene", "chromosome", "start", "end"]]
        else:
            table = pd.read_csv(path, sep="\t", header=None, usecols=[0, 1, 2, 3],
                                names=["gene", "chromosome", "start", "end"], dtype={0: str, 1: str})
            table["end"] = pd.to_numeric(table["end"].astype(str).str.strip(), errors="coerce")
    except (ValueError, pd.errors.ParserError) as err:
        raise InputError(f"{path}: not a gene-order table or GTF ({err})") from err
    table = table.dropna()
    table["chromosome"] = table["chromosome"].astype(str).str.strip()
    table["chromosome"] = np.where(table["chromosome"].str.startswith("chr"), table["chromosome"],
                                   "chr" + table["chromosome"])
    table = table.astype({"start": int, "end": int}).drop_duplicates("gene").set_index("gene")
    if table.empty:
        raise InputError(f"{path}: no gene positions read")
    return table


def gene_positions_source(var: pd.DataFrame, path: str | None) -> str:
    """Where gene positions come from: the configured file, the input's own, or the shipped GRCh38 table."""
    if path:
        return str(path)
    if {"chromosome", "start", "end"} <= set(var) and var["chromosome"].astype(object).isin(CHROMOSOMES).any():
        return "input"
    return SHIPPED_GENE_POSITIONS_NAME


def place_genes(adata: ad.AnnData, positions: pd.DataFrame | None, *, min_fraction: float) -> float:
    """Set ``var`` chromosome/start/end from ``positions`` and return the fraction of genes placed.

    Without ``positions`` the input's own positions are kept, and where the input has none the shipped
    GRCh38 gene order (GENCODE v27, gene symbols) is used.

    Raises
    ------
    InputError
        When fewer than ``min_fraction`` of the genes can be placed (e.g. Ensembl ids vs symbols).
    """
    if positions is None and gene_positions_source(adata.var, None) != "input":
        positions = read_gene_positions(SHIPPED_GENE_POSITIONS)
    if positions is not None:
        found = positions.reindex(adata.var_names)
        adata.var["chromosome"] = found["chromosome"].astype(object).to_numpy()
        adata.var["start"] = found["start"].to_numpy()
        adata.var["end"] = found["end"].to_numpy()
    placed = adata.var["chromosome"].astype(object).isin(CHROMOSOMES).to_numpy()
    fraction = float(placed.mean())
    if fraction < min_fraction:
        example = ", ".join(adata.var_names[:3])
        raise InputError(f"only {fraction:.1%} of genes have a position (minimum {min_fraction:.0%}); "
                         f"gene ids look like {example}: the shipped table and most gene-order files use "
                         "gene symbols, so give symbols (10x: the features file's second column) or set "
                         "malignant.gene_positions to a table with the same ids")
    return fraction


def choose_reference(obs: pd.DataFrame, params: dict, *, exclude: np.ndarray | None = None) -> np.ndarray:
    """Reference (normal) cells: an explicit obs column, named cell types, or confident immune/stromal cells.

    With cell types or compartments, a cell is reference only when both its own label and its Leiden
    cluster's majority label (``cluster_cell_type``) qualify, so stray tumour cells that happen to score
    as an immune type do not enter the reference; cells in ``exclude`` (e.g. clonal B cells) never do.

    Raises
    ------
    InputError
        When fewer than ``min_reference_cells`` are found: without a usable reference, no guess is made.
    """
    if params["reference_column"]:
        col = params["reference_column"]
        if col not in obs:
            raise InputError(f"malignant.reference_column {col!r} is not a cell column; available: {list(obs)}")
        mask = obs[col].astype(str).str.lower().isin(["true", "1", "yes", "reference", "normal"]).to_numpy()
        how = f"column {col}"
    else:
        label = obs["cell_type"].astype(str)
        cluster_label = obs.get("cluster_cell_type", label).astype(str)
        if params["reference_cell_types"]:
            wanted = set(params["reference_cell_types"])
            mask = (label.isin(wanted) & cluster_label.isin(wanted)).to_numpy()
            how = f"cell types {params['reference_cell_types']}"
        else:
            compartment = dict(zip(label, obs["cell_compartment"], strict=True))
            in_ref = set(params["reference_compartments"])
            mask = (obs["cell_compartment"].isin(in_ref) & cluster_label.map(compartment).isin(in_ref)).to_numpy()
            how = f"compartments {params['reference_compartments']}"
        mask &= (label != UNASSIGNED).to_numpy()
        mask &= (obs["cell_type_confidence"] >= params["reference_min_confidence"]).to_numpy()
        if exclude is not None:
            mask &= ~exclude
            how += " less the clonal B-lineage cells" if exclude.any() else ""
    if mask.sum() < params["min_reference_cells"]:
        raise InputError(f"only {int(mask.sum())} reference (normal) cells from {how}; at least "
                         f"{params['min_reference_cells']} are needed for CNV inference. Name reference cell "
                         "types (malignant.reference_cell_types), a reference column, or use "
                         "malignant.method: author (an author label column) or malignant.method: all (tumour cells "
                         "only, e.g. organoids or sorted tumour cells: no normal reference exists)")
    return mask


# hg38 centromere midpoints (Mb; UCSC cytoBand "acen" bands), to split chromosomes into arms
CENTROMERES_MB = {"chr1": 123.4, "chr2": 93.9, "chr3": 90.9, "chr4": 50.0, "chr5": 48.8, "chr6": 59.8,
                  "chr7": 60.1, "chr8": 45.2, "chr9": 43.0, "chr10": 39.8, "chr11": 53.4, "chr12": 35.5,
                  "chr13": 17.7, "chr14": 17.2, "chr15": 19.0, "chr16": 36.8, "chr17": 25.1, "chr18": 18.5,
                  "chr19": 26.2, "chr20": 28.1, "chr21": 12.0, "chr22": 15.0}
ARM_MIN_GENES = 150  # arms with fewer CNV genes are too noisy to compare groups of a few cells
# (on a small gene panel, the arms with at least the median number of genes)
MIN_GROUP_CELLS = 5  # a patient's part of a cluster needs this many candidate cells to be compared
REFERENCE_COLUMNS = ["group", "patient", "cluster", "cell_type", "compartment", "cells", "twin", "twin_distance",
                     "in_reference", "reason"]


def chromosome_arms(var: pd.DataFrame) -> np.ndarray:
    """Arm of each gene (``chr1p``, ``chr1q``, ...; ``None`` off the autosomes or without a position)."""
    chrom = var["chromosome"].astype(object)
    centre = chrom.map(CENTROMERES_MB).astype(float).to_numpy()
    start = pd.to_numeric(var["start"], errors="coerce").to_numpy(dtype=float) / 1e6
    arm = np.where(start < centre, "p", "q")
    return np.where(np.isfinite(centre) & np.isfinite(start), chrom.astype(str).to_numpy() + arm, None)


def group_arm_profiles(adata: ad.AnnData, groups: np.ndarray, genes: np.ndarray) -> pd.DataFrame:
    """Arm-level expression profile of each group of cells (``groups``: label per cell, ``""`` = none).

    The group's mean log expression minus the unweighted mean over groups, clipped at +-3 (as inferCNV),
    averaged over each arm's genes and centred on the group's median arm; only arms with at least
    ``ARM_MIN_GENES`` genes (or the median number of genes per arm, if smaller). Copy-number changes shift
    whole arms; cell-type expression mostly does not.
    """
    arms = chromosome_arms(adata.var)
    genes = genes & (arms != None)  # noqa: E711 - elementwise
    counts = pd.Series(arms[genes]).value_counts()
    kept_arms = counts.index[counts >= min(ARM_MIN_GENES, counts.median())]  # small panels: the larger half
    labels = pd.Index(sorted(set(groups) - {""}))
    codes = labels.get_indexer(groups)
    rows = np.flatnonzero(codes >= 0)
    indicator = sp.csr_matrix((np.ones(len(rows)), (codes[rows], rows)), shape=(len(labels), len(groups)))
    sizes = np.asarray(indicator.sum(axis=1)).ravel()
    X = sp.csr_matrix(adata.X)[:, np.flatnonzero(genes)]
    means = np.asarray((indicator @ X).todense()) / sizes[:, None]
    delta = np.clip(means - means.mean(axis=0), -3, 3)
    table = pd.DataFrame(delta.T, index=arms[genes]).groupby(level=0).mean().T
    table = table[[a for a in table.columns if a in set(kept_arms)]]
    table.index = labels
    return table.sub(table.median(axis=1), axis=0)


def _group_summary(info: pd.DataFrame) -> pd.DataFrame:
    """Per candidate group: patient, cluster, majority cell type and compartment, cells."""
    return info.groupby("group", sort=True).agg(
        patient=("patient", "first"), cluster=("cluster", "first"),
        cell_type=("cell_type", lambda v: v.value_counts().index[0]),
        compartment=("compartment", lambda v: v.value_counts().index[0]), cells=("patient", "size")).reset_index()


def verify_reference(adata: ad.AnnData, candidates: np.ndarray, params: dict) -> tuple[np.ndarray, pd.DataFrame]:
    """Keep the candidate reference cells whose copy-number profile is shared with another patient.

    Candidate cells (confident non-epithelial types) are grouped by patient and Leiden cluster. Normal cells
    of a type have the same genome in every patient, so their arm-level profile has a twin among another
    patient's groups (largest arm difference at most ``reference_twin_distance``); tumour cells that pass
    for a normal type (malignant B cells of a lymphoma, glioma cells scored as glia) carry their patient's
    own copy-number changes and have none. Groups without a twin leave the reference. With a single
    patient nothing can be compared: the immune and stromal candidates are kept, unverified.

    Returns the reference mask and one row per candidate group (``REFERENCE_COLUMNS``).
    """
    obs = adata.obs
    patient = obs["patient"].astype(str).to_numpy()
    cluster = obs["leiden"].astype(str).to_numpy() if "leiden" in obs else np.full(adata.n_obs, "0")
    group = np.where(candidates, np.char.add(np.char.add(patient.astype(str), ":"), cluster.astype(str)), "")
    sizes = pd.Series(group[candidates]).value_counts()
    small = np.isin(group, sizes.index[sizes < MIN_GROUP_CELLS])
    group = np.where(small, "", group)
    info = pd.DataFrame({"group": group, "patient": patient, "cluster": cluster,
                         "cell_type": obs["cell_type"].astype(str).to_numpy(),
                         "compartment": obs["cell_compartment"].astype(str).to_numpy()})[candidates]
    table = _group_summary(info)
    table = table[table["group"] != ""].reset_index(drop=True)
    distance = params["reference_twin_distance"]
    if table["patient"].nunique() < 2 or distance is None:
        keep = table["compartment"].isin(["immune", "stromal"]) if distance is not None else \
            pd.Series(True, index=table.index)
        reason = ("one patient: nothing to compare, immune and stromal groups kept unverified"
                  if distance is not None else "verification off (reference_twin_distance: null)")
        table = table.assign(twin="", twin_distance=np.nan, in_reference=keep.to_numpy(),
                             reason=np.where(keep, reason, "one patient: tissue types left out unverified"))
    else:
        profiles = group_arm_profiles(adata, group, cnv_genes(adata, params["min_mean_counts"]))
        values = profiles.loc[table["group"]].to_numpy()
        pairwise = np.abs(values[:, None, :] - values[None, :, :]).max(axis=2)
        other = table["patient"].to_numpy()[:, None] != table["patient"].to_numpy()[None, :]
        pairwise = np.where(other, pairwise, np.inf)
        nearest = pairwise.argmin(axis=1)
        twin_distance = pairwise[np.arange(len(table)), nearest]
        keep = twin_distance <= distance
        table = table.assign(twin=table["group"].to_numpy()[nearest], twin_distance=twin_distance,
                             in_reference=keep,
                             reason=np.where(keep, f"profile shared with another patient (<= {distance})",
                                             f"no group of another patient within {distance}: patient-specific "
                                             "copy number, left out"))
    mask = np.isin(group, table.loc[table["in_reference"], "group"].to_numpy()) & candidates
    # a patient's few candidate cells of a cluster too small to compare follow the cluster's verified groups
    verified = table.loc[table["in_reference"] & table["reason"].str.startswith("profile shared"), "cluster"]
    followers = small & candidates & np.isin(cluster, verified.to_numpy())
    if followers.any():
        extra = info[followers[candidates]].assign(group=lambda d: d["patient"] + ":" + d["cluster"])
        rows = _group_summary(extra).assign(twin="", twin_distance=np.nan, in_reference=True,
                           reason=f"fewer than {MIN_GROUP_CELLS} cells: follows its cluster's verified groups")
        table = pd.concat([table, rows], ignore_index=True)
        mask |= followers
    return mask, table[REFERENCE_COLUMNS]


def reference_cells(adata: ad.AnnData, params: dict, *,
                    exclude: np.ndarray | None = None) -> tuple[np.ndarray, pd.DataFrame]:
    """The CNV reference: named cells or types as given, else candidates verified by :func:`verify_reference`.

    Cells in ``exclude`` (the B-lineage cells of a patient with a light-chain-restricted clone) are never
    candidates. When verification leaves fewer than ``min_reference_cells``, the unverified immune and
    stromal candidates are used and the table's ``reason`` says so.
    """
    candidates = choose_reference(adata.obs, params, exclude=exclude)
    if params["reference_column"] or params["reference_cell_types"]:
        table = pd.DataFrame(columns=REFERENCE_COLUMNS)
        return candidates, table
    mask, table = verify_reference(adata, candidates, params)
    if mask.sum() < params["min_reference_cells"]:
        fallback = candidates & adata.obs["cell_compartment"].isin(["immune", "stromal"]).to_numpy()
        if fallback.sum() < params["min_reference_cells"]:
            raise InputError(f"only {int(mask.sum())} reference cells have a copy-number profile shared with "
                             f"another patient and {int(fallback.sum())} are immune or stromal; at least "
                             f"{params['min_reference_cells']} are needed. Name reference cell types "
                             "(malignant.reference_cell_types) or use malignant.method: author or all")
        table["in_reference"] = table["compartment"].isin(["immune", "stromal"])
        table["reason"] = np.where(table["in_reference"], "too few verified cells: immune/stromal kept unverified",
                                   table["reason"])
        mask = fallback
    return mask, table


def infer_cnv(adata: ad.AnnData, reference: np.ndarray, params: dict) -> None:
    """Run infercnvpy on the log-normalised data against the reference cells (``obsm['X_cnv']``).

    Cells go to infercnvpy in blocks of ``CNV_BLOCK_CELLS`` with the reference cells' mean expression
    computed once, so only one block's CNV genes are copied at a time (peak memory at 100k cells x 20k genes:
    see BENCHMARKS.md). Blocks are a multiple of infercnvpy's own 5,000-cell chunks (its noise threshold is
    per chunk), so the result equals one call on all cells.
    """
    import infercnvpy as cnv

    genes = cnv_genes(adata, params["min_mean_counts"])
    X = sp.csr_matrix(adata.X) if sp.issparse(adata.X) else np.asarray(adata.X)
    var = adata.var.loc[genes, ["chromosome", "start", "end"]].astype({"chromosome": object})
    ref_mean = np.asarray(np.mean(X[np.flatnonzero(reference)][:, genes], axis=0)).reshape(1, -1)
    blocks = []
    for start in range(0, adata.n_obs, CNV_BLOCK_CELLS):
        block = ad.AnnData(X[start : start + CNV_BLOCK_CELLS][:, genes], var=var)
        chr_pos, values, _ = cnv.tl.infercnv(
            block, reference=ref_mean, window_size=params["window_size"], step=params["step"],
            exclude_chromosomes=("chrX", "chrY", "chrM"), n_jobs=1, inplace=False, calculate_gene_values=False)
        blocks.append(values)
    adata.obsm["X_cnv"] = sp.vstack(blocks, format="csr")
    adata.uns["cnv"] = {"chr_pos": chr_pos, "n_genes": int(genes.sum())}


def cnv_genes(adata: ad.AnnData, min_mean_counts: float) -> np.ndarray:
    """Genes used for CNV inference.

    Placed on an autosome and, for count data, with a mean raw count of at least ``min_mean_counts``
    (inferCNV's expression cutoff: lowly expressed genes only add noise).
    """
    genes = adata.var["chromosome"].astype(object).isin([c for c in CHROMOSOMES if c not in ("chrX", "chrY")])
    genes = genes.to_numpy()
    if min_mean_counts > 0 and "mean_counts" in adata.var:
        genes &= adata.var["mean_counts"].to_numpy() >= min_mean_counts
    elif min_mean_counts > 0 and "counts" in adata.layers:
        genes &= np.asarray(adata.layers["counts"].mean(axis=0)).ravel() >= min_mean_counts
    return genes


def _row_corr(M: np.ndarray, profile: np.ndarray) -> np.ndarray:
    Mc = M - M.mean(axis=1, keepdims=True)
    pc = profile - profile.mean()
    denom = np.linalg.norm(Mc, axis=1) * np.linalg.norm(pc)
    return np.divide(Mc @ pc, denom, out=np.zeros(len(M)), where=denom > 0)


def _null_threshold(null: np.ndarray, quantile: float, *, mad_k: float = 5.0) -> float:
    """Quantile of the reference correlations after trimming outliers (median + k * MAD).

    A few tumour cells or doublets in the reference would otherwise set the threshold.
    """
    med = float(np.median(null))
    mad = 1.4826 * float(np.median(np.abs(null - med)))
    kept = null[null <= med + mad_k * mad] if mad > 0 else null
    return float(np.quantile(kept, quantile))


def cnv_signal(X_cnv: sp.spmatrix | np.ndarray) -> np.ndarray:
    """Mean squared CNV value per cell (Tirosh et al. 2016)."""
    X = sp.csr_matrix(X_cnv)
    return np.asarray(X.multiply(X).mean(axis=1)).ravel()


def call_malignant(adata: ad.AnnData, reference: np.ndarray, params: dict) -> pd.DataFrame:
    """Per-patient malignant calls from CNV correlation and CNV signal, with data-driven thresholds.

    For each patient the tumour profile is the mean CNV profile of its non-reference cells in the top
    ``top_fraction`` by CNV signal (mean square, Tirosh et al. 2016); each cell's CNV correlation is its
    Pearson correlation with that profile. The threshold is the ``reference_quantile`` of the reference
    cells' correlations (the null, after trimming outliers at median + 5 MAD). A cell above it is
    ``malignant`` when its signal is above the reference median, else ``uncertain``; below it, ``non-
    malignant``. A patient has a tumour only when its non-reference cells pass the threshold more often than
    the reference cells do (one-sided binomial test, ``tumour_pvalue``) and at least ``min_malignant_cells``
    times; otherwise its passing cells are ``uncertain``.

    Returns
    -------
    One row per patient with thresholds, test and counts; sets ``obs``: ``cnv_score``,
    ``cnv_correlation``, ``malignant``, ``cnv_reference``.
    """
    X = sp.csr_matrix(adata.obsm["X_cnv"])
    signal = cnv_signal(X)
    corr = np.zeros(adata.n_obs)
    patients = adata.obs["patient"].astype(str).to_numpy()
    for p in np.unique(patients):
        query = np.flatnonzero((patients == p) & ~reference)
        mine = np.flatnonzero(patients == p)
        if len(query) == 0:
            continue
        top = query[signal[query] >= np.quantile(signal[query], 1 - params["top_fraction"])]
        profile = np.asarray(X[top].mean(axis=0)).ravel()
        for start in range(0, len(mine), 5000):  # dense rows a block at a time
            block = mine[start : start + 5000]
            corr[block] = _row_corr(X[block].toarray(), profile)
    corr_thr = _null_threshold(corr[reference], params["reference_quantile"])
    sig_thr = float(np.median(signal[reference]))
    high = corr > corr_thr
    call = np.where(high, np.where(signal > sig_thr, "malignant", "uncertain"), "non-malignant").astype(object)
    call[reference & high] = "uncertain"
    null_rate = max(float(high[reference].mean()), 1 - params["reference_quantile"])
    ref_types = reference_types(adata.obs, reference) if "cell_type" in adata.obs else {}
    rows = []
    for p in np.unique(patients):
        mine = patients == p
        query = mine & ~reference
        n_high = int(high[query].sum())
        pvalue = float(binomtest(n_high, int(query.sum()), null_rate, alternative="greater").pvalue) \
            if query.any() else 1.0
        has_tumour = n_high >= params["min_malignant_cells"] and pvalue < params["tumour_pvalue"]
        if not has_tumour:
            call[mine & (call == "malignant")] = "uncertain"
        rows.append({"patient": p, "cells": int(mine.sum()), "reference_cells": int((mine & reference).sum()),
                     "reference_types": ref_types.get(p, ""),
                     "correlation_threshold": corr_thr, "signal_threshold": sig_thr,
                     "cnv_high_cells": n_high, "null_rate": null_rate, "tumour_pvalue": pvalue,
                     "tumour_detected": bool(has_tumour),
                     **{c: int(((call == c) & mine).sum()) for c in CALLS}})
    adata.obs["cnv_score"] = signal.astype(np.float32)
    adata.obs["cnv_correlation"] = corr.astype(np.float32)
    adata.obs["malignant"] = pd.Categorical(call, categories=list(CALLS))
    adata.obs["cnv_reference"] = reference
    return pd.DataFrame(rows)


def apply_clonal_calls(adata: ad.AnnData, clonal: np.ndarray, summary: pd.DataFrame,
                       clones: pd.DataFrame) -> pd.DataFrame:
    """Overlay light-chain clonality calls (:func:`cscniche.clonality.clonal_calls`) on the CNV calls.

    Cells with a clonal call take it (``obs['malignant_evidence']``: ``light chain``, else ``copy number``);
    a patient with a restricted clone has a tumour. The summary's counts per call are recounted and it
    gains ``clonal_cells`` and ``clone_light_chain`` per patient.
    """
    call = adata.obs["malignant"].astype(str).to_numpy().astype(object)
    covered = clonal != ""
    call[covered] = clonal[covered]
    adata.obs["malignant"] = pd.Categorical(call, categories=list(CALLS))
    adata.obs["malignant_evidence"] = pd.Categorical(np.where(covered, "light chain", "copy number"))
    patients = adata.obs["patient"].astype(str).to_numpy()
    chain = clonality.clone_chains(clones)
    summary = summary.copy()
    summary["clonal_cells"] = [int(((patients == p) & (clonal == "malignant")).sum()) for p in summary["patient"]]
    summary["clone_light_chain"] = summary["patient"].map(chain).fillna("")
    summary["tumour_detected"] = summary["tumour_detected"] | (summary["clonal_cells"] > 0)
    for c in CALLS:
        summary[c] = [int(((patients == p) & (call == c)).sum()) for p in summary["patient"]]
    return summary


def call_from_cnv_and_clonality(adata: ad.AnnData, params: dict, *, chain_counts: ad.AnnData | None = None,
                                log: logging.Logger | None = None) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Malignant calls from light-chain clonality and copy number (``method: cnv``), in place.

    B-cell clones (light-chain restriction, :mod:`cscniche.clonality`; off with
    ``light_chain_restriction: null``) are found first and kept out of the reference; the CNV reference is
    chosen and verified (:func:`reference_cells`), CNV inferred and cells called (:func:`call_malignant`),
    and the clonal calls laid over the CNV calls (:func:`apply_clonal_calls`). Gene positions must be
    placed (:func:`place_genes`). ``chain_counts``: the same cells' light-chain gene counts, where
    ``adata`` has no ``layers['counts']`` (:func:`cscniche.clonality.light_chain_genes`).

    Returns the per-patient summary, the reference table (``REFERENCE_COLUMNS``) and the light-chain table
    (``clonality.CLONE_COLUMNS``).
    """
    if params["light_chain_restriction"] is None:
        clones = pd.DataFrame(columns=clonality.CLONE_COLUMNS)
        clonal = np.full(adata.n_obs, "", dtype=object)
    else:
        chains = clonality.light_chain_calls(adata if chain_counts is None else chain_counts)
        clones = clonality.light_chain_groups(adata.obs, chains, restriction=params["light_chain_restriction"])
        clonal, _ = clonality.clonal_calls(adata.obs, chains, clones)
    reference, reference_table = reference_cells(adata, params, exclude=clonal != "")
    if log is not None:
        log.info("light chains (patient x cluster):\n%s", clones.to_string())
        log.info("reference candidates (patient x cluster):\n%s", reference_table.to_string())
        log.info("reference cells: %d\n%s", reference.sum(), reference_types(adata.obs, reference).to_string())
    infer_cnv(adata, reference, params)
    summary = call_malignant(adata, reference, params)
    return apply_clonal_calls(adata, clonal, summary, clones), reference_table, clones


def cnv_clusters(adata: ad.AnnData, *, resolution: float = 0.5, seed: int = 0, min_cells: int = 10,
                 leiden_flavor: str = "igraph") -> pd.DataFrame:
    """Cluster each patient's cells by CNV profile (PCA, kNN, Leiden), in place: ``obs['cnv_cluster']``.

    Returns one row per CNV cluster: patient, cells, share of each call, mean CNV correlation; clusters
    of malignant cells are the tumour's candidate subclones.
    """
    import scanpy as sc

    from .graph import leiden

    X = sp.csr_matrix(adata.obsm["X_cnv"])
    labels = np.full(adata.n_obs, "", dtype=object)
    patients = adata.obs["patient"].astype(str).to_numpy()
    for p in np.unique(patients):
        cells = np.flatnonzero(patients == p)
        if len(cells) < min_cells:
            labels[cells] = f"{p}:0"
            continue
        sub = ad.AnnData(X[cells].toarray().astype(np.float32))
        sc.pp.pca(sub, n_comps=min(20, len(cells) - 1, X.shape[1] - 1), random_state=seed)
        # exact neighbours: no pynndescent compilation in this job (measured 36 s vs 45 s for 4 x 11.5k cells)
        sc.pp.neighbors(sub, n_neighbors=min(15, len(cells) - 1), random_state=seed, transformer="sklearn")
        leiden(sub, resolution=resolution, flavor=leiden_flavor, seed=seed)
        labels[cells] = [f"{p}:{k}" for k in sub.obs["leiden"]]
    adata.obs["cnv_cluster"] = pd.Categorical(labels)
    obs = adata.obs
    table = obs.groupby("cnv_cluster", observed=True).agg(
        patient=("patient", "first"), cells=("patient", "size"), mean_cnv_correlation=("cnv_correlation", "mean"))
    shares = pd.crosstab(obs["cnv_cluster"], obs["malignant"], normalize="index").add_prefix("share_")
    return table.join(shares).reset_index()


def cnv_profiles(adata: ad.AnnData) -> pd.DataFrame:
    """Mean CNV value per patient and call over each genomic window (the clone profile of each tumour)."""
    info = adata.uns["cnv"]
    X = sp.csr_matrix(adata.obsm["X_cnv"])
    chrom = np.empty(X.shape[1], dtype=object)
    bounds = sorted(info["chr_pos"].items(), key=lambda kv: kv[1])
    for i, (c, start) in enumerate(bounds):
        chrom[start : bounds[i + 1][1] if i + 1 < len(bounds) else X.shape[1]] = c
    frames = []
    for (patient, call), cells in adata.obs.groupby(["patient", "malignant"], observed=True).indices.items():
        mean = np.asarray(X[cells].mean(axis=0)).ravel()
        frames.append(pd.DataFrame({"patient": patient, "call": call, "window": np.arange(X.shape[1]),
                                    "chromosome": chrom, "mean_cnv": mean, "cells": len(cells)}))
    return pd.concat(frames, ignore_index=True)


def call_all_malignant(adata: ad.AnnData) -> pd.DataFrame:
    """Every cell malignant (``malignant.method: all``): inputs of tumour cells only, with no normal reference.

    Returns one row per patient (cells and calls) with a ``note`` saying that no normal reference exists.
    """
    adata.obs["malignant"] = pd.Categorical(np.full(adata.n_obs, "malignant"), categories=list(CALLS))
    adata.obs["cnv_score"] = np.nan
    summary = adata.obs.groupby("patient", observed=True).size().rename("cells").reset_index()
    summary = summary.assign(**{c: summary["cells"] if c == "malignant" else 0 for c in CALLS})
    summary["note"] = ("tumour cells only (malignant.method: all): no normal reference exists, so no CNV "
                       "inference; every cell is taken as malignant")
    return summary


def label_malignant(obs: pd.DataFrame) -> None:
    """``cell_type`` of malignant cells becomes ``malignant``; every cell's marker label stays in ``marker_cell_type``.

    Tumour cells often resemble a normal type of their tissue (astrocyte, pericyte, MSC-like); the marker
    label is kept for them but never shown as their cell type.
    """
    if "cell_type" not in obs:
        return
    marker = obs["cell_type"].astype(str)
    obs["marker_cell_type"] = pd.Categorical(marker)
    label = marker.where(~obs["malignant"].astype(str).eq("malignant"), MALIGNANT_LABEL)
    obs["cell_type"] = pd.Categorical(label)


def reference_types(obs: pd.DataFrame, reference: np.ndarray) -> pd.Series:
    """Per patient, the reference cells' cell types with counts (e.g. ``microglia 6, oligodendrocyte 17``)."""
    ref = obs.loc[reference, ["patient", "cell_type"]].astype(str)
    counts = ref.groupby(["patient", "cell_type"]).size()
    return counts.groupby(level="patient").apply(
        lambda c: ", ".join(f"{t} {n}" for (_, t), n in c.sort_values(ascending=False).items()))


def call_from_author_labels(adata: ad.AnnData, column: str, pattern: str) -> pd.DataFrame:
    """Malignant calls copied from an author label column (cells matching ``pattern`` are malignant)."""
    if column not in adata.obs:
        raise InputError(f"malignant.author_column {column!r} is not a cell column; available: {list(adata.obs)}")
    labels = adata.obs[column].astype(str)
    is_mal = labels.str.contains(pattern, flags=re.IGNORECASE, regex=True)
    call = np.where(labels.eq(""), "uncertain", np.where(is_mal, "malignant", "non-malignant"))
    adata.obs["malignant"] = pd.Categorical(call, categories=list(CALLS))
    adata.obs["cnv_score"] = np.nan
    summary = adata.obs.groupby("patient", observed=True)["malignant"].value_counts().unstack(fill_value=0)
    return summary.reset_index()
