"""Terminal charts (engine.viz.textplot) and `plot history|predictions term=true` (checklist row 22):
the data drawn, the shape of the text and its labels are checked, not pixels."""
from __future__ import annotations

import io

import pytest

from engine.viz import textplot
from shell.interpreter import Session
from shell.output import Output

MARKS = set(textplot.ASCII_MARKERS)


def _plot_rows(chart: str, height: int) -> list[str]:
    """The plot-area rows (after the axis character) of a chart without title."""
    return [line.split("|", 1)[1] if "|" in line else line.split("+", 1)[1]
            for line in chart.splitlines()[:height]]


def test_ascii_chart_shape_and_labels():
    chart = textplot.line_chart({"loss": [4.0, 3.0, 2.0, 1.0]}, width=40, height=6, unicode=False, xlabel="epoch")
    lines = chart.splitlines()
    assert len(lines) == 6 + 3                       # plot rows, x axis, x labels, legend
    assert all(ord(c) < 128 for c in chart)
    assert lines[0].lstrip().startswith("4 +") and lines[5].lstrip().startswith("1 +")
    assert max(len(line) for line in lines[:7]) <= 40
    assert lines[6].strip().startswith("+-")
    assert lines[7].split() == ["1", "4", "epoch"]
    assert lines[8].split() == ["*", "loss"]


def test_increasing_series_runs_from_bottom_left_to_top_right():
    values = [i * i for i in range(30)]               # monotone increasing
    height = 8
    chart = textplot.line_chart({"acc": values}, width=50, height=height, unicode=False)
    rows = _plot_rows(chart, height)
    lowest_col_by_row = {}
    for r, row in enumerate(rows):
        cols = [c for c, ch in enumerate(row) if ch in MARKS]
        assert cols, f"row {r} has no point: a line joins the points"
        lowest_col_by_row[r] = min(cols)
    assert lowest_col_by_row[height - 1] == 0                        # starts bottom left
    assert max(c for c, ch in enumerate(rows[0]) if ch in MARKS) == max(len(r) for r in rows) - 1
    firsts = [lowest_col_by_row[r] for r in range(height - 1, -1, -1)]
    assert firsts == sorted(firsts)                                   # higher rows further right


def test_decreasing_series_in_braille_uses_one_dot_column_per_position():
    chart = textplot.line_chart({"loss": [5, 4, 3, 2, 1]}, width=30, height=4, unicode=True)
    rows = chart.splitlines()[:4]
    assert all("\u2800" <= ch <= "\u28ff" or ch in " │┤0123456789." for row in rows for ch in row)
    braille_top = [c for c, ch in enumerate(rows[0]) if "\u2800" < ch <= "\u28ff"]
    braille_bottom = [c for c, ch in enumerate(rows[3]) if "\u2800" < ch <= "\u28ff"]
    assert braille_top and braille_bottom and min(braille_top) < min(braille_bottom)
    assert chart.splitlines()[-1].strip() == "loss"                  # one series: legend is its name


def test_several_series_get_their_own_markers_and_legend():
    chart = textplot.line_chart({"loss": [3, 2, 1], "val_loss": [3.5, 2.5, 2]}, width=40, height=6, unicode=True)
    assert "●" in chart and "○" in chart
    assert chart.splitlines()[-1].split() == ["●", "loss", "○", "val_loss"]
    assert chart.splitlines()[0].lstrip().startswith("3.5")


def test_non_finite_values_constant_and_empty_series():
    chart = textplot.line_chart({"a": [float("nan"), 1.0, float("inf"), 2.0]}, width=30, height=4, unicode=False)
    assert "nan" not in chart and "inf" not in chart
    assert chart.splitlines()[-2].split() == ["2", "4"]             # x of the finite points
    flat = textplot.line_chart({"c": [1.0, 1.0]}, width=30, height=5, unicode=False)
    assert "*" in flat
    assert "nothing to plot" in textplot.line_chart({"a": [float("nan")]}, unicode=False)


def test_ylim_clips_and_labels():
    chart = textplot.line_chart({"a": [0.0, 2.0]}, width=30, height=4, unicode=False, ylim=(0.5, 1))
    lines = chart.splitlines()
    assert lines[0].lstrip().startswith("1 +") and lines[3].lstrip().startswith("0.5 +")


def test_history_charts_group_losses_and_metrics():
    history = {"loss": [2.0, 1.0], "accuracy": [0.5, 0.8], "val_loss": [2.2, 1.5], "val_accuracy": [0.4, 0.7]}
    text = textplot.history_charts(history, width=60, unicode=False, title="cnn")
    loss_part, metrics_part = text.split("\n\nmetrics\n")
    assert "* loss" in loss_part and "o val_loss" in loss_part and "accuracy" not in loss_part
    assert "* accuracy" in metrics_part and "o val_accuracy" in metrics_part
    assert text.startswith("cnn\n\nloss\n")


_TRAIN = ("data digits\nmodel cnn\n  flatten\n  dense 10 activation=softmax\nend\n"
          "compile optimizer=sgd loss=categorical_crossentropy metrics=accuracy\n"
          "train epochs=3 batch_size=100 validation_data=test\n")


def _run(text, tmp_path):
    buf = io.StringIO()
    session = Session(Output(buf), out_dir=tmp_path)
    assert session.execute_source(text), buf.getvalue()
    return buf.getvalue(), session


def test_plot_history_term_draws_the_history_and_writes_no_png(tmp_path):
    out, session = _run(_TRAIN + "plot history term=true", tmp_path)
    history = session.models["cnn"].history
    assert "loss" in out and "* accuracy   o val_accuracy" in out
    assert all(ord(c) < 128 for c in out)                # not a terminal: plain ASCII
    top = textplot.format_tick(max(history["loss"] + history["val_loss"]))
    assert any(line.lstrip().startswith(top + " +") for line in out.splitlines())
    assert not list(tmp_path.glob("*.png")) and "wrote" not in out


def test_plot_history_term_with_to_also_writes_the_png(tmp_path):
    out, _ = _run(_TRAIN + "plot history term=true to=h.png", tmp_path)
    assert "o val_loss" in out and (tmp_path / "h.png").is_file()


def test_plot_predictions_term(tmp_path):
    out, _ = _run("data energies\nmodel rnn input=(2,1)\n  simple_rnn 4\n  dense 1\nend\n"
                  "compile optimizer=adam loss=mse\nextrapolate known=12\nplot predictions term=true", tmp_path)
    assert "* true   o predicted" in out and "training: 2 to 24" in out
    assert not list(tmp_path.glob("*.png"))


@pytest.mark.parametrize("unicode", [True, False])
def test_width_is_respected(unicode):
    chart = textplot.history_charts({"loss": list(range(50, 0, -1))}, width=44, unicode=unicode)
    assert max(len(line) for line in chart.splitlines() if "epoch" not in line) <= 44
