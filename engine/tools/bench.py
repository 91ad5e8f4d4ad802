"""Benchmarks: the same cases on every backend (and PyTorch on the CPU where installed), one table per case.

    nnlab bench                       # all cases, every available CPU backend, PyTorch if installed
    nnlab bench --cases conv lstm     # a subset (prefix match on case names)
    nnlab bench --json out.json       # also write the numbers
    nnlab bench --quick               # one timed sample per case (a smoke test, not a measurement)

(`python -m engine.tools.bench` is the same command without the shell installed.)

Method: the first call is timed alone (it includes compilation for JIT backends, shown as "first call");
then warm-up, then at least `--samples` timed samples, each repeating the case until it lasts >= 25 ms;
the median per call is reported. Ratios to PyTorch are computed within this run: timings on a shared
machine drift between runs, ratios measured side by side much less.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

import engine
from engine import functional as F
from engine import layers, optimizers, random
from engine.backends import describe_backends
from engine.models import Sequential

CPU_BACKENDS = ("numpy", "numba")


@dataclass
class Case:
    """One benchmark: `make(backend)` returns a zero-argument callable that runs the work once."""
    name: str
    description: str
    flops: float | None
    make_engine: Callable[[], Callable[[], None]]
    make_torch: Callable[[], Callable[[], None]] | None = None


@dataclass
class Result:
    case: str
    runner: str
    median_ms: float
    first_call_ms: float
    samples: list[float] = field(default_factory=list)
    gflops: float | None = None
    ratio_to_torch: float | None = None


# --- the cases ------------------------------------------------------------------------------------------

def _rng():
    return np.random.default_rng(0)


def _engine_fwd_bwd(op, *shapes, backward=True):
    """Tensors for `shapes` (all requiring grad), then op(*tensors) and, if asked, backward of a fixed gradient."""
    arrays = [_rng().standard_normal(s).astype(np.float32) * 0.1 for s in shapes]

    def run():
        tensors = [engine.tensor(a, requires_grad=backward) for a in arrays]
        if not backward:
            with engine.no_grad():
                op(*tensors)
            return
        out = op(*tensors)
        out.backward(np.ones(out.shape, dtype=np.float32))
    return run


def _torch():
    import torch
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    return torch


def _torch_fwd_bwd(module_or_fn, *shapes, backward=True, channels_last=False):
    torch = _torch()
    tensors = [torch.tensor(_rng().standard_normal(s).astype(np.float32) * 0.1) for s in shapes]
    if channels_last:
        tensors = [t.contiguous(memory_format=torch.channels_last) if t.dim() == 4 else t for t in tensors]

    def run():
        if not backward:
            with torch.no_grad():
                module_or_fn(*tensors)
            return
        xs = [t.detach().requires_grad_(True) for t in tensors]
        out = module_or_fn(*xs)
        out = out[0] if isinstance(out, tuple) else out
        out.backward(torch.ones_like(out))
    return run


def conv_case(backward):
    n, h, w, c, k = 32, 32, 32, 64, 3
    flops = 2 * n * 64 * (h - 2) * (w - 2) * c * k * k * (3 if backward else 1)

    def make_torch():
        torch = _torch()
        conv = torch.nn.Conv2d(c, 64, k, bias=True).to(memory_format=torch.channels_last)
        if not backward:
            conv.requires_grad_(False)
        return _torch_fwd_bwd(conv, (n, c, h, w), backward=backward, channels_last=True)

    return Case(f"conv2d_{'fwd_bwd' if backward else 'fwd'}",
                f"Conv2D 64->64 3x3 valid on (32, 32, 32, 64) NHWC, {'forward+backward' if backward else 'forward'}",
                flops, lambda: _engine_fwd_bwd(F.conv2d, (n, h, w, c), (k, k, c, 64), (64,), backward=backward),
                make_torch)


def maxpool_case():
    def make_torch():
        torch = _torch()
        return _torch_fwd_bwd(torch.nn.MaxPool2d(2), (64, 64, 32, 32), channels_last=True)
    return Case("maxpool2d_fwd_bwd", "MaxPooling2D 2x2 on (64, 32, 32, 64), forward+backward", None,
                lambda: _engine_fwd_bwd(F.max_pool2d, (64, 32, 32, 64)), make_torch)


def recurrent_case(kind):
    t, b, i, u = 50, 64, 32, 128
    gates = {"simple_rnn": 1, "lstm": 4, "gru": 3}[kind]
    flops = 3 * 2 * t * b * (i + u) * gates * u
    bias_shape = (2, 3 * u) if kind == "gru" else (gates * u,)
    op = {"simple_rnn": lambda x, W, U, b_: F.simple_rnn(x, W, U, b_, return_sequences=True),
          "lstm": lambda x, W, U, b_: F.lstm(x, W, U, b_, return_sequences=True),
          "gru": lambda x, W, U, b_: F.gru(x, W, U, b_, return_sequences=True)}[kind]

    def make_torch():
        torch = _torch()
        module = {"simple_rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind](i, u, batch_first=True)
        return _torch_fwd_bwd(module, (b, t, i))

    return Case(f"{kind}_fwd_bwd", f"{kind} T=50, batch 64, 32 inputs, 128 units, forward+backward", flops,
                lambda: _engine_fwd_bwd(op, (b, t, i), (i, gates * u), (u, gates * u), bias_shape), make_torch)


def _cifar_model():
    random.set_seed(0)
    model = Sequential([
        layers.Conv2D(32, (3, 3), activation="relu", input_shape=(32, 32, 3)), layers.MaxPooling2D((2, 2)),
        layers.Conv2D(64, (3, 3), activation="relu"), layers.MaxPooling2D((2, 2)),
        layers.Conv2D(64, (3, 3), activation="relu"), layers.Flatten(),
        layers.Dense(64, activation="relu"), layers.Dense(10)])
    model.compile(optimizer="adam", loss=engine.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def _torch_cifar():
    torch = _torch()
    nn = torch.nn
    return nn.Sequential(nn.Conv2d(3, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Conv2d(64, 64, 3), nn.ReLU(), nn.Flatten(), nn.Linear(1024, 64),
                         nn.ReLU(), nn.Linear(64, 10)).to(memory_format=torch.channels_last)


def cifar_case(batch=64):
    x = _rng().random((batch, 32, 32, 3), dtype=np.float32)
    y = _rng().integers(0, 10, batch)

    def make_engine():
        model = _cifar_model()
        model.ensure_ready(x, y)
        return lambda: model.train_step(x, y)

    def make_torch():
        torch = _torch()
        net = _torch_cifar()
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        xt = torch.tensor(x).permute(0, 3, 1, 2).contiguous(memory_format=torch.channels_last)
        yt = torch.tensor(y)
        loss_fn = torch.nn.CrossEntropyLoss()

        def step():
            opt.zero_grad()
            loss_fn(net(xt), yt).backward()
            opt.step()
        return step

    return Case(f"cifar_step_b{batch}", f"one training step of the lecture's CIFAR CNN (Adam), batch {batch}",
                None, make_engine, make_torch)


def digits_case():
    from engine import datasets, regularizers
    (x, y), _ = datasets.digits()

    def make_engine():
        random.set_seed(0)
        l2 = regularizers.l2(1e-4)
        model = Sequential([
            layers.Conv2D(10, (3, 3), input_shape=(8, 8, 1), padding="same", activation="relu", kernel_regularizer=l2),
            layers.MaxPooling2D((2, 2)), layers.Flatten(),
            layers.Dense(50, activation="relu", kernel_regularizer=l2),
            layers.Dense(10, activation="softmax", kernel_regularizer=l2)])
        model.compile(optimizer=optimizers.SGD(learning_rate=0.01), loss="categorical_crossentropy")
        return lambda: model.fit(x, y, epochs=1, batch_size=100, verbose=0)

    def make_torch():
        torch = _torch()
        nn = torch.nn
        net = nn.Sequential(nn.Conv2d(1, 10, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                            nn.Linear(160, 50), nn.ReLU(), nn.Linear(50, 10))
        opt = torch.optim.SGD(net.parameters(), lr=0.01, weight_decay=2e-4)
        xt = torch.tensor(x).permute(0, 3, 1, 2).contiguous()
        yt = torch.tensor(y.argmax(axis=1))
        loss_fn = torch.nn.CrossEntropyLoss()

        def epoch():
            order = torch.randperm(len(xt))
            for start in range(0, len(xt), 100):
                idx = order[start:start + 100]
                opt.zero_grad()
                loss_fn(net(xt[idx]), yt[idx]).backward()
                opt.step()
        return epoch

    return Case("digits_epoch", f"one epoch of the lecture's digits CNN, {len(x)} images, batch 100 (SGD, L2)",
                None, make_engine, make_torch)


def all_cases() -> list[Case]:
    return [conv_case(False), conv_case(True), cifar_case(64), digits_case(), maxpool_case(),
            recurrent_case("simple_rnn"), recurrent_case("lstm"), recurrent_case("gru")]


# --- timing ---------------------------------------------------------------------------------------------

def time_callable(run: Callable[[], None], samples: int, min_sample_s: float = 0.025, quick: bool = False):
    """(first call ms, median ms per call, per-sample ms list)."""
    start = time.perf_counter()
    run()
    first = (time.perf_counter() - start) * 1e3
    if quick:
        start = time.perf_counter()
        run()
        once = (time.perf_counter() - start) * 1e3
        return first, once, [once]
    run()  # warm-up
    start = time.perf_counter()
    run()
    single = time.perf_counter() - start
    repeats = max(1, math.ceil(min_sample_s / max(single, 1e-9)))
    per_call = []
    for _ in range(samples):
        start = time.perf_counter()
        for _ in range(repeats):
            run()
        per_call.append((time.perf_counter() - start) * 1e3 / repeats)
    return first, statistics.median(per_call), per_call


def torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def run_benchmarks(cases, backends, with_torch, samples, quick, report=print) -> list[Result]:
    results = []
    for case in cases:
        report(f"[{case.name}] {case.description}")
        case_results = []
        for backend in backends:
            with engine.use_backend(backend):
                first, median, per_call = time_callable(case.make_engine(), samples, quick=quick)
            case_results.append(Result(case.name, backend, median, first, per_call))
        if with_torch and case.make_torch is not None:
            first, median, per_call = time_callable(case.make_torch(), samples, quick=quick)
            case_results.append(Result(case.name, "torch", median, first, per_call))
        torch_ms = next((r.median_ms for r in case_results if r.runner == "torch"), None)
        for r in case_results:
            if case.flops:
                r.gflops = case.flops / (r.median_ms * 1e-3) / 1e9
            if torch_ms:
                r.ratio_to_torch = r.median_ms / torch_ms
        results.extend(case_results)
    return results


def machine_info(with_torch: bool) -> dict:
    info = {"python": sys.version.split()[0], "numpy": np.__version__, "platform": platform.platform(),
            "cpu_count": os.cpu_count(), "processor": _cpu_model(),
            "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE", "(unset)")}
    try:
        from threadpoolctl import threadpool_info
        info["blas"] = [f"{p.get('internal_api')} {p.get('version')} {p.get('architecture')}" for p in threadpool_info()]
    except ImportError:
        pass
    try:
        import numba
        info["numba"] = numba.__version__
    except ImportError:
        pass
    if with_torch:
        import torch
        info["torch"] = f"{torch.__version__} ({torch.get_num_threads()} threads)"
    return info


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def format_table(results: list[Result]) -> str:
    """Plain-text tables (one per case) that read well in a terminal and in Markdown."""
    lines = []
    for case in dict.fromkeys(r.case for r in results):
        lines.append(f"\n{case}")
        lines.append("| runner | median ms | first call ms | GFLOP/s | x torch |")
        lines.append("|---|---:|---:|---:|---:|")
        for r in (r for r in results if r.case == case):
            gflops = f"{r.gflops:.1f}" if r.gflops else "-"
            ratio = f"{r.ratio_to_torch:.2f}" if r.ratio_to_torch else "-"
            lines.append(f"| {r.runner} | {r.median_ms:.3f} | {r.first_call_ms:.1f} | {gflops} | {ratio} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="nnlab bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", nargs="*", help="case name prefixes (default: all)")
    parser.add_argument("--backends", nargs="*", help="engine backends (default: every available CPU backend)")
    parser.add_argument("--no-torch", action="store_true", help="skip PyTorch even if installed")
    parser.add_argument("--samples", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="one sample per case: checks the command, not speed")
    parser.add_argument("--json", metavar="PATH", help="write results and machine info as JSON")
    args = parser.parse_args(argv)

    available = {name: why for name, _, why in describe_backends()}
    backends = args.backends or [b for b in CPU_BACKENDS if available.get(b) is None]
    for b in backends:
        if b not in available or available[b] is not None:
            parser.error(f"backend {b!r} is not available: {available.get(b, 'unknown backend')}")
    cases = all_cases()
    if args.cases:
        cases = [c for c in cases if any(c.name.startswith(p) for p in args.cases)]
        if not cases:
            parser.error(f"no case matches {args.cases}; cases: {', '.join(c.name for c in all_cases())}")
    with_torch = not args.no_torch and torch_available()
    info = machine_info(with_torch)
    print("machine: " + ", ".join(f"{k}={v}" for k, v in info.items()))
    results = run_benchmarks(cases, backends, with_torch, args.samples, args.quick)
    print(format_table(results))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": info, "results": [r.__dict__ for r in results]}, f, indent=1)
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
