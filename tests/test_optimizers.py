"""Optimizers, initializers and regularizers against Keras 3's rules (keras-semantics.md 2.1, 2.11, 2.13)."""
import math

import numpy as np
import pytest

from engine import random as engine_random
from engine import initializers, optimizers, regularizers


class Param:
    """The minimal parameter the optimizers need: .data, .grad and .name."""

    def __init__(self, data, grad=None, name="w"):
        self.data = np.array(data, dtype=np.float32)
        self.grad = None if grad is None else np.array(grad, dtype=np.float32)
        self.name = name


G = [0.2, -0.3]
W = [0.5, -1.0]


def one_step(opt, w=W, g=G):
    p = Param(w, g)
    opt.apply([p])
    return p


# ---------------------------------------------------------------- optimizers: checked numbers

def test_adam_one_step_matches_keras():
    p = one_step(optimizers.Adam())
    np.testing.assert_allclose(p.data, [0.499, -0.999], atol=1e-6)
    assert p.data.dtype == np.float32


def test_rmsprop_one_step_matches_keras():
    p = one_step(optimizers.RMSprop())
    np.testing.assert_allclose(p.data, [0.49683776, -0.99683774], atol=1e-6)
    assert p.data.dtype == np.float32


def test_sgd_plain_two_steps():
    opt = optimizers.SGD(learning_rate=0.1)
    p = Param(W, G)
    opt.apply([p])
    opt.apply([p])
    np.testing.assert_allclose(p.data, [0.5 - 2 * 0.1 * 0.2, -1.0 + 2 * 0.1 * 0.3], atol=1e-7)


def test_sgd_momentum_two_steps():
    lr, mu = 0.1, 0.9
    opt = optimizers.SGD(learning_rate=lr, momentum=mu)
    p = Param(W, G)
    opt.apply([p])
    opt.apply([p])
    g, w = np.array(G), np.array(W)
    m1 = -lr * g              # m <- μm - ηg from m = 0
    m2 = mu * m1 - lr * g
    np.testing.assert_allclose(p.data, w + m1 + m2, atol=1e-6)


def test_sgd_nesterov_two_steps():
    lr, mu = 0.1, 0.9
    opt = optimizers.SGD(learning_rate=lr, momentum=mu, nesterov=True)
    p = Param(W, G)
    opt.apply([p])
    opt.apply([p])
    g, w = np.array(G), np.array(W)
    m1 = -lr * g
    w1 = w + mu * m1 - lr * g
    m2 = mu * m1 - lr * g
    np.testing.assert_allclose(p.data, w1 + mu * m2 - lr * g, atol=1e-6)


def test_rmsprop_centered_with_momentum_two_steps():
    lr, rho, mu, eps = 0.01, 0.9, 0.5, 1e-7
    opt = optimizers.RMSprop(learning_rate=lr, rho=rho, momentum=mu, centered=True)
    p = Param(W, G)
    opt.apply([p])
    opt.apply([p])
    g, w = np.array(G), np.array(W)
    v = mg = m = 0.0
    for _ in range(2):
        v = rho * v + (1 - rho) * g**2
        mg = rho * mg + (1 - rho) * g
        m = mu * m + lr * g / np.sqrt(v - mg**2 + eps)
        w = w - m
    np.testing.assert_allclose(p.data, w, rtol=1e-5)


def adam_by_hand(w, grads, lr=1e-3, b1=0.9, b2=0.999, eps=1e-7):
    m = v = 0.0
    for t, g in enumerate(grads, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        alpha = lr * math.sqrt(1 - b2**t) / (1 - b1**t)
        w = w - alpha * m / (np.sqrt(v) + eps)
    return w


def test_adam_several_steps_vs_bias_corrected_formula():
    rng = np.random.default_rng(0)
    grads = rng.normal(size=(6, 4))
    w0 = rng.normal(size=4)
    opt = optimizers.Adam(learning_rate=0.01)
    p = Param(w0)
    for g in grads:
        p.grad = g.astype(np.float32)
        opt.apply([p])
    assert opt.iterations == 6
    np.testing.assert_allclose(p.data, adam_by_hand(w0, grads, lr=0.01), atol=1e-6)


def test_adam_amsgrad_keeps_largest_velocity():
    opt = optimizers.Adam(learning_rate=0.1, amsgrad=True)
    p = Param([1.0], [1.0])
    opt.apply([p])
    p.grad = np.array([0.0], np.float32)
    opt.apply([p])
    # step 2: m = 0.09, v = 0.000999 but v_hat stays 0.001 from step 1
    alpha = 0.1 * math.sqrt(1 - 0.999**2) / (1 - 0.9**2)
    w1 = 1.0 - 0.1 * 1.0 / (1.0 + 1e-7 / math.sqrt(0.001))
    np.testing.assert_allclose(p.data, [w1 - alpha * 0.09 / (math.sqrt(0.001) + 1e-7)], rtol=1e-5)


def test_params_without_grad_are_skipped_and_iterations_counted():
    opt = optimizers.SGD()
    frozen = Param(W)
    opt.apply([frozen])
    np.testing.assert_array_equal(frozen.data, np.float32(W))
    assert opt.iterations == 1


def test_slots_are_per_parameter():
    opt = optimizers.SGD(learning_rate=0.1, momentum=0.9)
    a, b = Param([1.0], [1.0]), Param([1.0], [1.0])
    opt.apply([a])
    opt.apply([a, b])
    assert b.data[0] == pytest.approx(1.0 - 0.1)  # b's momentum starts at zero
    assert a.data[0] == pytest.approx(1.0 - 0.1 - (0.09 + 0.1))


# ---------------------------------------------------------------- optimizers: construction

def test_lr_alias():
    assert optimizers.SGD(lr=0.5).learning_rate == 0.5
    assert optimizers.Adam(lr=1e-4).learning_rate == 1e-4
    assert optimizers.RMSprop(lr=0.2).learning_rate == 0.2


def test_lr_and_learning_rate_together_is_an_error():
    with pytest.raises(ValueError):
        optimizers.SGD(learning_rate=0.1, lr=0.1)


def test_unknown_keyword_names_the_accepted_ones():
    with pytest.raises(TypeError, match="beta_1"):
        optimizers.Adam(beta1=0.9)


def test_negative_learning_rate_is_an_error():
    with pytest.raises(ValueError):
        optimizers.Adam(-0.1)


def test_get_gives_keras_defaults():
    adam = optimizers.get("Adam")
    assert isinstance(adam, optimizers.Adam)
    assert adam.get_config() == {"name": "adam", "learning_rate": 0.001, "beta_1": 0.9,
                                 "beta_2": 0.999, "epsilon": 1e-7, "amsgrad": False}
    assert optimizers.get("rmsprop").get_config() == {
        "name": "rmsprop", "learning_rate": 0.001, "rho": 0.9, "momentum": 0.0,
        "epsilon": 1e-7, "centered": False}
    assert optimizers.get("sgd").learning_rate == 0.01
    sgd = optimizers.SGD(0.3)
    assert optimizers.get(sgd) is sgd
    with pytest.raises(ValueError, match="adam"):
        optimizers.get("adamw")


def test_from_config_round_trip():
    opt = optimizers.RMSprop(0.01, momentum=0.5, centered=True)
    assert optimizers.RMSprop.from_config(opt.get_config()).get_config() == opt.get_config()


def test_variable_count():
    assert optimizers.RMSprop().variable_count(1457) == 1459
    assert optimizers.RMSprop(momentum=0.9, centered=True).variable_count(10) == 32
    assert optimizers.Adam().variable_count(1457) == 2 * 1457 + 2
    assert optimizers.Adam(amsgrad=True).variable_count(10) == 32
    assert optimizers.SGD().variable_count(1457) == 2
    assert optimizers.SGD(momentum=0.9).variable_count(1457) == 1459


# ---------------------------------------------------------------- initializers

def test_compute_fans():
    assert initializers.compute_fans((3, 3, 1, 10)) == (9, 90)
    assert initializers.compute_fans((160, 50)) == (160, 50)
    assert initializers.compute_fans((7,)) == (7, 7)


@pytest.mark.parametrize("shape", [(3, 3, 1, 10), (160, 50)])
def test_glorot_uniform_bounds(shape):
    fan_in, fan_out = initializers.compute_fans(shape)
    limit = math.sqrt(6 / (fan_in + fan_out))
    w = initializers.GlorotUniform()(shape, rng=np.random.default_rng(1))
    assert w.shape == shape and w.dtype == np.float32
    assert np.abs(w).max() <= limit
    assert np.abs(w).max() > 0.9 * limit  # the whole range is used


def test_glorot_normal_truncated_with_target_stddev():
    w = initializers.GlorotNormal()((400, 600), rng=np.random.default_rng(2))
    target = math.sqrt(2 / 1000)
    assert np.abs(w).max() <= 2 * target / 0.87962566103423978
    assert w.std() == pytest.approx(target, rel=0.01)


@pytest.mark.parametrize("shape", [(8, 32), (3, 12)])
def test_orthogonal_rows_when_wide(shape):
    q = initializers.Orthogonal()(shape, dtype="float64", rng=np.random.default_rng(3))
    np.testing.assert_allclose(q @ q.T, np.eye(shape[0]), atol=1e-12)


def test_orthogonal_columns_when_tall():
    q = initializers.Orthogonal(gain=2.0)((32, 8), dtype="float64", rng=np.random.default_rng(4))
    np.testing.assert_allclose(q.T @ q, 4 * np.eye(8), atol=1e-12)


def test_unit_forget_bias_layout():
    b = initializers.UnitForgetBias()((12,))
    np.testing.assert_array_equal(b, np.r_[np.zeros(3), np.ones(3), np.zeros(6)])
    assert b.dtype == np.float32


def test_dtypes_and_constants():
    assert initializers.Zeros()((2, 3)).dtype == np.float32
    assert initializers.get("ones")((2,), dtype="float64").dtype == np.float64
    np.testing.assert_array_equal(initializers.Constant(0.5)((2,)), [0.5, 0.5])
    assert initializers.HeUniform()((50, 4), dtype="float64").dtype == np.float64


def test_seeded_generator_is_deterministic():
    init = initializers.get("glorot_uniform")
    a = init((5, 7), rng=np.random.default_rng(42))
    b = init((5, 7), rng=np.random.default_rng(42))
    np.testing.assert_array_equal(a, b)
    engine_random.set_seed(7)
    c = init((5, 7))
    engine_random.set_seed(7)
    np.testing.assert_array_equal(c, init((5, 7)))


def test_initializer_get():
    assert isinstance(initializers.get("orthogonal"), initializers.Orthogonal)
    assert isinstance(initializers.get("GlorotUniform"), initializers.GlorotUniform)
    assert isinstance(initializers.get("random_normal"), initializers.RandomNormal)
    init = initializers.HeUniform()
    assert initializers.get(init) is init
    with pytest.raises(ValueError, match="glorot_uniform"):
        initializers.get("xavier")


# ---------------------------------------------------------------- regularizers

def test_l2_penalty_and_gradient():
    w = np.ones((3, 2), np.float32)
    reg = regularizers.l2(0.5)
    assert reg(w) == 3.0
    np.testing.assert_array_equal(reg.gradient(w), 2 * 0.5 * w)
    assert regularizers.L2().l2 == 0.01
    assert regularizers.get("l2").get_config() == {"name": "L2", "l2": 0.01}


def test_l1_and_l1_l2():
    w = np.array([[1.0, -2.0]], np.float32)
    assert regularizers.l1(0.1)(w) == pytest.approx(0.3)
    np.testing.assert_allclose(regularizers.l1(0.1).gradient(w), [[0.1, -0.1]])
    both = regularizers.l1_l2(l1=0.1, l2=0.5)
    assert both(w) == pytest.approx(0.3 + 2.5)
    np.testing.assert_allclose(both.gradient(w), [[0.1 + 1.0, -0.1 - 2.0]])


def test_regularizer_get():
    assert regularizers.get(None) is None
    reg = regularizers.L2(0.1)
    assert regularizers.get(reg) is reg
    with pytest.raises(ValueError):
        regularizers.get("l3")
    with pytest.raises(ValueError):
        regularizers.L2(-1.0)
