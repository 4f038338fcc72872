"""The report's methods text: what each stage ran, with the settings and versions of this run, and citations."""

from __future__ import annotations

import html

from ..config import REPO
from ..scorer_meta import STEMNESS_SCORERS, ScorerMeta

REFERENCES = {
    "scanpy": "Wolf FA, Angerer P, Theis FJ. SCANPY: large-scale single-cell gene expression data analysis. "
              "Genome Biol 19, 15 (2018).",
    "anndata": "Virshup I, Rybakov S, Theis FJ, Angerer P, Wolf FA. anndata: Access and store annotated data "
               "matrices. J Open Source Softw 9, 4371 (2024).",
    "scrublet": "Wolock SL, Lopez R, Klein AM. Scrublet: computational identification of cell doublets in "
                "single-cell transcriptomic data. Cell Syst 8, 281-291 (2019).",
    "harmony": "Korsunsky I, et al. Fast, sensitive and accurate integration of single-cell data with Harmony. "
               "Nat Methods 16, 1289-1296 (2019).",
    "leiden": "Traag VA, Waltman L, van Eck NJ. From Louvain to Leiden: guaranteeing well-connected "
              "communities. Sci Rep 9, 5233 (2019).",
    "umap": "McInnes L, Healy J, Melville J. UMAP: Uniform Manifold Approximation and Projection for "
            "dimension reduction. arXiv:1802.03426 (2018).",
    "celltypist": "Domínguez Conde C, et al. Cross-tissue immune cell analysis reveals tissue-specific features "
                  "in humans. Science 376, eabl5197 (2022).",
    "infercnv": "Tirosh I, et al. Dissecting the multicellular ecosystem of metastatic melanoma by single-cell "
                "RNA-seq. Science 352, 189-196 (2016); infercnvpy (github.com/icbi-lab/infercnvpy).",
    "cytotrace": "Gulati GS, et al. Single-cell transcriptional diversity is a hallmark of developmental "
                 "potential. Science 367, 405-411 (2020).",
    "ucell": "Andreatta M, Carmona SJ. UCell: robust and scalable single-cell gene signature scoring. Comput "
             "Struct Biotechnol J 19, 3796-3798 (2021).",
    "mrnasi": "Malta TM, et al. Machine learning identifies stemness features associated with oncogenic "
              "dedifferentiation. Cell 173, 338-354 (2018).",
    "cellphonedb": "Efremova M, Vento-Tormo M, Teichmann SA, Vento-Tormo R. CellPhoneDB: inferring cell-cell "
                   "communication from combined expression of multi-subunit ligand-receptor complexes. Nat "
                   "Protoc 15, 1484-1506 (2020).",
    "liana": "Dimitrov D, et al. Comparison of methods and resources for cell-cell communication inference from "
             "single-cell RNA-Seq data. Nat Commun 13, 3224 (2022).",
    "pydeseq2": "Muzellec B, Teleńczuk M, Cabeli V, Andreux M. PyDESeq2: a python package for bulk RNA-seq "
                "differential expression analysis. Bioinformatics 39, btad547 (2023).",
    "deseq2": "Love MI, Huber W, Anders S. Moderated estimation of fold change and dispersion for RNA-seq data "
              "with DESeq2. Genome Biol 15, 550 (2014).",
    "gseapy": "Fang Z, Liu X, Peltz G. GSEApy: a comprehensive package for performing gene set enrichment "
              "analysis in Python. Bioinformatics 39, btac757 (2023).",
    "gsea": "Subramanian A, et al. Gene set enrichment analysis: a knowledge-based approach for interpreting "
            "genome-wide expression profiles. PNAS 102, 15545-15550 (2005).",
    "pseudobulk": "Squair JW, et al. Confronting false discoveries in single-cell differential expression. Nat "
                  "Commun 12, 5692 (2021).",
}


def _cite(*keys: str) -> str:
    """A citation mark, numbered by :func:`_number_citations` in order of first use."""
    return "[" + ", ".join(f"@{k}" for k in keys) + "]"


def _number_citations(paragraphs: list[tuple[str, str]]) -> tuple[list[tuple[str, str]], list[str]]:
    """Replace citation marks by numbers in order of first use; the cited references in that order."""
    import re

    order: list[str] = []
    for _, text in paragraphs:
        order += [k for k in re.findall(r"@(\w+)", text) if k not in order]
    numbered = [(stage, re.sub(r"@(\w+)", lambda m: str(order.index(m.group(1)) + 1), text))
                for stage, text in paragraphs]
    return numbered, [REFERENCES[k] for k in order]


def _value(settings: dict, stage: str, key: str) -> str:
    """A setting as the text shows it; the workflow's own files relative to its folder (``config/...``)."""
    value = settings.get(stage, {}).get(key)
    if isinstance(value, list):
        return ", ".join(_shown(v) for v in value) or "none"
    return "none" if value is None else _shown(value)


def _shown(value) -> str:
    return str(value).removeprefix(f"{REPO}/")


def _identity_text(s: dict, an: dict, ma: dict, v) -> str:
    text = (f"Cell types from curated marker sets ({_value(s, 'annotate', 'markers')}; each set cites its "
            "source): mean z-scored expression of each set's markers"
            + (", smoothed over the kNN graph" if an.get("smooth", True) else "")
            + f"; the best set when it scores at least {an.get('min_score')} and beats the next by "
            f"{an.get('min_margin')}, else unassigned")
    if an.get("celltypist_model"):
        text += f"; CellTypist {v('celltypist')} {_cite('celltypist')} labels alongside"
    if ma.get("method", "cnv") != "cnv":
        return text + f". Malignant cells from the authors' labels (method {ma.get('method')})."
    return text + (f". Malignant cells from inferred copy number (infercnvpy {v('infercnvpy')} "
                   f"{_cite('infercnv')}; windows of {ma.get('window_size')} genes, step {ma.get('step')}) against "
                   f"normal reference cells of the {_value(s, 'malignant', 'reference_compartments')} compartments "
                   "verified across patients: a cell is malignant when its CNV profile correlates with its "
                   f"patient's tumour profile above the {ma.get('reference_quantile')} quantile of the reference "
                   "cells; B-cell clones by light-chain restriction.")


def _scorers_text(s: dict, st: dict) -> str:
    """The stemness scorers of the run (:data:`cscniche.scorer_meta.STEMNESS_SCORERS`), each cited."""
    run = [m for m in STEMNESS_SCORERS if m.requires is None or st.get(m.requires)]

    def named(scorers: list[ScorerMeta]) -> list[str]:
        return [m.label + (f" {_cite(m.reference)}" if m.reference else "") for m in scorers]

    sets = _value(s, "stemness", "marker_sets") + (" and GMT gene sets" if st.get("gmt") else "")
    return (", ".join(named([m for m in run if not m.per_gene_set])) + f"; per gene set ({sets}): "
            + " and ".join(named([m for m in run if m.per_gene_set])))


def methods_paragraphs(settings: dict, versions: dict[str, str]) -> tuple[list[tuple[str, str]], list[str]]:
    """(stage, text) per stage with this run's settings and versions, and the references in citation order.

    Each text says what the stage ran; citations are numbered in order of first use.

    ``settings`` is the dataset's validated configuration (as in the report's settings section).
    """
    s = settings
    qc, cl, an, ma = s.get("qc", {}), s.get("cluster", {}), s.get("annotate", {}), s.get("malignant", {})
    st, ct, bm = s.get("stemness", {}), s.get("crosstalk", {}), s.get("biomarkers", {})

    def v(name: str) -> str:
        return versions.get(name, "not installed")

    max_mt = qc.get("max_pct_mt")
    paragraphs = [
        ("Quality control", f"Each sample was read with anndata {v('anndata')} and filtered on its own "
         f"(scanpy {v('scanpy')} {_cite('scanpy', 'anndata')}): cells outside median ± {qc.get('mad_k')} MAD of "
         f"log genes and log counts (count data) and above median + {qc.get('mad_k')} MAD of mitochondrial % were "
         f"removed, with at least {qc.get('min_genes')} genes"
         + (f", at most {qc['max_genes']} genes" if qc.get("max_genes") else "")
         + (f", at most {max_mt}% mitochondrial reads" if max_mt is not None else "") + ". "
         + (f"Doublets were called with Scrublet {_cite('scrublet')} (scanpy's implementation; expected rate "
            f"{_value(s, 'qc', 'doublet_rate')}, threshold {_value(s, 'qc', 'doublet_threshold')}) on count data. "
            if qc.get("doublets") else "Doublets were not called. ")
         + f"Genes detected in fewer than {qc.get('min_cells_per_gene')} cells were dropped when the samples "
         "were merged."),
        ("Clustering", "Values were log-normalised by their scale (counts: 10,000 per cell, then log1p; TPM: "
         f"log1p(TPM/10); log values as given); {cl.get('n_hvg')} highly "
         f"variable genes (Seurat flavour), {cl.get('n_pcs')} principal components"
         + (f", Harmony {v('harmonypy')} {_cite('harmony')} on {cl.get('batch_key')} when there are several"
            if cl.get("integration") in ("auto", "harmony") else "")
         + f"; a {cl.get('n_neighbors')}-nearest-neighbour graph, Leiden clustering {_cite('leiden')} "
         f"(leidenalg {v('leidenalg')}, igraph {v('igraph')}) at resolutions {_value(s, 'cluster', 'resolutions')} "
         f"(main: {cl.get('resolution')}), UMAP {_cite('umap')}, and cluster markers by the Wilcoxon rank-sum "
         "test of each cluster against the rest."),
        ("Cell identity", _identity_text(s, an, ma, v)),
        ("Stemness", f"Within each patient's malignant cells, stemness scorers ({_scorers_text(s, st)}) were "
         "weighted by their agreement with the coherent stem programme (coherence against "
         f"{st.get('coherence_permutations')} expression-matched random sets) and combined; CSC-high cells are "
         + ("the upper mode of a two-component mixture of the consensus" if st.get("call", "gmm") == "gmm"
            else f"the top {st.get('quantile')} of the consensus")
         + ", called only where the programme is discrete; on a continuum later stages use graded scores. "
         f"ssGSEA (gseapy {v('gseapy')} {_cite('gseapy')}) on metacells cross-checks the scores."),
        ("Crosstalk", f"Ligand-receptor pairs from {_value(s, 'crosstalk', 'resource')} (liana {v('liana')} "
         f"{_cite('liana')}) between CSC-high, CSC-low and each TME cell type, per patient: CellPhoneDB-style "
         f"{_cite('cellphonedb')} LR means of sides expressed in at least {ct.get('expr_prop')} of their cells, "
         f"p-values from {ct.get('n_perms')} label permutations ((hits + 1)/(n + 1)). CSC-specific pairs: the "
         "ligand × receptor product with CSC-high minus with CSC-low cells, against permutations of the CSC labels "
         f"within each patient, combined across patients, BH FDR {ct.get('fdr')}."),
        ("Biomarkers", "CSC-high against CSC-low malignant cells: per-cell Wilcoxon rank-sum tests and AUROC; with "
         f"two or more patients and count data the patient is the unit: pseudobulk {_cite('pseudobulk')} DESeq2 "
         f"{_cite('deseq2')} (PyDESeq2 {v('pydeseq2')} {_cite('pydeseq2')}) with the patient as a covariate. "
         f"Gene-set enrichment by GSEA prerank {_cite('gsea')} (gseapy {v('gseapy')}, {bm.get('permutations')} "
         f"permutations, sets of {bm.get('min_size')}-{bm.get('max_size')} genes; p-values and FDR never below "
         "1/(permutations + 1))."),
        ("Comparisons", "Each patient is one observation: its CSC-high share and TME shares compared between "
         "groups by exact rank tests (sign-flip tests for paired designs), resistance genes by pseudobulk DESeq2 "
         "on each patient's CSC-high cells, and CSC-specific signalling effects per patient; p-values never "
         "below 1/(n+1) for permutation tests."),
    ]
    return _number_citations(paragraphs)


def methods_html(settings: dict, versions: dict[str, str]) -> str:
    """The methods paragraphs and the numbered references, as HTML."""
    paragraphs, references = methods_paragraphs(settings, versions)
    parts = [f"<h3>{html.escape(stage)}</h3><p>{html.escape(text)}</p>" for stage, text in paragraphs]
    refs = "".join(f"<li>{html.escape(text)}</li>" for text in references)
    return "".join(parts) + f"<h3>References</h3><ol class='refs'>{refs}</ol>"
