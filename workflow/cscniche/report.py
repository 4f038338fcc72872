"""One self-contained HTML report per dataset, built from saved tables and figures."""

from __future__ import annotations

import base64
import html
import json
import math
from importlib import metadata
from pathlib import Path

import pandas as pd

from .io import write_atomic

PACKAGES = ["cscniche", "scanpy", "anndata", "numpy", "pandas", "scipy", "harmonypy", "leidenalg", "igraph",
            "umap-learn", "pynndescent", "scikit-learn", "scikit-image", "infercnvpy", "gseapy", "liana", "numba",
            "pydeseq2", "celltypist", "scrublet", "h5py", "matplotlib", "snakemake"]

STYLE = """
body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
h1{border-bottom:2px solid #4c72b0}h2{margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;font-size:13px;margin:.5em 0}th,td{border:1px solid #ddd;padding:3px 7px}
th{background:#f0f3f8;cursor:pointer;user-select:none}tr:nth-child(even){background:#fafafa}
img{max-width:100%;margin:.5em 0}.note{color:#555}
nav{position:sticky;top:0;z-index:1;background:#fff;border-bottom:1px solid #ccc;padding:.4em 0;display:flex;
flex-wrap:wrap;gap:.3em 1em}
.scroll{max-height:420px;max-width:100%;overflow:auto;display:block}
pre{overflow:auto;max-height:420px;white-space:pre-wrap;overflow-wrap:anywhere}
figure{margin:1em 0}figcaption{font-size:13px;color:#444;max-width:900px}figcaption a{margin-left:.5em}
th::after{content:" \\2195";color:#999;font-size:11px}.files{columns:3;font-size:13px}
"""
SORT_JS = """
document.querySelectorAll('table.sortable th').forEach(function(th){th.addEventListener('click',function(){
 var t=th.closest('table'),b=t.tBodies[0],i=Array.prototype.indexOf.call(th.parentNode.children,th);
 var asc=th.dataset.asc!=='1';th.dataset.asc=asc?'1':'0';
 var rows=Array.prototype.slice.call(b.rows);rows.sort(function(x,y){
  var a=x.cells[i].textContent,c=y.cells[i].textContent,na=parseFloat(a),nc=parseFloat(c);
  var r=(!isNaN(na)&&!isNaN(nc))?na-nc:a.localeCompare(c);return asc?r:-r;});
 rows.forEach(function(r){b.appendChild(r);});});});
"""


def versions() -> dict[str, str]:
    """Installed versions of the packages the workflow uses."""
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def table_html(df: pd.DataFrame, *, float_digits: int = 3) -> str:
    """A sortable HTML table (click a header to sort)."""
    df = df.rename_axis(columns=None)  # a pivot's column name would become an empty first column
    body = df.to_html(index=False, classes="sortable", border=0, float_format=lambda v: f"{v:.{float_digits}g}",
                      na_rep="")
    return f'<div class="scroll">{body}</div>'


def image_html(path: str | Path, alt: str) -> str:
    """A figure: the PNG embedded as base64 (the report stays one file), its caption and links to its files.

    The links are relative to the dataset folder (``figures/<name>.png`` and ``.svg``), where the report is.
    """
    path = Path(path)
    data = base64.b64encode(path.read_bytes()).decode()
    links = "".join(f'<a href="{html.escape(f"{path.parent.name}/{path.stem}{ext}")}">{ext[1:].upper()}</a>'
                    for ext in (".png", ".svg") if path.with_suffix(ext).is_file())
    return (f'<figure><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{html.escape(caption(path.stem, alt))}{links}</figcaption></figure>")


CAPTIONS = {
    "umap_cell_type": "UMAP of the cells, coloured by cell type (malignant cells as one type; grey: unassigned).",
    "umap_malignant": "UMAP coloured by the malignant call (grey: uncertain).",
    "umap_cnv_score": "UMAP coloured by the inferred copy-number score.",
    "umap_stemness": "UMAP coloured by the consensus stemness score.",
    "umap_csc": "UMAP coloured by the CSC call of malignant cells (grey: not malignant, or no confident call).",
    "umap_leiden": "UMAP coloured by Leiden cluster at the configured resolution.",
    "umap_sample": "UMAP coloured by sample.",
    "umap_patient": "UMAP coloured by patient.",
    "stemness_patients": "Stemness per patient: scorer agreement and CSC-high share of malignant cells.",
    "stemness_clusters": "Stemness of malignant cells by Leiden cluster; boxes coloured by the cluster's CSC-high "
                         "share.",
    "composition": "Cell types per patient as shares of its cells (number of cells above each bar).",
    "marker_dotplot": "Each cell type's markers across the cell types (before malignant calls): colour is the mean "
                      "expression relative to the gene's highest, size the share of cells expressing.",
    "agreement": "The authors' labels (rows) against cscniche's cell types: each row's share, numbers are cells.",
    "crosstalk_senders": "Per TME partner, the CSC-specific pairs stronger with CSC-high cells that CSCs send "
                         "(left) and receive (right), with the top pairs named.",
    "biomarkers_dotplot": "CSC biomarkers: expression in CSC-high, CSC-low and TME cells.",
    "crosstalk_heatmap": "Summed significant LR means between cell groups, per sender and receiver.",
    "crosstalk_dotplot": "Top CSC-specific pairs per direction: colour is the effect, size is -log10 FDR.",
    "crosstalk_network": "CSC-TME signalling network: the strongest CSC-specific pairs between groups.",
    "crosstalk_axes": "Curated signalling axes (stemness, angiogenesis, immune suppression) per patient.",
    "biomarkers_volcano": "CSC biomarkers: change in CSC-high against CSC-low cells and its significance.",
    "biomarkers_gsea": "GSEA of the biomarker ranking: normalised enrichment of the top gene sets.",
}


def caption(stem: str, alt: str) -> str:
    """The caption of a figure by its file name (a CNV heatmap, a QC panel, ...), else from its alt text."""
    if stem in CAPTIONS:
        return CAPTIONS[stem]
    if stem.startswith("umap_leiden"):
        return f"UMAP coloured by Leiden cluster ({stem.removeprefix('umap_leiden_')})."
    if stem.startswith("umap_"):
        return f"UMAP coloured by {stem.removeprefix('umap_')}."
    if stem.startswith("cnv_heatmap_"):
        return (f"Inferred copy number of patient {stem.removeprefix('cnv_heatmap_')} (cells by rows, genes along "
                "the genome; the side bar is the malignant call).")
    if alt.startswith("QC "):
        return f"QC metrics of sample {stem}: kept and removed cells; dashed lines at the thresholds."
    if stem.startswith("compare_"):
        return (f"Comparison {stem.removeprefix('compare_')}: each patient's shares by group, the resistance genes "
                "and the top CSC-TME pairs' effects by group.")
    return alt[:1].upper() + alt[1:] + "."


def files_html(folder: Path) -> str:
    """Links to the dataset's tables, figures and data files (relative to the report, which sits in ``folder``)."""
    kinds = (".tsv", ".tsv.gz", ".txt", ".png", ".svg", ".h5ad", ".gmt")
    files = sorted(p.relative_to(folder) for p in folder.rglob("*") if p.is_file() and p.name.endswith(kinds)
                   and p.relative_to(folder).parts[0] not in ("logs", "benchmarks", "raw", "ingest")
                   and (p.suffix != ".h5ad" or p.parent == folder))
    items = "".join(f'<li><a href="{html.escape(str(f))}">{html.escape(str(f))}</a></li>' for f in files)
    return f'<ul class="files">{items}</ul>'


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


def _identity_section(cells: pd.DataFrame, identity: dict[str, pd.DataFrame], figures: list[str],
                      umaps: dict[str, str], extra_figures: list[str] = ()) -> list[str]:
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
    parts += [image_html(f, Path(f).stem) for f in extra_figures if Path(f).stem == "agreement" and len(agreement)]
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


def _stemness_section(tables: dict[str, pd.DataFrame], figures: list[str], umaps: dict[str, str],
                      settings: dict | None = None) -> list[str]:
    summary = tables["summary"]
    parts = ['<h2 id="stemness">Stemness and CSC calls</h2>',
             "<p class='note'>Scorers (CytoTRACE-style transcriptional diversity, UCell signature scores, "
             "<code>program_&lt;set&gt;</code>: the set's co-varying genes, mRNAsi when weights are configured) "
             "within each patient's malignant cells. Guard: a gene set is a program when its genes co-vary more "
             "than expression-matched random gene sets (in all cells and in each random half). Scorers are "
             "weighted by their agreement with the coherent program (weights in the table; 0: left out), "
             "combined into <code>stemness</code>, and the program is called discrete (a separate population, "
             "CSC-high = its upper mode) or continuous. Every guard setting is in the table.</p>"]
    if (settings or {}).get("mrnasi_weights") is None and "weight_mrnasi" not in summary:
        parts.append("<p class='note'>mRNAsi did not run: no OCLR weight file is configured (the PCBC weights "
                     "of Malta et al. 2018 are not redistributable here). Set <code>stemness.mrnasi_weights</code> "
                     "to a two-column file (gene, weight) to add it as a scorer.</p>")
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


def _crosstalk_section(tables: dict[str, pd.DataFrame], notes: str, figures: list[str]) -> list[str]:
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


def _biomarker_section(tables: dict[str, pd.DataFrame], notes: str, figures: list[str], top: int) -> list[str]:
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


def _power_note(composition: pd.DataFrame) -> str:
    """Patients per group and the smallest p-value an exact two-sided rank test of them can give."""
    if composition.empty:
        return "No patient in the comparison's groups."
    row = composition.set_index("measure").iloc[0]
    n_a, n_b = int(row["n_patients_a"]), int(row["n_patients_b"])
    paired = str(row["test"]).startswith("exact paired")
    text = (f"{n_a} patients with samples in both {row['group_a']} and {row['group_b']} (paired)." if paired
            else f"{n_a} patients in {row['group_a']}, {n_b} in {row['group_b']}.")
    if min(n_a, n_b) < 2 or composition["pvalue"].isna().all():
        return text + " Descriptive only: no test (a group has fewer than 2 patients, or descriptive: true)."
    floor = 2 / 2 ** n_a if paired else 2 / math.comb(n_a + n_b, n_a)
    return text + (f" The smallest p-value an exact rank test of these patients can give is {floor:.2g}; "
                   + ("no measure can reach FDR 0.05 once several are tested: add patients." if floor > 0.01
                      else "only large, consistent differences will be found."))


def _comparison_section(comparisons: dict[str, dict], figures: list[str]) -> list[str]:
    if not comparisons:
        return []
    parts = ['<h2 id="compare">Comparisons</h2>',
             "<p class='note'>Each patient is one observation: its CSC-high share of malignant cells and each TME "
             "type's share of its cells, compared between the groups with the exact Mann-Whitney U test (paired "
             "designs: the exact sign-flip test of each patient's difference; BH FDR over the measures); "
             "resistance genes from pseudobulk DESeq2 on each patient's CSC-high cells "
             "(<code>log2fc</code>: second group over first; <code>log2fc_csc_low</code>: the same genes in CSC-low "
             "cells, near 0 for a change confined to CSCs). With a handful of patients per group, only large "
             "effects can be found. Per-patient values in <code>compare/&lt;name&gt;/"
             "composition_per_patient.tsv</code>.</p>"]
    columns = ["gene", "log2fc", "stat", "pvalue", "fdr", "log2fc_csc_low", "mean_cpm_a", "mean_cpm_b"]
    for name, tables in comparisons.items():
        table = tables["composition"]
        groups = f"{table['group_a'].iloc[0]} vs {table['group_b'].iloc[0]}" if len(table) else ""
        parts += [f"<h3>{html.escape(name)}: {html.escape(groups)}</h3>", f"<p>{html.escape(_power_note(table))}</p>"]
        parts += [image_html(f, f"comparison {name}") for f in figures if Path(f).stem == f"compare_{name}"]
        parts += ["<h4>Composition</h4>", table_html(table)]
        genes = tables["genes"]
        parts += ["<h4>Resistance genes of CSC-high cells</h4>",
                  f"<p>{html.escape(' '.join(tables['notes'].split()))}</p>"]
        if len(genes):
            parts.append(table_html(genes[[c for c in columns if c in genes]].head(20)))
        if len(tables["gsea"]):
            parts.append(table_html(tables["gsea"].drop(columns=["lead_genes"], errors="ignore").head(15)))
        signalling = tables.get("signalling")
        if signalling is not None and len(signalling):
            parts += ["<h4>CSC-TME signalling</h4>",
                      "<p>Per LR pair and TME partner, each patient's CSC-specific effect (the expression product "
                      "with CSC-high minus with CSC-low cells) compared between the groups (exact Mann-Whitney U; "
                      "with 4 patients a group the smallest p-value is 2/70). Ranked by <code>priority</code>: the "
                      "weighted percentile rank of the effect change over its standard error (1/2), the CSC-high "
                      "side's expression change (1/4) and the partner's expression (1/4).</p>",
                      table_html(signalling.drop(columns=["test", "pathway"], errors="ignore").head(15))]
    return parts


def _overview_table(cells: pd.DataFrame) -> pd.DataFrame:
    """Per patient: cells, malignant fraction, CSC-high fraction of malignant cells, cell types present."""
    rows = []
    for patient, part in cells.groupby(cells["patient"].astype(str)):
        row = {"patient": patient, "cells": len(part)}
        if "malignant" in part:
            mal = part["malignant"].astype(str).eq("malignant")
            row["malignant_fraction"] = float(mal.mean())
            if "csc" in part:
                row["csc_high_fraction"] = float(part.loc[mal, "csc"].astype(str).eq("CSC-high").mean()) \
                    if mal.any() else 0.0
        if "cell_type" in part:
            row["cell_types"] = part["cell_type"].astype(str).nunique()
        rows.append(row)
    return pd.DataFrame(rows)


def _shared_genes_notes(samples: pd.DataFrame | None) -> list[str]:
    """How many genes the samples share, and a warning for each sample that loses many at the merge."""
    if samples is None or samples.empty:
        return []
    notes = [f"<p>The {len(samples)} samples share {int(samples['shared_genes'].iloc[0]):,} genes (the merged "
             "matrix keeps those).</p>"]
    flagged = samples[samples["warning"].astype(str).str.lower().eq("true")]
    notes += [f"<p><b>Warning</b>: sample {html.escape(str(r.sample))} has {int(r.shared_genes):,} of its "
              f"{int(r.genes):,} genes in every sample ({r.share_shared:.0%}); its other genes were dropped when "
              "the samples were merged.</p>" for r in flagged.itertuples()]
    return notes


def build_report(
    dataset: str,
    *,
    cells: pd.DataFrame,
    qc_summary: pd.DataFrame,
    markers: pd.DataFrame,
    qc_by_type: pd.DataFrame | None = None,
    identity: dict[str, pd.DataFrame],
    stemness: dict[str, pd.DataFrame],
    crosstalk: dict[str, pd.DataFrame],
    crosstalk_notes: str,
    biomarkers: dict[str, pd.DataFrame],
    biomarker_notes: str,
    figures: dict[str, list[str]],
    settings: dict,
    path: str | Path,
    comparisons: dict[str, dict] | None = None,
    samples: pd.DataFrame | None = None,
) -> None:
    """Write the dataset's report: overview, QC, clustering, markers, cell identity, methods and versions.

    ``figures`` maps ``qc``, ``umap`` and ``cnv`` to PNG paths; ``identity`` holds the ``clusters``,
    ``agreement`` and ``malignant`` tables of the identity stages; ``samples`` is ``ingest/samples.tsv``.
    """
    umaps = {Path(f).stem.removeprefix("umap_"): f for f in figures["umap"]}
    cluster_umaps = [f for k, f in umaps.items()
                     if k not in ("cell_type", "malignant", "cnv_score", "stemness", "csc")]
    n_clusters = cells["leiden"].nunique()
    per_sample = cells.groupby(["patient", "sample"]).size().rename("cells").reset_index()
    if "malignant" in cells:
        calls = pd.crosstab([cells["patient"], cells["sample"]], cells["malignant"].fillna("").astype(str))
        per_sample = per_sample.merge(calls.reset_index(), on=["patient", "sample"], how="left")
    sizes = cells["leiden"].astype(str).value_counts().rename_axis("cluster").rename("cells").reset_index()
    top = (markers[markers["rank"] <= 5].groupby("cluster", sort=False)["gene"].apply(", ".join)
           .rename("top markers").reset_index()) if len(markers) else pd.DataFrame(columns=["cluster"])
    sizes = sizes.merge(top.astype({"cluster": str}), on="cluster", how="left")
    dropped = qc_summary[qc_summary["status"].astype(str).str.startswith("dropped")]
    parts = [
        f"<h1>cscniche report: {html.escape(dataset)}</h1>",
        '<nav><a href="#overview">Overview</a><a href="#qc">QC</a><a href="#clustering">Clustering</a>'
        '<a href="#markers">Markers</a><a href="#identity">Cell identity</a><a href="#stemness">Stemness</a>'
        '<a href="#crosstalk">Crosstalk</a><a href="#biomarkers">Biomarkers</a><a href="#gsea">GSEA</a>'
        + ('<a href="#compare">Comparisons</a>' if comparisons else "") + '<a href="#methods">Methods</a>'
        '<a href="#files">Files</a></nav>',
        '<h2 id="overview">Overview</h2>',
        f"<p>{html.escape(settings.get('description', ''))}</p>",
        f"<p>{len(cells):,} cells kept after QC (of {int(qc_summary['cells_before'].sum()):,}) in "
        f"{cells['sample'].nunique()} samples from {cells['patient'].nunique()} patients; "
        f"{n_clusters} Leiden clusters. Value scale: {', '.join(sorted(set(qc_summary['value_scale'])))}.</p>",
        table_html(_overview_table(cells)),
        table_html(per_sample),
    ]
    if len(dropped):
        parts.append(f"<p class='note'>Dropped samples: {html.escape('; '.join(dropped['status']))}</p>")
    parts += _shared_genes_notes(samples)
    parts += ['<h2 id="qc">Quality control</h2>',
              "<p class='note'>Thresholds: median ± k·MAD of log genes, log counts (count data) and "
              "mitochondrial %, combined with the hard bounds in the config; doublets by scrublet.</p>",
              table_html(qc_summary)]
    if qc_by_type is not None and len(qc_by_type):
        lost = qc_by_type[qc_by_type["warning"].astype(str).str.lower().eq("true")]
        parts += [f"<p><b>Warning</b>: QC removed {int(r.removed)} of {int(r.cells)} {html.escape(str(r.marker_type))} "
                  f"cells ({r.share_removed:.0%}).</p>" for r in lost.itertuples()]
        parts += ["<h3>What QC removed per cell type</h3><p class='note'>Types from the marker sets on each "
                  "cell's own expression before QC (a rough label; the annotation proper runs after QC).</p>",
                  table_html(qc_by_type)]
    parts += [image_html(f, f"QC {Path(f).stem}") for f in figures["qc"]]
    parts += ['<h2 id="clustering">Clustering</h2>']
    parts += [image_html(f, f"UMAP {Path(f).stem}") for f in cluster_umaps]
    parts += ['<h2 id="markers">Cluster markers</h2>', "<p class='note'>Wilcoxon, each cluster vs the rest; "
              "full table in <code>cluster/markers.tsv</code>.</p>", table_html(sizes),
              table_html(markers[markers["rank"] <= 10])]
    parts += _identity_section(cells, identity, figures["cnv"], umaps, figures.get("identity", []))
    parts += _stemness_section(stemness, figures["stemness"], umaps, settings.get("stemness"))
    parts += _crosstalk_section(crosstalk, crosstalk_notes, figures["crosstalk"])
    parts += _biomarker_section(biomarkers, biomarker_notes, figures["biomarkers"],
                                settings.get("biomarkers", {}).get("top", 20))
    parts += _comparison_section(comparisons or {}, figures.get("compare", []))
    parts += ['<h2 id="methods">Methods and versions</h2>',
              table_html(pd.DataFrame(list(versions().items()), columns=["package", "version"])),
              "<h3>Settings used</h3>", f"<pre>{html.escape(json.dumps(settings, indent=2, default=str))}</pre>",
              '<h2 id="files">Files</h2>', "<p class='note'>Every table and figure of this dataset (relative to "
              "this report).</p>", files_html(Path(path).parent)]
    doc = (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>cscniche: {html.escape(dataset)}"
           f"</title><style>{STYLE}</style></head><body>{''.join(parts)}<script>{SORT_JS}</script></body></html>")
    write_atomic(path, lambda tmp: tmp.write_text(doc, encoding="utf-8"))
