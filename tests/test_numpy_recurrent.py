"""Tests of the NumPy reference kernels for SimpleRNN, LSTM and GRU (forward and BPTT)."""
import numpy as np
import pytest

from engine.backends.numpy_ref import recurrent
from tests.numeric import numeric_grad, rel_err

N, F, U_ = 2, 3, 4   # batch, features, units
ACTIVATIONS = ["linear", "relu", "sigmoid", "tanh"]


def sigmoid(a):
    return 1 / (1 + np.exp(-a))


ACT = {"linear": lambda a: a, "relu": lambda a: np.maximum(a, 0), "sigmoid": sigmoid, "tanh": np.tanh}


# ---------------------------------------------------------------- straightforward per-sample references

def ref_simple_rnn(x, W, U, b, h0, act):
    hs = np.zeros(x.shape[:2] + (U.shape[0],))
    for n in range(x.shape[0]):
        h = h0[n]
        for t in range(x.shape[1]):
            h = ACT[act](x[n, t] @ W + b + h @ U)
            hs[n, t] = h
    return hs


def ref_lstm(x, W, U, b, h0, c0, act):
    u = U.shape[0]
    hs = np.zeros(x.shape[:2] + (u,))
    for n in range(x.shape[0]):
        h, c = h0[n], c0[n]
        for t in range(x.shape[1]):
            z = x[n, t] @ W + h @ U + b
            i = sigmoid(z[:u])
            f = sigmoid(z[u:2 * u])
            g = ACT[act](z[2 * u:3 * u])
            o = sigmoid(z[3 * u:])
            c = f * c + i * g
            h = o * ACT[act](c)
            hs[n, t] = h
    return hs


def ref_gru(x, W, U, B, h0, act):
    u = U.shape[0]
    hs = np.zeros(x.shape[:2] + (u,))
    for n in range(x.shape[0]):
        h = h0[n]
        for t in range(x.shape[1]):
            xp = x[n, t] @ W + B[0]
            hp = h @ U + B[1]
            z = sigmoid(xp[:u] + hp[:u])
            r = sigmoid(xp[u:2 * u] + hp[u:2 * u])
            hc = ACT[act](xp[2 * u:] + r * hp[2 * u:])
            h = z * h + (1 - z) * hc
            hs[n, t] = h
    return hs


def torch_gru(x, W_ih, W_hh, b_ih, b_hh, h0):
    """PyTorch nn.GRU's formula: gates stacked r, z, n in (3u, in) weights and two biases."""
    u = W_hh.shape[1]
    hs = np.zeros(x.shape[:2] + (u,))
    for n in range(x.shape[0]):
        h = h0[n]
        for t in range(x.shape[1]):
            gi = W_ih @ x[n, t] + b_ih
            gh = W_hh @ h + b_hh
            r = sigmoid(gi[:u] + gh[:u])
            z = sigmoid(gi[u:2 * u] + gh[u:2 * u])
            nn = np.tanh(gi[2 * u:] + r * gh[2 * u:])
            h = (1 - z) * nn + z * h
            hs[n, t] = h
    return hs


# ---------------------------------------------------------------- inputs

def make_inputs(cell, T, seed=0, dtype=np.float64):
    """Random inputs of a cell as a dict in the order of its forward's arguments."""
    rng = np.random.default_rng(seed)
    k = {"simple_rnn": 1, "lstm": 4, "gru": 3}[cell]
    args = dict(x=rng.normal(size=(N, T, F)),
                W=rng.normal(scale=0.5, size=(F, k * U_)),
                U=rng.normal(scale=0.5, size=(U_, k * U_)),
                b=rng.normal(scale=0.5, size=(2, 3 * U_) if cell == "gru" else (k * U_,)),
                h0=rng.normal(scale=0.5, size=(N, U_)))
    if cell == "lstm":
        args["c0"] = rng.normal(scale=0.5, size=(N, U_))
    return {name: a.astype(dtype) for name, a in args.items()}


FORWARD = {"simple_rnn": recurrent.simple_rnn_forward, "lstm": recurrent.lstm_forward,
           "gru": recurrent.gru_forward}
BACKWARD = {"simple_rnn": recurrent.simple_rnn_backward, "lstm": recurrent.lstm_backward,
            "gru": recurrent.gru_backward}
REFERENCE = {"simple_rnn": ref_simple_rnn, "lstm": ref_lstm, "gru": ref_gru}


# ---------------------------------------------------------------- forward against the references

@pytest.mark.parametrize("cell", ["simple_rnn", "lstm", "gru"])
@pytest.mark.parametrize("act", ACTIVATIONS)
@pytest.mark.parametrize("T", [1, 5])
def test_forward_matches_per_step_reference(cell, act, T):
    args = make_inputs(cell, T)
    hs, _ = FORWARD[cell](*args.values(), act)
    assert hs.shape == (N, T, U_)
    np.testing.assert_allclose(hs, REFERENCE[cell](*args.values(), act), rtol=1e-12, atol=1e-12)


def test_gru_equals_pytorch_formula_with_converted_weights():
    args = make_inputs("gru", T=5)
    W, U, B = args["W"], args["U"], args["b"]
    u = U_
    to_rzn = np.r_[u:2 * u, 0:u, 2 * u:3 * u]   # Keras (z, r, h) -> PyTorch (r, z, n)
    hs_torch = torch_gru(args["x"], W[:, to_rzn].T, U[:, to_rzn].T, B[0, to_rzn], B[1, to_rzn], args["h0"])
    hs, _ = recurrent.gru_forward(*args.values(), "tanh")
    np.testing.assert_allclose(hs, hs_torch, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------- LSTM gate order i, f, c, o

def lstm_with_bias_only(i, f, c, o, T=4):
    """LSTM with W = U = 0, so every gate is the constant set by its block of the bias."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(N, T, F))
    c0 = rng.normal(size=(N, U_))
    b = np.repeat([i, f, c, o], U_).astype(float)
    hs, _ = recurrent.lstm_forward(x, np.zeros((F, 4 * U_)), np.zeros((U_, 4 * U_)), b,
                                   np.zeros((N, U_)), c0, "tanh")
    return hs, c0


def test_lstm_second_block_is_the_forget_gate():
    # input gate shut, forget gate open, output gate open: the cell keeps c0 at every step
    hs, c0 = lstm_with_bias_only(i=-40, f=40, c=0.5, o=40)
    np.testing.assert_allclose(hs, np.tanh(c0)[:, None, :].repeat(hs.shape[1], axis=1), atol=1e-12)


def test_lstm_first_block_is_the_input_gate_and_third_the_candidate():
    # input gate open, forget gate shut: c_t = tanh(b_c) at every step, whatever c0 was
    hs, _ = lstm_with_bias_only(i=40, f=-40, c=0.5, o=40)
    np.testing.assert_allclose(hs, np.tanh(np.tanh(0.5)), atol=1e-12)


def test_lstm_fourth_block_is_the_output_gate():
    # everything open but the output gate: h_t = 0
    hs, _ = lstm_with_bias_only(i=40, f=40, c=0.5, o=-40)
    np.testing.assert_allclose(hs, 0, atol=1e-12)


# ---------------------------------------------------------------- gradients by finite differences





@pytest.mark.parametrize("cell", ["simple_rnn", "lstm", "gru"])
@pytest.mark.parametrize("act", ACTIVATIONS)
@pytest.mark.parametrize("last_only", [False, True])
def test_backward_matches_finite_differences(cell, act, last_only):
    T = 5
    args = make_inputs(cell, T, seed=2)
    R = np.random.default_rng(3).normal(size=(N, T, U_))
    if last_only:                      # return_sequences=False: only h_T reaches the loss
        R[:, :-1] = 0

    def loss():
        return np.sum(FORWARD[cell](*args.values(), act)[0] * R)

    _, cache = FORWARD[cell](*args.values(), act)
    grads = BACKWARD[cell](R, cache)
    assert len(grads) == len(args)
    for (name, array), grad in zip(args.items(), grads):
        assert grad.shape == array.shape, name
        assert rel_err(grad, numeric_grad(loss, array)) < 1e-6, name


# ---------------------------------------------------------------- dtypes and errors

@pytest.mark.parametrize("cell", ["simple_rnn", "lstm", "gru"])
def test_float32_stays_float32(cell):
    args32 = make_inputs(cell, T=5, dtype=np.float32)
    hs, cache = FORWARD[cell](*args32.values(), "tanh")
    assert hs.dtype == np.float32
    grads = BACKWARD[cell](np.ones_like(hs), cache)
    assert all(g.dtype == np.float32 for g in grads)

    hs64, cache64 = FORWARD[cell](*make_inputs(cell, T=5).values(), "tanh")
    np.testing.assert_allclose(hs, hs64, rtol=1e-5, atol=1e-5)
    for g, g64 in zip(grads, BACKWARD[cell](np.ones_like(hs64), cache64)):
        np.testing.assert_allclose(g, g64, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("cell", ["simple_rnn", "lstm", "gru"])
def test_unknown_activation_names_the_valid_ones(cell):
    with pytest.raises(ValueError, match="linear, relu, sigmoid, tanh"):
        FORWARD[cell](*make_inputs(cell, T=2).values(), "softplus")
