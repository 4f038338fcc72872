"""The normal reference for CNV inference: candidate cells by type, verified against each other by arm profiles."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..io import InputError
from ..labels import UNASSIGNED
from .genes import cnv_genes


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


def reference_types(obs: pd.DataFrame, reference: np.ndarray) -> pd.Series:
    """Per patient, the reference cells' cell types with counts (e.g. ``microglia 6, oligodendrocyte 17``)."""
    ref = obs.loc[reference, ["patient", "cell_type"]].astype(str)
    counts = ref.groupby(["patient", "cell_type"]).size()
    return counts.groupby(level="patient").apply(
        lambda c: ", ".join(f"{t} {n}" for (_, t), n in c.sort_values(ascending=False).items()))
