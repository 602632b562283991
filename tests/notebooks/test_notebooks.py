"""The report notebooks hold no logic: a title, a literal parameters cell, thin calls into workbench."""

from __future__ import annotations

import ast
import re

import nbformat
import pytest

from workbench.reporting.runner import NOTEBOOKS_DIR, available_notebooks, notebook_parameters

NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))
SQL = re.compile(r"\b(select|insert|update|delete)\b.+\b(from|into|set)\b|\bjoin\b.+\bon\b", re.I | re.S)
# The longest code cell a report notebook may have (a loop over campaigns needs five lines).
MAX_CELL_LINES = 5
COMMON = {"data", "week", "as_of", "lang", "anonymise", "k_min", "client", "stores", "cities"}


def code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


def test_the_report_notebooks_are_found():
    assert {"cohorts", "repurchase", "churn", "campaigns"} <= set(available_notebooks())
    assert available_notebooks()[0] in ("overview", "cohorts")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_stored_without_outputs(path):
    nb = nbformat.read(str(path), as_version=4)
    for cell in code_cells(nb):
        assert cell.outputs == [] and cell.execution_count is None, cell.source


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_starts_with_a_title_and_literal_parameters(path):
    nb = nbformat.read(str(path), as_version=4)
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    assert "parameters" in nb.cells[1].metadata.get("tags", [])
    params = notebook_parameters(path)  # raises on anything but name = literal
    assert set(params) >= COMMON
    assert params["data"] == "../data/demo.duckdb" and (NOTEBOOKS_DIR / params["data"]).name == "demo.duckdb"
    assert params["lang"] == "zh" and params["anonymise"] is False and params["week"] is None
    assert params["k_min"] == 5


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_cells_are_thin(path):
    nb = nbformat.read(str(path), as_version=4)
    for cell in code_cells(nb)[1:]:  # every cell after the parameters
        tree = ast.parse(cell.source)
        for node in ast.walk(tree):
            assert not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda), (
                f"{path.name}: definitions belong in workbench/: {cell.source}"
            )
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, int | float)
                and not isinstance(node.value, bool)
            ):
                raise AssertionError(f"{path.name}: a number (threshold?) in a cell: {cell.source}")
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module]
                assert all(n.split(".")[0] == "workbench" for n in names), cell.source
        assert not SQL.search(cell.source), f"{path.name}: SQL in a notebook: {cell.source}"
        assert len(cell.source.strip().splitlines()) <= MAX_CELL_LINES, cell.source


def test_the_thin_shape_check_catches_a_definition(tmp_path):
    # The checks above must be able to fail: a notebook with a def and a threshold is caught.
    bad = "def churned(days):\n    return days > 90\n"
    tree = ast.parse(bad)
    assert any(isinstance(n, ast.FunctionDef) for n in ast.walk(tree))
    assert any(isinstance(n, ast.Constant) and n.value == 90 for n in ast.walk(tree))
    assert SQL.search("SELECT member_id FROM orders")


@pytest.mark.slow
@pytest.mark.parametrize("name", [p.stem for p in NOTEBOOKS])
def test_notebook_runs_with_its_defaults_on_the_demo_data(name, tmp_path):
    # What a user gets from "Run all" in JupyterLab: the defaults read ../data/demo.duckdb.
    import papermill as pm

    if not (NOTEBOOKS_DIR.parent / "data" / "demo.duckdb").exists():
        pytest.skip("no demo data (make data)")
    pm.execute_notebook(
        str(NOTEBOOKS_DIR / f"{name}.ipynb"),
        str(tmp_path / f"{name}.ipynb"),
        kernel_name="python3",
        cwd=str(NOTEBOOKS_DIR),
        progress_bar=False,
    )
    nb = nbformat.read(str(tmp_path / f"{name}.ipynb"), as_version=4)
    assert not any(o.get("output_type") == "error" for c in code_cells(nb) for o in c.outputs)
