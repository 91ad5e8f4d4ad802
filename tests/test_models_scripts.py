"""Every lecture script in models/ runs end to end (with --epochs 1), and the statements they need.

The CIFAR-10 and GAN scripts read small generated data files (engine.datasets.write_cifar10_batch /
write_idx) through NNLAB_DATA; every plot and CSV goes to a temporary output folder. The scripts run
in-process through the interpreter API (the same code path as `nnlab run FILE --epochs 1`); the
missing-data messages are checked through the real `nnlab` command.
"""
from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from shell.interpreter import Session, default_out_dir
from shell.output import Output
from shell.registry import lookup
from tests.datafiles import write_small_datasets

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "models"
SCRIPTS = sorted(MODELS.glob("*.nn"))

#: one script per lecture example (keras-semantics.md section 1) and the two opening demos
LECTURE_SCRIPTS = {
    "digits_cnn.nn", "digits_grid.nn", "cifar10_cnn.nn", "sine_rnn.nn", "energies_rnn.nn",
    "energies_rnn_2layers.nn", "energies_lstm_2layers.nn", "energies_dnn2_gru2.nn", "energies_standard.nn",
    "gan_mnist.nn", "demo_polynomial_convolution.nn", "demo_edge_filters.nn",
}

#: what each script must print (parameter counts from keras-semantics.md section 3, the key results)
EXPECTED = {
    "digits_cnn.nn": ["Total params: 8,660 (33.83 KB)", "epoch 1/1", "test        360"],
    "digits_grid.nn": ["[49/49] lr=10 l2=10", "best test accuracy", "digits_grid_train.png",
                       "digits_grid_test.png"],
    "cifar10_cnn.nn": ["Total params: 56,320 (220.00 KB)", "Total params: 122,570 (478.79 KB)", "val_accuracy",
                       "loss sparse_categorical_crossentropy (from logits)"],
    "sine_rnn.nn": ["Total params: 1,457 (5.69 KB)", "data sine: 800 train, 200 test; x (None, 1, 4)"],
    "energies_rnn.nn": ["Total params: 40,601 (158.60 KB)", "MSE over all 20 points", "val_loss",
                        "data energies: 10 train, 8 test; x (None, 2, 1)"],
    "energies_rnn_2layers.nn": ["Total params: 752,001 (2.87 MB)", "MSE over all 20 points"],
    "energies_lstm_2layers.nn": ["Total params: 753,251 (2.87 MB)", "MSE over all 20 points"],
    "energies_dnn2_gru2.nn": ["Total params: 675,501 (2.58 MB)", "(None, 2, 125)", "MSE over all 20 points"],
    "energies_standard.nn": ["Total params: 40,601 (158.60 KB)", "12 train, 8 test; x (None, 1, 1)",
                             "each directly from its x", "MSE over all 20 points"],
    "gan_mnist.nn": ["Total params: 2,330,944 (8.89 MB)", "Non-trainable params: 25,472 (99.50 KB)",
                     "Total params: 212,865 (831.50 KB)", "gen_loss", "disc_loss", "16 images from noise"],
    "demo_polynomial_convolution.nn": ["np.convolve(a, b) = [4, 13, 28, 34, 32, 21]", "they agree",
                                       "np.convolve(a, b) = [3, 7, 2]"],
    "demo_edge_filters.nn": ["vertical_edges", "laplacian", "they agree"],
}

#: files each script writes into the output folder
WRITES = {
    "digits_cnn.nn": ["digits_history.png"],
    "digits_grid.nn": ["digits_grid_train.png", "digits_grid_test.png"],
    "cifar10_cnn.nn": ["cifar10_history.png"],
    "sine_rnn.nn": ["sine_rnn_predictions.png", "sine_rnn_history.png"],
    "energies_rnn.nn": ["energies_rnn_history.png", "energies_rnn_extrapolation.png", "VaryDimensionPredicted12.csv"],
    "energies_rnn_2layers.nn": ["energies_rnn_2layers_extrapolation.png"],
    "energies_lstm_2layers.nn": ["energies_lstm_2layers_extrapolation.png"],
    "energies_dnn2_gru2.nn": ["energies_dnn2_gru2_extrapolation.png"],
    "energies_standard.nn": ["energies_standard_extrapolation.png", "energies_standard.csv"],
    "gan_mnist.nn": ["gan_samples.png", "gan_samples_untrained.png", "gan_losses.csv", "gan_losses.png",
                     "gan_latent_means5.png"],
    "demo_polynomial_convolution.nn": ["polynomial_convolution.png"],
    "demo_edge_filters.nn": ["edge_filters.png", "edge_filters_kernels.png"],
}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """Small CIFAR-10 (64 train / 32 test) and MNIST (64 / 32) files in the layout nnlab reads."""
    return write_small_datasets(tmp_path_factory.mktemp("nnlab_data"))


def run_session(text, filename="t.nn", **kwargs):
    buf = io.StringIO()
    session = Session(Output(buf), **kwargs)
    ok = session.execute_source(text, filename)
    return ok, buf.getvalue(), session


# --------------------------------------------------------------------------------------------------
# Every script
# --------------------------------------------------------------------------------------------------

def test_there_is_a_script_for_every_lecture_example():
    names = {p.name for p in SCRIPTS}
    assert LECTURE_SCRIPTS <= names, sorted(LECTURE_SCRIPTS - names)
    assert set(EXPECTED) == LECTURE_SCRIPTS and set(WRITES) == LECTURE_SCRIPTS


@pytest.mark.parametrize("script", SCRIPTS, ids=[p.name for p in SCRIPTS])
def test_script_header_explains_it(script):
    lines = script.read_text(encoding="utf-8").splitlines()
    header = []
    for line in lines:
        if not line.startswith("#"):
            break
        header.append(line)
    text = "\n".join(header)
    assert len(header) >= 8, f"{script.name}: the header comment should explain the example"
    for phrase in ("Source:", "What it shows", "lecture's setting"):
        assert phrase in text, f"{script.name}: header lacks {phrase!r}"
    assert "nnlab run models/" + script.name in text


@pytest.mark.parametrize("script", SCRIPTS, ids=[p.name for p in SCRIPTS])
def test_script_runs_with_one_epoch(script, data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("NNLAB_DATA", str(data_dir))
    monkeypatch.chdir(tmp_path)             # a stray relative write would land in tmp_path/nnlab_out
    out_dir = tmp_path / "out"
    ok, out, _ = run_session(script.read_text(encoding="utf-8"), str(script), epochs=1, out_dir=out_dir)
    assert ok, out
    assert "internal error" not in out and "Traceback" not in out
    assert not re.search(r"epoch [2-9]\d*/", out), "--epochs 1 must override every train/grid/gan statement"
    for text in EXPECTED.get(script.name, []):
        assert text in out, f"{script.name}: expected {text!r} in the output"
    for name in WRITES.get(script.name, []):
        path = out_dir / name
        assert path.is_file() and path.stat().st_size > 0, f"{script.name} did not write {name}"
        assert f"wrote {path}" in out
    assert not (tmp_path / "nnlab_out").exists()


# --------------------------------------------------------------------------------------------------
# Missing data: a clear message, no traceback, exit 1 (through the real command)
# --------------------------------------------------------------------------------------------------

def nnlab(*args, env_extra=None, cwd=None, timeout=120):
    env = dict(os.environ, PYTHONPATH=str(ROOT), NO_COLOR="1")
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "shell", *args], cwd=cwd or ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


@pytest.mark.parametrize("script, what, line", [("cifar10_cnn.nn", "CIFAR-10 binary files not found", "data cifar10"),
                                                 ("gan_mnist.nn", "MNIST files not found", "data mnist")])
def test_script_without_its_data_says_where_to_put_it(script, what, line, tmp_path):
    empty = tmp_path / "nodata"
    empty.mkdir()
    result = nnlab("run", str(MODELS / script), "--epochs", "1",
                   env_extra={"NNLAB_DATA": str(empty), "NNLAB_OUT": str(tmp_path / "out")}, cwd=tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    assert what in result.stderr and str(empty) in result.stderr
    number = next(i for i, text in enumerate((MODELS / script).read_text().splitlines(), 1) if text.startswith(line))
    assert f"{script}:{number}:1: error:" in result.stderr
    assert "Model:" not in result.stdout, "nothing after the data line runs"


def test_plots_default_to_nnlab_out_and_nnlab_out_env(tmp_path, monkeypatch):
    monkeypatch.delenv("NNLAB_OUT", raising=False)
    assert default_out_dir() == Path("nnlab_out")
    monkeypatch.setenv("NNLAB_OUT", str(tmp_path / "elsewhere"))
    assert default_out_dir() == tmp_path / "elsewhere"
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NNLAB_OUT")
    ok, out, _ = run_session("demo polynomial to=p.png\nset out figs\ndemo polynomial to=q.png\n"
                             f"demo polynomial to={tmp_path / 'abs.png'}\n")
    assert ok, out
    assert (tmp_path / "nnlab_out" / "p.png").is_file() and "wrote nnlab_out/p.png" in out
    assert (tmp_path / "figs" / "q.png").is_file() and "output folder: figs" in out
    assert (tmp_path / "abs.png").is_file()


# --------------------------------------------------------------------------------------------------
# The statements the scripts added (registry first: help, examples)
# --------------------------------------------------------------------------------------------------

NEW_FORMS = [("gan", "train"), ("demo", "polynomial"), ("demo", "filters"), ("plot", "samples"), ("set", "out")]


def test_new_statements_are_in_the_registry_with_help_and_examples():
    for head, form in NEW_FORMS:
        stmt = lookup.find_statement(head)
        assert stmt is not None and stmt.find_subcommand(form) is not None, (head, form)
        ok, out, _ = run_session(f"help {head}\n")
        assert ok and f"usage: {head} {form}" in out
    assert lookup.find_option(lookup.find_statement("train"), "validation_data") is not None
    assert lookup.find_option(lookup.find_statement("model"), "extend") is not None
    energies = lookup.find_statement("data").find_subcommand("energies")
    assert lookup.find_option(energies, "format").choices == ("windows", "standard")


@pytest.mark.parametrize("head", ["gan", "demo", "model", "train"])
def test_registry_examples_of_new_statements_run(head, tmp_path):
    ok, out, _ = run_session(lookup.find_statement(head).example, out_dir=tmp_path)
    assert ok, out


def test_gan_checks_its_models_and_records_the_losses(tmp_path):
    models = ("data digits\nmodel g input=(8,)\n  dense 64 activation=tanh\n  reshape (8,8,1)\nend\n"
              "model d input=(8,8,1)\n  flatten\n  dense 1\nend\n")
    ok, out, s = run_session(models + "gan train generator=g discriminator=d epochs=2 batch_size=512 csv=l.csv\n"
                             "plot history model=g to=h.png\nplot samples model=g count=4 means=5 stds=1\n",
                             out_dir=tmp_path)
    assert ok, out
    assert "epoch 2/2  gen_loss" in out and s.models["g"].epochs_trained == 2
    assert list(s.models["g"].history) == ["gen_loss", "disc_loss"]
    rows = (tmp_path / "l.csv").read_text().splitlines()
    assert rows[0] == "epoch,gen_loss,disc_loss" and len(rows) == 3
    assert (tmp_path / "g_samples.png").is_file() and "latent points N(5" in out
    ok, out, _ = run_session(models + "gan train generator=g discriminator=d noise=5\n", out_dir=tmp_path)
    assert not ok and "noise=5 but generator 'g' takes input (None, 8)" in out
    ok, out, _ = run_session(models + "gan train generator=d discriminator=g\n", out_dir=tmp_path)
    assert not ok and "noise vectors" in out
    ok, out, _ = run_session(models.replace("dense 1\n", "dense 2\n") + "gan train generator=g discriminator=d\n")
    assert not ok and "one logit" in out


def test_model_extend_adds_layers_and_abort_at_the_prompt_removes_them():
    ok, out, s = run_session("model m input=(4,)\n  dense 3\nend\nmodel m extend=true\n  dense 2\nend\nsummary\n")
    assert ok, out
    assert [layer.name for layer in s.models["m"].model.layers] == ["dense", "dense_1"]
    assert "model m: adding layers after dense (None, 3)" in out
    buf = io.StringIO()
    s = Session(Output(buf))
    for line in ("model m input=(4,)", "  dense 3", "end", "model m extend=true", "  dense 5", "abort"):
        s.feed_line(line)
    assert [layer.name for layer in s.models["m"].model.layers] == ["dense"] and not s.in_block
    assert "1 added layer discarded" in buf.getvalue()
    ok, out, _ = run_session("model q extend=true\n  dense 2\nend\n")
    assert not ok and "no model named 'q' to extend" in out


def test_train_validation_data_and_the_standard_energies_format():
    ok, out, _ = run_session("data digits\nmodel m\n  flatten\n  dense 10 activation=softmax\nend\n"
                             "compile optimizer=sgd loss=categorical_crossentropy metrics=accuracy\n"
                             "train epochs=1 batch_size=500 validation_data=test\n")
    assert ok and "val_accuracy" in out
    ok, out, _ = run_session("data digits\nmodel m\n  flatten\n  dense 10 activation=softmax\nend\n"
                             "compile optimizer=sgd loss=categorical_crossentropy\n"
                             "train validation_data=test validation_split=0.1\n")
    assert not ok and "either validation_split or validation_data" in out
    ok, out, _ = run_session("data energies format=standard window=3\n")
    assert not ok and "has no windows" in out
    ok, out, s = run_session("data energies format=standard\n")
    assert ok and s.data.x_train.shape == (12, 1, 1) and s.data.x_test.shape == (8, 1, 1)
    assert float(s.data.x_train[0, 0, 0]) == 2.0 and float(s.data.x_test[-1, 0, 0]) == 40.0


def test_demo_polynomial_checks_the_toeplitz_product():
    ok, out, _ = run_session("demo polynomial a=(1,2) b=(3,1)\n")
    assert ok, out
    assert "p(t)·s(t) = 3 + 7 t + 2 t^2" in out and "they agree" in out
    assert "cost: the convolution needs 4 multiplications" in out


def test_demo_filters_uses_the_current_images_and_checks_conv2d():
    ok, out, _ = run_session("demo filters filters=laplacian padding=valid\n")
    assert ok, out
    assert "digits train image 0: 8x8" in out and "responses 6x6" in out and "they agree" in out
    ok, out, _ = run_session("data energies\ndemo filters\n")
    assert ok and "digits train image 0" in out
    ok, out, _ = run_session("demo filters index=5000\n")
    assert not ok and "index 5000 is past the 1437 train images" in out
