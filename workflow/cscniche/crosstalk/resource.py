"""Ligand-receptor resources: liana's, CellPhoneDB v5 input tables, or a table; directions of pairs."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd

from ..config import resolve_path
from ..io import InputError
from ..jit import import_liana

CPDB_FILES = ("interaction_input.csv", "gene_input.csv", "complex_input.csv")

def load_resource(spec: str) -> pd.DataFrame:
    """Ligand-receptor pairs: ``ligand, receptor, pathway`` with complexes as sorted subunits joined by ``_``.

    Parameters
    ----------
    spec
        ``liana:<name>`` (a resource shipped inside liana, e.g. ``liana:consensus``), a folder holding
        CellPhoneDB v5 input tables, or a CSV/TSV table with ``ligand`` and ``receptor`` columns.
    """
    if spec.startswith("liana:"):
        name = spec.split(":", 1)[1]
        try:
            table = liana_resource(name)
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


def liana_resource(name: str) -> pd.DataFrame:
    """The pairs of liana's resource ``name`` (``ligand``, ``receptor``), as ``liana.resource.select_resource``.

    Read from the table liana ships, without importing liana (that import alone costs a job about 2.5 s);
    where liana keeps no such table, its own function is called. Raises ``ValueError`` for a name liana does
    not have.
    """
    spec = importlib.util.find_spec("liana")
    path = Path(spec.submodule_search_locations[0]) / "resource" / "omni_resource.csv" if spec else None
    if path is None or not path.is_file():
        return import_liana().resource.select_resource(name)
    table = pd.read_csv(path, index_col=False)
    name = name.lower()
    if name not in set(table["resource"]):
        raise ValueError(f"Resource {name} not found. Please choose from {table['resource'].unique()}")
    return table.loc[table["resource"] == name, ["source_genesymbol", "target_genesymbol"]].rename(
        columns={"source_genesymbol": "ligand", "target_genesymbol": "receptor"})


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


def crosstalk_genes(resource: pd.DataFrame, axes: dict[str, dict]) -> list[str]:
    """Every gene the stage reads: the subunits of the resource's ligands and receptors and the axes' genes.

    The stage's results depend on these genes only, so a large matrix can be read for them alone
    (:func:`cscniche.io.read_stage` ``genes=``).
    """
    entities = [*resource["ligand"], *resource["receptor"]]
    for axis in axes.values():
        entities += [name for pair in axis.get("pairs", []) for name in pair] + list(axis.get("genes", []))
    return sorted({gene for entity in entities for gene in _canonical(entity).split("_")})
