"""engine.tools.profile (trace_graph, profile_step) and the `graph` and `profile` statements."""
import io

import numpy as np

from engine import datasets, layers
from engine.autograd import Function
from engine.models import Sequential
from engine.ops.conv import Conv2D
from engine.tools.profile import profile_step, step_loss, trace_graph
from shell.interpreter import Session
from shell.output import Output
from tests.test_interpreter import DIGITS_CNN


def digits_cnn():
    model = Sequential([
        layers.Conv2D(4, 3, padding="same", activation="relu", input_shape=(8, 8, 1)),
        layers.MaxPooling2D(2), layers.Flatten(), layers.Dense(10, activation="softmax")])
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    (x, y), _ = datasets.digits()
    return model, x[:8], y[:8]


def test_trace_graph_of_the_digits_cnn():
    model, x, y = digits_cnn()
    rows = trace_graph(step_loss(model, x, y), model)
    ops = [r["op"] for r in rows]
    for name in ("Conv2D", "MaxPool2D", "Dense", "SoftmaxCrossEntropy"):
        assert name in ops, ops
    assert ops.index("Conv2D") < ops.index("MaxPool2D") < ops.index("Dense") < ops.index("SoftmaxCrossEntropy")
    by_op = {r["op"]: r for r in rows}
    conv = by_op["Conv2D"]
    assert conv["shape"] == (8, 8, 8, 4)
    assert [i["shape"] for i in conv["inputs"]] == [(8, 8, 8, 1), (3, 3, 1, 4), (4,)]
    assert [i["kind"] for i in conv["inputs"]] == ["const", "param", "param"]
    assert conv["inputs"][1]["name"].endswith("/kernel")
    assert by_op["MaxPool2D"]["shape"] == (8, 4, 4, 4)
    dense = by_op["Dense"]
    assert dense["shape"] == (8, 10) and dense["inputs"][0]["kind"] == "step"
    assert [i["shape"] for i in dense["inputs"][1:]] == [(64, 10), (10,)]
    assert by_op["SoftmaxCrossEntropy"]["inputs"][0]["step"] == dense["step"]
    assert rows[-1]["shape"] == () and [r["step"] for r in rows] == list(range(1, len(rows) + 1))


def test_profile_step_times_ops_without_training_and_restores_function():
    model, x, y = digits_cnn()
    before = model.get_weights()
    apply_before, backward_before = Function.__dict__["apply"], Conv2D.__dict__["backward"]
    rows = profile_step(model, x, y)
    assert sum(r["total"] for r in rows) > 0
    assert abs(sum(r["share"] for r in rows) - 1) < 1e-9
    conv = next(r for r in rows if r["op"] == "Conv2D")
    assert conv["calls"] == 1 and conv["forward"] > 0 and conv["backward"] > 0
    assert [r["total"] for r in rows] == sorted((r["total"] for r in rows), reverse=True)
    for old, new in zip(before, model.get_weights()):
        np.testing.assert_array_equal(old, new)
    assert all(w.grad is None for w in model.weights)
    assert Function.__dict__["apply"] is apply_before and Conv2D.__dict__["backward"] is backward_before


def run(text):
    buf = io.StringIO()
    session = Session(Output(buf))
    ok = session.execute_source(text, "t.nn")
    return ok, buf.getvalue(), session


def test_graph_and_profile_statements_print_tables():
    ok, out, session = run(DIGITS_CNN + "graph\nprofile batch=16\n")
    assert ok, out
    assert "step" in out and "output shape" in out and "Conv2D" in out and "SoftmaxCrossEntropy" in out
    assert "conv2d/kernel (3, 3, 1, 10)" in out
    assert "forward ms" in out and "backward ms" in out and "backend numpy" in out and "no optimizer step" in out
    assert session.models["cnn"].model.layers[0].kernel.grad is None


def test_graph_and_profile_errors_are_positioned():
    ok, out, _ = run("graph\n")
    assert not ok and "t.nn:1:1: error: there is no model yet" in out
    ok, out, _ = run("model m input=(4,)\n  dense 2\nend\nprofile\n")
    assert not ok and "there is no data yet" in out and "t.nn:4:1" in out
    ok, out, _ = run("data digits\nmodel m\n  flatten\n  dense 10\nend\ngraph\n")
    assert not ok and "t.nn:6:1: error: model 'm' is not compiled" in out and "hint:" in out
    ok, out, _ = run(DIGITS_CNN + "profile model=cn\n")
    assert not ok and "no model named 'cn'" in out and "t.nn:10:15" in out
