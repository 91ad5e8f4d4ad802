"""`demo polynomial` (a polynomial product is a 1-D convolution) and `demo filters` (hand-made 3x3 filters)."""
from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np

import engine
from engine import datasets
from shell import writing
from shell.language.parser import Node
from shell.statements.common import engine_errors
from shell.statements.plotting import write_plot

if TYPE_CHECKING:
    from shell.interpreter import Session


def st_demo(session: Session, node: Node) -> None:
    start = time.perf_counter()
    globals()["demo_" + node.sub](session, node)      # demo_filters for `demo filters` (the registry's forms)
    session.done(f"demo {node.sub}", time.perf_counter() - start)


def demo_polynomial(session: Session, node: Node) -> None:
    from engine.lecture import experiments
    from engine.viz import plots
    a = np.asarray(tuple(node.get("a")), dtype=np.float64)
    b = np.asarray(tuple(node.get("b")), dtype=np.float64)
    c, toeplitz_a = experiments.polynomial_product(a, b)
    _, toeplitz_b = experiments.polynomial_product(b, a)
    session.out.print(f"p(t) = {_polynomial_text(a)}")
    session.out.print(f"s(t) = {_polynomial_text(b)}")
    session.out.print(f"p(t)·s(t) = {_polynomial_text(c)}")
    session.out.print(f"1-D convolution  delta_j = sum_i alpha_i beta_(j-i):  np.convolve(a, b) = {_vector_text(c)}")
    n = len(c)
    rows = [(f"delta_{k}", *[float(v) for v in toeplitz_a[k]], float(b[k]) if k < len(b) else "",
             float(toeplitz_a[k] @ b)) for k in range(n)]
    session.out.table(["", *[f"col {j}" for j in range(len(b))], "beta", "T·beta"], rows,
                      title=f"Toeplitz matrix T of alpha ({n} x {len(b)}; each column a shifted copy of alpha) "
                            f"times beta")
    by_matrix = toeplitz_a @ b
    swapped = toeplitz_b @ a
    direct = np.array([sum(a[i] * b[k - i] for i in range(len(a)) if 0 <= k - i < len(b)) for k in range(n)])
    error = float(max(np.max(np.abs(by_matrix - c)), np.max(np.abs(swapped - c)), np.max(np.abs(direct - c))))
    verdict = "they agree" if error <= 1e-12 * max(1.0, float(np.max(np.abs(c)))) else "they DISAGREE"
    session.out.print(f"T(alpha)·beta = {_vector_text(by_matrix)}; T(beta)·alpha = {_vector_text(swapped)} "
                      f"(convolution commutes); the double sum gives {_vector_text(direct)}: {verdict} "
                      f"(largest difference {error:.1e})")
    session.out.print(f"cost: the convolution needs {len(a) * len(b)} multiplications; the dense matrix product "
                      f"T(alpha)·beta does {n * len(b)} and T(beta)·alpha {n * len(a)}, most of them with zeros")
    if node.has("to"):
        write_plot(session, node, writing.path_of(session, node, "to"), lambda p: plots.plot_signal(
            None, {"alpha (p)": a, "beta (s)": b, "delta = alpha * beta": c}, p,
            title="polynomial product = convolution of coefficients", xlabel="power of t", ylabel="coefficient"))


def demo_filters(session: Session, node: Node) -> None:
    from engine import functional
    from engine.lecture import experiments
    from engine.viz import plots
    data = session.data
    if data is None or data.x_train is None or np.ndim(data.x_train) != 4:
        (x_train, _), (x_test, _) = datasets.digits()
        source = "digits"
        images = {"train": x_train, "test": x_test}
    else:
        source = data.name
        images = {"train": data.x_train, "test": data.x_test if data.has_test() else None}
    which = node.get("on")
    pool = images[which]
    if pool is None:
        raise node.error(f"the {source} data has no test part", at="on")
    index = node.get("index")
    if index >= len(pool):
        raise node.error(f"index {index} is past the {len(pool)} {which} images", at="index")
    image = np.asarray(pool[index], dtype=np.float64)
    image = image.mean(axis=-1) if image.shape[-1] > 1 else image[..., 0]     # colour -> gray
    names = list(node.get("filters") or experiments.EDGE_FILTERS)
    padding = node.get("padding")
    filters = [experiments.EDGE_FILTERS[name] for name in names]
    session.out.print(f"{source} {which} image {index}: {image.shape[0]}x{image.shape[1]}, values "
                      f"{image.min():g} to {image.max():g}")
    responses = [experiments.cross_correlate2d(image, f.kernel, padding) for f in filters]
    rows = []
    for name, f, r in zip(names, filters, responses):
        kernel = _kernel_text(f.kernel)
        rows.append((name, kernel, float(r.min()), float(r.max())))
    session.out.table(("filter", "kernel (rows)", "response min", "max"), rows,
                      title=f"S(i,j) = sum_m sum_n I(i+m, j+n) K(m,n) (cross-correlation, padding {padding}, "
                            f"responses {_formula_shape(responses)})")
    for name, f in zip(names, filters):
        session.out.note(f"  {name}: {f.description}")
    kernels = np.stack([f.kernel for f in filters], axis=-1)[:, :, None, :]          # (3, 3, 1, F)
    with engine_errors(node):
        x = engine.tensor(image[None, :, :, None])
        out = functional.conv2d(x, engine.tensor(kernels), padding=padding).numpy()[0]
    formula = np.stack(responses, axis=-1)
    error = float(np.max(np.abs(out - formula)))
    scale = max(1.0, float(np.max(np.abs(formula))))
    verdict = "they agree" if error <= 1e-9 * scale else "they DISAGREE"
    session.out.print(f"the engine's conv2d ({session.backend_name} backend) with these {len(names)} filters as one "
                      f"(3, 3, 1, {len(names)}) kernel gives the same maps: {verdict} (largest difference {error:.1e})")
    if node.has("to"):
        path, kernel_path = writing.derived_paths(node, writing.path_of(session, node, "to"))
        shown = image
        label = f"{source} image {index}"
        if shown.shape != formula.shape[:2]:           # valid padding: crop the image to the response size
            dh, dw = (shown.shape[0] - formula.shape[0]) // 2, (shown.shape[1] - formula.shape[1]) // 2
            shown = shown[dh:dh + formula.shape[0], dw:dw + formula.shape[1]]
            label += " (cropped)"
        maps = np.concatenate([shown[:, :, None], formula], axis=-1)
        write_plot(session, node, path, lambda p: plots.plot_feature_maps(
            maps, p, labels=[label, *names], title=f"hand-made 3x3 filters on {source} image {index} "
                                                    f"(padding {padding})"))
        write_plot(session, node, kernel_path, lambda p: plots.plot_filters(kernels, p, labels=names,
                                                                            title="hand-made filters"))


def _polynomial_text(coefficients) -> str:
    terms = []
    for power, c in enumerate(coefficients):
        if c == 0 and len(coefficients) > 1:
            continue
        value = f"{c:g}"
        terms.append(value if power == 0 else f"{value} t" if power == 1 else f"{value} t^{power}")
    return " + ".join(terms).replace("+ -", "- ") or "0"


def _kernel_text(kernel) -> str:
    """A small kernel row by row ('-1 0 1 / -2 0 2 / ...'); a constant one as 'all 1/9'."""
    k = np.asarray(kernel, dtype=np.float64)
    first = float(k.flat[0])
    if np.allclose(k, first) and first != 0:
        inverse = 1.0 / first
        return f"all 1/{inverse:.0f}" if abs(inverse - round(inverse)) < 1e-9 else f"all {first:.3g}"
    return " / ".join(" ".join(f"{v:.3g}" for v in row) for row in k)


def _formula_shape(maps) -> str:
    return f"{maps[0].shape[0]}x{maps[0].shape[1]}" if maps else "none"


def _vector_text(values) -> str:
    return "[" + ", ".join(f"{v:g}" for v in np.asarray(values, dtype=np.float64)) + "]"
