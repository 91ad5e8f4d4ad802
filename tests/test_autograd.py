"""The autodiff core (engine.autograd) and the backend registry (engine.backends)."""
import numpy as np
import pytest

import engine
from engine import Tensor, no_grad, tensor
from engine.autograd import Function


# ------------------------------------------------------------------------------------------ Tensor basics

def test_tensor_shape_dtype_numpy_item_and_repr():
    t = tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True, name="w")
    assert t.shape == (2, 3) and t.ndim == 2 and t.size == 6 and len(t) == 2
    assert t.dtype == np.float32
    assert isinstance(t.numpy(), np.ndarray)
    np.testing.assert_array_equal(t.numpy(), [[1, 2, 3], [4, 5, 6]])
    assert tensor(2.5).item() == 2.5 and isinstance(tensor(2.5).item(), float)
    assert t.name == "w" and t.grad is None
    text = repr(t)
    assert text.startswith("tensor(") and "float32" in text and "requires_grad=True" in text
    assert "requires_grad" not in repr(tensor([1.0]))


def test_tensor_default_dtype_is_float32_for_numbers_and_lists():
    assert tensor([1, 2, 3]).dtype == np.float32
    assert tensor(3).dtype == np.float32
    assert tensor([[0.5]]).dtype == np.float32


def test_tensor_keeps_the_dtype_of_arrays_unless_told():
    assert tensor(np.zeros(3)).dtype == np.float64
    assert tensor(np.zeros(3, dtype=np.float32)).dtype == np.float32
    assert tensor(np.arange(3)).dtype == np.arange(3).dtype
    assert tensor(np.zeros(3), dtype=np.float32).dtype == np.float32
    assert tensor([1, 2], dtype=np.float64).dtype == np.float64
    assert tensor(tensor(np.ones(2))).dtype == np.float64  # a tensor in: its data, dtype kept


def test_ops_keep_float32():
    x = tensor([[1.0, 2.0]], requires_grad=True)
    y = (x * 2.0 + 1.0) / 3.0 - x ** 2
    assert y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == np.float32


# --------------------------------------------------------------------------------------- backpropagation

def test_simple_gradient():
    x = tensor(np.array([1.0, -2.0, 3.0]), requires_grad=True)
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad, 2 * np.array([1.0, -2.0, 3.0]))


def test_gradient_accumulates_when_a_tensor_is_used_twice():
    x = tensor(np.array([3.0]), requires_grad=True)
    (x * x + x).sum().backward()  # d/dx (x^2 + x) = 2x + 1
    np.testing.assert_allclose(x.grad, [7.0])


def test_diamond_graph():
    # x -> a = 2x, b = x^2 -> y = a * b = 2 x^3: dy/dx = 6 x^2 (both paths summed once)
    x = tensor(np.array([2.0, -1.0]), requires_grad=True)
    a = x * 2.0
    b = x * x
    (a * b).sum().backward()
    np.testing.assert_allclose(x.grad, 6 * np.array([2.0, -1.0]) ** 2)


def test_shared_intermediate_is_backpropagated_once_with_summed_gradient():
    x = tensor(np.array([1.5]), requires_grad=True)
    h = x.exp()
    y = h * h + h * 3.0  # h used three times
    y.sum().backward()
    e = np.exp(1.5)
    np.testing.assert_allclose(x.grad, [(2 * e + 3) * e])


def test_deep_chain_does_not_hit_the_recursion_limit():
    x = tensor(np.array([0.0]), requires_grad=True)
    y = x
    for _ in range(5000):
        y = y + 1.0
    y.sum().backward()
    np.testing.assert_allclose(y.numpy(), [5000.0])
    np.testing.assert_allclose(x.grad, [1.0])


def test_deep_multiplicative_chain():
    x = tensor(np.array([1.0]), requires_grad=True)
    y = x
    for _ in range(3000):
        y = y * 1.0001
    y.sum().backward()
    np.testing.assert_allclose(x.grad, [1.0001 ** 3000], rtol=1e-10)


def test_grad_accumulates_across_backward_calls_on_separate_graphs():
    w = tensor(np.array([1.0, 2.0]), requires_grad=True)
    (w * 3.0).sum().backward()
    (w * w).sum().backward()
    np.testing.assert_allclose(w.grad, [3.0 + 2.0, 3.0 + 4.0])


def test_backward_with_an_explicit_gradient():
    x = tensor(np.array([[1.0, 2.0], [3.0, 4.0]]), requires_grad=True)
    y = x * x
    y.backward(np.array([[1.0, 0.0], [0.5, 2.0]]))
    np.testing.assert_allclose(x.grad, 2 * x.numpy() * [[1.0, 0.0], [0.5, 2.0]])
    z = tensor(np.array([1.0, 2.0]), requires_grad=True)
    (z * 2.0).backward(tensor(np.array([1.0, 1.0])))  # a Tensor gradient works too
    np.testing.assert_allclose(z.grad, [2.0, 2.0])


def test_only_leaves_that_require_grad_receive_gradients():
    x = tensor(np.array([1.0, 2.0]), requires_grad=True)
    c = tensor(np.array([3.0, 4.0]))
    (x * c).sum().backward()
    np.testing.assert_allclose(x.grad, [3.0, 4.0])
    assert c.grad is None and not c.requires_grad


def test_backward_on_non_scalar_without_gradient_raises():
    x = tensor(np.ones((2, 2)), requires_grad=True)
    with pytest.raises(RuntimeError, match="non-scalar"):
        (x * 2.0).backward()


def test_backward_on_tensor_without_grad_raises():
    with pytest.raises(RuntimeError, match="does not require grad"):
        tensor(np.ones(1)).backward()
    x = tensor(np.ones(1), requires_grad=True)
    with no_grad():
        y = x * 2.0
    with pytest.raises(RuntimeError):
        y.backward()


def recording_product(calls):
    """A Function a*b that appends its needs_grad flags to `calls` and computes only the gradients asked for."""
    class Scale(Function):
        def forward(self, a, b):
            self.a, self.b = a, b
            return a * b

        def backward(self, g):
            calls.append(self.needs_grad)
            return (g * self.b if self.needs_grad[0] else None), (g * self.a if self.needs_grad[1] else None)
    return Scale


def test_a_function_backward_may_skip_unneeded_gradients():
    calls = []
    Scale = recording_product(calls)
    a = tensor(np.array([2.0]), requires_grad=True)
    b = tensor(np.array([5.0]))
    Scale.apply(a, b).sum().backward()
    assert calls == [(True, False)]
    np.testing.assert_allclose(a.grad, [5.0])


def test_backward_to_chosen_inputs_fills_only_those_and_skips_the_other_branch():
    calls = []
    Scale = recording_product(calls)
    # loss = (g * x) * d: the "generator" weight g feeds the "discriminator" weight d's op
    g = tensor(np.array([2.0]), requires_grad=True)
    d = tensor(np.array([3.0]), requires_grad=True)
    x = tensor(np.array([5.0]))
    out = Scale.apply(Scale.apply(g, x), d)
    loss = out.sum()
    loss.backward(inputs=[d])
    np.testing.assert_allclose(d.grad, [10.0])
    assert g.grad is None
    assert calls == [(False, True)]  # the op of g and x never ran its backward; the outer one skipped its a
    calls.clear()
    loss.backward(inputs=[g])
    np.testing.assert_allclose(g.grad, [15.0])
    np.testing.assert_allclose(d.grad, [10.0])  # untouched by the second pass
    assert calls == [(True, False), (True, False)]
    assert out._fn.needs_grad == (True, True)  # the op's own flags are put back


# ------------------------------------------------------------------------------------- no_grad, detach

def test_no_grad_results_do_not_require_grad():
    x = tensor(np.ones(3), requires_grad=True)
    assert engine.is_grad_enabled()
    with no_grad():
        assert not engine.is_grad_enabled()
        y = (x * 2.0).sum()
        with no_grad():
            pass
        assert not engine.is_grad_enabled()  # nesting restores the outer state
    assert engine.is_grad_enabled()
    assert not y.requires_grad and y._fn is None
    assert (x * 2.0).requires_grad


def test_no_grad_restores_state_after_an_exception():
    with pytest.raises(ValueError):
        with no_grad():
            raise ValueError("boom")
    assert engine.is_grad_enabled()


def test_detach_cuts_the_graph():
    x = tensor(np.array([2.0]), requires_grad=True)
    d = (x * 3.0).detach()
    assert not d.requires_grad and d._fn is None
    np.testing.assert_allclose(d.numpy(), [6.0])
    y = x * d  # d is a constant: dy/dx = d
    y.sum().backward()
    np.testing.assert_allclose(x.grad, [6.0])


# ------------------------------------------------------------------------------------------- operators

def test_ndarray_on_the_left_calls_the_tensor_operators():
    x = tensor(np.array([1.0, 2.0]), requires_grad=True)
    a = np.array([10.0, 20.0])
    for y in (a + x, a * x, a - x, a / x):
        assert isinstance(y, Tensor)
    np.testing.assert_allclose((a + x).numpy(), [11.0, 22.0])
    np.testing.assert_allclose((a - x).numpy(), [9.0, 18.0])
    (a * x).sum().backward()
    np.testing.assert_allclose(x.grad, a)


def test_python_numbers_on_either_side():
    x = tensor(np.array([2.0]), requires_grad=True)
    y = 1.0 + x * 3.0 - 2.0 / x + (-x) + 4.0 - x
    np.testing.assert_allclose(y.numpy(), [1 + 6 - 1 - 2 + 4 - 2])
    y.sum().backward()
    np.testing.assert_allclose(x.grad, [3 + 2 / 4 - 1 - 1])


def test_tensor_methods_match_numpy():
    a = np.arange(24.0).reshape(2, 3, 4)
    t = tensor(a)
    np.testing.assert_array_equal(t.sum(axis=1).numpy(), a.sum(axis=1))
    np.testing.assert_array_equal(t.mean(axis=(0, 2), keepdims=True).numpy(), a.mean(axis=(0, 2), keepdims=True))
    np.testing.assert_array_equal(t.reshape(4, 6).numpy(), a.reshape(4, 6))
    np.testing.assert_array_equal(t.reshape((6, 4)).numpy(), a.reshape(6, 4))
    np.testing.assert_array_equal(t.transpose(2, 0, 1).numpy(), a.transpose(2, 0, 1))
    np.testing.assert_array_equal(t.T.numpy(), a.T)
    np.testing.assert_array_equal(t[1, :, ::2].numpy(), a[1, :, ::2])
    np.testing.assert_array_equal((t[0] @ t[1].T).numpy(), a[0] @ a[1].T)


# -------------------------------------------------------------------------------------- backend registry

def test_numpy_backend_is_available_and_active_by_default():
    assert "numpy" in engine.available_backends()
    assert engine.get_backend().name == "numpy"
    assert engine.get_backend("numpy").name == "numpy"
    assert engine.get_backend().xp is np


def test_set_backend_unknown_name_lists_the_available_ones():
    with pytest.raises(engine.BackendUnavailable) as info:
        engine.set_backend("nope")
    message = str(info.value)
    assert "nope" in message
    for name in engine.available_backends():
        assert name in message
    assert engine.get_backend().name == "numpy"  # a failed switch leaves the active backend alone


def test_backend_unavailable_is_a_runtime_error():
    assert issubclass(engine.BackendUnavailable, RuntimeError)


def test_set_backend_returns_the_backend():
    assert engine.set_backend("numpy").name == "numpy"
    assert engine.get_backend().name == "numpy"


def test_use_backend_restores_the_previous_backend():
    before = engine.get_backend()
    with engine.use_backend("numpy") as backend:
        assert backend.name == "numpy" and engine.get_backend() is backend
    assert engine.get_backend() is before


def test_use_backend_restores_after_an_exception():
    before = engine.get_backend()
    with pytest.raises(KeyError):
        with engine.use_backend("numpy"):
            raise KeyError("inside")
    assert engine.get_backend() is before


def test_use_backend_unknown_name_raises_and_changes_nothing():
    before = engine.get_backend()
    with pytest.raises(engine.BackendUnavailable):
        with engine.use_backend("nope"):
            pass  # pragma: no cover
    assert engine.get_backend() is before


def test_backend_exposes_every_kernel_of_the_contract():
    from engine.backends import KERNELS
    backend = engine.get_backend()
    for name in KERNELS:
        assert callable(getattr(backend, name))
    with pytest.raises(AttributeError, match="no kernel"):
        backend.not_a_kernel  # noqa: B018


# --- regressions found while reviewing the core --------------------------------------------------------

def test_transpose_accepts_a_tuple_like_numpy():
    x = engine.tensor(np.arange(24.0).reshape(2, 3, 4), requires_grad=True)
    y = x.transpose((1, 2, 0))
    assert y.shape == (3, 4, 2)
    y.sum().backward()
    assert x.grad.shape == (2, 3, 4)


def test_matmul_gradient_of_a_broadcast_matrix_has_its_shape():
    a = engine.tensor(np.ones((3, 4)), requires_grad=True)
    b = engine.tensor(np.ones((2, 4, 5)), requires_grad=True)
    (a @ b).sum().backward()
    assert a.grad.shape == (3, 4)
    np.testing.assert_allclose(a.grad, np.full((3, 4), 10.0))


def test_leaf_gradients_are_private_writable_arrays():
    a = engine.tensor(np.ones(3), requires_grad=True)
    b = engine.tensor(np.ones(3), requires_grad=True)
    (a + b).sum().backward()
    assert a.grad is not b.grad
    a.grad *= 2  # would fail on a read-only broadcast view
    np.testing.assert_allclose(b.grad, np.ones(3))


def test_dropout_mask_keeps_the_activation_dtype():
    from engine import functional as F
    x = engine.tensor(np.ones((2, 3), dtype=np.float32))
    y = F.dropout(x, 0.5, training=True, mask=np.array([[2.0, 0, 2], [0, 2, 2]]))
    assert y.dtype == np.float32


def test_number_to_the_power_of_a_tensor():
    x = engine.tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = 2 ** x
    np.testing.assert_allclose(y.numpy(), [2.0, 4.0])
    y.sum().backward()
    np.testing.assert_allclose(x.grad, np.log(2) * np.array([2.0, 4.0]))
