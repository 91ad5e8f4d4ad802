"""The benchmark cases of the GPU run kit (engine/tools/gpu_check.py runs them in a child process).

The `cuda` backend against PyTorch/cuDNN, float32, medians of timed repetitions with the device
synchronised. TF32 is switched off in PyTorch (CuPy does not use it either), so both sides do the same
arithmetic. PyTorch convolutions and pooling are timed in NCHW and channels_last and the faster is kept.
Each case's result, or its exception, is appended as one JSON line to a file as soon as it is known, so
the kit keeps every case that finished even if a later one brings the process down. `smoke`: each case
once, on tiny shapes (for checking the kit on cuda-emu).
"""
from __future__ import annotations

import json
import os
import statistics
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

import engine
from engine import datasets, layers, losses, optimizers
from engine.backends import get_backend, to_host
from engine.models import Sequential


@dataclass
class Result:
    case: str
    nnlab_ms: float | None
    torch_ms: float | None = None
    target: float | None = None          # the ratio nnlab / PyTorch the project aims at
    note: str = ""


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
    """The kernels and array module of the backend under test, PyTorch if usable, and the case sizes.
    Each case's result (or its exception) is appended to the JSON-lines file at once."""

    def __init__(self, backend, smoke, jsonl: Path):
        self.k = get_backend(backend)
        self.xp = self.k.xp
        self.smoke = smoke
        self.rng = np.random.default_rng(0)
        self.torch = torch_or_none()
        self.jsonl = jsonl
        self.fault = os.environ.get("NNLAB_GPU_CHECK_FAULT", "")        # CASE:raise or CASE:abort, for testing

    def sync(self):
        if self.xp is not np:
            self.xp.cuda.Device().synchronize()

    def randn(self, *shape):
        return self.xp.asarray(self.rng.standard_normal(shape, dtype=np.float32))

    def record(self, result: dict):
        with self.jsonl.open("a") as out:
            out.write(json.dumps(result) + "\n")

    def run(self, case, ours, theirs=None, target=None, note=""):
        """Time ours() and, if PyTorch is there, the fastest of theirs(); theirs returns callables."""
        try:
            where, _, how = self.fault.rpartition(":")
            if where and where in case:
                if how == "abort":
                    os.abort()
                raise RuntimeError(f"fault injected by NNLAB_GPU_CHECK_FAULT={self.fault}")
            ours_s = measure(ours, self.sync, smoke=self.smoke)
            torch_s = None
            if self.torch and theirs is not None and not self.smoke:
                torch_s = min(measure(fn, self.torch.cuda.synchronize) for fn in theirs())
        except Exception as exc:  # one failing case must not lose the others
            self.record(dict(case=case, error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc()))
            return
        self.record(asdict(Result(case, ours_s * 1e3, torch_s * 1e3 if torch_s else None, target, note)))

    def tensor(self, array, layout=None, grad=False):
        """A CUDA torch tensor from an NHWC/NTF host or device array, optionally NCHW-permuted."""
        t = self.torch.as_tensor(np.asarray(to_host(array)), device="cuda")
        if layout == "nchw":
            t = t.permute(0, 3, 1, 2).contiguous()
        elif layout == "channels_last":
            t = t.permute(0, 3, 1, 2).contiguous(memory_format=self.torch.channels_last)
        return t.requires_grad_(grad)


def torch_or_none():
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
    wt = b.tensor(np.transpose(to_host(w), (3, 2, 0, 1)))
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
        b.record(asdict(Result("digits CNN, 1 epoch of batch 100", None, note=f"skipped: {exc}")))
        return
    if b.smoke:
        x, y = x[:200], y[:200]
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


def run_cases(backend: str, smoke: bool, jsonl: Path) -> int:
    engine.set_backend(backend)                 # the model cases train on the backend under test
    bench = Bench(backend, smoke, jsonl)
    bench_conv(bench)
    bench_cifar_convs(bench)
    for batch in (64,) if smoke else (64, 256):
        bench_cifar_step(bench, batch)
    bench_digits_epoch(bench)
    bench_max_pool(bench)
    for cell in ("simple_rnn", "lstm", "gru"):
        bench_recurrent(bench, cell)
    return 0
