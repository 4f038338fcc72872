"""The page's parts: style, sortable tables, embedded figures with captions, file links, versions."""

from __future__ import annotations

import base64
import html
from importlib import metadata
from pathlib import Path

import pandas as pd

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
    "csc_markers": "Expression of the first CSC marker genes and the top biomarkers on the UMAP (log-normalised; "
                   "the share of cells expressing in each title).",
    "composition": "Cell types per patient as shares of its cells (number of cells above each bar).",
    "marker_dotplot": "Each cell type's markers across the cell types (before malignant calls): colour is the mean "
                      "expression relative to the gene's highest, size the share of cells expressing.",
    "agreement": "The authors' labels (rows) against cscniche's marker labels (before the malignant calls): each "
                 "row's share, numbers are cells.",
    "crosstalk_senders": "Per TME partner, the CSC-specific pairs stronger with CSC-high cells that CSCs send "
                         "(left) and receive (right), with the top pairs named.",
    "biomarkers_dotplot": "CSC biomarkers: expression in CSC-high, CSC-low and TME cells.",
    "crosstalk_heatmap": "Summed significant LR means between cell groups, per sender and receiver.",
    "crosstalk_dotplot": "Top CSC-specific pairs per direction: colour is the effect, size is -log10 FDR.",
    "crosstalk_network": "CSC-TME signalling network: the strongest CSC-specific pairs between groups.",
    "crosstalk_axes": "Curated signalling axes (stemness, angiogenesis, immune suppression) per patient.",
    "biomarkers_volcano": "CSC biomarkers: change in CSC-high against CSC-low cells and its significance.",
    "biomarkers_gsea": "GSEA of the biomarker ranking: normalised enrichment of the top gene sets.",
    "biomarkers_gsea_running": "GSEA running enrichment score of the sets with the highest and the lowest NES "
                               "along the ranked genes; ticks mark the set's genes.",
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
