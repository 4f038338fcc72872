"""One self-contained HTML report per dataset, built from saved tables and figures."""

from __future__ import annotations

import html
import json
from pathlib import Path

import pandas as pd

from ..io import write_atomic
from .compare import comparison_section
from .methods import methods_html
from .page import SORT_JS, STYLE, caption, files_html, image_html, table_html, versions
from .sections import biomarker_section, crosstalk_section, identity_outcome, identity_section, stemness_section

__all__ = ["build_report", "caption", "identity_outcome", "image_html", "table_html", "versions"]


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
    parts += identity_section(cells, identity, figures["cnv"], umaps, figures.get("identity", []))
    parts += stemness_section(stemness, figures["stemness"], umaps, settings.get("stemness"))
    parts += crosstalk_section(crosstalk, crosstalk_notes, figures["crosstalk"])
    parts += biomarker_section(biomarkers, biomarker_notes, figures["biomarkers"],
                                settings.get("biomarkers", {}).get("top", 20))
    parts += comparison_section(comparisons or {}, figures.get("compare", []))
    installed = versions()
    parts += ['<h2 id="methods">Methods and versions</h2>', methods_html(settings, installed),
              "<h3>Versions</h3>", table_html(pd.DataFrame(list(installed.items()), columns=["package", "version"])),
              "<h3>Settings used</h3>", f"<pre>{html.escape(json.dumps(settings, indent=2, default=str))}</pre>",
              '<h2 id="files">Files</h2>', "<p class='note'>Every table and figure of this dataset (relative to "
              "this report).</p>", files_html(Path(path).parent)]
    doc = (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>cscniche: {html.escape(dataset)}"
           f"</title><style>{STYLE}</style></head><body>{''.join(parts)}<script>{SORT_JS}</script></body></html>")
    write_atomic(path, lambda tmp: tmp.write_text(doc, encoding="utf-8"))
