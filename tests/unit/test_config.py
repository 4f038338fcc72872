import subprocess
import sys

import pytest
import yaml

from cscniche.config import ConfigError, read_sample_sheet, validate_config

from conftest import REPO


def test_default_config_resolves_every_dataset():
    cfg = validate_config(yaml.safe_load((REPO / "config/config.yaml").read_text()))
    assert set(cfg["datasets"]) == {"simulated", "oligodendroglioma"}
    oligo = cfg["datasets"]["oligodendroglioma"]
    assert oligo["cluster"]["integration"] == "none"  # dataset override
    assert oligo["cluster"]["n_hvg"] == 2000  # global value
    assert oligo["qc"]["min_cells_per_sample"] == 5
    assert cfg["datasets"]["simulated"]["simulate"]["csc_fraction"] == 0.15  # schema default


@pytest.mark.parametrize(
    ("config", "field", "expected"),
    [
        ({"datasets": {"s": {"simulate": {"n_cells": "many"}}}}, "datasets.s.simulate.n_cells", "integer"),
        ({"datasets": {"s": {"simulate": {}}}, "qc": {"mad_k": -1}}, "qc.mad_k",
         "less than or equal to the minimum of 0"),
        ({"datasets": {"s": {"simulate": {}}}, "cluster": {"integration": "bbknn"}}, "cluster.integration",
         "'auto', 'harmony', 'none'"),
        ({"datasets": {"s": {"simulate": {}, "sample": "x"}}}, "datasets.s", "'sample' was unexpected"),
        ({"datasets": {"s": {"samples": "a.tsv", "simulate": {}}}}, "datasets.s", "exactly one of"),
        ({"datasets": {}}, "datasets", "non-empty"),
        ({"datasets": {"s": {"simulate": {}}}, "qc": {"min_genes": 500, "max_genes": 300}}, "qc.max_genes",
         "below qc.min_genes 500"),
        ({"datasets": {"s": {"simulate": {}, "stemness": {"consensus_scorers": ["cytotrace", "cytotrace2"]}}}},
         "datasets.s.stemness.consensus_scorers.1", "a scorer's name: cytotrace, mrnasi, ucell_<gene set>"),
    ],
)
def test_bad_config_names_field_and_expectation(config, field, expected):
    with pytest.raises(ConfigError) as err:
        validate_config(config)
    assert f"field `{field}`" in str(err.value)
    assert expected in str(err.value)


def test_scorer_names_come_from_the_scorers_registry():
    """The schema accepts each registered scorer (per gene set: ``<name>_<set>``) and the stemness stage's
    columns follow the registry's order, mRNAsi only where its weights are given."""
    from cscniche.scorer_meta import ANCHOR, STEMNESS_SCORERS, scorer_columns

    names = [f"{s.name}_CSC_markers" if s.per_gene_set else s.name for s in STEMNESS_SCORERS]
    settings = validate_config({"datasets": {"s": {"simulate": {}, "stemness": {"consensus_scorers": names}}}})
    assert settings["datasets"]["s"]["stemness"]["consensus_scorers"] == names
    assert scorer_columns(["A", "B"]) == ["cytotrace", "ucell_A", "ucell_B", "program_A", "program_B"]
    assert scorer_columns(["A"], given={"mrnasi_weights"}) == ["cytotrace", "mrnasi", "ucell_A", "program_A"]
    assert ANCHOR.name == "program" and ANCHOR.per_gene_set  # the consensus's anchor: each coherent set's program
    schema = (REPO / "workflow/schemas/config.schema.yaml").read_text()
    assert all(s.requires is None or f"{s.requires}:" in schema for s in STEMNESS_SCORERS)


def _tiny_h5ad(tmp_path):
    import anndata as ad
    import numpy as np

    path = tmp_path / "x.h5ad"
    ad.AnnData(np.ones((2, 2), dtype=np.float32)).write_h5ad(path)
    return path


def _sheet(tmp_path, text):
    path = tmp_path / "samples.tsv"
    path.write_text(text)
    return path


def test_sample_sheet_errors_name_line_and_field(tmp_path):
    data = _tiny_h5ad(tmp_path)
    with pytest.raises(ConfigError, match=r"missing column\(s\) \['format'\]"):
        read_sample_sheet(_sheet(tmp_path, f"sample\tpatient\tpath\nA\tP1\t{data}\n"))
    with pytest.raises(ConfigError, match=r"line 3: field `format`: 'loom' is not one of"):
        read_sample_sheet(_sheet(tmp_path, f"sample\tpatient\tpath\tformat\nA\tP1\t{data}\th5ad\n"
                                           f"B\tP1\t{data}\tloom\n"))
    with pytest.raises(ConfigError, match=r"line 2: field `path`: .*missing.h5ad does not exist"):
        read_sample_sheet(_sheet(tmp_path, f"sample\tpatient\tpath\tformat\nA\tP1\t{tmp_path}/missing.h5ad\th5ad\n"))
    with pytest.raises(ConfigError, match=r"field `sample`: duplicated sample name\(s\) \['A'\]"):
        read_sample_sheet(_sheet(tmp_path, f"sample\tpatient\tpath\tformat\nA\tP1\t{data}\th5ad\n"
                                           f"A\tP2\t{data}\th5ad\n"))
    with pytest.raises(ConfigError, match=r"line 2: field `sample`: 'a b' does not match"):
        read_sample_sheet(_sheet(tmp_path, f"sample\tpatient\tpath\tformat\na b\tP1\t{data}\th5ad\n"))
    with pytest.raises(ConfigError, match=r"line 4: field `format`: 'loom' is not one of"):  # counts comments too
        read_sample_sheet(_sheet(tmp_path, f"# cohort\n\nsample\tpatient\tpath\tformat\nB\tP1\t{data}\tloom\n"))
    for patient in ("P/1", "../x"):  # a patient names files: no path separators or parent references
        with pytest.raises(ConfigError, match=r"line 2: field `patient`: .* does not match"):
            read_sample_sheet(_sheet(tmp_path, f"sample\tpatient\tpath\tformat\nA\t{patient}\t{data}\th5ad\n"))


def test_sample_sheet_values_are_read_verbatim(tmp_path):
    data = _tiny_h5ad(tmp_path)
    sheet = read_sample_sheet(_sheet(tmp_path, f"# my cohort\nsample\tpatient\tpath\tformat\tsite\tnote\n"
                                               f"A\tP1\t{data}\th5ad\tbiopsy #2\t\"quoted\n"
                                               f"B\tP2\t{data}\th5ad\tresection\tplain\n"))
    assert list(sheet["site"]) == ["biopsy #2", "resection"] and list(sheet["note"]) == ['"quoted', "plain"]
    with pytest.raises(ConfigError, match=r"line 3: 5 tab-separated fields, the header has 4"):
        read_sample_sheet(_sheet(tmp_path, f"sample\tpatient\tpath\tformat\nA\tP1\t{data}\th5ad\n"
                                           f"B\tP2\t{data}\th5ad\textra\n"))


def test_sample_sheet_keeps_free_metadata(tmp_path):
    data = _tiny_h5ad(tmp_path)
    text = f"sample\tpatient\tpath\tformat\ttreatment\nA\tP1\t{data}\th5ad\tnaive\n"
    sheet = read_sample_sheet(_sheet(tmp_path, text))
    assert sheet.loc[0, "treatment"] == "naive"


def test_snakemake_stops_before_any_job_on_bad_config(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("datasets:\n  s:\n    simulate:\n      n_patients: 0\n")
    run = subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
                          "--directory", str(tmp_path), "--configfile", str(bad), "--cores", "1"],
                         capture_output=True, text=True)
    assert run.returncode != 0
    assert "field `datasets.s.simulate.n_patients`" in run.stderr + run.stdout
    assert not (tmp_path / "results").exists()


def test_stage_entries_take_their_config_section_as_typed_keywords():
    """Each stage has one entry whose keyword-only arguments are its config section (and a few named others),
    each typed: the Snakemake script passes the validated section as it is (``run_<stage>(..., **section)``),
    and the signature says what it needs."""
    import inspect

    from cscniche.annotate import run_annotate
    from cscniche.biomarkers import run_biomarkers
    from cscniche.cluster import run_cluster
    from cscniche.compare import run_compare
    from cscniche.crosstalk import run_crosstalk
    from cscniche.malignant import run_malignant
    from cscniche.qc import run_qc
    from cscniche.stemness import run_stemness, run_stemness_patient

    schema = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())["$defs"]
    schema["compare"] = schema["dataset"]["properties"]["compare"]["items"]  # one entry of a dataset's list
    schema["stemness_patient"] = schema["stemness"]
    entries = {"qc": (run_qc, {"annotate", "seed"}), "annotate": (run_annotate, set()),
               "cluster": (run_cluster, {"min_cells_per_gene", "seed", "out"}),
               "malignant": (run_malignant, {"leiden_flavor", "seed", "read_counts"}),
               "stemness_patient": (run_stemness_patient, {"seed"}), "stemness": (run_stemness, {"seed", "parts"}),
               "crosstalk": (run_crosstalk, {"seed"}),
               "biomarkers": (run_biomarkers, {"stemness_gene_sets", "axes", "resource", "seed", "counts", "threads"}),
               "compare": (run_compare, {"biomarkers", "crosstalk", "seed", "threads"})}
    for section, (entry, others) in entries.items():
        keywords = {name: p for name, p in inspect.signature(entry).parameters.items() if p.kind is p.KEYWORD_ONLY}
        assert set(keywords) == set(schema[section]["properties"]) | others, section
        assert all(p.annotation is not inspect.Parameter.empty for p in keywords.values()), section
        assert f"{entry.__name__}(" in (REPO / f"workflow/scripts/{section}.py").read_text(), section
