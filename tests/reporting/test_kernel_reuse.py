"""One kernel runs several report notebooks in turn: each must see what a fresh kernel would show.

Real papermill runs in a real kernel: a name defined by one notebook is gone in the next, a warning shown by
one is shown again by the next, execution counts restart at 1, plotly.js is embedded again on each
notebook's first figure, each notebook records into its own collect folder, and after a failing notebook
the next one still runs (in a restarted kernel).
"""

from __future__ import annotations

import json

import nbformat

from workbench.reporting import runner


def notebook(path, *cells):
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('tag = "x"')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, *[nbformat.v4.new_code_cell(c) for c in cells]]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(path))
    return path


def outputs(path) -> list[dict]:
    nb = json.loads(path.read_text(encoding="utf-8"))
    return [o for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])]


def text_of(path) -> str:
    return "".join("".join(o.get("text", "")) for o in outputs(path))


SHOW = """
import warnings, plotly.graph_objects as go
from workbench.reporting import collect
warnings.warn("thin data in " + tag)
collect.show(go.Figure(go.Bar(x=[1, 2], y=[3, 4])), "bars")
"""


def test_notebooks_sharing_a_kernel_do_not_see_each_other(tmp_path):
    first = notebook(tmp_path / "first.ipynb", "leak = 41", SHOW)
    second = notebook(tmp_path / "second.ipynb", "print('leak' in globals())", SHOW)
    runs = []
    with runner.Kernel(cwd=tmp_path) as kernel:
        for nb in (first, second):
            runs.append(
                runner.run_notebook(
                    nb,
                    tmp_path / "out" / nb.name,
                    parameters={"tag": nb.stem},
                    collect_dir=tmp_path / "collect" / nb.stem,
                    kernel=kernel,
                )
            )
    assert all(r.ok for r in runs), runs
    out2 = tmp_path / "out" / "second.ipynb"
    assert text_of(out2).startswith("False")  # `leak` of the first notebook is gone
    for name in ("first", "second"):
        out = tmp_path / "out" / f"{name}.ipynb"
        assert f"thin data in {name}" in text_of(out)  # the same warning is shown again
        assert "ERROR" not in text_of(out)  # nothing of the kernel's own (e.g. its input history) leaks in
        counts = [
            c["execution_count"] for c in json.loads(out.read_text())["cells"] if c["cell_type"] == "code"
        ]
        assert counts == list(range(1, len(counts) + 1))
        html = "".join("".join(o.get("data", {}).get("text/html", "")) for o in outputs(out))
        assert html.count("plotly.js v") == 1  # plotly.js embedded in each notebook, once
        assert [p.name for p in (tmp_path / "collect" / name / "figures").iterdir()] == ["01-bars.json"]


def test_a_failing_notebook_does_not_stop_the_next(tmp_path):
    bad = notebook(tmp_path / "bad.ipynb", "x = 1", "raise ValueError('broken on purpose')", "y = 2")
    good = notebook(tmp_path / "good.ipynb", "print('fine', tag)")
    with runner.Kernel(cwd=tmp_path) as kernel:
        failed = runner.run_notebook(bad, tmp_path / "bad-out.ipynb", parameters={"tag": "b"}, kernel=kernel)
        first_pid = kernel.km.provisioner.pid
        ok = runner.run_notebook(good, tmp_path / "good-out.ipynb", parameters={"tag": "g"}, kernel=kernel)
        second_pid = kernel.km.provisioner.pid
    assert not failed.ok and "broken on purpose" in failed.error
    assert failed.cell == 4  # parameters, injected parameters, x = 1, then the failing cell
    assert ok.ok and "fine g" in text_of(tmp_path / "good-out.ipynb")
    assert first_pid != second_pid  # restarted after the failure
