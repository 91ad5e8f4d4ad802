"""Planted bugs in the project's own kernels: the emulator tests must catch every one, with a clear failure.

Each mutant replaces one snippet of one kernel file (or of common.h) in a copy in a temporary folder that
NNLAB_CUDA_KERNELS points to (see library.kernel_path), never in the repository, then runs the selected
tests of tests/test_cuda_emu.py in a subprocess, so that a crash is reported as a finding instead of ending
this test run. A mutant is killed when pytest reports failed tests and its output has the message of the
check meant for that kind of bug (not merely some failure). All mutants run once, two at a time, before the
first of the per-mutant tests below reads its result.
"""
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from engine.backends import unavailable_reason
from engine.backends.cuda.library import KERNEL_DIR

pytestmark = pytest.mark.skipif(unavailable_reason("cuda-emu") is not None,
                                reason=f"cuda-emu unavailable: {unavailable_reason('cuda-emu')}")
ROOT = Path(__file__).resolve().parents[1]
TIMEOUT_S = 180
RACE_BETWEEN_BLOCKS = r"EmuError: .*a race between blocks"
SHARED_RACE = r"EmuError: .*shared-memory race on"
WRONG_OR_NAN = r"AssertionError: relative error (nan|\d)"


@dataclass(frozen=True)
class Mutant:
    name: str
    file: str
    old: str           # must occur exactly once in the file
    new: str
    tests: str         # pytest -k expression over tests/test_cuda_emu.py
    expect: str        # regex the failing run's output must contain


MUTANTS = [
    # += instead of atomicAdd across blocks
    Mutant("split-K weight gradient adds with += instead of atomicAdd", "conv.cu",
           "atomicAdd(&dw[kr * Cout + o], acc[i][j]);", "dw[kr * Cout + o] += acc[i][j];",
           "conv2d_forward_and_gradients", RACE_BETWEEN_BLOCKS),
    Mutant("batch-norm column sums add with += instead of atomicAdd", "normalization.cu",
           "atomicAdd(&sums[c], a);", "sums[c] += a;", "batch_norm", RACE_BETWEEN_BLOCKS),
    # __launch_bounds__ smaller than the launch
    Mutant("conv2d_forward declares __launch_bounds__(128), launched with 256 threads", "conv.cu",
           "__launch_bounds__(256) conv2d_forward(", "__launch_bounds__(128) conv2d_forward(",
           "conv2d_forward_and_gradients", r"more than the kernel's __launch_bounds__\(128\)"),
    Mutant("lstm_forward_step declares __launch_bounds__(128)", "recurrent.cu",
           "__launch_bounds__(256) lstm_forward_step(", "__launch_bounds__(128) lstm_forward_step(",
           "recurrent_cells", r"lstm_forward_step<float>: blocks of .* __launch_bounds__\(128\)"),
    # out-of-bounds reads and writes
    Mutant("activation_forward loops to e <= n (reads and writes one past the end)", "activations.cu",
           "for (int e = blockIdx.x * blockDim.x + threadIdx.x; e < n; e += gridDim.x * blockDim.x)\n"
           "        y[e] = activate", "for (int e = blockIdx.x * blockDim.x + threadIdx.x; e <= n; "
           "e += gridDim.x * blockDim.x)\n        y[e] = activate", "activations",
           r"EmuError: activation_forward<float>: .* x\[\d+\], out of bounds: x has \d+ elements; at activations.cu:\d+"),
    Mutant("cross-entropy writes each row's loss one row down", "losses.cu",
           "if (lane == 0) losses[row] = loss;", "if (lane == 0) losses[row + 1] = loss;",
           "softmax_and_cross_entropy", r"writes losses\[\d+\], out of bounds: losses has \d+ elements"),
    Mutant("max pooling drops the right-edge guard of its window", "pool.cu",
           "if (v < 0 || v >= W) continue;\n            const T value", "if (v < 0) continue;\n            const T value",
           "pooling", r"reads x\[\d+\], out of bounds"),
    # missing __syncthreads
    Mutant("conv2d_forward reads its pixel table before every thread wrote it", "conv.cu",
           "row_w[tid] = (pq % Wo) * sw - left;\n    }\n    __syncthreads();",
           "row_w[tid] = (pq % Wo) * sw - left;\n    }", "conv2d_forward_and_gradients",
           r"shared-memory race on row_[nhw]\[\d+\]"),
    Mutant("conv2d_backward_input reloads its tiles while others still multiply", "conv.cu",
           ": T(0);\n        }\n        __syncthreads();\n        multiply_tiles(As, Bs, acc);\n        __syncthreads();\n"
           "    }\n    for (int i = 0; i < TM; ++i) {\n        const int m = m0 + threadIdx.y + 16 * i;\n"
           "        for (int j = 0; j < TN; ++j) {\n            const int c",
           ": T(0);\n        }\n        __syncthreads();\n        multiply_tiles(As, Bs, acc);\n"
           "    }\n    for (int i = 0; i < TM; ++i) {\n        const int m = m0 + threadIdx.y + 16 * i;\n"
           "        for (int j = 0; j < TN; ++j) {\n            const int c",
           "conv2d_forward_and_gradients", SHARED_RACE + r" [AB]s\["),
    Mutant("the recurrent U·h product reloads its slices while others still read them", "recurrent.cu",
           "acc[g] += Hs[ty][kk] * Us[kk][g][tx];\n        __syncthreads();",
           "acc[g] += Hs[ty][kk] * Us[kk][g][tx];", "recurrent_cells", SHARED_RACE + r" (Hs|Us)\["),
    Mutant("batch-norm column sums read the partial sums before they are all written", "normalization.cu",
           "part[1][threadIdx.y][threadIdx.x] = s2;\n    __syncthreads();",
           "part[1][threadIdx.y][threadIdx.x] = s2;", "batch_norm", SHARED_RACE + r" part\["),
    Mutant("lstm_forward_step returns before the barriers of its U·h product", "recurrent.cu",
           "times_U<T, 4>(h_prev, U, u, n < N, z);\n    if (n >= N || j >= u) return;",
           "if (n >= N || j >= u) return;\n    times_U<T, 4>(h_prev, U, u, n < N, z);", "recurrent_cells",
           r"__syncthreads at recurrent.cu:\d+ is reached by \d+ of the 256 threads"),
    # outputs left unwritten (allocated with empty: poisoned under emulation)
    Mutant("average pooling skips the last output element", "pool.cu",
           "if (e >= N * Ho * Wo * C) return;\n    const int c = e % C, q = (e / C) % Wo, p = (e / (C * Wo)) % Ho, "
           "n = e / (C * Wo * Ho);\n    T sum", "if (e >= N * Ho * Wo * C - 1) return;\n    const int c = e % C, "
           "q = (e / C) % Wo, p = (e / (C * Wo)) % Ho, n = e / (C * Wo * Ho);\n    T sum", "pooling",
           r"AssertionError: relative error nan"),
    Mutant("softmax leaves the last column unwritten", "activations.cu",
           "for (int c = lane; c < C; c += 32) y[row * C + c] =", "for (int c = lane; c < C - 1; c += 32) y[row * C + c] =",
           "softmax_and_cross_entropy", r"AssertionError: relative error nan"),
    # warp-synchronous code
    Mutant("warp_sum shuffles with a half-warp mask", "common.h",
           "v += __shfl_xor_sync(0xffffffffu, v, offset);", "v += __shfl_xor_sync(0x0000ffffu, v, offset);",
           "softmax_and_cross_entropy", r"has mask 0x0000ffff, which does not name lane 16"),
    Mutant("cross-entropy sums the loss over half the lanes of the warp only", "losses.cu",
           "loss = warp_sum(loss);", "if (lane < 16) loss = warp_sum(loss);", "softmax_and_cross_entropy",
           r"is reached by 16 of the 32 lanes of its warp"),
    # paths only real sizes reach (the capped-grid tests reach them on small data)
    Mutant("split-K sums only the first slice of its chunk", "conv.cu",
           "m_end = min(M, m_begin + chunk);", "m_end = min(M, m_begin + BK);", "large_size", WRONG_OR_NAN),
    Mutant("split-K steps over every other slice", "conv.cu",
           "for (int s0 = m_begin; s0 < m_end; s0 += BK) {", "for (int s0 = m_begin; s0 < m_end; s0 += 2 * BK) {",
           "large_size", WRONG_OR_NAN),
    Mutant("activation_backward skips an element between grid-stride passes", "activations.cu",
           "for (int e = blockIdx.x * blockDim.x + threadIdx.x; e < n; e += gridDim.x * blockDim.x)\n"
           "        dx[e]", "for (int e = blockIdx.x * blockDim.x + threadIdx.x; e < n; e += gridDim.x * blockDim.x + 1)\n"
           "        dx[e]", "large_size", r"AssertionError: relative error nan"),
    # a grid-stride loop that strides by one block: blocks overlap
    Mutant("batch_norm_apply strides by one block instead of the grid", "normalization.cu",
           "for (int e = blockIdx.x * blockDim.x + threadIdx.x; e < M * C; e += gridDim.x * blockDim.x) {\n"
           "        const int c = e % C;\n        y[e]", "for (int e = blockIdx.x * blockDim.x + threadIdx.x; e < M * C; "
           "e += blockDim.x) {\n        const int c = e % C;\n        y[e]", "batch_norm", RACE_BETWEEN_BLOCKS),
    # shared memory over the limit, arithmetic
    Mutant("conv tiles of BK = 48: more than 48 KB of shared memory in double", "conv.cu",
           "constexpr int BK = 16; ", "constexpr int BK = 48; ", "conv2d_forward_and_gradients and float64",
           r"the __shared__ arrays of this kernel take \d+ bytes .*more than the 49152 bytes"),
    Mutant("conv2d_forward adds the left padding instead of subtracting it", "conv.cu",
           "row_w[tid] = (pq % Wo) * sw - left;", "row_w[tid] = (pq % Wo) * sw + left;",
           "conv2d_forward_and_gradients", WRONG_OR_NAN + "|out of bounds"),
]


def run_mutant(mutant: Mutant, folder: Path) -> tuple[int, str]:
    text = (KERNEL_DIR / mutant.file).read_text()
    assert text.count(mutant.old) == 1, f"{mutant.name}: the snippet occurs {text.count(mutant.old)} times"
    folder.mkdir()
    (folder / mutant.file).write_text(text.replace(mutant.old, mutant.new))
    env = dict(os.environ, NNLAB_CUDA_KERNELS=str(folder), NNLAB_CUDA_EMU_CHECKS="auto", PYTHONPATH=str(ROOT))
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "tests/test_cuda_emu.py",
               "-k", mutant.tests]
    try:
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return -1, f"timed out after {TIMEOUT_S} s"
    return done.returncode, done.stdout + done.stderr


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    """Mutant name -> (pytest's exit code, its output), every mutant run once, two at a time."""
    base = tmp_path_factory.mktemp("mutants")
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = pool.map(lambda im: run_mutant(im[1], base / f"m{im[0]}"), enumerate(MUTANTS))
        return dict(zip((m.name for m in MUTANTS), results))


@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: m.name)
def test_mutant_is_killed_by_the_check_meant_for_it(outcomes, mutant):
    code, output = outcomes[mutant.name]
    tail = output[-3000:]
    assert code == 1, f"pytest on the mutant ended with exit code {code} (1 = tests failed; a negative code is a " \
                      f"crash):\n{tail}"
    assert re.search(mutant.expect, output), f"the mutant failed, but not with /{mutant.expect}/:\n{tail}"


def test_mutants_cover_the_kinds_of_bugs_the_emulator_must_catch():
    kinds = {RACE_BETWEEN_BLOCKS, SHARED_RACE, "__launch_bounds__", "out of bounds", "relative error nan",
             "mask", "large_size"}
    described = " ".join(f"{m.expect} {m.tests}" for m in MUTANTS)
    assert all(kind in described for kind in kinds)
    assert len({m.name for m in MUTANTS}) == len(MUTANTS)
