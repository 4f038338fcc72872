"""Snakemake entry point: one comparison's composition, resistance-gene, GSEA and signalling tables."""
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cscniche import compare  # noqa: E402
from cscniche.crosstalk import interactions_by_unit  # noqa: E402
from cscniche.io import read_stage, write_atomic, write_table  # noqa: E402
from cscniche.logs import logged  # noqa: E402

with logged(snakemake.log[0]) as log:
    comp = snakemake.params.comparison
    cells = pd.read_csv(snakemake.input.cells, sep="\t", dtype={"patient": str, comp["column"]: str,
                                                                 **dict.fromkeys(comp["covariates"], str)},
                        keep_default_na=False, na_values=[""])
    per_patient = compare.patient_composition(cells, comp["column"], comp["groups"], covariates=comp["covariates"])
    test = compare.composition_test(per_patient, comp["groups"], descriptive=comp["descriptive"],
                                    paired=bool(comp["paired_by"]), covariates=comp["covariates"])
    log.info("%s: %s vs %s\n%s", comp["name"], *comp["groups"], test.to_string())
    malignant = read_stage(snakemake.input.matrix, snakemake.input.h5ad, x=False, layers=True,
                           where=("malignant", "malignant"))  # the counts only: pseudobulks sum them
    genes, gsea, notes = compare.run_resistance(malignant, comp, snakemake.params.biomarkers,
                                                seed=snakemake.params.seed, threads=snakemake.threads)
    log.info("resistance genes: %s\n%s", " ".join(notes), genes.head(20).to_string())
    interactions = pd.read_csv(snakemake.input.interactions, sep="\t", dtype={"patient": str})
    lr_genes = sorted({gene for entity in pd.concat([interactions["ligand"], interactions["receptor"]]).unique()
                       for gene in str(entity).split("_")})
    paired = bool(comp["paired_by"])
    pairs, expression = None, None
    patient_group = cells.drop_duplicates("patient").set_index("patient")[comp["column"]].astype(str)
    effects = interactions["direction"].isin(["CSC->TME", "TME->CSC"]).any()  # CSC-TME pairs to rank
    if effects and lr_genes and (paired or not comp["descriptive"]):
        lr = read_stage(snakemake.input.matrix, snakemake.input.h5ad, x=paired, layers=True, genes=lr_genes)
        if paired:  # the crosstalk stage scores a patient's samples together: score each group's apart
            arm = lr.obs[comp["column"]].astype(str)
            units = (lr.obs["patient"].astype(str) + "|" + arm).where(arm.isin(comp["groups"]), "")
            resource = interactions[["ligand", "receptor", "pathway"]].drop_duplicates()
            interactions = interactions_by_unit(lr, resource, units=units, **snakemake.params.lr)
            by_unit = pd.DataFrame({"unit": units, "patient": lr.obs["patient"].astype(str), "group": arm})
            by_unit = by_unit[by_unit["unit"] != ""].drop_duplicates("unit").set_index("unit")
            patient_group, pairs = by_unit["group"], by_unit["patient"]
        if not comp["descriptive"] and "counts" in lr.layers:  # raw counts
            expression = compare.group_expression_changes(
                lr.layers["counts"], lr.obs, lr.var_names, column=comp["column"], groups=comp["groups"],
                min_cells=snakemake.params.biomarkers["min_cells"], paired=paired, threads=snakemake.threads)
            tested = expression["cell_group"].nunique()
            notes.append(f"Ligands and receptors: pseudobulk DESeq2 ({'~ patient + arm' if paired else '~ arm'}) "
                         f"per cell group, {tested} cell group(s) with at least 2 patients a side.")
        del lr
    signalling = compare.signalling_differences(interactions, patient_group, comp["groups"],
                                                descriptive=comp["descriptive"], expression=expression, pairs=pairs)
    notes.append(f"CSC-TME signalling: {len(signalling)} LR pairs x partners compared" + (
        f" ({signalling['test'].iloc[0]})." if len(signalling) else " (no CSC-specific effects: no CSC-high and "
        "CSC-low cells with a TME partner in the patients)."))
    log.info("signalling:\n%s", signalling.head(20).to_string())
    write_table(per_patient, snakemake.output.per_patient)
    write_table(test, snakemake.output.test)
    write_table(genes, snakemake.output.genes)
    write_table(gsea, snakemake.output.gsea)
    write_table(signalling, snakemake.output.signalling)
    write_atomic(snakemake.output.notes, lambda tmp: tmp.write_text("\n".join(notes) + "\n"))
