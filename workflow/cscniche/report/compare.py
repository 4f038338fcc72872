"""The report's section on comparisons between groups of patients."""

from __future__ import annotations

import html
import math
from pathlib import Path

import pandas as pd

from .page import image_html, table_html


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


def comparison_section(comparisons: dict[str, dict], figures: list[str]) -> list[str]:
    """The Comparisons section: per comparison its power, figure, composition, genes and signalling."""
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
