"""Snakemake entry point: the dataset's self-contained HTML report."""
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cscniche.logs import logged  # noqa: E402
from cscniche.report import build_report  # noqa: E402


def table(path, **kw):
    return pd.read_csv(path, sep="\t", **kw)


with logged(snakemake.log[0]):
    inp = snakemake.input
    build_report(
        snakemake.wildcards.dataset,
        cells=table(inp.cells, dtype={"leiden": str}),
        qc_summary=table(inp.qc_summary),
        samples=table(inp.samples, dtype={"sample": str}),
        qc_by_type=table(inp.qc_by_type, keep_default_na=False),
        markers=table(inp.markers, dtype={"cluster": str}),
        identity={"clusters": table(inp.clusters, dtype={"cluster": str}), "agreement": table(inp.agreement),
                  "marker_sets": table(inp.marker_sets, keep_default_na=False),
                  "malignant": table(inp.malignant), "cnv_clusters": table(inp.cnv_clusters),
                  "cnv_reference": table(inp.cnv_reference, dtype={"patient": str, "cluster": str})},
        stemness={"summary": table(inp.stemness), "ssgsea_check": table(inp.ssgsea_check),
                  "coherence": table(inp.coherence)},
        crosstalk={"interactions": table(inp.interactions, dtype={"patient": str}),
                   "csc_specific": table(inp.csc_specific), "axes": table(inp.axes, dtype={"patient": str})},
        crosstalk_notes=Path(inp.crosstalk_notes).read_text(),
        biomarkers={"biomarkers": table(inp.biomarkers, keep_default_na=False, na_values=[""]),
                    "gsea": table(inp.gsea)},
        biomarker_notes=Path(inp.biomarker_notes).read_text(),
        comparisons={Path(f).parent.name: {"composition": table(Path(f).parent / "composition.tsv"),
                                           "genes": table(Path(f).parent / "resistance_genes.tsv"),
                                           "gsea": table(Path(f).parent / "resistance_gsea.tsv"),
                                           "signalling": table(Path(f).parent / "signalling.tsv"),
                                           "notes": (Path(f).parent / "notes.txt").read_text()}
                     for f in inp.comparisons},
        figures={"qc": list(inp.qc_figures), "umap": list(inp.umap_figures), "cnv": list(inp.cnv_figures),
                 "stemness": [inp.stemness_figure, inp.stemness_clusters, inp.csc_markers],
                 "crosstalk": list(inp.crosstalk_figures), "identity": list(inp.identity_figures),
                 "biomarkers": list(inp.biomarker_figures), "compare": list(inp.comparison_figures)},
        settings=snakemake.params.settings,
        path=snakemake.output[0],
    )
