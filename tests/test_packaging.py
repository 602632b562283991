"""The project's own files stay in step: environment.yml mirrors pyproject.toml; data/README.md the contract."""

import tomllib
from pathlib import Path

import yaml

from workbench.data import contract

ROOT = Path(__file__).resolve().parents[1]


def test_environment_yml_lists_exactly_the_pyproject_dependencies():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    wanted = set(project["dependencies"]) | set(project["optional-dependencies"]["dev"])
    env = yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    listed = {line for line in pip_section if not line.startswith("-")}
    assert listed == wanted, (
        f"only in pyproject: {wanted - listed}; only in environment.yml: {listed - wanted}"
    )
    assert any(line.endswith("-e .") for line in pip_section), (
        "environment.yml must install the project itself"
    )


def test_environment_yml_python_matches_requires_python():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python="))
    minimum = project["requires-python"].removeprefix(">=")
    assert python == f"python={minimum}"


def test_data_readme_documents_the_contract_as_the_code_defines_it():
    text = (ROOT / "data" / "README.md").read_text(encoding="utf-8")
    assert contract.render_data_readme(text) == text, "run: python -m workbench.data.contract data/README.md"
    for table in contract.TABLES.values():
        for column in table.columns:
            assert f"`{column.name}`" in text


def test_readme_starts_with_the_two_set_up_commands():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = [line.split("#")[0].strip() for line in text.splitlines()]
    first_commands = [c for c in commands if c.startswith("make ")][:2]
    assert first_commands == ["make demo", "make test"]


def test_ci_runs_the_readme_test_command():
    assert "make test" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
