"""CSC-TME crosstalk: ligand-receptor inference with CSC-high and CSC-low malignant cells as groups.

* Resource: liana's consensus resource (shipped inside the package) or CellPhoneDB v5 input tables
  (``interaction_input.csv``, ``gene_input.csv``, ``complex_input.csv``), or a ligand/receptor table.
  Complexes are their subunits joined by ``_`` (sorted), scored by their weakest subunit.
* Per patient, a CellPhoneDB-style permutation test (Efremova et al., Nat Protoc 15:1484, 2020) as in
  liana's ``cellphonedb`` method: the LR mean is the mean of the ligand's mean in the source and the
  receptor's mean in the target, both expressed in at least ``expr_prop`` of their group's cells; the
  p-value is the share of cell-label permutations scoring at least as high, the observed labelling counted
  as one of them (never below 1/(n_perms + 1); liana and CellPhoneDB report 0 there).
* CSC-specific signalling: per LR pair and TME partner, the difference of the expression product
  (ligand mean x receptor mean) between CSC-high and CSC-low malignant cells, summed over patients; its
  null comes from permuting the CSC-high/CSC-low labels within each patient (stratified), p-values from
  the permutation z-score, BH FDR across all tests.

Permutations run on the sparse matrix in a numba kernel (each stored value is visited once per permutation).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import anndata as ad
import numba
import numpy as np
import pandas as pd
import scipy.sparse as sp
import scipy.stats as ss

from .config import resolve_path
from .graded import combine_across_patients, stemness_correlations
from .io import InputError, read_yaml
from .labels import CSC_HIGH, CSC_LOW, DISCRETE, GRADED, SPLIT, cell_groups
from .ranksum import group_stats

DIRECTIONS = ("CSC->TME", "TME->CSC", "CSC<->CSC")
SPECIFIC_COLUMNS = ["ligand", "receptor", "source", "target", "direction", "partner", "effect", "score_csc_high",
                    "score_csc_low", "z", "pvalue", "fdr", "significant", "partner_specificity", "n_patients",
                    "n_patients_consistent", "n_patients_significant", "pvalue_patients", "mode", "test", "pathway"]
PATIENT_LEVEL = 0.05  # a patient's own permutation p-value at or below this counts in n_patients_significant
CPDB_FILES = ("interaction_input.csv", "gene_input.csv", "complex_input.csv")


# ----------------------------------------------------------------------------------------------- resource
def load_resource(spec: str) -> pd.DataFrame:
    """Ligand-receptor pairs: ``ligand, receptor, pathway`` with complexes as sorted subunits joined by ``_``.

    Parameters
    ----------
    spec
        ``liana:<name>`` (a resource shipped inside liana, e.g. ``liana:consensus``), a folder holding
        CellPhoneDB v5 input tables, or a CSV/TSV table with ``ligand`` and ``receptor`` columns.
    """
    if spec.startswith("liana:"):
        import liana

        name = spec.split(":", 1)[1]
        try:
            table = liana.resource.select_resource(name)
        except Exception as err:
            raise InputError(f"crosstalk.resource {spec!r}: liana has no resource {name!r} ({err})") from err
        table = table.assign(pathway="")
    else:
        path = Path(resolve_path(spec))
        if path.is_dir():
            table = _cellphonedb_pairs(path)
        elif path.is_file():
            table = pd.read_csv(path, sep=None, engine="python")
            missing = {"ligand", "receptor"} - set(table.columns)
            if missing:
                raise InputError(f"{path}: LR table lacks column(s) {sorted(missing)}; found {list(table.columns)}")
            table = table.assign(pathway=table.get("pathway", ""))
        else:
            raise InputError(f"crosstalk.resource {spec!r}: no such folder or file")
    table = table.assign(ligand=table["ligand"].map(_canonical), receptor=table["receptor"].map(_canonical))
    table = table[["ligand", "receptor", "pathway"]].fillna({"pathway": ""})
    table = table.drop_duplicates(["ligand", "receptor"]).sort_values(["ligand", "receptor"])
    if table.empty:
        raise InputError(f"crosstalk.resource {spec!r}: no ligand-receptor pairs")
    return table.reset_index(drop=True)


def _canonical(entity: str) -> str:
    return "_".join(sorted(str(entity).replace("+", "_").split("_")))


def _cellphonedb_pairs(folder: Path) -> pd.DataFrame:
    """Ligand-receptor rows of CellPhoneDB v5 input tables, partners mapped to gene symbols."""
    missing = [f for f in CPDB_FILES if not (folder / f).is_file()]
    if missing:
        raise InputError(f"{folder}: CellPhoneDB folder lacks {missing} (expected {list(CPDB_FILES)})")
    interactions = pd.read_csv(folder / "interaction_input.csv")
    genes = pd.read_csv(folder / "gene_input.csv")
    complexes = pd.read_csv(folder / "complex_input.csv")
    for name, table, cols in (("interaction_input.csv", interactions, ["partner_a", "partner_b", "directionality"]),
                              ("gene_input.csv", genes, ["uniprot", "hgnc_symbol"]),
                              ("complex_input.csv", complexes, ["complex_name", "uniprot_1"])):
        absent = [c for c in cols if c not in table.columns]
        if absent:
            raise InputError(f"{folder / name}: missing column(s) {absent}")
    symbol = genes.dropna(subset=["hgnc_symbol"]).sort_values("hgnc_symbol").drop_duplicates("uniprot")
    symbol = dict(zip(symbol["uniprot"], symbol["hgnc_symbol"], strict=True))
    subunit_cols = [c for c in complexes.columns if c.startswith("uniprot_")]
    members = {}
    for _, row in complexes.iterrows():
        units = [symbol.get(u) for u in row[subunit_cols].dropna()]
        if units and all(units):
            members[row["complex_name"]] = "_".join(units)
    lr = interactions[interactions["directionality"] == "Ligand-Receptor"]

    def genes_of(partner: str) -> str | None:
        return symbol.get(partner) or members.get(partner)

    table = pd.DataFrame({"ligand": lr["partner_a"].map(genes_of), "receptor": lr["partner_b"].map(genes_of),
                          "pathway": lr.get("classification", pd.Series("", index=lr.index)).fillna("")})
    return table.dropna(subset=["ligand", "receptor"])


# ----------------------------------------------------------------------------------------------- groups
def direction(source: str, target: str) -> str:
    """``CSC->TME``, ``TME->CSC``, ``CSC<->CSC`` or ``TME->TME`` for a pair of groups."""
    s, t = source in (CSC_HIGH, CSC_LOW), target in (CSC_HIGH, CSC_LOW)
    return {(True, False): "CSC->TME", (False, True): "TME->CSC", (True, True): "CSC<->CSC"}.get((s, t), "TME->TME")


# ----------------------------------------------------------------------------------------------- statistics
@dataclass
class Entities:
    """Ligands/receptors (genes or complexes) over a gene subset: ``subunits[e]`` are column indices."""

    names: list[str]
    genes: pd.Index
    subunits: np.ndarray  # (n_entities, max_subunits), padded by repeating the first subunit

    @classmethod
    def from_resource(cls, resource: pd.DataFrame, var_names: pd.Index) -> tuple[Entities, pd.DataFrame]:
        """Entities whose every subunit is measured, and the resource rows they cover."""
        present = set(var_names)
        names = sorted({e for e in pd.concat([resource["ligand"], resource["receptor"]])
                        if all(g in present for g in e.split("_"))})
        usable = resource[resource["ligand"].isin(names) & resource["receptor"].isin(names)].reset_index(drop=True)
        names = sorted(set(usable["ligand"]) | set(usable["receptor"]))
        genes = pd.Index(sorted({g for e in names for g in e.split("_")}))
        width = max((len(e.split("_")) for e in names), default=1)
        subunits = np.zeros((len(names), width), dtype=np.int64)
        for i, e in enumerate(names):
            idx = genes.get_indexer(e.split("_"))
            subunits[i] = np.concatenate([idx, np.repeat(idx[0], width - len(idx))])
        return cls(names, genes, subunits), usable

    def index(self, names: pd.Series) -> np.ndarray:
        """Entity positions of ``names``."""
        return pd.Index(self.names).get_indexer(names)

    def reduce(self, per_gene: np.ndarray) -> np.ndarray:
        """Entity values from gene values (last axis): the weakest subunit."""
        return per_gene[..., self.subunits].min(axis=-1)


@numba.njit(parallel=True, cache=True)
def _permuted_sums(indptr, indices, data, labels, n_groups, n_genes):  # pragma: no cover - compiled
    n_perm, n_cells = labels.shape
    out = np.zeros((n_perm, n_groups, n_genes), dtype=np.float64)
    for p in numba.prange(n_perm):
        for c in range(n_cells):
            g = labels[p, c]
            for k in range(indptr[c], indptr[c + 1]):
                out[p, g, indices[k]] += data[k]
    return out


def group_means(X: sp.csr_matrix, codes: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-group mean and share of cells expressing each gene (``codes``: group of each row, 0..n-1)."""
    stats = group_stats(X, codes, n_groups)
    return stats.mean, stats.frac


def permuted_means(X: sp.csr_matrix, codes: np.ndarray, n_groups: int, n_perms: int,
                   rng: np.random.Generator, *, chunk: int = 100):
    """Yield ``(n, n_groups, n_genes)`` group means under ``n_perms`` random permutations of ``codes``."""
    sizes = np.bincount(codes, minlength=n_groups).astype(np.float64)[None, :, None]
    X = sp.csr_matrix(X, dtype=np.float64)
    for start in range(0, n_perms, chunk):
        n = min(chunk, n_perms - start)
        labels = rng.permuted(np.tile(codes.astype(np.int64), (n, 1)), axis=1)
        yield _permuted_sums(X.indptr, X.indices, X.data, labels, n_groups, X.shape[1]) / sizes


def cellphonedb_test(X: sp.csr_matrix, groups: pd.Series, resource: pd.DataFrame, entities: Entities, *,
                     expr_prop: float, n_perms: int, rng: np.random.Generator) -> pd.DataFrame:
    """CellPhoneDB-style LR means and permutation p-values among the groups of one patient.

    ``X`` holds the entity genes (columns in ``entities.genes`` order) of the cells in ``groups``.
    Returns one row per LR pair and ordered group pair whose ligand and receptor are expressed.
    """
    names = sorted(groups.unique())
    codes = pd.Categorical(groups, categories=names).codes.astype(np.int64)
    means, props = group_means(X, codes, len(names))
    e_mean, e_prop = entities.reduce(means), entities.reduce(props)
    lig, rec = entities.index(resource["ligand"]), entities.index(resource["receptor"])
    src, tgt = np.meshgrid(np.arange(len(names)), np.arange(len(names)), indexing="ij")
    src, tgt = src.ravel(), tgt.ravel()
    pair = np.repeat(np.arange(len(resource)), len(src))
    s, t = np.tile(src, len(resource)), np.tile(tgt, len(resource))
    keep = (e_prop[s, lig[pair]] >= expr_prop) & (e_prop[t, rec[pair]] >= expr_prop)
    pair, s, t = pair[keep], s[keep], t[keep]
    lm, rm = e_mean[s, lig[pair]], e_mean[t, rec[pair]]
    observed = np.where((lm > 0) & (rm > 0), (lm + rm) / 2, 0.0)
    hits = np.zeros(len(pair))
    for perm in permuted_means(X, codes, len(names), n_perms, rng):
        pe = entities.reduce(perm)
        hits += ((pe[:, s, lig[pair]] + pe[:, t, rec[pair]]) / 2 >= observed[None, :] - 1e-12).sum(axis=0)
    out = resource.iloc[pair][["ligand", "receptor", "pathway"]].reset_index(drop=True)
    out["source"], out["target"] = np.asarray(names)[s], np.asarray(names)[t]
    out["ligand_mean"], out["receptor_mean"] = lm, rm
    out["ligand_prop"], out["receptor_prop"] = e_prop[s, lig[pair]], e_prop[t, rec[pair]]
    out["lr_mean"], out["lr_product"] = observed, lm * rm
    out["pvalue"] = (hits + 1) / (n_perms + 1) if n_perms else np.nan  # the observed labels count: >= 1/(n+1)
    return out


# ----------------------------------------------------------------------------------------------- CSC-specific
@dataclass
class PatientStats:
    """One patient's group statistics over entities, and CSC-high/low means under label permutations."""

    patient: str
    groups: list[str]
    mean: np.ndarray  # (n_groups, n_entities)
    prop: np.ndarray
    csc_perm: np.ndarray | None  # (n_perms, 2, n_entities): CSC-high, CSC-low under permuted labels


def csc_specific(stats: list[PatientStats], resource: pd.DataFrame, entities: Entities, *,
                 expr_prop: float, fdr_level: float = 0.05, min_patient_share: float = 0.5) -> pd.DataFrame:
    """Test, per LR pair and partner, whether the interaction is stronger with CSC-high than CSC-low cells.

    The statistic is the expression product (ligand mean x receptor mean) with CSC-high minus that with
    CSC-low malignant cells, summed over the patients that have both CSC groups (and the partner); its null
    is the same sum under CSC-label permutations within each patient. ``pvalue`` is the two-sided
    permutation p-value, (1 + permutations at least as extreme) / (n_perms + 1), so never below
    1/(n_perms + 1); ``fdr`` by Benjamini-Hochberg over all tests. With the patient as the unit:
    ``n_patients_consistent`` counts the patients whose own effect has the sign of the sum,
    ``n_patients_significant`` those whose own permutation p-value is at most 0.05 in that direction, and
    ``pvalue_patients`` is a one-sample t-test of the patients' standardised effects (three patients or more).
    ``significant``: FDR at ``fdr_level``, stronger with CSC-high cells, and consistent in at least
    ``min_patient_share`` of the patients tested. ``partner_specificity`` is the partner's share of its side's
    expression among the TME groups (mean over patients; 1 for CSC<->CSC). Rows come sorted with the
    significant interactions first, by ``effect x partner_specificity`` (a large gain with a partner that is
    the main TME source or target of the pair ranks first), then the rest by p-value and,
    among equal p-values (permutation p-values tie), by ``effect x partner_specificity``.
    """
    usable = [p for p in stats if p.csc_perm is not None]
    columns = SPECIFIC_COLUMNS
    if not usable:
        return pd.DataFrame(columns=columns)
    test = (f"stratified permutation within {len(usable)} patients" if len(usable) > 1
            else "within-patient permutation (one patient)")
    lig, rec = entities.index(resource["ligand"]), entities.index(resource["receptor"])
    partners = sorted({g for p in usable for g in p.groups if g not in (CSC_HIGH, CSC_LOW)})
    rows = []
    for kind in DIRECTIONS:
        for partner in (partners if kind != "CSC<->CSC" else ["CSC"]):
            rows.append(_partner_tests(usable, kind, partner, lig, rec, expr_prop))
    table = pd.concat([r for r in rows if len(r)], ignore_index=True) if any(len(r) for r in rows) else None
    if table is None:
        return pd.DataFrame(columns=columns)
    table["ligand"] = resource["ligand"].to_numpy()[table["pair"]]
    table["receptor"] = resource["receptor"].to_numpy()[table["pair"]]
    table["pathway"] = resource["pathway"].to_numpy()[table["pair"]]
    table["fdr"] = ss.false_discovery_control(table["pvalue"].to_numpy())
    table["test"] = test
    share = table["n_patients_consistent"] / table["n_patients"]
    table["significant"] = (table["fdr"] <= fdr_level) & (table["effect"] > 0) & (share >= min_patient_share)
    table["mode"] = SPLIT
    gain = -table["effect"] * table["partner_specificity"]
    table["_key"] = np.where(table["significant"], gain, table["pvalue"])
    table["_tie"] = gain  # permutation p-values tie (at the floor, too): the larger gain first
    table = table.sort_values(["significant", "_key", "_tie", "ligand", "receptor", "source", "target"],
                              ascending=[False, True, True, True, True, True, True], kind="mergesort")
    return table[columns].reset_index(drop=True)


def _partner_tests(stats: list[PatientStats], kind: str, partner: str, lig: np.ndarray, rec: np.ndarray,
                   expr_prop: float) -> pd.DataFrame:
    """Observed and permuted CSC-high minus CSC-low products of every pair for one partner and direction."""
    n_pairs = len(lig)
    obs, high, low = np.zeros(n_pairs), np.zeros(n_pairs), np.zeros(n_pairs)
    per_patient, shares, expressed = [], [], np.zeros(n_pairs, bool)
    patient_z, patient_p = [], []
    perm_total = None
    for p in stats:
        gi = {g: i for i, g in enumerate(p.groups)}
        if kind != "CSC<->CSC" and partner not in gi:
            continue
        h, lo = gi[CSC_HIGH], gi[CSC_LOW]
        if kind != "CSC<->CSC":  # the malignant side's entity, and the partner's
            mine, theirs = (lig, rec) if kind == "CSC->TME" else (rec, lig)
            w = p.mean[gi[partner], theirs]
            shares.append(_partner_share(p, gi[partner], theirs))
            ok = (p.prop[gi[partner], theirs] >= expr_prop) & (p.prop[[h, lo]][:, mine].max(axis=0) >= expr_prop)
            sh, sl = p.mean[h, mine] * w, p.mean[lo, mine] * w
            perm = (p.csc_perm[:, 0, mine] - p.csc_perm[:, 1, mine]) * w
        else:
            sh, sl = p.mean[h, lig] * p.mean[h, rec], p.mean[lo, lig] * p.mean[lo, rec]
            ok = (p.prop[[h, lo]][:, lig].max(axis=0) >= expr_prop) & (p.prop[[h, lo]][:, rec].max(axis=0) >= expr_prop)
            perm = p.csc_perm[:, 0, lig] * p.csc_perm[:, 0, rec] - p.csc_perm[:, 1, lig] * p.csc_perm[:, 1, rec]
        expressed |= ok
        obs += sh - sl
        high += sh
        low += sl
        per_patient.append(sh - sl)
        patient_z.append(_standardised(sh - sl, perm))
        patient_p.append(permutation_pvalue(sh - sl, perm))
        perm_total = perm if perm_total is None else perm_total + perm
    if perm_total is None or not expressed.any():
        return pd.DataFrame()
    share = np.mean(shares, axis=0) if shares else np.ones(n_pairs)
    z = _standardised(obs, perm_total)
    pvalue = permutation_pvalue(obs, perm_total)
    same_sign = np.sign(np.vstack(per_patient)) == np.sign(obs)[None, :]
    consistent = same_sign.sum(axis=0)
    significant_in = (same_sign & (np.vstack(patient_p) <= PATIENT_LEVEL)).sum(axis=0)
    across = _across_patients(np.vstack(patient_z))
    csc = "CSC"
    source = {"CSC->TME": csc, "TME->CSC": partner, "CSC<->CSC": csc}[kind]
    target = {"CSC->TME": partner, "TME->CSC": csc, "CSC<->CSC": csc}[kind]
    keep = np.flatnonzero(expressed)
    return pd.DataFrame({"pair": keep, "source": source, "target": target, "direction": kind,
                         "partner": partner, "effect": obs[keep], "score_csc_high": high[keep],
                         "score_csc_low": low[keep], "z": z[keep], "pvalue": pvalue[keep],
                         "partner_specificity": share[keep],
                         "n_patients": len(per_patient), "n_patients_consistent": consistent[keep],
                         "n_patients_significant": significant_in[keep], "pvalue_patients": across[keep]})


def permutation_pvalue(observed: np.ndarray, permuted: np.ndarray) -> np.ndarray:
    """Two-sided permutation p-values, (1 + #{|perm - centre| >= |observed - centre|}) / (n_perms + 1).

    ``permuted`` is ``(n_perms, n_tests)``; the centre is the permutation mean. Never below 1/(n_perms + 1).
    """
    centre = permuted.mean(axis=0)
    tolerance = 1e-12 * np.maximum(1.0, np.abs(observed))
    extreme = (np.abs(permuted - centre) >= np.abs(observed - centre)[None, :] - tolerance).sum(axis=0)
    return (1.0 + extreme) / (permuted.shape[0] + 1.0)


def _standardised(observed: np.ndarray, permuted: np.ndarray) -> np.ndarray:
    sd = permuted.std(axis=0)
    return np.where(sd > 0, (observed - permuted.mean(axis=0)) / np.where(sd > 0, sd, 1), 0.0)


def _across_patients(z: np.ndarray, *, min_patients: int = 3) -> np.ndarray:
    """One-sample t-test (two-sided) of the patients' standardised effects (rows); NaN below ``min_patients``."""
    if len(z) < min_patients:
        return np.full(z.shape[1], np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = ss.ttest_1samp(z, 0.0, axis=0).pvalue
    return np.where(np.isfinite(p), p, 1.0)


def _partner_share(stats: PatientStats, partner: int, entities: np.ndarray) -> np.ndarray:
    """The partner's share of its side's expression among the patient's TME groups (1 = only the partner)."""
    tme = [i for i, g in enumerate(stats.groups) if g not in (CSC_HIGH, CSC_LOW)]
    total = stats.mean[tme][:, entities].sum(axis=0)
    return np.where(total > 0, stats.mean[partner, entities] / np.where(total > 0, total, 1.0), 0.0)


# ----------------------------------------------------------------------------------------------- graded
def graded_specific(X: sp.csr_matrix, obs: pd.DataFrame, groups: pd.Series, resource: pd.DataFrame,
                    entities: Entities, *, min_cells: int, expr_prop: float, fdr_level: float = 0.05,
                    min_patient_share: float = 0.5) -> tuple[pd.DataFrame, list[str]]:
    """Each LR pair's association with stemness, for when no patient has a CSC-high/CSC-low split.

    Per patient, the malignant side's entity (the ligand for CSC->TME, the receptor for TME->CSC, both for
    CSC<->CSC) is correlated with ``stemness`` over the patient's malignant cells (Spearman; a complex by
    the mean of its subunits); the partner must express the other side (``expr_prop`` of its cells) and the
    malignant cells this side. ``effect`` is the mean correlation over patients; ``pvalue`` a t-test across
    patients (:func:`cscniche.graded.combine_across_patients`; also ``pvalue_patients``), BH ``fdr``;
    ``significant`` as in :func:`csc_specific`. Rows are sorted by
    ``effect x partner_specificity``, significant positive associations first. ``score_csc_high`` and
    ``score_csc_low`` are empty (there is no split). Returns the table and notes.
    """
    X = sp.csr_matrix(X, dtype=np.float64)
    patients = obs["patient"].astype(str).to_numpy()
    malignant = obs["malignant"].astype(str).eq("malignant").to_numpy() & obs["stemness"].notna().to_numpy()
    lig, rec = entities.index(resource["ligand"]), entities.index(resource["receptor"])
    average = _subunit_average(entities)
    rows, notes, cells = [], [], {}
    for patient in sorted(set(patients)):
        mal = np.flatnonzero(malignant & (patients == patient))
        sizes = groups[(patients == patient) & ~malignant].value_counts()
        partners = sorted(g for g in sizes[sizes >= min_cells].index if g not in ("", CSC_HIGH, CSC_LOW))
        if len(mal) < min_cells or not partners:
            notes.append(f"{patient}: {len(mal)} malignant cells with stemness and {len(partners)} TME group(s) "
                         f"with {min_cells} cells; not in the graded test")
            continue
        cells[patient] = len(mal)
        rho = average @ np.nan_to_num(stemness_correlations(X[mal], obs["stemness"].to_numpy()[mal]))
        members = [mal, *(np.flatnonzero((patients == patient) & groups.eq(g).to_numpy()) for g in partners)]
        codes = np.full(X.shape[0], -1, dtype=np.int64)
        for code, idx in enumerate(members):
            codes[idx] = code
        mean, prop = (entities.reduce(a) for a in group_means(X, codes, len(members)))
        tme_total = mean[1:].sum(axis=0)
        for kind in DIRECTIONS:
            for i, partner in enumerate(partners if kind != "CSC<->CSC" else ["CSC"], start=1):
                if kind == "CSC<->CSC":
                    value, ok = (rho[lig] + rho[rec]) / 2, (prop[0, lig] >= expr_prop) & (prop[0, rec] >= expr_prop)
                    share = np.ones(len(lig))
                else:
                    mine, theirs = (lig, rec) if kind == "CSC->TME" else (rec, lig)
                    value = rho[mine]
                    ok = (prop[0, mine] >= expr_prop) & (prop[i, theirs] >= expr_prop)
                    share = np.where(tme_total[theirs] > 0, mean[i, theirs] / np.where(tme_total[theirs] > 0,
                                                                                        tme_total[theirs], 1), 0)
                keep = np.flatnonzero(ok)
                rows.append(pd.DataFrame({"pair": keep, "direction": kind, "partner": partner, "patient": patient,
                                          "rho": value[keep], "share": share[keep]}))
    if not rows or not any(len(r) for r in rows):
        return pd.DataFrame(columns=SPECIFIC_COLUMNS), notes
    long = pd.concat(rows, ignore_index=True)
    keys = ["pair", "direction", "partner"]
    wide = long.pivot_table(index=keys, columns="patient", values="rho", aggfunc="first")
    table = combine_across_patients(wide, pd.Series(cells)).reset_index()
    table["partner_specificity"] = long.groupby(keys)["share"].mean().to_numpy()
    table["ligand"] = resource["ligand"].to_numpy()[table["pair"]]
    table["receptor"] = resource["receptor"].to_numpy()[table["pair"]]
    table["pathway"] = resource["pathway"].to_numpy()[table["pair"]]
    table["source"] = np.where(table["direction"] == "TME->CSC", table["partner"], "CSC")
    table["target"] = np.where(table["direction"] == "CSC->TME", table["partner"], "CSC")
    table["fdr"] = ss.false_discovery_control(table["pvalue"].fillna(1).to_numpy())
    share = table["n_patients_consistent"] / table["n_patients"]
    table["significant"] = (table["fdr"] <= fdr_level) & (table["effect"] > 0) & (share >= min_patient_share)
    table["score_csc_high"] = table["score_csc_low"] = table["n_patients_significant"] = np.nan
    table["pvalue_patients"] = table["pvalue"]
    table = table.rename(columns={"statistic": "z"}).assign(mode=GRADED)
    table["_key"] = -table["effect"] * table["partner_specificity"]
    table = table.sort_values(["significant", "_key", "ligand", "receptor", "source", "target"],
                              ascending=[False, True, True, True, True, True], kind="mergesort")
    return table[SPECIFIC_COLUMNS].reset_index(drop=True), notes


def _subunit_average(entities: Entities) -> sp.csr_matrix:
    """Entities x genes matrix averaging each entity's distinct subunits."""
    rows, cols, vals = [], [], []
    for i, units in enumerate(entities.subunits):
        distinct = np.unique(units)
        rows += [i] * len(distinct)
        cols += list(distinct)
        vals += [1.0 / len(distinct)] * len(distinct)
    return sp.csr_matrix((vals, (rows, cols)), shape=(len(entities.names), len(entities.genes)))


# ----------------------------------------------------------------------------------------------- axes
def load_axes(path: str) -> dict[str, dict]:
    """Curated signalling axes: name -> {description, source, pairs: [[ligand, receptor]], genes: [...]}."""
    file = Path(resolve_path(path))
    if not file.is_file():
        raise InputError(f"crosstalk.axes: {path}: file not found")
    axes = (read_yaml(file) or {}).get("axes")
    if not isinstance(axes, dict) or not axes:
        raise InputError(f"{file}: expected a mapping 'axes: {{name: {{pairs, genes, source}}}}'")
    for name, axis in axes.items():
        if not (axis.get("pairs") or axis.get("genes")) or not axis.get("source"):
            raise InputError(f"{file}: axis {name!r} needs 'pairs' or 'genes', and a 'source'")
    return axes


def axis_scores(adata: ad.AnnData, groups: pd.Series, axes: dict[str, dict], *, min_cells: int) -> pd.DataFrame:
    """Per axis, patient and group: mean expression of the axis's ligands, receptors and genes.

    A complex counts by its weakest subunit. Groups with fewer than ``min_cells`` cells are left out.
    """
    rows = []
    patients = adata.obs["patient"].astype(str)
    for patient in sorted(patients.unique()):
        cells = np.flatnonzero(patients.eq(patient).to_numpy() & groups.ne("").to_numpy())
        sub = groups.iloc[cells]
        sizes = sub.value_counts()
        sub = sub[sub.isin(sizes[sizes >= min_cells].index)]
        if sub.empty:
            continue
        cells = adata.obs_names.get_indexer(sub.index)
        for name, axis in axes.items():
            roles = {"ligand": [p[0] for p in axis.get("pairs", [])], "receptor": [p[1] for p in axis.get("pairs", [])],
                     "gene": list(axis.get("genes", []))}
            scores = {role: _entity_score(adata, cells, sub, entities) for role, entities in roles.items()}
            for group in sorted(sub.unique()):
                row = {"axis": name, "patient": patient, "group": group, "cells": int((sub == group).sum())}
                for role, (score, found) in scores.items():
                    row[f"{role}_score"] = score.get(group, np.nan) if found else np.nan
                    row[f"{role}s_found"] = found
                rows.append(row)
    return pd.DataFrame(rows)


def _entity_score(adata: ad.AnnData, cells: np.ndarray, groups: pd.Series, names: list[str]) -> tuple[dict, int]:
    names = [_canonical(n) for n in names]
    present = [n for n in dict.fromkeys(names) if all(g in adata.var_names for g in n.split("_"))]
    if not present:
        return {}, 0
    resource = pd.DataFrame({"ligand": present, "receptor": present})
    entities, _ = Entities.from_resource(resource, adata.var_names)
    X = sp.csr_matrix(adata[cells, entities.genes].X)
    labels = sorted(groups.unique())
    means, _ = group_means(X, pd.Categorical(groups, categories=labels).codes.astype(np.int64), len(labels))
    values = entities.reduce(means).mean(axis=1)
    return dict(zip(labels, values, strict=True)), len(present)


def crosstalk_genes(resource: pd.DataFrame, axes: dict[str, dict]) -> list[str]:
    """Every gene the stage reads: the subunits of the resource's ligands and receptors and the axes' genes.

    The stage's results depend on these genes only, so a large matrix can be read for them alone
    (:func:`cscniche.io.read_stage` ``genes=``).
    """
    entities = [*resource["ligand"], *resource["receptor"]]
    for axis in axes.values():
        entities += [name for pair in axis.get("pairs", []) for name in pair] + list(axis.get("genes", []))
    return sorted({gene for entity in entities for gene in _canonical(entity).split("_")})


# ----------------------------------------------------------------------------------------------- stage
def run_crosstalk(adata: ad.AnnData, resource: pd.DataFrame, params: dict, *,
                  seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Interactions per patient, CSC-specific tests across patients, and notes for the report.

    Returns ``(interactions, csc_specific, notes)``.
    """
    groups = cell_groups(adata.obs)
    entities, usable = Entities.from_resource(resource, adata.var_names)
    if usable.empty:
        raise InputError("crosstalk: no ligand-receptor pair of the resource has all its genes in the data "
                         f"(first genes: {list(adata.var_names[:5])}; the resource uses HGNC symbols)")
    X_all = sp.csr_matrix(adata[:, entities.genes].X, dtype=np.float64)
    signals = _patient_signals(adata.obs)
    rng = np.random.default_rng(seed)
    patients = adata.obs["patient"].astype(str).to_numpy()
    tables, stats, notes = [], [], []
    for patient in sorted(set(patients)):
        in_patient = (patients == patient) & groups.ne("").to_numpy()
        sizes = groups[in_patient].value_counts()
        kept = sorted(sizes[sizes >= params["min_cells"]].index)
        dropped = sorted(sizes[sizes < params["min_cells"]].index)
        if dropped:
            notes.append(f"{patient}: groups below {params['min_cells']} cells left out: {', '.join(dropped)}")
        if len(kept) < 2:
            notes.append(f"{patient}: fewer than two groups with enough cells; no interactions")
            continue
        cells = np.flatnonzero(in_patient & groups.isin(kept).to_numpy())
        X, labels = X_all[cells], groups.iloc[cells].reset_index(drop=True)
        table = cellphonedb_test(X, labels, usable, entities, expr_prop=params["expr_prop"],
                                 n_perms=params["n_perms"], rng=rng)
        if params["rank_aggregate"]:
            table = table.merge(liana_magnitude(X, labels, entities.genes, usable, params),
                                on=["ligand", "receptor", "source", "target"], how="left")
        tables.append(table.assign(patient=patient))
        split = signals.get(patient, DISCRETE) == DISCRETE
        stats.append(_patient_stats(patient, _linear(X), labels, kept, entities, params, rng, split=split))
        if not split:
            notes.append(f"{patient}: stem program {signals[patient]}, no confident CSC-high cells; "
                         "not in the CSC-high vs CSC-low test")
        elif stats[-1].csc_perm is None:
            notes.append(f"{patient}: no CSC-high or no CSC-low group with {params['min_cells']} cells; "
                         "not in the CSC-specific test")
    interactions = _interactions_table(tables)
    specific = csc_specific(stats, usable, entities, expr_prop=params["expr_prop"], fdr_level=params["fdr"],
                            min_patient_share=params["min_patient_share"])
    n_csc = sum(s.csc_perm is not None for s in stats)
    if n_csc == 0 and "stemness" in adata.obs:
        specific, graded_notes = graded_specific(X_all, adata.obs, groups, usable, entities,
                                                 min_cells=params["min_cells"], expr_prop=params["expr_prop"],
                                                 fdr_level=params["fdr"],
                                                 min_patient_share=params["min_patient_share"])
        notes += graded_notes
        notes.append("CSC-specific test (mode graded): no patient has a confident CSC-high/CSC-low split, so each "
                     "pair is ranked by its malignant-side gene's correlation with stemness within each patient's "
                     f"malignant cells, combined over {specific['n_patients'].max() if len(specific) else 0} "
                     "patient(s)")
        return interactions, specific, notes
    notes.append("CSC-specific test (mode split): " + ("no patient has both CSC groups" if n_csc == 0 else
                 "one patient, so the CSC-high/CSC-low labels are permuted within it" if n_csc == 1 else
                 f"{n_csc} patients, CSC labels permuted within each patient and effects summed")
                 + f"; p-values from {params['n_perms']} permutations, never below 1/{params['n_perms'] + 1}; "
                 f"significant: FDR <= {params['fdr']}, stronger with CSC-high cells and the same sign in at least "
                 f"{params['min_patient_share']:.0%} of the patients tested")
    return interactions, specific, notes


def interactions_by_unit(adata: ad.AnnData, resource: pd.DataFrame, *, units: pd.Series, min_cells: int,
                         expr_prop: float) -> pd.DataFrame:
    """LR means among the cell groups of each unit of cells, without permutations.

    As the per-patient interactions of :func:`run_crosstalk` (same groups, means and ``expr_prop`` rule), but
    with any grouping of the cells as the unit, e.g. a patient's samples in one arm of a paired comparison.
    ``units``: each cell's unit (empty: left out). Returns the interactions layout with the unit in
    ``patient`` and ``pvalue`` NaN.
    """
    groups = cell_groups(adata.obs)
    entities, usable = Entities.from_resource(resource, adata.var_names)
    X_all = sp.csr_matrix(adata[:, entities.genes].X, dtype=np.float64)
    unit_of = units.astype(str).to_numpy()
    tables = []
    for unit in sorted(set(unit_of) - {""}):
        in_unit = (unit_of == unit) & groups.ne("").to_numpy()
        sizes = groups[in_unit].value_counts()
        kept = sizes.index[sizes >= min_cells]
        cells = np.flatnonzero(in_unit & groups.isin(kept).to_numpy())
        if len(kept) < 2 or usable.empty:
            continue
        table = cellphonedb_test(X_all[cells], groups.iloc[cells].reset_index(drop=True), usable, entities,
                                 expr_prop=expr_prop, n_perms=0, rng=np.random.default_rng(0))
        tables.append(table.assign(patient=unit))
    return _interactions_table(tables)


def _linear(X: sp.csr_matrix) -> sp.csr_matrix:
    """Log-normalised values back on the normalised scale (``expm1``)."""
    out = X.copy()
    out.data = np.expm1(out.data)
    return out


def liana_magnitude(X: sp.csr_matrix, labels: pd.Series, genes: pd.Index, resource: pd.DataFrame,
                    params: dict) -> pd.DataFrame:
    """The ``rank_aggregate`` magnitude consensus of liana (no permutations) for one patient's groups."""
    import warnings

    import liana

    adata = ad.AnnData(sp.csr_matrix(X, dtype=np.float32), obs=pd.DataFrame({"group": pd.Categorical(labels)},
                                                                              index=labels.index.astype(str)),
                       var=pd.DataFrame(index=genes))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = liana.mt.rank_aggregate(adata, groupby="group", resource=resource[["ligand", "receptor"]],
                                         expr_prop=params["expr_prop"], min_cells=params["min_cells"], n_perms=None,
                                         use_raw=False, verbose=False, inplace=False)
    result = result.rename(columns={"ligand_complex": "ligand", "receptor_complex": "receptor"},
                           errors="ignore").loc[:, lambda t: ~t.columns.duplicated()]
    return result[["ligand", "receptor", "source", "target", "magnitude_rank"]].rename(
        columns={"magnitude_rank": "liana_magnitude_rank"})


def _patient_signals(obs: pd.DataFrame) -> dict[str, str]:
    """Each patient's stem-program signal (``csc_signal`` of its malignant cells; none: every patient discrete)."""
    if "csc_signal" not in obs:
        return {}
    mal = obs["malignant"].astype(str).eq("malignant") & obs["csc_signal"].astype(str).ne("")
    return dict(zip(obs.loc[mal, "patient"].astype(str), obs.loc[mal, "csc_signal"].astype(str), strict=True))


def _patient_stats(patient: str, X: sp.csr_matrix, labels: pd.Series, kept: list[str], entities: Entities,
                   params: dict, rng: np.random.Generator, *, split: bool = True) -> PatientStats:
    codes = pd.Categorical(labels, categories=kept).codes.astype(np.int64)
    means, props = group_means(X, codes, len(kept))
    csc_perm = None
    if split and CSC_HIGH in kept and CSC_LOW in kept:
        malignant = np.flatnonzero(labels.isin([CSC_HIGH, CSC_LOW]).to_numpy())
        csc_codes = labels.iloc[malignant].eq(CSC_LOW).to_numpy().astype(np.int64)  # 0 high, 1 low
        csc_perm = np.concatenate([entities.reduce(m) for m in
                                   permuted_means(X[malignant], csc_codes, 2, params["n_perms"], rng)])
    return PatientStats(patient, kept, entities.reduce(means), entities.reduce(props), csc_perm)


def _interactions_table(tables: list[pd.DataFrame]) -> pd.DataFrame:
    columns = ["patient", "ligand", "receptor", "source", "target", "direction", "ligand_mean", "receptor_mean",
               "ligand_prop", "receptor_prop", "lr_mean", "lr_product", "pvalue", "liana_magnitude_rank", "pathway"]
    if not tables:
        return pd.DataFrame(columns=columns)
    table = pd.concat(tables, ignore_index=True)
    if "liana_magnitude_rank" not in table:
        table["liana_magnitude_rank"] = np.nan
    table["direction"] = [direction(s, t) for s, t in zip(table["source"], table["target"], strict=True)]
    table = table.sort_values(["patient", "pvalue", "lr_mean", "ligand", "receptor", "source", "target"],
                              ascending=[True, True, False, True, True, True, True], kind="mergesort")
    return table[columns].reset_index(drop=True)
