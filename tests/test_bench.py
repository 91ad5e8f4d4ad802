"""The benchmark command runs as a user would run it (speed itself is measured by the command, not here)."""
import json

import pytest

from engine.backends import unavailable_reason
from engine.tools import bench


def test_bench_quick_run_writes_a_table_and_json(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert bench.main(["--quick", "--cases", "simple_rnn", "--backends", "numpy", "--no-torch", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| numpy |" in printed and "simple_rnn_fwd_bwd" in printed
    data = json.loads(out.read_text())
    (result,) = data["results"]
    assert result["runner"] == "numpy" and result["median_ms"] > 0 and result["gflops"] > 0
    assert data["machine"]["cpu_count"] >= 1


def test_bench_rejects_unknown_cases_and_backends(capsys):
    with pytest.raises(SystemExit):
        bench.main(["--cases", "nonexistent"])
    with pytest.raises(SystemExit):
        bench.main(["--backends", "tpu"])
    assert "not available" in capsys.readouterr().err


def test_every_case_has_a_pytorch_twin_and_a_description():
    for case in bench.all_cases():
        assert case.make_torch is not None and case.description


def test_summary_marks_each_case_met_or_missed_against_its_target():
    cases = [bench.Case("a", "case a", None, None, target=1.5), bench.Case("b", "case b", None, None, target=1.0),
             bench.Case("c", "case c", None, None)]
    results = [bench.Result("a", "numba", 3.0, 5.0, ratio_to_torch=1.2), bench.Result("a", "torch", 2.5, 3.0),
               bench.Result("b", "numba", 3.0, 5.0, ratio_to_torch=1.2, others=0.3),
               bench.Result("b", "torch", 2.5, 3.0), bench.Result("c", "numba", 1.0, 1.0)]
    rows = bench.summary_rows(cases, results)
    assert [row["met"] for row in rows] == [True, False, None]
    assert rows[1]["others"] == 0.3 and rows[0]["torch_ms"] == 2.5
    table = bench.format_summary(rows, ["numba", "torch"])
    assert "| a | 3.00 | 2.50 | 1.20 | 1.50 | yes |" in table and "| **no** |" in table


def test_timer_retakes_samples_taken_while_other_processes_were_busy(monkeypatch):
    def fake_proc_stat(busy_intervals):
        """cpu_counters for a machine where other processes burn 1000 CPU seconds during the given timed
        intervals (1 = the call that sizes the samples, 2, 3, ... = the samples as they are taken)."""
        state = {"readings": 0, "others": 0.0}

        def counters():
            state["readings"] += 1
            if state["readings"] % 2 == 0 and state["readings"] // 2 in busy_intervals:
                state["others"] += 1000.0
            return state["others"], 0.0
        return state, counters

    state, counters = fake_proc_stat({2, 4})
    monkeypatch.setattr(bench, "cpu_counters", counters)
    timing = bench.time_callable(lambda: None, samples=3, min_sample_s=0.0, max_others=0.5, patience_s=30)
    assert len(timing.samples) == 3 and timing.others == 0.0   # only the quiet samples were kept...
    assert state["readings"] == 2 * 6                          # ...after retaking the two busy ones

    state, counters = fake_proc_stat({2, 4})
    monkeypatch.setattr(bench, "cpu_counters", counters)
    impatient = bench.time_callable(lambda: None, samples=3, min_sample_s=0.0, max_others=0.5, patience_s=0)
    assert len(impatient.samples) == 3 and impatient.others > 0.5   # kept as they came, and the load shown
    assert state["readings"] == 2 * 4


@pytest.mark.skipif(unavailable_reason("numba") is not None, reason="the sweep times the numba backend")
def test_sweep_on_tiny_sizes_writes_a_png_and_json(tmp_path, capsys):
    prefix = tmp_path / "plots" / "sweep"
    assert bench.main(["--sweep", "--quick", "--out", str(prefix)]) == 0
    png = (tmp_path / "plots" / "sweep.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    import matplotlib.image
    image = matplotlib.image.imread(tmp_path / "plots" / "sweep.png")
    assert image.ndim == 3 and image.shape[0] > 300 and image.shape[1] > 300
    data = json.loads((tmp_path / "plots" / "sweep.json").read_text())
    assert set(data["sweeps"]) == {"batch", "image", "channels", "length"}
    for points in data["sweeps"].values():
        assert len(points) >= 2 and all(p["numba_ms"] > 0 for p in points)
        assert [p["value"] for p in points] == sorted(p["value"] for p in points)
    assert "wrote" in capsys.readouterr().out
