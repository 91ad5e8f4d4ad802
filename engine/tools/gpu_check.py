"""Every GPU check in one command, for the times a GPU machine is available (about 2-4 minutes):

    python -m engine.tools.gpu_check --out results/gpu_check     # writes results/gpu_check.md and .json

1. The tests marked `gpu` (`pytest -m gpu` on the test files that have such tests): the `cuda` backend
   against the NumPy reference, the CPU emulator (when g++ is present) and PyTorch/cuDNN (when installed).
2. A benchmark table: the `cuda` backend against PyTorch/cuDNN, float32, medians of timed repetitions with
   the device synchronised. TF32 is switched off in PyTorch (CuPy does not use it either), so both sides
   do the same arithmetic. PyTorch convolutions and pooling are timed in NCHW and channels_last and the
   faster is kept. The ratio is nnlab / PyTorch (lower is better); the targets are the project's.

Needs CuPy and an NVIDIA GPU; PyTorch for the comparison column (without it the column says n/a);
scikit-learn for the digits case (skipped with a note without it). Nothing is downloaded.
`--smoke` runs each benchmark once on tiny shapes on `--backend` (e.g. cuda-emu), to check this script
without a GPU.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

import engine
from engine import datasets, layers, losses, optimizers
from engine.backends import get_backend, unavailable_reason
from engine.models import Sequential

TESTS_DIR = Path(__file__).resolve().parents[2] / "tests"
TEST_TIMEOUT_S = 150


@dataclass
class Result:
    case: str
    nnlab_ms: float | None
    torch_ms: float | None = None
    target: float | None = None          # the ratio nnlab / PyTorch the project aims at
    note: str = ""

    @property
    def ratio(self):
        return self.nnlab_ms / self.torch_ms if self.nnlab_ms and self.torch_ms else None


def measure(fn, sync, budget_s=1.0, smoke=False):
    """Median seconds per call of fn(): one warm-up call, then samples of at least 50 ms each
    (smoke: the time of one call after the warm-up)."""
    fn()
    sync()
    start = time.perf_counter()
    fn()
    sync()
    if smoke:
        return time.perf_counter() - start
    reps = max(1, int(0.05 / max(time.perf_counter() - start, 1e-7)))
    samples, deadline = [], time.perf_counter() + budget_s
    while len(samples) < 5 or (len(samples) < 25 and time.perf_counter() < deadline):
        start = time.perf_counter()
        for _ in range(reps):
            fn()
        sync()
        samples.append((time.perf_counter() - start) / reps)
    return statistics.median(samples)


class Bench:
    """The kernels and array module of the backend under test, PyTorch if usable, and the case sizes."""

    def __init__(self, backend, smoke):
        self.k = get_backend(backend)
        self.xp = self.k.xp
        self.smoke = smoke
        self.rng = np.random.default_rng(0)
        self.torch = _torch()
        self.results: list[Result] = []

    def sync(self):
        if self.xp is not np:
            self.xp.cuda.Device().synchronize()

    def randn(self, *shape):
        return self.xp.asarray(self.rng.standard_normal(shape, dtype=np.float32))

    def run(self, case, ours, theirs=None, target=None, note=""):
        """Time ours() and, if PyTorch is there, the fastest of theirs(); theirs returns callables."""
        ours_s = measure(ours, self.sync, smoke=self.smoke)
        torch_s = None
        if self.torch and theirs is not None and not self.smoke:
            torch_s = min(measure(fn, self.torch.cuda.synchronize) for fn in theirs())
        result = Result(case, ours_s * 1e3, torch_s * 1e3 if torch_s else None, target, note)
        self.results.append(result)
        print(f"  {case}: nnlab {result.nnlab_ms:.3f} ms, PyTorch "
              f"{'n/a' if torch_s is None else f'{result.torch_ms:.3f} ms'}", flush=True)

    def tensor(self, array, layout=None, grad=False):
        """A CUDA torch tensor from an NHWC/NTF host or device array, optionally NCHW-permuted."""
        t = self.torch.as_tensor(np.asarray(engine.backends.to_host(array)), device="cuda")
        if layout == "nchw":
            t = t.permute(0, 3, 1, 2).contiguous()
        elif layout == "channels_last":
            t = t.permute(0, 3, 1, 2).contiguous(memory_format=self.torch.channels_last)
        return t.requires_grad_(grad)


def _torch():
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.benchmark = True
    return torch


# ------------------------------------------------------------------------------------------ cases
def bench_conv(b: Bench):
    n, hw, c = (2, 8, 4) if b.smoke else (32, 32, 64)
    x, w, bias = b.randn(n, hw, hw, c), b.randn(3, 3, c, c), b.randn(c)
    geometry = ((1, 1), ((0, 0), (0, 0)), (1, 1))
    dy = b.randn(*b.k.conv2d_forward(x, w, bias, *geometry).shape)

    def fwd_bwd():
        b.k.conv2d_forward(x, w, bias, *geometry)
        b.k.conv2d_backward_input(dy, w, x.shape, *geometry)
        b.k.conv2d_backward_weight(dy, x, w.shape, *geometry)
        dy.sum(axis=(0, 1, 2))

    def torch_cases(backward):
        """Forward-only cases build no autograd graph: none of their inputs requires a gradient."""
        F = b.torch.nn.functional
        cases = []
        for layout in ("nchw", "channels_last"):
            xt, wt = b.tensor(x, layout, backward), _torch_weight(b, w, layout, backward)
            bt, dyt = b.tensor(bias, None, backward), b.tensor(dy, layout)
            cases.append((lambda xt=xt, wt=wt, bt=bt, dyt=dyt: F.conv2d(xt, wt, bt).backward(dyt)) if backward
                         else (lambda xt=xt, wt=wt, bt=bt: F.conv2d(xt, wt, bt)))
        return cases

    b.run(f"conv {c}->{c} 3x3, {n}x{hw}x{hw}x{c}, fwd", lambda: b.k.conv2d_forward(x, w, bias, *geometry),
          lambda: torch_cases(False))
    b.run(f"conv {c}->{c} 3x3, {n}x{hw}x{hw}x{c}, fwd+bwd", fwd_bwd, lambda: torch_cases(True))


def bench_cifar_convs(b: Bench):
    """The three convolutions of the CIFAR CNN at batch 256, fwd+bwd (the first one needs no input gradient)."""
    n = 2 if b.smoke else 256
    shapes = [(32, 3, 32), (15, 32, 64), (6, 64, 64)]           # (H=W, Cin, Cout) of each layer's input
    layers_ = [(b.randn(n, hw, hw, cin), b.randn(3, 3, cin, cout), b.randn(cout)) for hw, cin, cout in shapes]
    geometry = ((1, 1), ((0, 0), (0, 0)), (1, 1))
    dys = [b.randn(n, hw - 2, hw - 2, cout) for hw, _, cout in shapes]

    def ours():
        for i, ((x, w, bias), dy) in enumerate(zip(layers_, dys)):
            b.k.conv2d_forward(x, w, bias, *geometry)
            if i:
                b.k.conv2d_backward_input(dy, w, x.shape, *geometry)
            b.k.conv2d_backward_weight(dy, x, w.shape, *geometry)
            dy.sum(axis=(0, 1, 2))

    def theirs():
        F = b.torch.nn.functional
        cases = []
        for layout in ("nchw", "channels_last"):
            ts = [(b.tensor(x, layout, i > 0), _torch_weight(b, w, layout, True), b.tensor(bias, None, True),
                   b.tensor(dy, layout)) for i, ((x, w, bias), dy) in enumerate(zip(layers_, dys))]
            cases.append(lambda ts=ts: [F.conv2d(x, w, bias).backward(dy) for x, w, bias, dy in ts])
        return cases

    b.run(f"CIFAR CNN convolutions, batch {n}, fwd+bwd", ours, theirs, target=3.0)


def _torch_weight(b, w, layout, grad):
    """A (kh, kw, Cin, Cout) kernel as PyTorch's (Cout, Cin, kh, kw), in the memory format of `layout`."""
    wt = b.tensor(np.transpose(engine.backends.to_host(w), (3, 2, 0, 1)))
    if layout == "channels_last":
        wt = wt.contiguous(memory_format=b.torch.channels_last)
    return wt.requires_grad_(grad)


def cifar_model():
    model = Sequential([layers.Conv2D(32, 3, activation="relu", input_shape=(32, 32, 3)), layers.MaxPooling2D(2),
                        layers.Conv2D(64, 3, activation="relu"), layers.MaxPooling2D(2),
                        layers.Conv2D(64, 3, activation="relu"), layers.Flatten(),
                        layers.Dense(64, activation="relu"), layers.Dense(10)])
    model.compile(optimizer=optimizers.Adam(), loss=losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def bench_cifar_step(b: Bench, batch):
    n = 2 if b.smoke else batch
    x, y = b.rng.random((n, 32, 32, 3), dtype=np.float32), b.rng.integers(0, 10, n)
    model = cifar_model()
    model.ensure_ready(x, y)
    xd, yd = b.xp.asarray(x), b.xp.asarray(y)

    def theirs():
        nn = b.torch.nn
        net = nn.Sequential(nn.Conv2d(3, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(),
                            nn.MaxPool2d(2), nn.Conv2d(64, 64, 3), nn.ReLU(), nn.Flatten(), nn.Linear(1024, 64),
                            nn.ReLU(), nn.Linear(64, 10)).cuda()
        opt, loss_fn = b.torch.optim.Adam(net.parameters(), 1e-3), nn.CrossEntropyLoss()
        xt, yt = b.tensor(x, "nchw"), b.torch.as_tensor(y, device="cuda")

        def step():
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(net(xt), yt)
            loss.backward()
            opt.step()
            return loss.item()
        return [step]

    b.run(f"CIFAR CNN training step (Adam), batch {n}", lambda: model.train_step(xd, yd), theirs,
          note="engine train_step: forward, loss, backward, Adam, loss and predictions to the host")


def bench_digits_epoch(b: Bench):
    try:
        (x, y), _ = datasets.digits(train_fraction=0.8, seed=0)
    except ImportError as exc:
        b.results.append(Result("digits CNN, 1 epoch of batch 100", None, note=f"skipped: {exc}"))
        return
    from engine.lecture.digits_cnn import create_convolutional_neural_network
    model = create_convolutional_neural_network(x.shape[1:4], 3, 10, 50, 10, 0.01, 1e-4)

    def theirs():
        nn = b.torch.nn
        net = nn.Sequential(nn.Conv2d(1, 10, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                            nn.Linear(160, 50), nn.ReLU(), nn.Linear(50, 10)).cuda()
        opt, loss_fn = b.torch.optim.SGD(net.parameters(), 0.01), nn.CrossEntropyLoss()
        xt, yt = b.tensor(x.astype(np.float32), "nchw"), b.torch.as_tensor(y.argmax(1), device="cuda")

        def epoch():
            for start in range(0, len(x), 100):
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(net(xt[start:start + 100]), yt[start:start + 100])
                loss.backward()
                opt.step()
                loss.item()
        return [epoch]

    b.run("digits CNN, 1 epoch of batch 100", lambda: model.fit(x, y, epochs=1, batch_size=100, verbose=0), theirs,
          note="engine fit from NumPy data (batches copied to the device); PyTorch data already on the device")


def bench_max_pool(b: Bench):
    n, hw, c = (2, 8, 4) if b.smoke else (64, 32, 64)
    x = b.randn(n, hw, hw, c)
    pads = ((0, 0), (0, 0))
    dy = b.randn(n, hw // 2, hw // 2, c)

    def ours():
        _, cache = b.k.max_pool2d_forward(x, (2, 2), (2, 2), pads)
        b.k.max_pool2d_backward(dy, cache)

    def theirs():
        F = b.torch.nn.functional
        return [lambda xt=b.tensor(x, layout, True), dyt=b.tensor(dy, layout): F.max_pool2d(xt, 2).backward(dyt)
                for layout in ("nchw", "channels_last")]

    b.run(f"max pool 2x2, {n}x{hw}x{hw}x{c}, fwd+bwd", ours, theirs, target=1.5)


def bench_recurrent(b: Bench, cell):
    n, steps, features, units = (2, 3, 4, 8) if b.smoke else (64, 50, 32, 128)
    gates = {"simple_rnn": 1, "lstm": 4, "gru": 3}[cell]
    x, h0 = b.randn(n, steps, features), b.randn(n, units)
    W, U = 0.1 * b.randn(features, gates * units), 0.1 * b.randn(units, gates * units)
    bias = b.randn(2, 3 * units) if cell == "gru" else b.randn(gates * units)
    params = (W, U, bias, h0, b.randn(n, units)) if cell == "lstm" else (W, U, bias, h0)
    dhs = b.randn(n, steps, units)

    def ours():
        _, cache = getattr(b.k, f"{cell}_forward")(x, *params, "tanh")
        getattr(b.k, f"{cell}_backward")(dhs, cache)

    def theirs():
        module = {"simple_rnn": b.torch.nn.RNN, "lstm": b.torch.nn.LSTM, "gru": b.torch.nn.GRU}[cell]
        net = module(features, units, batch_first=True).cuda()
        xt, dyt = b.tensor(x, grad=True), b.tensor(dhs)
        h = b.tensor(h0[None])
        state = (h, b.tensor(params[4][None])) if cell == "lstm" else h
        return [lambda: net(xt, state)[0].backward(dyt)]

    b.run(f"{cell} T={steps} batch {n}, {features} inputs, {units} units, fwd+bwd", ours, theirs, target=2.0)


# ------------------------------------------------------------------------------------------ report
def device_info(bench: Bench):
    info = {"python": platform.python_version(), "numpy": np.__version__, "backend": bench.k.name}
    if bench.xp is not np:
        cupy = bench.xp
        props = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)
        info.update(device=props["name"].decode(), compute_capability=cupy.cuda.Device().compute_capability,
                    cupy=cupy.__version__, cuda_runtime=cupy.cuda.runtime.runtimeGetVersion(),
                    driver=cupy.cuda.runtime.driverGetVersion())
    if bench.torch:
        info.update(torch=bench.torch.__version__, cudnn=bench.torch.backends.cudnn.version())
    return info


def run_gpu_tests():
    """pytest -m gpu on the test files that contain gpu-marked tests; (exit code, summary line, output tail)."""
    files = sorted(str(p) for p in TESTS_DIR.glob("test_*.py") if "pytest.mark.gpu" in p.read_text())
    if not files:
        return {"exit_code": None, "summary": f"no gpu-marked tests found under {TESTS_DIR}", "tail": ""}
    command = [sys.executable, "-m", "pytest", "-m", "gpu", "-q", "-p", "no:cacheprovider", "-rs", *files]
    try:
        done = subprocess.run(command, cwd=TESTS_DIR.parent, capture_output=True, text=True, timeout=TEST_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return {"exit_code": None, "summary": f"timed out after {TEST_TIMEOUT_S} s", "tail": ""}
    output = (done.stdout + done.stderr).strip().splitlines()
    return {"exit_code": done.returncode, "summary": output[-1] if output else "", "tail": "\n".join(output[-40:])}


def markdown(info, tests, results):
    lines = [f"# GPU check: {info.get('device', info['backend'])}", "",
             ", ".join(f"{k} {v}" for k, v in info.items()), "",
             "float32; TF32 off in PyTorch (CuPy does not use it); medians of timed repetitions.", ""]
    if tests is not None:
        lines += [f"## Tests (`pytest -m gpu`): {tests['summary']} (exit code {tests['exit_code']})", ""]
    lines += ["## Benchmarks (ms, ratio = nnlab / PyTorch, lower is better)", "",
              "| case | nnlab | PyTorch | ratio | target | met | note |", "|---|---|---|---|---|---|---|"]
    for r in results:
        met = "" if r.target is None or r.ratio is None else ("yes" if r.ratio <= r.target else "no")
        lines.append(f"| {r.case} | {_fmt(r.nnlab_ms)} | {_fmt(r.torch_ms)} | {_fmt(r.ratio, 'x')} | "
                     f"{_fmt(r.target, 'x')} | {met} | {r.note} |")
    if tests is not None and tests["exit_code"] != 0:
        lines += ["", "### Test output (tail)", "", "```", tests["tail"], "```"]
    return "\n".join(lines) + "\n"


def _fmt(value, suffix=""):
    return "n/a" if value is None else f"{value:.3g}{suffix}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="results path without suffix: writes OUT.md and OUT.json")
    parser.add_argument("--backend", default="cuda", help="backend to benchmark (default cuda)")
    parser.add_argument("--smoke", action="store_true", help="tiny shapes, one call each: checks the script only")
    parser.add_argument("--no-tests", action="store_true", help="skip the pytest -m gpu run")
    args = parser.parse_args(argv)
    reason = unavailable_reason(args.backend)
    if reason:
        parser.error(f"backend {args.backend!r} is not available: {reason}")
    started = time.perf_counter()
    engine.set_backend(args.backend)
    tests = None
    if not args.no_tests:
        print("running pytest -m gpu ...", flush=True)
        tests = run_gpu_tests()
        print(f"  {tests['summary']}", flush=True)
    bench = Bench(args.backend, args.smoke)
    print(f"benchmarks on {args.backend} (PyTorch: {'yes' if bench.torch else 'no'}) ...", flush=True)
    bench_conv(bench)
    bench_cifar_convs(bench)
    for batch in (64, 256):
        bench_cifar_step(bench, batch)
    bench_digits_epoch(bench)
    bench_max_pool(bench)
    for cell in ("simple_rnn", "lstm", "gru"):
        bench_recurrent(bench, cell)
    info = device_info(bench)
    info["seconds"] = round(time.perf_counter() - started, 1)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".md").write_text(markdown(info, tests, bench.results))
    out.with_suffix(".json").write_text(json.dumps(
        {"info": info, "tests": tests, "benchmarks": [dict(asdict(r), ratio=r.ratio) for r in bench.results]},
        indent=2))
    print(f"wrote {out.with_suffix('.md')} and {out.with_suffix('.json')} in {info['seconds']} s")
    return 0 if tests is None or tests["exit_code"] in (0, 5) else 1


if __name__ == "__main__":
    sys.exit(main())
