"""Project hygiene: pinned environments agree, lint is clean."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import REPO, demo_config, snakemake_command


def _requirements() -> dict[str, str]:
    pins = {}
    for line in (REPO / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, version = line.split("==")
            pins[name.lower()] = version
    return pins


def test_conda_envs_pin_the_pip_versions():
    pins = _requirements()
    envs = sorted((REPO / "envs").glob("*.yaml"))
    assert envs
    for env in envs:
        deps = yaml.safe_load(env.read_text())["dependencies"]
        specs = [d for d in deps if isinstance(d, str)] + [p for d in deps if isinstance(d, dict) for p in d["pip"]]
        for spec in specs:
            name, _, version = re.split(r"(==|=)", spec, maxsplit=1) if "=" in spec else (spec, "", "")
            if name in ("python", "pip"):
                continue
            assert name.lower() in pins, f"{env.name}: {name} is not pinned in requirements.txt"
            expected = pins[name.lower()]
            assert version == expected, f"{env.name}: {name}={version} but requirements.txt has {expected}"


IMPORT_NAMES = {"sklearn": "scikit-learn", "yaml": "pyyaml", "skimage": "scikit-image", "umap": "umap-learn"}


def test_every_library_import_is_in_the_conda_env():
    """The other direction: each third-party package the library or its scripts import is in envs/scanpy.yaml
    (the report rules' scripts only need envs/report.yaml's)."""
    env = yaml.safe_load((REPO / "envs/scanpy.yaml").read_text())["dependencies"]
    names = {re.split(r"==|=", d)[0].lower() for d in env if isinstance(d, str)}
    names |= {p.split("==")[0].lower() for d in env if isinstance(d, dict) for p in d["pip"]}
    missing = {}
    for path, module in _third_party_imports():
        top = module.split(".")[0]
        if top not in ("cscniche", "snakemake") and IMPORT_NAMES.get(top, top).lower() not in names:
            missing.setdefault(top, path.name)
    assert not missing, f"imported but not in envs/scanpy.yaml: {missing}"


def _third_party_imports():
    """(file, module) of each absolute import of a non-standard module in the library and its scripts."""
    import ast

    for path in [*(REPO / "workflow/cscniche").rglob("*.py"), *(REPO / "workflow/scripts").glob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module else []
            for module in modules:
                if module.split(".")[0] not in (*sys.stdlib_module_names, "__future__"):
                    yield path, module


def test_umap_and_liana_are_imported_through_cscniche_jit():
    """umap, pynndescent and liana compile numba kernels at import unless imported through ``cscniche.jit``
    (cached, and compiled when first called): no other module of the library or its scripts imports them."""
    direct = sorted({f"{path.relative_to(REPO)}: {module}" for path, module in _third_party_imports()
                     if module.split(".")[0] in ("umap", "pynndescent", "liana") and path.name != "jit.py"})
    assert not direct, direct


def test_snakemake_lint_is_clean():
    run = subprocess.run([sys.executable, "-m", "snakemake", "--lint"], cwd=REPO, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def test_dry_run_plans_the_demo_with_per_patient_stemness(tmp_path):
    """Resource functions read input files that a dry run does not have yet: planning must not fail."""
    command = snakemake_command(tmp_path, demo_config()) + ["-n", "--quiet", "rules"]
    run = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    counts = dict(line.split()[:2] for line in run.stdout.splitlines() if line.startswith(("stemness", "qc ")))
    assert counts["stemness_patient"] == "8" and counts["stemness"] == "2"  # 3 + 5 patients, one gather each


def test_ruff_is_clean():
    run = subprocess.run([sys.executable, "-m", "ruff", "check", str(REPO)], cwd=REPO, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout


def test_snakefmt_is_clean():
    """The Snakefile and rules as snakefmt writes them (line length 120, from pyproject.toml)."""
    snakefmt = Path(sys.executable).with_name("snakefmt")
    if not snakefmt.exists():
        pytest.skip("snakefmt is not installed (requirements-dev.txt installs it)")
    run = subprocess.run([str(snakefmt), "--check", "Snakefile", "workflow/rules"], cwd=REPO, capture_output=True,
                         text=True)
    assert run.returncode == 0, run.stderr[-2000:]


USER_FACING = ["README.md", "BENCHMARKS.md", "CHANGELOG.md", "docs/*.md", "config/**/*.md", "config/**/*.yaml",
               "workflow/**/*.py", "workflow/**/*.smk", "workflow/**/*.yaml", "workflow/report/*.rst", "Snakefile",
               "benchmarks/*.py"]
WORK_LOG = re.compile(r"\b(issue|ticket|session|work period|iteration|sprint)\s*#?\d+|\(#\d+\)|\bfollows #\d+",
                      re.IGNORECASE)


def test_user_facing_text_has_no_work_log_numbering():
    """Docs, comments and docstrings speak about the software as it is: no numbered issues, sessions or
    work periods (history belongs in git log and CHANGELOG.md)."""
    hits = [f"{path.relative_to(REPO)}:{n}: {line.strip()[:80]}"
            for pattern in USER_FACING for path in REPO.glob(pattern) if ".egg-info" not in str(path)
            for n, line in enumerate(path.read_text(errors="replace").splitlines(), start=1) if WORK_LOG.search(line)]
    assert not hits, "\n".join(hits)


def test_readme_is_a_short_entry_point_and_links_the_docs():
    readme = (REPO / "README.md").read_text()
    assert len(readme.splitlines()) <= 175
    for doc in ("config/README.md", "docs/outputs.md", "docs/methods.md", "docs/cluster.md", "BENCHMARKS.md",
                "CHANGELOG.md"):
        assert f"`{doc}`" in readme and (REPO / doc).is_file(), doc


STAGES = {"simulate", "ingest", "qc", "cluster", "annotate", "malignant", "stemness", "crosstalk", "biomarkers",
          "compare", "export", "report", "plots"}


def test_no_stage_module_imports_another_stage():
    """Stages sit side by side on the shared layer (labels, markers, graph, io, ranking, enrichment, ...)."""
    import ast

    library = REPO / "workflow/cscniche"
    found = []
    for stage in sorted(STAGES):
        package = (library / stage).is_dir()
        files = sorted((library / stage).glob("*.py")) if package else [library / f"{stage}.py"]
        for path in files:
            for node in ast.walk(ast.parse(path.read_text())):
                if not isinstance(node, ast.ImportFrom) or node.level != (2 if package else 1):
                    continue  # absolute, or within the stage's own package
                names = [node.module.split(".")[0]] if node.module else [alias.name for alias in node.names]
                found += [f"{path.relative_to(library)} -> {name}" for name in names if name in STAGES - {stage}]
    assert not found, found


def test_no_library_module_is_long():
    """One job per module: none over 300 lines."""
    library = REPO / "workflow/cscniche"
    lengths = {str(p.relative_to(library)): len(p.read_text().splitlines()) for p in library.rglob("*.py")}
    assert max(lengths.values()) <= 300, {name: n for name, n in lengths.items() if n > 300}


def test_every_relative_import_of_the_library_resolves():
    """Imports inside functions run only when called: each relative import must name an existing module."""
    import ast

    library = REPO / "workflow/cscniche"
    unresolved = []
    for path in library.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = path.parent.parents[node.level - 2] if node.level > 1 else path.parent
                names = [node.module] if node.module else [alias.name for alias in node.names]
                for name in names:
                    target = base.joinpath(*name.split("."))
                    if not (target.with_suffix(".py").is_file() or (target / "__init__.py").is_file()):
                        unresolved.append(f"{path.relative_to(library)}: {'.' * node.level}{name}")
    assert not unresolved, unresolved


def test_every_rule_says_what_it_does():
    """``snakemake --list-rules`` gives each rule's docstring."""
    listed = subprocess.run([sys.executable, "-m", "snakemake", "--list-rules"], cwd=REPO, capture_output=True,
                            text=True)
    assert listed.returncode == 0, listed.stderr[-2000:]
    rules = [line for line in listed.stdout.splitlines() if line.strip()]
    assert len(rules) > 20 and not [r for r in rules if "(" not in r], rules


def test_methods_text_names_this_runs_settings_versions_and_citations():
    """The report's methods say what ran with the run's own settings and versions; every citation resolves."""
    import re

    from cscniche.config import validate_config
    from cscniche.report.methods import methods_html, methods_paragraphs

    settings = validate_config({"datasets": {"d": {"simulate": {}, "qc": {"mad_k": 3},
                                                   "crosstalk": {"n_perms": 250}}}})["datasets"]["d"]
    paragraphs, references = methods_paragraphs(settings, {"scanpy": "9.9.9", "infercnvpy": "0.0.1"})
    paragraphs = dict(paragraphs)
    assert "median ± 3 MAD" in paragraphs["Quality control"] and "scanpy 9.9.9" in paragraphs["Quality control"]
    assert "250 label permutations" in paragraphs["Crosstalk"] and "infercnvpy 0.0.1" in paragraphs["Cell identity"]
    assert "Scrublet [" in paragraphs["Quality control"]  # scanpy's own: no package version of its own
    assert "never below 1/(permutations + 1)" in paragraphs["Biomarkers"]
    assert "(config/markers/tme.yaml;" in paragraphs["Cell identity"]  # the workflow's own file, relative
    assert "config/stemness/csc_markers.yaml" in paragraphs["Stemness"] and str(REPO) not in str(paragraphs)
    cited = {int(n) for text in paragraphs.values() for group in re.findall(r"\[([\d, ]+)\]", text)
             for n in group.split(",")}
    assert cited == set(range(1, len(references) + 1))  # numbered in order, every listed reference cited
    assert not any("Conde" in r or "Malta" in r for r in references)  # not run, so not cited
    assert methods_html(settings, {}).count("<li>") == len(references)
    with_model = validate_config({"datasets": {"d": {"simulate": {}, "annotate": {"celltypist_model": "m.pkl"}}}})
    assert any("Conde" in r for r in methods_paragraphs(with_model["datasets"]["d"], {})[1])
    # the stemness scorers as the registry names them, each that ran cited; mRNAsi with its weights only
    from cscniche.scorer_meta import STEMNESS_SCORERS

    assert all(s.label in paragraphs["Stemness"] for s in STEMNESS_SCORERS if s.requires is None)
    assert "mRNAsi" not in paragraphs["Stemness"]
    settings["stemness"]["mrnasi_weights"] = "weights.tsv"
    paragraphs, references = methods_paragraphs(settings, {})
    assert "mRNAsi [" in dict(paragraphs)["Stemness"] and any("Malta" in r for r in references)


def test_stemness_section_lists_the_registered_scorers_and_why_one_did_not_run():
    import html

    import pandas as pd

    from cscniche.report.sections import stemness_section
    from cscniche.scorer_meta import STEMNESS_SCORERS

    tables = {"summary": pd.DataFrame({"patient": ["P1"], "weight_cytotrace": [1.0]}),
              **{t: pd.DataFrame() for t in ("coherence", "agreement", "ssgsea_check")}}
    text = "\n".join(stemness_section(tables, [], {}, {"mrnasi_weights": None}))
    assert all(html.escape(s.label) in text for s in STEMNESS_SCORERS)
    assert "mRNAsi did not run: <code>stemness.mrnasi_weights</code> is not set: no OCLR weight file" in text
    with_weights = "\n".join(stemness_section(tables, [], {}, {"mrnasi_weights": "w.tsv"}))
    assert "did not run" not in with_weights
