"""The simulated genes: the universe, planted markers, LR pairs and CSC programme, each state's profile."""

from __future__ import annotations

import numpy as np
import pandas as pd

# Canonical markers per TME type (up in that type only).
TME_MARKERS: dict[str, list[str]] = {
    "T": ["CD3E", "CD3D", "CD3G", "CD2", "TRAC", "IL7R", "CD8A", "CD8B", "PDCD1"],
    "NK": ["NKG7", "GNLY", "KLRD1", "KLRF1", "PRF1", "GZMB", "NCAM1"],
    "B": ["MS4A1", "CD79A", "CD79B", "CD19", "BANK1", "IGHM"],
    "macrophage": ["CD68", "CD14", "LYZ", "CSF1R", "C1QA", "CD163", "MRC1", "AIF1", "TYROBP", "IL6"],
    "fibroblast": ["COL1A1", "COL1A2", "DCN", "LUM", "FAP", "PDGFRA", "CD248", "CXCL12"],
    "endothelial": ["PECAM1", "VWF", "CDH5", "KDR", "CLDN5", "ESAM", "EMCN", "CD34", "PLVAP"],
    # ISCT MSC criteria (CD73/NT5E, CD90/THY1, CD105/ENG; Dominici 2006) plus LEPR, NGFR, VCAM1
    "MSC": ["THY1", "NT5E", "ENG", "LEPR", "NGFR", "VCAM1", "PDGFRB"],
}


IMMUNE = ("T", "NK", "B", "macrophage")


MALIGNANT_MARKERS = ["KRT8", "KRT18", "KRT19", "CDH1", "MUC1"]
# Stem-like program planted in CSCs (up vs the other malignant cells).


CSC_MARKERS = ["CD44", "PROM1", "ALDH1A1", "SOX2", "POU5F1", "NANOG", "KLF4", "BMI1", "NES", "LGR5",
               "ITGA6", "ALCAM", "ABCG2", "CD24", "EPCAM", "MYC"]
# Planted CSC<->TME pairs: (ligand, receptor, source, target); "CSC" is the CSC state of malignant cells.
# Complexes are subunits joined by "_" (as in liana's resources); every subunit is planted. All four are in
# CellPhoneDB v5 and liana's consensus resource (there VEGFA binds FLT1_KDR; FLT1 is endothelial too).


PLANTED_LR = [
    ("VEGFA", "KDR", "CSC", "endothelial"),
    ("CD274", "PDCD1", "CSC", "T"),
    ("CXCL12", "CXCR4", "fibroblast", "CSC"),
    ("IL6", "IL6R_IL6ST", "macrophage", "CSC"),
]


CSC_LR_GENES = [g for lig, rec, src, _ in PLANTED_LR for g in (lig if src == "CSC" else rec).split("_")]


CSC_PROGRAM = CSC_MARKERS + CSC_LR_GENES
# Companion genes get the planted effect of their partner on top of their own random baseline (added after
# the original draws, so the rest of a simulation with a given seed is unchanged): FLT1 with KDR in
# endothelial cells, IL6ST with IL6R in CSCs.


COMPANIONS = {"FLT1": "KDR", "IL6ST": "IL6R"}

# GRCh38 positions (GENCODE v27) of planted genes that the infercnvpy gene table lacks.


EXTRA_GENES = [
    ("CD44", "chr11", 35138870, 35232402), ("PROM1", "chr4", 15963076, 16084378),
    ("ALDH1A1", "chr9", 72900662, 73080442), ("BMI1", "chr10", 22321211, 22331484),
    ("NES", "chr1", 156668763, 156677397), ("ITGA6", "chr2", 172427354, 172506282),
    ("ABCG2", "chr4", 88090264, 88231322), ("EPCAM", "chr2", 47345158, 47387601),
    ("CD24", "chr6", 106969831, 106975627), ("VEGFA", "chr6", 43770184, 43786487),
    ("KDR", "chr4", 55078477, 55125589), ("CD274", "chr9", 5450503, 5470566),
    ("PDCD1", "chr2", 241849881, 241858908), ("IL6", "chr7", 22725884, 22732002),
    ("IL6R", "chr1", 154405193, 154469450), ("CD3E", "chr11", 118304545, 118316175),
    ("CD3D", "chr11", 118338954, 118342744), ("CD2", "chr1", 116754385, 116769228),
    ("CD8A", "chr2", 86784610, 86808396), ("NKG7", "chr19", 51371606, 51372715),
    ("GNLY", "chr2", 85685175, 85698854), ("MS4A1", "chr11", 60455752, 60470760),
    ("CD79A", "chr19", 41877120, 41881372), ("CD19", "chr16", 28931939, 28939346),
    ("COL1A1", "chr17", 50183289, 50201632), ("COL1A2", "chr7", 94394561, 94431232),
    ("DCN", "chr12", 91140484, 91183123), ("FAP", "chr2", 162170684, 162245151),
    ("PDGFRB", "chr5", 150113837, 150155872), ("PECAM1", "chr17", 64319415, 64413776),
    ("VWF", "chr12", 5948874, 6124770), ("CDH5", "chr16", 66366622, 66404786),
    ("NT5E", "chr6", 85449584, 85495791), ("KRT8", "chr12", 52897187, 52949954),
    ("KRT18", "chr12", 52948871, 52952901), ("KRT19", "chr17", 41523617, 41528308),
    ("CDH1", "chr16", 68737225, 68835548), ("MUC1", "chr1", 155185824, 155192916),
    ("HBA1", "chr16", 176680, 177522), ("HBA2", "chr16", 172847, 173710),
    ("TGFB1", "chr19", 41301587, 41353911), ("CD79B", "chr17", 63928740, 63932354),
    ("IGHM", "chr14", 105851708, 105856218), ("TAGLN", "chr11", 117199321, 117204782),
    ("RGS5", "chr1", 163111121, 163321791), ("LUM", "chr12", 91102629, 91111831),
    ("CD163", "chr12", 7470813, 7503893), ("MRC1", "chr10", 17809344, 17911170),
    ("KLRF1", "chr12", 9827481, 9845007), ("PRF1", "chr10", 70597348, 70602775),
    ("GZMB", "chr14", 24630954, 24634267), ("CD8B", "chr2", 86815339, 86861924),
    ("TRAC", "chr14", 22547506, 22552154), ("LEPR", "chr1", 65420652, 65641559),
    ("CD34", "chr1", 207880972, 207911402), ("CLDN5", "chr22", 19523024, 19527545),
    ("EMCN", "chr4", 100395341, 100880126), ("ESAM", "chr11", 124752583, 124762290),
    ("CD3G", "chr11", 118344344, 118355161), ("IL7R", "chr5", 35852695, 35879603),
    ("BANK1", "chr4", 101411286, 102074812), ("CD248", "chr11", 66314487, 66317044),
    ("LCK", "chr1", 32251239, 32286165), ("VCAM1", "chr1", 100719742, 100739045),
    ("CD1C", "chr1", 158289786, 158293630), ("CD247", "chr1", 167430640, 167518610),
    ("COL3A1", "chr2", 188974320, 189012746), ("CTLA4", "chr2", 203867786, 203873960),
    ("CPA3", "chr3", 148865256, 148897196), ("KIT", "chr4", 54657918, 54740715),
    ("GZMK", "chr5", 55024253, 55034570), ("MZB1", "chr5", 139387480, 139390081),
    ("GJA1", "chr6", 121435692, 121449727), ("CLDN4", "chr7", 73799542, 73832693),
    ("CLEC9A", "chr12", 10030677, 10066027), ("KRT7", "chr12", 52232520, 52252186),
    ("FLT1", "chr13", 28300344, 28495145), ("TPSAB1", "chr16", 1240696, 1242554),
    ("CLDN7", "chr17", 7259903, 7263983), ("NGFR", "chr17", 49495293, 49515017),
    ("AQP4", "chr18", 26852038, 26865818), ("LILRA4", "chr19", 54333185, 54339150),
    ("SOX10", "chr22", 37970686, 37987422), ("FOXP3", "chrX", 49250436, 49264826),
    ("JCHAIN", "chr4", 70655541, 70681817), ("MT-ND1", "chrM", 3307, 4262), ("MT-ND2", "chrM", 4470, 5511),
    ("MT-CO1", "chrM", 5904, 7445), ("MT-CO2", "chrM", 7586, 8269), ("MT-ATP6", "chrM", 8527, 9207),
    ("MT-CO3", "chrM", 9207, 9990), ("MT-ND3", "chrM", 10059, 10404), ("MT-ND4", "chrM", 10760, 12137),
    ("MT-ND5", "chrM", 12337, 14148), ("MT-CYB", "chrM", 14747, 15887),
]


RESISTANCE_GENES = ("AXL", "SERPINE1", "CD276", "LGALS9")  # unplanted genes a condition may raise in CSCs


def gene_universe(n_genes: int | None = None, *, seed: int = 0, keep: tuple[str, ...] = ()) -> pd.DataFrame:
    """Real HGNC symbols with GRCh38 positions: the infercnvpy oligodendroglioma genes plus planted genes.

    ``keep``: more genes that a smaller universe (``n_genes``) must hold (e.g. a condition's resistance genes).

    Returns a DataFrame indexed by symbol with ``chromosome, start, end``, sorted by position.
    """
    import infercnvpy as cnv

    var = cnv.datasets.oligodendroglioma().var[["chromosome", "start", "end"]].copy()
    extra = pd.DataFrame(EXTRA_GENES, columns=["symbol", "chromosome", "start", "end"]).set_index("symbol")
    genes = pd.concat([var, extra[~extra.index.isin(var.index)]])
    planted = (set(extra.index) | set(CSC_PROGRAM) | {g for m in TME_MARKERS.values() for g in m}
               | set(keep)) - set(COMPANIONS)
    if n_genes is not None and n_genes < len(genes):
        rng = np.random.default_rng(seed)
        others = np.array(sorted(set(genes.index) - planted))
        keep = rng.choice(others, size=max(n_genes - len(planted), 0), replace=False)
        genes = genes.loc[genes.index.isin(planted) | genes.index.isin(keep) | genes.index.isin(list(COMPANIONS))]
    elif n_genes is not None and n_genes > len(genes):
        genes = pd.concat([genes, _synthetic_genes(genes, n_genes - len(genes), seed=seed)])
    order = pd.Series(genes["chromosome"].str.replace("chr", "")).map(_chrom_rank)
    genes = genes.assign(_o=order.values).sort_values(["_o", "start"]).drop(columns="_o")
    genes.index.name = "gene_symbol"
    return genes


def _synthetic_genes(genes: pd.DataFrame, n: int, *, seed: int) -> pd.DataFrame:
    """``n`` made-up genes (``SYN00001``...) at random positions on the autosomes, to reach large gene counts."""
    rng = np.random.default_rng(seed + 1)
    autosomes = genes[genes["chromosome"].str.fullmatch(r"chr\d+")]
    spans = autosomes.groupby("chromosome")["end"].max()
    chrom = rng.choice(spans.index.to_numpy(), size=n, p=(spans / spans.sum()).to_numpy())
    start = (rng.random(n) * spans.loc[chrom].to_numpy()).astype(np.int64)
    return pd.DataFrame({"chromosome": chrom, "start": start, "end": start + 10_000},
                        index=pd.Index([f"SYN{i:05d}" for i in range(1, n + 1)]))


def _chrom_rank(c: str) -> int:
    return {"X": 23, "Y": 24, "M": 25}.get(c, int(c) if c.isdigit() else 26)


def csc_program(genes: pd.Index, *, marker_overlap: float = 1.0, seed: int = 0) -> list[str]:
    """The genes of the planted CSC program.

    ``marker_overlap`` of the :data:`CSC_MARKERS` (the configured CSC marker set's genes) are in the program;
    the rest of its marker slots go to other genes of the universe (not planted elsewhere), drawn from a
    stream of their own. The ligand/receptor genes of the planted CSC pairs are always in the program.
    """
    n_markers = int(round(marker_overlap * len(CSC_MARKERS)))
    if n_markers == len(CSC_MARKERS):
        return list(CSC_PROGRAM)
    rng = np.random.default_rng([seed, 19])
    planted = set(CSC_PROGRAM) | {g for m in TME_MARKERS.values() for g in m} | set(MALIGNANT_MARKERS)
    others = np.array(sorted(g for g in genes if g not in planted and not g.startswith(("MT-", "RPL", "RPS"))))
    kept = list(rng.choice(CSC_MARKERS, n_markers, replace=False)) if n_markers else []
    substitutes = list(rng.choice(others, len(CSC_MARKERS) - n_markers, replace=False))
    return sorted(kept) + sorted(substitutes) + CSC_LR_GENES


def _programs(genes: pd.DataFrame, rng: np.random.Generator, n_patients: int, *, program: list[str],
              strength: float, diversity: bool, resistance: dict | None = None) -> dict:
    """Log-scale expression profiles (before normalisation) for every cell state.

    ``resistance`` (a ``condition``): its ``resistance_genes`` rise by ``resistance_effect`` in the CSCs of
    the second group's patients (P2, P4, ...), or with ``paired`` in every patient's second-group CSCs (state
    ``CSC_P<i>_b``); those not planted otherwise (``RESISTANCE_GENES``) start at the median expression.
    """
    names = genes.index
    idx = {g: i for i, g in enumerate(names)}
    n = len(names)
    base = rng.normal(0.0, 1.3, n)
    is_mt = names.str.startswith("MT-")
    is_ribo = names.str.match(r"^RP[LS]\d")
    base[is_ribo] += 3.0
    planted = [g for m in TME_MARKERS.values() for g in m] + MALIGNANT_MARKERS + [
        g for g in CSC_PROGRAM if g not in COMPANIONS]
    low = np.quantile(base, 0.25)
    for g in planted:
        base[idx[g]] = low  # planted genes are low by default; programs switch them on
    resistant = [idx[g] for g in (resistance or {}).get("resistance_genes", []) if g in idx]
    base[[i for i in resistant if names[i] in RESISTANCE_GENES]] = np.median(base)  # others keep their program
    profiles: dict[str, np.ndarray] = {}
    for cell_type, markers in TME_MARKERS.items():
        lfc = np.zeros(n)
        bg = rng.choice(n, 150, replace=False)
        lfc[bg] = rng.normal(0, 0.8, 150)
        lfc[[idx[g] for g in markers]] = rng.uniform(3.0, 4.0, len(markers))
        for companion, partner in COMPANIONS.items():
            if partner in markers:
                lfc[idx[companion]] = lfc[idx[partner]]
        profiles[cell_type] = base + lfc
    chroms = genes["chromosome"].to_numpy()
    autosomes = [c for c in pd.unique(chroms) if c not in ("chrX", "chrY", "chrM")]
    malignant_lfc = np.zeros(n)
    malignant_lfc[[idx[g] for g in MALIGNANT_MARKERS]] = 3.5
    cnv_events = []
    paired = bool((resistance or {}).get("paired"))
    for p in range(1, n_patients + 1):
        lfc = malignant_lfc.copy()
        bg = rng.choice(n, 150, replace=False)
        lfc[bg] += rng.normal(0, 0.8, 150)
        for chrom in rng.choice(autosomes, 3, replace=False):
            where = np.flatnonzero(chroms == chrom)
            length = max(int(len(where) * rng.uniform(0.4, 1.0)), 1)
            start = int(rng.integers(0, len(where) - length + 1))
            gain = bool(rng.random() < 0.5)
            lfc[where[start : start + length]] += np.log(2.0 if gain else 0.5)
            cnv_events.append((f"P{p}", chrom, int(genes["start"].iloc[where[start]]),
                               int(genes["end"].iloc[where[start + length - 1]]), "gain" if gain else "loss"))
        profiles[f"malignant_P{p}"] = base + lfc
        csc = base + lfc
        csc[[idx[g] for g in program]] += strength
        low = np.flatnonzero(base < np.quantile(base, 0.3))
        diverse = rng.choice(low, min(400, len(low)), replace=False)  # small universes have fewer
        if diversity:
            csc[diverse] += 1.0  # higher transcriptional diversity
        raised = csc.copy()
        raised[resistant] += (resistance or {}).get("resistance_effect", 1.5)
        profiles[f"CSC_P{p}"] = raised if resistant and p % 2 == 0 and not paired else csc
        if paired:
            profiles[f"CSC_P{p}_b"] = raised
    return {"profiles": profiles, "is_mt": np.asarray(is_mt), "cnv_events": cnv_events}
