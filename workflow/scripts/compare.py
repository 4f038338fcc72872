"""Snakemake entry point: one comparison's composition tables."""
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cscniche.compare import composition_test, patient_composition  # noqa: E402
from cscniche.io import write_table  # noqa: E402
from cscniche.logs import logged  # noqa: E402

with logged(snakemake.log[0]) as log:
    comp = snakemake.params.comparison
    cells = pd.read_csv(snakemake.input[0], sep="\t", dtype={"patient": str, comp["column"]: str},
                        keep_default_na=False, na_values=[""])
    per_patient = patient_composition(cells, comp["column"], comp["groups"])
    test = composition_test(per_patient, comp["groups"], descriptive=comp["descriptive"])
    log.info("%s: %s vs %s\n%s", comp["name"], *comp["groups"], test.to_string())
    write_table(per_patient, snakemake.output.per_patient)
    write_table(test, snakemake.output.test)
