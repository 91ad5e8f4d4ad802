"""Benchmarks: the same cases on every backend (and PyTorch on the CPU where installed), one table per case.

    nnlab bench                       # all cases, every available CPU backend, PyTorch if installed
    nnlab bench --cases conv lstm     # a subset (prefix match on case names)
    nnlab bench --json out.json       # also write the numbers (everything BENCHMARKS.md records)
    nnlab bench --quick               # one timed sample per case (a smoke test, not a measurement)
    nnlab bench --sweep               # numba against PyTorch over batch, image size, channels, length: PNG + JSON

(`python -m engine.tools.bench` is the same command without the shell installed.)

Method: the first call is timed alone (it includes compilation for JIT backends, shown as "first call");
then warm-up, then at least `--samples` timed samples, each repeating the case until it lasts >= 0.1 s;
the median per call is reported. Ratios to PyTorch are computed within this run: timings on a shared
machine drift between runs, ratios measured side by side much less.

Shared machines. During every sample the benchmark reads how much CPU time *other* processes used
(Linux /proc/stat minus this process's own time). A sample during which they kept more than
`--max-others` cores busy is thrown away and taken again after a pause (up to `--patience` seconds per
case); the tables show that load as "others" (the median over the kept samples), so a number measured on
a busy machine says so.
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
    """One benchmark: `make_engine()` (under the backend being timed) and `make_torch()` each return a
    zero-argument callable that runs the work once. `target`: the numba/PyTorch ratio to stay at or under."""
    name: str
    description: str
    flops: float | None
    make_engine: Callable[[], Callable[[], None]]
    make_torch: Callable[[], Callable[[], None]] | None = None
    target: float | None = None


@dataclass
class Result:
    case: str
    runner: str
    median_ms: float
    first_call_ms: float
    samples: list[float] = field(default_factory=list)
    gflops: float | None = None
    ratio_to_torch: float | None = None
    #: CPU cores other processes kept busy during the kept samples (median), None where unknown
    others: float | None = None


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
                make_torch, target=1.5 if backward else 1.64)


def maxpool_case():
    def make_torch():
        torch = _torch()
        return _torch_fwd_bwd(torch.nn.MaxPool2d(2), (64, 64, 32, 32), channels_last=True)
    return Case("maxpool2d_fwd_bwd", "MaxPooling2D 2x2 on (64, 32, 32, 64), forward+backward", None,
                lambda: _engine_fwd_bwd(F.max_pool2d, (64, 32, 32, 64)), make_torch, target=0.40)


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
                lambda: _engine_fwd_bwd(op, (b, t, i), (i, gates * u), (u, gates * u), bias_shape), make_torch,
                target={"simple_rnn": 0.49, "lstm": 1.0, "gru": 0.49}[kind])


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
                None, make_engine, make_torch, target=1.32)


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
                None, make_engine, make_torch, target=0.92)


def all_cases() -> list[Case]:
    from engine.tools.bench_lecture import lecture_cases
    return [conv_case(False), conv_case(True), cifar_case(64), digits_case(), maxpool_case(),
            recurrent_case("simple_rnn"), recurrent_case("lstm"), recurrent_case("gru"), *lecture_cases()]


# --- timing ---------------------------------------------------------------------------------------------

def cpu_counters() -> tuple[float, float] | None:
    """(CPU seconds every process on the machine has used, CPU seconds this process has used), or None
    where /proc/stat cannot be read (not Linux). Both count in clock ticks (10 ms)."""
    try:
        with open("/proc/stat") as f:
            ticks = [int(v) for v in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = ticks
    own = os.times()
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK"), own.user + own.system


def _timed(run: Callable[[], None], repeats: int) -> tuple[float, float | None]:
    """(ms per call over `repeats` calls, cores other processes kept busy meanwhile or None)."""
    before, start = cpu_counters(), time.perf_counter()
    for _ in range(repeats):
        run()
    wall = time.perf_counter() - start
    after = cpu_counters()
    others = None if before is None or after is None else \
        max(0.0, ((after[0] - before[0]) - (after[1] - before[1])) / wall)
    return wall * 1e3 / repeats, others


@dataclass
class Timing:
    first_ms: float
    median_ms: float
    samples: list[float]
    others: float | None


def time_callable(run: Callable[[], None], samples: int, min_sample_s: float = 0.1, quick: bool = False,
                  max_others: float = math.inf, patience_s: float = 0.0) -> Timing:
    """Time run(): the first call, then `samples` samples of enough calls to last min_sample_s each.

    A sample during which other processes kept more than `max_others` cores busy is taken again after a
    pause, until `patience_s` seconds of retrying are spent; then the samples are kept as they come.
    """
    start = time.perf_counter()
    run()
    first = (time.perf_counter() - start) * 1e3
    if quick:
        once, others = _timed(run, 1)
        return Timing(first, once, [once], others)
    run()  # warm-up
    single, _ = _timed(run, 1)
    repeats = max(1, math.ceil(min_sample_s * 1e3 / max(single, 1e-6)))
    per_call, loads, give_up = [], [], time.perf_counter() + patience_s
    while len(per_call) < samples:
        ms, others = _timed(run, repeats)
        if others is not None and others > max_others and time.perf_counter() < give_up:
            time.sleep(0.5)  # a busy moment: let it pass and take the sample again
            continue
        per_call.append(ms)
        loads.append(others)
    known = [x for x in loads if x is not None]
    return Timing(first, statistics.median(per_call), per_call, statistics.median(known) if known else None)


def torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def run_benchmarks(cases, backends, with_torch, samples, quick, report=print, **timing) -> list[Result]:
    """Every case on every backend (then PyTorch); `timing`: time_callable's max_others and patience_s."""
    results = []
    for case in cases:
        report(f"[{case.name}] {case.description}")
        case_results = []
        for backend in backends:
            with engine.use_backend(backend):
                t = time_callable(case.make_engine(), samples, quick=quick, **timing)
            case_results.append(Result(case.name, backend, t.median_ms, t.first_ms, t.samples, others=t.others))
        if with_torch and case.make_torch is not None:
            t = time_callable(case.make_torch(), samples, quick=quick, **timing)
            case_results.append(Result(case.name, "torch", t.median_ms, t.first_ms, t.samples, others=t.others))
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


def _fmt(value, spec, empty="-"):
    return empty if value is None else format(value, spec)


def format_table(results: list[Result]) -> str:
    """Plain-text tables (one per case) that read well in a terminal and in Markdown."""
    lines = []
    for case in dict.fromkeys(r.case for r in results):
        lines.append(f"\n{case}")
        lines.append("| runner | median ms | first call ms | GFLOP/s | x torch | others |")
        lines.append("|---|---:|---:|---:|---:|---:|")
        for r in (r for r in results if r.case == case):
            lines.append(f"| {r.runner} | {r.median_ms:.3f} | {r.first_call_ms:.1f} | {_fmt(r.gflops, '.1f')} | "
                         f"{_fmt(r.ratio_to_torch, '.2f')} | {_fmt(r.others, '.2f')} |")
    return "\n".join(lines)


def summary_rows(cases: list[Case], results: list[Result], backend: str = "numba") -> list[dict]:
    """One row per case: the median ms of every runner, `backend`'s ratio to PyTorch, its target and whether
    the ratio meets it (None where there is no target or no PyTorch)."""
    rows = []
    for case in cases:
        mine = {r.runner: r for r in results if r.case == case.name}
        if not mine:
            continue
        ratio = mine[backend].ratio_to_torch if backend in mine else None
        rows.append({"case": case.name, "description": case.description,
                     **{f"{runner}_ms": r.median_ms for runner, r in mine.items()},
                     "ratio": ratio, "target": case.target,
                     "met": None if ratio is None or case.target is None else ratio <= case.target,
                     "others": max((r.others for r in mine.values() if r.others is not None), default=None)})
    return rows


def format_summary(rows: list[dict], runners: list[str]) -> str:
    """The summary table of BENCHMARKS.md: per case the runners' ms, the ratio, the target, met or not."""
    lines = [f"| case | {' | '.join(f'{r} ms' for r in runners)} | numba x torch | target | met | others |",
             "|---|" + "---:|" * (len(runners) + 2) + ":---:|---:|"]
    for row in rows:
        met = {True: "yes", False: "**no**", None: ""}[row["met"]]
        lines.append(f"| {row['case']} | " + " | ".join(_fmt(row.get(f"{r}_ms"), ".2f") for r in runners)
                     + f" | {_fmt(row['ratio'], '.2f')} | {_fmt(row['target'], '.2f', '-')} | {met} | "
                       f"{_fmt(row['others'], '.2f')} |")
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
    parser.add_argument("--max-others", type=float, default=0.2, metavar="CORES",
                        help="retake a sample while other processes use more CPU cores than this (default 0.2)")
    parser.add_argument("--patience", type=float, default=60.0, metavar="SECONDS",
                        help="how long to keep retaking busy samples, per case and runner (default 60)")
    parser.add_argument("--sweep", action="store_true",
                        help="time numba and PyTorch over batch size, image size, channels and sequence length "
                             "and plot the ratios (see --out)")
    parser.add_argument("--out", default="bench_sweep", metavar="PREFIX",
                        help="--sweep writes PREFIX.png and PREFIX.json (default bench_sweep)")
    args = parser.parse_args(argv)
    if args.sweep:
        from engine.tools.bench_sweep import run_sweep
        return run_sweep(args.out, quick=args.quick, samples=args.samples, max_others=args.max_others,
                         patience_s=args.patience)

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
    load_before = os.getloadavg()
    results = run_benchmarks(cases, backends, with_torch, args.samples, args.quick,
                             max_others=args.max_others, patience_s=0.0 if args.quick else args.patience)
    rows = summary_rows(cases, results)
    print(format_table(results))
    runners = [*backends, *(["torch"] if with_torch else [])]
    print("\n" + format_summary(rows, runners))
    print(f"\nload average before {load_before[0]:.2f}, after {os.getloadavg()[0]:.2f}; "
          f"'others': CPU cores used by other processes while timing")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": info, "load_average": {"before": load_before, "after": os.getloadavg()},
                       "date": time.strftime("%Y-%m-%d %H:%M"), "summary": rows,
                       "results": [r.__dict__ for r in results]}, f, indent=1)
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
