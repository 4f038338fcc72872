"""The report's sections on cell identity, stemness, crosstalk and biomarkers."""

from __future__ import annotations

import html
from pathlib import Path

import pandas as pd

from ..scorer_meta import STEMNESS_SCORERS
from .page import image_html, table_html

SMALL_REFERENCE = 50  # fewer CNV reference cells than this get a warning in the report


def identity_outcome(cells: pd.DataFrame, malignant_summary: pd.DataFrame) -> list[str]:
    """Sentences on what the identity stages found: no malignant cells, no TME, the CNV reference used."""
    calls = cells["malignant"].astype(str) if "malignant" in cells else pd.Series("", index=cells.index)
    labels = cells.get("cell_type", pd.Series("", index=cells.index)).astype(str)
    out = []
    if "note" in malignant_summary and malignant_summary["note"].notna().any():
        out.append(str(malignant_summary["note"].dropna().iloc[0]).capitalize() + ".")
    elif not calls.eq("malignant").any():
        out.append("No malignant cells were found: in no patient did more cells pass the CNV threshold than "
                   "among the normal reference cells (tumour_detected is false for every patient), so stemness, "
                   "CSC-TME crosstalk and CSC biomarkers have no malignant cells to work on; their tables keep "
                   "their columns. If the sample is known to hold a tumour, check the reference below "
                   "(malignant.reference_cell_types or reference_column override it) or use author labels "
                   "(malignant.method: author).")
    if "clonal_cells" in malignant_summary:
        clones = malignant_summary[pd.to_numeric(malignant_summary["clonal_cells"], errors="coerce").fillna(0) > 0]
        for row in clones.itertuples():
            out.append(f"Patient {row.patient}: a {row.clone_light_chain}-restricted B-cell clone "
                       f"({int(row.clonal_cells):,} cells) was called malignant from its immunoglobulin light "
                       "chain (clonality; identity/light_chains.tsv), and kept out of the CNV reference. Its "
                       "patient's other B cells with the same chain are uncertain: normal and tumour B cells "
                       "cannot be told apart there.")
    if not (calls.eq("non-malignant") & ~labels.isin(["unassigned", "", "nan"])).any():
        out.append("No TME cells: no cell is both non-malignant and of an annotated type, so there is no "
                   "CSC-TME crosstalk and no TME contrast for biomarkers.")
    if "reference_cells" in malignant_summary:
        n_ref = int(malignant_summary["reference_cells"].sum())
        types = sorted({t.rsplit(" ", 1)[0] for v in malignant_summary.get("reference_types", pd.Series(dtype=str))
                        .fillna("").astype(str) for t in v.split(", ") if t})
        out.append(f"CNV reference: {n_ref:,} cells ({', '.join(types) or 'no annotated type'}); per patient in "
                   "the table below.")
        if n_ref < SMALL_REFERENCE or len(types) == 1:
            out.append(f"Warning: the reference is {'small' if n_ref < SMALL_REFERENCE else 'one cell type'}; "
                       "CNV calls relative to it can mistake cell-type expression for copy number. Name more "
                       "normal types with malignant.reference_cell_types where the data hold them.")
    return out


def identity_section(cells: pd.DataFrame, identity: dict[str, pd.DataFrame], figures: list[str],
                      umaps: dict[str, str], extra_figures: list[str] = ()) -> list[str]:
    """The Cell identity section: outcome sentences, cell types, figures, author agreement, CNV tables."""
    parts = ['<h2 id="identity">Cell identity</h2>',
             "<p class='note'>Cell types from curated marker sets (kNN-smoothed z-scores; "
             "<code>unassigned</code> when no set wins clearly). Malignant calls from inferred CNV "
             "(infercnvpy): correlation with the patient's tumour CNV profile above the reference cells' "
             "99th percentile; B-cell clones from light-chain restriction (kappa or lambda only). "
             "Malignant cells are labelled <code>malignant</code>; their marker label is in "
             "<code>marker_cell_type</code>.</p>"]
    parts += [f"<p>{html.escape(sentence)}</p>" for sentence in identity_outcome(cells, identity["malignant"])]
    if "cell_type" in cells:
        counts = pd.crosstab(cells["patient"].astype(str), cells["cell_type"].astype(str))
        parts += ["<h3>Cell types per patient</h3>", table_html(counts.reset_index())]
    coverage = identity.get("marker_sets")
    if coverage is not None and len(coverage):
        unscored = coverage[~coverage["scored"].astype(str).str.lower().eq("true")]
        if len(unscored):
            listed = "; ".join(f"{r.cell_type} ({r.markers_present} of {r.markers} markers)"
                               for r in unscored.itertuples())
            parts.append(f"<p>Marker sets not scored (too few of their markers in the data, so no cell can get "
                         f"these labels): {html.escape(listed)}. Full list in "
                         "<code>identity/marker_sets.tsv</code>.</p>")
    parts += ["<h3>Clusters</h3>", table_html(identity["clusters"])]
    parts += [image_html(umaps[k], k) for k in ("cell_type", "malignant", "cnv_score") if k in umaps]
    parts += [image_html(f, Path(f).stem) for f in extra_figures if Path(f).stem in ("composition", "marker_dotplot")]
    agreement = identity["agreement"]
    parts += [image_html(f, Path(f).stem) for f in extra_figures if Path(f).stem == "agreement"]
    for column, part in agreement.groupby("author_column"):
        wide = part.pivot_table(index="author_label", columns="cell_type", values="cells", fill_value=0)
        parts += [f"<h3>Agreement with the authors' labels ({html.escape(column)})</h3>",
                  table_html(wide.reset_index())]
    parts += ["<h3>Malignant calls per patient</h3>", table_html(identity["malignant"])]
    reference = identity.get("cnv_reference")
    if reference is not None and len(reference):
        parts += ["<h3>CNV reference</h3><p class='note'>Candidate normal cells by patient and cluster. A group "
                  "stays in the reference when its arm-level profile has a twin among another patient's groups "
                  "(normal cells share one genome across patients; tumour cells that pass for a normal type "
                  "carry their patient's own copy-number changes).</p>", table_html(reference)]
    if "cnv_clusters" in identity:
        parts += ["<h3>CNV clusters (candidate subclones)</h3>", table_html(identity["cnv_clusters"])]
    parts += [image_html(f, f"CNV {Path(f).stem}") for f in figures]
    return parts


SIGNAL_WORDS = {
    "discrete": "a discrete stem-like population: CSC-high cells are the upper mode of the consensus",
    "continuous": "a stem program on a continuum (no separate population): CSC-high marks the top of the "
                  "continuum only, and crosstalk and biomarkers use graded associations with stemness",
    "absent": "no coherent stem program: the gene sets do not co-vary more than matched random sets",
    "too_few_cells": "too few malignant cells to test",
}


def _scorer_words() -> str:
    """The stemness scorers as the Stemness section lists them (:data:`cscniche.scorer_meta.STEMNESS_SCORERS`)."""
    return ", ".join(html.escape(s.label) + (f" (<code>{html.escape(s.shown)}</code>)" if s.per_gene_set else "")
                     + (f" when <code>{s.requires}</code> is set" if s.requires else "") for s in STEMNESS_SCORERS)


def stemness_section(tables: dict[str, pd.DataFrame], figures: list[str], umaps: dict[str, str],
                      settings: dict | None = None) -> list[str]:
    """The Stemness section: the signal per patient, scorers, coherence, ssGSEA check and figures."""
    summary = tables["summary"]
    parts = ['<h2 id="stemness">Stemness and CSC calls</h2>',
             f"<p class='note'>Scorers ({_scorer_words()}) "
             "within each patient's malignant cells. Guard: a gene set is a program when its genes co-vary more "
             "than expression-matched random gene sets (in all cells and in each random half). Scorers are "
             "weighted by their agreement with the coherent program (weights in the table; 0: left out), "
             "combined into <code>stemness</code>, and the program is called discrete (a separate population, "
             "CSC-high = its upper mode) or continuous. Every guard setting is in the table.</p>"]
    for scorer in STEMNESS_SCORERS:
        if scorer.requires and (settings or {}).get(scorer.requires) is None and f"weight_{scorer.name}" not in summary:
            parts.append(f"<p class='note'>{html.escape(scorer.label)} did not run: "
                         f"<code>stemness.{scorer.requires}</code> is not set: {html.escape(scorer.when_missing)}.</p>")
    if "signal" in summary:
        for signal, part in summary.groupby("signal"):
            reasons = "; ".join(f"{p}: {r}" for p, r in zip(part["patient"].astype(str),
                                                              part.get("failed_condition", pd.Series(dtype=str))
                                                              .fillna("").astype(str), strict=False) if r)
            parts.append(f"<p><b>{html.escape(str(signal))}</b> in patient(s) "
                         f"{html.escape(', '.join(part['patient'].astype(str)))}: "
                         f"{html.escape(SIGNAL_WORDS.get(str(signal), str(signal)))}"
                         + (f" (failed: {html.escape(reasons)})" if reasons else "") + ".</p>")
    flagged = sorted({s for v in summary.get("flagged_scorers", pd.Series(dtype=str)).fillna("")
                      for s in str(v).split(", ") if s})
    if flagged:
        parts.append(f"<p>Scorers that disagree with the others (mean Spearman &lt; 0): "
                     f"{html.escape(', '.join(flagged))}.</p>")
    parts.append(table_html(summary))
    if len(tables.get("coherence", [])):
        parts += ["<h3>Gene-set coherence</h3><p class='note'>Mean pairwise Spearman correlation of each set's "
                  "genes among the patient's malignant cells, against expression-matched random sets "
                  "(p-values at least 1/(n+1)).</p>", table_html(tables["coherence"])]
    parts += ["<h3>ssGSEA cross-check</h3><p class='note'>gseapy ssGSEA of the same gene sets on malignant "
              "metacells (k-means on the PCA within each patient): Spearman correlation of its NES with the "
              "metacells' mean UCell score.</p>", table_html(tables["ssgsea_check"])]
    parts += [image_html(f, Path(f).stem.replace("_", " ")) for f in figures]
    parts += [image_html(umaps[k], k) for k in ("stemness", "csc") if k in umaps]
    return parts


def crosstalk_section(tables: dict[str, pd.DataFrame], notes: str, figures: list[str]) -> list[str]:
    """The Crosstalk section: the test, the top CSC-specific pairs per direction, axes and figures."""
    specific, interactions = tables["csc_specific"], tables["interactions"]
    n_sig = int(specific["significant"].sum()) if len(specific) else 0
    parts = ['<h2 id="crosstalk">CSC-TME crosstalk</h2>',
             "<p class='note'>Groups: CSC-high and CSC-low malignant cells and each TME cell type, per patient. "
             "CellPhoneDB-style test (LR mean of ligand in the source and receptor in the target, each expressed "
             "in enough cells; p-value from cell-label permutations). CSC-specific: the ligand x receptor "
             "expression product with CSC-high minus with CSC-low cells, against permutations of the CSC labels "
             "within each patient; BH FDR. Full tables in <code>crosstalk/</code>.</p>",
             f"<p>{len(interactions):,} interactions tested across patients; {len(specific):,} CSC-specific "
             f"tests, {n_sig} stronger with CSC-high cells at the configured FDR.</p>",
             "<pre>" + html.escape(notes.strip()) + "</pre>"]
    graded = "mode" in specific and specific["mode"].astype(str).eq("graded").any()
    if graded:
        parts.append("<p><b>Graded mode</b>: no patient has a discrete CSC population, so each pair is ranked by "
                     "the correlation of its malignant-side gene with stemness within each patient's malignant "
                     "cells (<code>effect</code>: mean Spearman over patients; p-value: t-test across patients), "
                     "the partner expressing the other side.</p>")
    shown = ["ligand", "receptor", "source", "target", "effect", *([] if graded else ["score_csc_high",
                                                                                    "score_csc_low"]),
             "pvalue", "fdr", "n_patients", "n_patients_consistent"]
    for kind in ("CSC->TME", "TME->CSC", "CSC<->CSC"):
        rows = specific[specific["direction"] == kind].head(10) if len(specific) else specific
        if len(rows):
            parts += [f"<h3>Top CSC-specific interactions: {html.escape(kind)}</h3>",
                      table_html(rows[[c for c in shown if c in rows]])]
        else:
            parts.append(f"<p>{html.escape(kind)}: no pair could be tested.</p>")
    axes = tables["axes"]
    if len(axes):
        score_cols = [c for c in ("ligand_score", "receptor_score", "gene_score") if c in axes]
        mean = axes.groupby(["axis", "group"])[score_cols].mean().reset_index()
        parts += ["<h3>Signalling axes (mean over patients)</h3>", table_html(mean)]
    parts += [image_html(f, Path(f).stem) for f in figures]
    return parts


def biomarker_section(tables: dict[str, pd.DataFrame], notes: str, figures: list[str], top: int) -> list[str]:
    """The Biomarkers and GSEA sections: the top genes, surface markers, enrichment and figures."""
    biomarkers, gsea = tables["biomarkers"], tables["gsea"]
    parts = ['<h2 id="biomarkers">CSC biomarkers</h2>',
             "<p class='note'>CSC-high vs CSC-low malignant cells. Per gene: AUROC and p-value (exact Wilcoxon "
             "rank-sum), log2 fold change, share of cells expressing, specificity against the TME (contrast with "
             "the TME type expressing it most: 1 = absent from the TME), the number of patients in which the "
             "direction holds, and whether it is a cell-surface protein (receptor in the LR resource or curated CD "
             "marker). Full tables in <code>biomarkers/</code>.</p>",
             "<pre>" + html.escape(notes.strip()) + "</pre>"]
    if len(biomarkers):
        parts.append(f"<p>Top {min(top, len(biomarkers))}: "
                     f"<b>{html.escape(', '.join(biomarkers['gene'].head(top).astype(str)))}</b></p>")
        parts.append(table_html(biomarkers.head(max(top, 50))))
        surface = biomarkers[biomarkers["surface"].astype(str).str.lower().eq("true")].head(10)
        if len(surface):
            parts += ["<h3>Top cell-surface biomarkers</h3>", table_html(surface)]
    parts += [image_html(f, Path(f).stem) for f in figures if "gsea" not in f]
    parts += ['<h2 id="gsea">Gene set enrichment</h2>',
              "<p class='note'>gseapy prerank on the DE statistic (pseudobulk Wald statistic when pseudobulk DE "
              "ran, else the Wilcoxon z), against the configured GMT files, the stemness gene sets and the crosstalk "
              "axes. NES &gt; 0: enriched in CSC-high cells.</p>"]
    if len(gsea):
        parts.append(table_html(gsea.drop(columns=["lead_genes"], errors="ignore").head(40)))
    parts += [image_html(f, Path(f).stem) for f in figures if "gsea" in f]
    return parts
