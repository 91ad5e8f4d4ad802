"""The benchmark command runs as a user would run it (speed itself is measured by the command, not here)."""
import json

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
    import pytest
    with pytest.raises(SystemExit):
        bench.main(["--cases", "nonexistent"])
    with pytest.raises(SystemExit):
        bench.main(["--backends", "tpu"])
    assert "not available" in capsys.readouterr().err


def test_every_case_has_a_pytorch_twin_and_a_description():
    for case in bench.all_cases():
        assert case.make_torch is not None and case.description
