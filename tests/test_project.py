"""Project hygiene: pinned environments agree, lint is clean."""

import re
import subprocess
import sys

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
