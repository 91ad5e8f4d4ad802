"""Check analytic gradients against central finite differences.

The idea, for a function ``fn(*tensors) -> Tensor``:

1. Turn every input array into a float64 tensor and evaluate ``out = fn(*tensors)``.
2. Reduce the output to a scalar with a fixed random weighting R (seeded, the shape of ``out``):
   ``L = sum(out * R)``. A random R exercises every output element with a different weight, so a
   backward pass that mixes up output positions cannot cancel out (as it could with L = sum(out)).
3. Analytic gradients: ``out.backward(R)``, which is dL/d(input) for every input.
4. Numerical gradients: for every element x_k of an input, ``(L(x_k + eps) - L(x_k - eps)) / (2 eps)``.
5. Compare per input with the relative error

       err = max_k |a_k - n_k| / (max_k |a_k| + max_k |n_k|)       (0 when both gradients are all zero)

   i.e. the largest elementwise difference measured against the scale of the gradient as a whole
   (infinity norms). It lies in [0, 1]: a gradient with the wrong sign gives 1, an all-zero analytic
   gradient against a nonzero numerical one gives 1, and float64 central differences of a correct
   backward give about 1e-9 .. 1e-11. Unlike an elementwise |a-n|/(|a|+|n|), tiny gradient entries
   (where finite differences have no relative precision) cannot raise false alarms; unlike a 2-norm
   ratio, one wrong element among thousands is not diluted by the size of the array.

Use it from Python::

    import numpy as np
    from engine import functional as F
    from engine.tools.gradcheck import check_gradients, gradcheck

    x, W = np.random.randn(4, 3), np.random.randn(3, 2)
    gradcheck(lambda x, W: F.dense(x, W), [x, W])          # {0: 3.1e-11, 1: 2.7e-11}
    check_gradients(lambda x, W: F.dense(x, W), [x, W])    # raises AssertionError if an error > tol

Extra arguments that must not be differentiated (targets, masks, options) are captured by a closure::

    y = np.eye(3)[[0, 2, 1, 1]]
    check_gradients(lambda z: F.categorical_crossentropy(y, z, from_logits=True), [np.random.randn(4, 3)])

or, to keep an input out of the check, pass its index list as ``wrt`` (the others are then built with
``requires_grad=False``, which also exercises the ops' skip-unneeded-gradient paths).

From the shell, ``python -m engine.tools.gradcheck`` (or the ``gradcheck`` command) runs the built-in
checks of every differentiable op on the active backend and prints one line per op.

``fn`` must be deterministic: the tool evaluates it 2 * (number of input elements) + 2 times. For dropout,
pass a fixed mask. Near kinks (relu at 0, max-pool ties, clip bounds) finite differences are meaningless;
keep the inputs away from them.
"""
from __future__ import annotations

import argparse
import sys
from typing import Callable, Sequence

import numpy as np

from engine.autograd import Tensor, no_grad
from engine.backends import get_backend

DEFAULT_EPS = 1e-6
DEFAULT_TOL = 1e-6


def relative_error(analytic: np.ndarray, numeric: np.ndarray) -> float:
    """max|a - n| / (max|a| + max|n|), and 0.0 when both are all zero (see the module docstring)."""
    a, n = np.asarray(analytic, dtype=np.float64), np.asarray(numeric, dtype=np.float64)
    if a.size == 0:
        return 0.0
    scale = np.abs(a).max() + np.abs(n).max()
    if scale == 0:
        return 0.0
    return float(np.abs(a - n).max() / scale)


def _make_tensors(arrays: list[np.ndarray], wrt: set[int]) -> list[Tensor]:
    """Fresh tensors on the active backend (copies, so fn can never modify the arrays being perturbed)."""
    xp = get_backend().xp
    return [Tensor(xp.array(a, copy=True), requires_grad=i in wrt) for i, a in enumerate(arrays)]


def _call(fn: Callable, tensors: list[Tensor]) -> Tensor:
    out = fn(*tensors)
    if not isinstance(out, Tensor):
        raise TypeError(f"gradcheck: fn must return an engine Tensor, got {type(out).__name__}")
    return out


def _evaluate(fn: Callable, arrays: list[np.ndarray], wrt: set[int]) -> Tensor:
    return _call(fn, _make_tensors(arrays, wrt))


def _weighted_sum(fn: Callable, arrays: list[np.ndarray], weights: np.ndarray) -> float:
    """L = sum(fn(*arrays) * R), evaluated without recording a graph."""
    with no_grad():
        out = _evaluate(fn, arrays, set())
    return float(np.sum(out.numpy().astype(np.float64) * weights))


def analytic_gradients(fn: Callable, inputs: Sequence, seed: int = 0, wrt=None):
    """(gradients, R): dL/d(input i) by backpropagation for every i in wrt, with L = sum(fn(...) * R)."""
    arrays = [np.array(a, dtype=np.float64, order="C") for a in inputs]
    wrt = set(range(len(arrays)) if wrt is None else wrt)
    tensors = _make_tensors(arrays, wrt)
    out = _call(fn, tensors)
    weights = np.random.default_rng(seed).standard_normal(out.shape)
    if out.requires_grad:
        out.backward(get_backend().xp.asarray(weights, dtype=out.dtype))
    grads = {i: (np.zeros_like(arrays[i]) if tensors[i].grad is None
                 else np.asarray(get_backend().to_numpy(tensors[i].grad), dtype=np.float64))
             for i in sorted(wrt)}
    for i, g in grads.items():
        if g.shape != arrays[i].shape:
            raise AssertionError(f"gradcheck: the gradient of input {i} has shape {g.shape}, "
                                 f"but the input has shape {arrays[i].shape}")
    return grads, weights


def numerical_gradient(fn: Callable, inputs: Sequence, index: int, weights: np.ndarray,
                       eps: float = DEFAULT_EPS) -> np.ndarray:
    """dL/d(input `index`) by central differences, one element at a time, with L = sum(fn(...) * weights)."""
    arrays = [np.array(a, dtype=np.float64, order="C") for a in inputs]
    x = arrays[index]
    grad = np.zeros_like(x)
    flat_x, flat_g = x.reshape(-1), grad.reshape(-1)  # views: writing flat_x changes arrays[index]
    for k in range(flat_x.size):
        original = flat_x[k]
        flat_x[k] = original + eps
        plus = _weighted_sum(fn, arrays, weights)
        flat_x[k] = original - eps
        minus = _weighted_sum(fn, arrays, weights)
        flat_x[k] = original
        flat_g[k] = (plus - minus) / (2 * eps)
    return grad


def gradcheck(fn: Callable, inputs: Sequence, eps: float = DEFAULT_EPS, seed: int = 0, wrt=None) -> dict[int, float]:
    """Relative error (see :func:`relative_error`) between the backprop and finite-difference gradients
    of ``sum(fn(*inputs) * R)``, for every input index (or only those in ``wrt``).

    inputs: arrays (converted to float64); fn: takes one tensor per input and returns a tensor.
    """
    details = gradcheck_details(fn, inputs, eps=eps, seed=seed, wrt=wrt)
    return {i: d["error"] for i, d in details.items()}


def gradcheck_details(fn: Callable, inputs: Sequence, eps: float = DEFAULT_EPS, seed: int = 0, wrt=None) -> dict:
    """Like :func:`gradcheck`, but each input index maps to a dict with the error and both gradients
    (``analytic``, ``numeric``), and the element where they differ most (``worst``)."""
    inputs = [np.array(a, dtype=np.float64, order="C") for a in inputs]
    wrt = list(range(len(inputs)) if wrt is None else wrt)
    for i in wrt:
        if not 0 <= i < len(inputs):
            raise IndexError(f"gradcheck: wrt index {i} is out of range for {len(inputs)} inputs")
    analytic, weights = analytic_gradients(fn, inputs, seed=seed, wrt=wrt)
    with no_grad():
        again = _evaluate(fn, inputs, set()).numpy()
    if again.shape != weights.shape:
        raise AssertionError(f"gradcheck: fn returned shape {weights.shape} then {again.shape}")
    first = _weighted_sum(fn, inputs, weights)
    if not np.isclose(first, _weighted_sum(fn, inputs, weights), rtol=1e-12, atol=0):
        raise AssertionError("gradcheck: fn is not deterministic (two evaluations differ); "
                             "fix its randomness, e.g. pass a dropout mask")
    details = {}
    for i in wrt:
        numeric = numerical_gradient(fn, inputs, i, weights, eps)
        diff = np.abs(analytic[i] - numeric)
        worst = np.unravel_index(int(diff.argmax()), diff.shape) if diff.size else ()
        details[i] = {"error": relative_error(analytic[i], numeric), "analytic": analytic[i],
                      "numeric": numeric, "worst": tuple(int(k) for k in worst)}
    return details


def check_gradients(fn: Callable, inputs: Sequence, tol: float = DEFAULT_TOL, eps: float = DEFAULT_EPS,
                    seed: int = 0, wrt=None, names: Sequence[str] | None = None) -> dict[int, float]:
    """Run :func:`gradcheck` and raise AssertionError naming every input whose error exceeds ``tol``.

    names: optional labels for the inputs, used in the message (default "input 0", "input 1", ...).
    Returns the errors when all pass.
    """
    details = gradcheck_details(fn, inputs, eps=eps, seed=seed, wrt=wrt)
    label = (lambda i: names[i]) if names is not None else (lambda i: f"input {i}")
    failures = []
    for i, d in details.items():
        if not d["error"] <= tol:  # also catches NaN
            w = d["worst"]
            failures.append(f"  {label(i)} (shape {d['analytic'].shape}): relative error {d['error']:.3g} > tol {tol:g}; "
                            f"worst element {w}: analytic {d['analytic'][w]:.8g}, numeric {d['numeric'][w]:.8g}")
    if failures:
        name = getattr(fn, "__name__", "fn")
        raise AssertionError(f"gradient check of {name} failed:\n" + "\n".join(failures))
    return {i: d["error"] for i, d in details.items()}


def gradcheck_layer(layer, x, eps: float = DEFAULT_EPS, seed: int = 0) -> dict[str, float]:
    """Relative error of the gradients of ``layer(x)`` (inference mode) with respect to the input (``"x"``)
    and every trainable weight (by name), computed on a float64 copy of the layer: the layer itself is not
    changed. The layer must be built; a weight that is not one of the layer's attributes cannot be swapped
    for the tensor under test and raises ValueError."""
    from engine.backends import to_host
    from engine.tools.compare import layer_copy

    clone, attributes = layer_copy(layer, dtype=np.float64)
    trainable = [i for i, w in enumerate(clone.weights) if w.trainable]
    lost = [clone.weights[i].name for i in trainable if i not in attributes]
    if lost:
        raise ValueError(f"layer '{layer.name}': weights {', '.join(lost)} are not attributes of the layer")
    names = [attributes[i] for i in trainable]

    def run(x_t, *ws):  # the copy computes with the tensors under test in place of its own weights
        for name, w in zip(names, ws):
            setattr(clone, name, w)
        return clone(x_t)

    inputs = [np.asarray(x, dtype=np.float64), *(np.asarray(to_host(clone.weights[i].data)) for i in trainable)]
    errors = gradcheck(run, inputs, eps=eps, seed=seed)
    labels = ["x", *(clone.weights[i].name for i in trainable)]
    return {labels[i]: error for i, error in errors.items()}


# --- the command line: built-in checks of every differentiable op ------------------------------------------

def builtin_checks() -> dict[str, tuple[Callable, list[np.ndarray]]]:
    """name -> (fn, inputs): one small float64 case per differentiable op, kept away from kinks and ties."""
    from engine import functional as F
    from engine.ops import basic

    rng = np.random.default_rng(0)
    r = rng.standard_normal
    pos = lambda *shape: rng.uniform(0.5, 2.0, shape)  # noqa: E731
    distinct = lambda *shape: rng.permutation(np.prod(shape)).reshape(shape) * 0.1 + 0.01 * r(shape)  # noqa: E731
    away_from_zero = lambda *shape: np.sign(r(shape)) * rng.uniform(0.2, 1.5, shape)  # noqa: E731
    labels = rng.integers(0, 4, size=5)
    onehot = np.eye(4)[labels]
    mask = (rng.random((3, 4)) > 0.3) / 0.7
    targets = r((5,))
    return {
        "add (broadcast)": (basic.add, [r((3, 4)), r((4,))]),
        "mul (broadcast)": (basic.mul, [r((2, 3, 1)), r((1, 4))]),
        "div": (basic.div, [r((3, 4)), pos(3, 1)]),
        "power": (lambda a: basic.power(a, 3.0), [pos(3, 4)]),
        "exp / log": (lambda a: basic.log(basic.exp(a) + 1.0), [r((3, 4))]),
        "matmul (batched)": (basic.matmul, [r((2, 3, 4)), r((4, 5))]),
        "sum / mean": (lambda a: basic.sum(a, axis=1) + basic.mean(a, axis=(1, 2)).reshape(2, 1), [r((2, 3, 4))]),
        "getitem": (lambda a: a[[0, 2, 0], 1:], [r((3, 4))]),
        "dense": (F.dense, [r((2, 3, 4)), r((4, 5)), r((5,))]),
        "conv2d": (lambda x, w, b: F.conv2d(x, w, b, strides=2, padding="same"), [r((1, 7, 7, 2)), r((5, 5, 2, 3)), r((3,))]),
        "conv2d_transpose": (lambda x, w, b: F.conv2d_transpose(x, w, b, strides=2, padding="same"),
                             [r((1, 4, 4, 2)), r((5, 5, 3, 2)), r((3,))]),
        "max_pool2d": (lambda x: F.max_pool2d(x, 2, padding="same"), [distinct(1, 5, 5, 2)]),
        "avg_pool2d": (lambda x: F.avg_pool2d(x, 3, strides=2, padding="same"), [r((1, 5, 5, 2))]),
        "batch_norm": (lambda x, g, b: F.batch_norm(x, g, b, np.zeros(3), np.ones(3), training=True),
                       [r((4, 3)), pos(3), r((3,))]),
        "dropout": (lambda x: F.dropout(x, 0.3, training=True, mask=mask), [r((3, 4))]),
        **{f"activation {name}": ((lambda name: lambda x: F.activation(x, name))(name), [away_from_zero(3, 4)])
           for name in F.ACTIVATION_NAMES},
        "simple_rnn": (lambda x, W, U, b, h0: F.simple_rnn(x, W, U, b, return_sequences=True, h0=h0),
                       [r((2, 3, 2)), r((2, 3)), 0.5 * r((3, 3)), r((3,)), r((2, 3))]),
        "lstm": (lambda x, W, U, b, h0, c0: F.lstm(x, W, U, b, return_sequences=True, h0=h0, c0=c0),
                 [r((2, 3, 2)), r((2, 12)), 0.5 * r((3, 12)), r((12,)), r((2, 3)), r((2, 3))]),
        "gru": (lambda x, W, U, B, h0: F.gru(x, W, U, B, return_sequences=True, h0=h0),
                [r((2, 3, 2)), r((2, 9)), 0.5 * r((3, 9)), r((2, 9)), r((2, 3))]),
        "mean_squared_error": (lambda p: F.mean_squared_error(targets, p), [r((5, 1))]),
        "categorical_crossentropy": (lambda p: F.categorical_crossentropy(onehot, p), [pos(5, 4)]),
        "categorical_crossentropy (logits)": (lambda z: F.categorical_crossentropy(onehot, z, from_logits=True),
                                              [r((5, 4))]),
        "sparse_categorical_crossentropy (logits)":
            (lambda z: F.sparse_categorical_crossentropy(labels, z, from_logits=True), [r((5, 4))]),
        "binary_crossentropy (logits)": (lambda z: F.binary_crossentropy(onehot, z, from_logits=True), [r((5, 4))]),
        "binary_crossentropy": (lambda p: F.binary_crossentropy(onehot, p), [rng.uniform(0.1, 0.9, (5, 4))]),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """``gradcheck [--backend NAME] [--tol T] [--list] [OP ...]``: check the built-in cases, print a table,
    exit with status 1 if any fails."""
    import engine

    parser = argparse.ArgumentParser(prog="gradcheck", description="Compare every differentiable op's backward "
                                     "pass with central finite differences (float64).")
    parser.add_argument("ops", nargs="*", help="only the checks whose name contains one of these words")
    parser.add_argument("--backend", default=None, help=f"kernel backend (available: "
                                                        f"{', '.join(engine.available_backends())})")
    parser.add_argument("--tol", type=float, default=DEFAULT_TOL, help="largest accepted relative error")
    parser.add_argument("--eps", type=float, default=DEFAULT_EPS, help="finite-difference step")
    parser.add_argument("--list", action="store_true", help="list the checks and exit")
    args = parser.parse_args(argv)

    if args.backend:
        try:
            engine.set_backend(args.backend)
        except engine.BackendUnavailable as exc:
            print(f"gradcheck: {exc}", file=sys.stderr)
            return 2
    checks = builtin_checks()
    if args.ops:
        checks = {k: v for k, v in checks.items() if any(word in k for word in args.ops)}
        if not checks:
            print(f"gradcheck: no check matches {' '.join(args.ops)} (see --list)", file=sys.stderr)
            return 2
    if args.list:
        print("\n".join(checks))
        return 0

    width = max(len(name) for name in checks)
    print(f"backend {engine.get_backend().name}, eps {args.eps:g}, tol {args.tol:g}")
    failed = 0
    for name, (fn, inputs) in checks.items():
        try:
            errors = gradcheck(fn, inputs, eps=args.eps)
        except Exception as exc:  # report and go on: one broken op should not hide the others
            failed += 1
            print(f"{name:<{width}}  ERROR  {type(exc).__name__}: {exc}")
            continue
        worst = max(errors.values()) if errors else 0.0
        ok = worst <= args.tol
        failed += not ok
        per_input = " ".join(f"{e:.1e}" for e in errors.values())
        print(f"{name:<{width}}  {'ok  ' if ok else 'FAIL'}  max {worst:.1e}  ({per_input})")
    print(f"{len(checks) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
