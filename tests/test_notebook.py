"""%%nn in a real notebook: each test runs cells in a fresh Jupyter kernel (nbclient), as "Run all" does.

Checked: Rich HTML output, inline plots, progress as one line per epoch updated in place, errors that stop
"Run all" with the language's message (no traceback), a failed model block that leaves the previous model
current, and `%nn` lines passed as typed (no `{expression}` expansion)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "tests" / "notebooks" / "digits.ipynb"


def execute(nb, tmp_path, monkeypatch, allow_errors=False):
    """Run every cell in a new kernel started in tmp_path with this checkout importable."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("NNLAB_OUT", str(tmp_path / "out"))
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3", allow_errors=allow_errors,
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    return nb


def notebook(*sources):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in ("%load_ext shell.jupyter", *sources)]
    return nb


def texts(cell, mime="text/plain"):
    """Everything a cell shows as `mime` (streams count as text/plain)."""
    found = []
    for output in cell.outputs:
        if output.output_type == "stream" and mime == "text/plain":
            found.append(output.text)
        elif "data" in output and mime in output.data:
            found.append(output.data[mime])
    return "\n".join(found)


def test_the_digits_notebook_runs_with_html_tables_inline_plot_and_epoch_lines(tmp_path, monkeypatch):
    nb = execute(nbformat.read(NOTEBOOK, as_version=4), tmp_path, monkeypatch)
    model_cell, train_cell, plot_cell, evaluate_cell = nb.cells[2:6]
    html = texts(model_cell, "text/html")
    assert "Total params: 1,710" in html and "<pre" in html and "(None, 8, 8, 10)" in html
    assert "\x1b[" not in texts(model_cell)              # the plain copy has no escape codes
    # one display per epoch, updated in place while the epoch ran, ending as the epoch's line
    epochs = [o for o in train_cell.outputs if o.output_type == "display_data" and "epoch " in o.data["text/plain"]]
    assert [o.data["text/plain"].split("  ")[0] for o in epochs] == ["epoch 1/2", "epoch 2/2"]
    assert all("loss" in o.data["text/plain"] and o.data["text/plain"].endswith(" s)") for o in epochs)
    assert any("image/png" in o.get("data", {}) for o in plot_cell.outputs)
    assert (tmp_path / "out" / "cnn_history.png").is_file()
    assert "test" in texts(evaluate_cell) and "accuracy" in texts(evaluate_cell)


def test_an_error_stops_run_all_with_the_message_and_no_traceback(tmp_path, monkeypatch):
    nb = notebook("%%nn\ndata digits\nmodel m input=(8,8,1)\n  flatten\n  dense 10 activation=sofmax\nend",
                  "print('after the error')")
    with pytest.raises(nbclient.exceptions.CellExecutionError):
        execute(nb, tmp_path, monkeypatch)
    error = next(o for o in nb.cells[1].outputs if o.output_type == "error")
    assert error.ename == "NNCellError"
    shown = "\n".join(error.traceback)
    assert "<cell>:4:" in shown and "did you mean 'softmax'?" in shown and "Traceback" not in shown
    assert nb.cells[2].outputs == [] and nb.cells[2].execution_count is None    # never ran


def test_a_failed_block_leaves_the_previous_model_current(tmp_path, monkeypatch):
    nb = notebook("%%nn\nmodel good input=(8,8,1)\n  flatten\n  dense 10\nend",
                  "%%nn\nmodel half input=(8,8,1)\n  flatten\n  dense 4\n  conv2d 4 kernel=9\nend",
                  "%nn summary",
                  "%nn summary half")
    execute(nb, tmp_path, monkeypatch, allow_errors=True)
    failed = next(o for o in nb.cells[2].outputs if o.output_type == "error")
    assert "conv2d" in "\n".join(failed.traceback)
    summary = texts(nb.cells[3])
    assert 'Model: "good"' in summary and "half" not in summary
    assert "no model named 'half'" in "\n".join(next(o for o in nb.cells[4].outputs
                                                     if o.output_type == "error").traceback)


def test_the_nn_line_magic_does_not_expand_python_expressions(tmp_path, monkeypatch):
    nb = notebook("units = 7", "%nn frobnicate {units}")
    execute(nb, tmp_path, monkeypatch, allow_errors=True)
    shown = "\n".join(next(o for o in nb.cells[2].outputs if o.output_type == "error").traceback)
    assert "frobnicate {units}" in shown and "frobnicate 7" not in shown
