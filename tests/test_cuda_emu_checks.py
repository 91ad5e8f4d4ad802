"""The emulator's checks, each with a planted bug in a small kernel and the message it must give.

Every message names the kernel, the block and the thread, and the array (by its parameter name) or the
shuffle; memory checks also name the source line. tests/test_cuda_mutations.py plants the same kinds
of bugs in the project's own kernels.
"""
import os
import stat
import subprocess

import numpy as np
import pytest

from engine.backends import get_backend, unavailable_reason

pytestmark = pytest.mark.skipif(unavailable_reason("cuda-emu") is not None,
                                reason=f"cuda-emu unavailable: {unavailable_reason('cuda-emu')}")


@pytest.fixture(scope="module")
def emu():
    from engine.backends.cuda.emulator import emu
    with emu.checks("full"):
        yield emu


def run(emu, code, grid, block, *args, shared_mem=0):
    emu.EmuRawModule(code=code).get_function("k")(grid, block, args, shared_mem=shared_mem)


def x_y(n=64):
    return np.arange(n, dtype=np.float32), np.zeros(n, np.float32)


# ------------------------------------------------------------------------------------------ global memory
OOB = 'extern "C" __global__ void k(const float* x, float* y) {\n    int i = threadIdx.x;\n    STATEMENT\n}'


@pytest.mark.parametrize("statement, message", [
    ("y[i] = x[i + 1];", r"k: block \(0,0,0\): thread \(63,0,0\): reads x\[64\], out of bounds: x has 64 elements"),
    ("y[i + 1] = x[i];", r"thread \(63,0,0\): writes y\[64\], out of bounds: y has 64 elements"),
    ("y[i] = x[i - 1];", r"thread \(0,0,0\): reads 4 bytes before the start of x"),
    ("y[i] = x[i + 1000000];", r"reads 4 bytes at \d+, outside every array of the launch \(the nearest is"),
    ("atomicAdd(&y[i + 64], 1.0f);", r"thread \(0,0,0\): atomically updates y\[64\], out of bounds.*\(the atomic at .*:3\)"),
])
def test_out_of_bounds_accesses_are_reported_with_array_and_line(emu, statement, message):
    with pytest.raises(emu.EmuError, match=message) as info:
        run(emu, OOB.replace("STATEMENT", statement), 1, 64, *x_y())
    if "atomic" not in statement:
        assert "; at " in str(info.value) and ".cu:3 (in k)" in str(info.value)     # the line of the access


def test_arrays_are_copied_between_red_zones_and_back(emu):
    """Results come back; the same array passed twice is one copy, as on the GPU."""
    x, y = x_y()
    run(emu, OOB.replace("STATEMENT", "y[i] = 2 * x[i];"), 1, 64, x, y)
    np.testing.assert_array_equal(y, 2 * x)
    code = 'extern "C" __global__ void k(float* a, float* b) { b[threadIdx.x] += 1; a[threadIdx.x] += 1; }'
    run(emu, code, 1, 64, x, x)
    np.testing.assert_array_equal(x, np.arange(64) + 2)


def test_outputs_allocated_with_empty_are_poisoned():
    """Under emulation, `empty` gives NaN (floats) or 0xAA bytes (ints), as recycled GPU memory would give
    garbage: an output element no kernel writes cannot pass for a correct zero."""
    library = get_backend("cuda-emu").kernels["conv2d_forward"].args[0]
    assert library.poison
    assert np.isnan(library.empty((3, 4), np.float32)).all() and np.isnan(library.empty((5,), np.float64)).all()
    assert (library.empty((7,), np.int32) == np.int32(-0x55555556)).all()


# ------------------------------------------------------------------------------------------ races
REVERSE = """extern "C" __global__ void k(const float* x, float* y) {
    __shared__ float tile[2][32];
    int t = threadIdx.x;
    for (int round = 0; round < 2; ++round) {
        tile[t / 32][t % 32] = x[t] + round;
        FIRST
        y[t] += tile[1 - t / 32][31 - t % 32];
        SECOND
    }
}"""


@pytest.mark.parametrize("first, second, message", [
    ("", "__syncthreads();", r"k: block \(0,0,0\): thread \(32,0,0\): shared-memory race on tile\[1\]\[0\]: "
                             r"thread \(31,0,0\) read it and this thread writes it with no __syncthreads in between"),
    ("__syncthreads();", "", r"thread \(32,0,0\): shared-memory race on tile\[0\]\[31\]: thread \(31,0,0\) wrote it "
                             r"and this thread reads it"),
    ("__syncthreads();", "__syncthreads();", None),
])
def test_shared_memory_races_between_barriers_are_reported(emu, first, second, message):
    code = REVERSE.replace("FIRST", first).replace("SECOND", second)
    for order in ("forward", "random"):
        x, y = x_y()
        with emu.thread_order(order, seed=5):
            if message is None:
                run(emu, code, 1, 64, x, y)
                np.testing.assert_array_equal(y, 2 * x[::-1] + 1)
            else:
                with pytest.raises(emu.EmuError, match=r"k: block \(0,0,0\): thread \(\d+,0,0\): " if order ==
                                   "random" else message):
                    run(emu, code, 1, 64, x, y)


def test_shared_write_write_race_and_shared_atomics(emu):
    code = """extern "C" __global__ void k(const float* x, float* y) {
        __shared__ float total[1];
        if (threadIdx.x == 0) total[0] = 0;
        __syncthreads();
        UPDATE
        __syncthreads();
        y[threadIdx.x] = total[0];
    }"""
    with pytest.raises(emu.EmuError, match=r"race on total\[0\]: thread \(0,0,0\) wrote it and this thread reads"):
        run(emu, code.replace("UPDATE", "total[0] = total[0] + x[threadIdx.x];"), 1, 64, *x_y())
    x, y = x_y()
    run(emu, code.replace("UPDATE", "atomicAdd(&total[0], x[threadIdx.x]);"), 1, 64, x, y)
    assert (y == x.sum()).all()


@pytest.mark.parametrize("body, message", [
    ("y[0] += x[blockIdx.x];", r"block \(1,0,0\): thread \(0,0,0\): reads y\[0\], which block \(0,0,0\) wrote "
                               r"in this launch: a race between blocks"),
    ("y[blockIdx.x] = 1; y[1 - blockIdx.x] = 2;", r"writes y\[1\], which block \(0,0,0\) also wrote"),
    ("if (blockIdx.x == 0) y[1] = x[0]; else y[0] = y[1];", r"reads y\[1\], which block \(0,0,0\) wrote"),
    ("atomicAdd(&y[0], x[blockIdx.x]); if (blockIdx.x == 1) y[1] = y[0];",
     r"reads y\[0\], which block \(0,0,0\) updated with an atomic"),
    ("atomicAdd(&y[0], x[blockIdx.x]); y[2 + blockIdx.x] = y[2 + blockIdx.x] + 1;", None),
])
def test_races_between_blocks_are_reported(emu, body, message):
    """Blocks run one after another here, so a plain `+=` across blocks gives the right sum; the record of
    who touched each element finds the race anyway, in either block order."""
    code = f'extern "C" __global__ void k(const float* x, float* y) {{ {body} }}'
    for order in ("forward", "random"):
        with emu.thread_order(order, seed=1):
            if message is None:
                run(emu, code, 2, 1, *x_y())
            else:
                with pytest.raises(emu.EmuError, match="a race between blocks" if order == "random" else message):
                    run(emu, code, 2, 1, *x_y())


def test_fast_level_skips_the_memory_checks_and_auto_checks_small_launches(emu, monkeypatch):
    code = 'extern "C" __global__ void k(const float* x, float* y) { y[0] += x[blockIdx.x]; }'
    x, y = x_y()
    with emu.checks("fast"):
        run(emu, code, 4, 1, x, y)
    assert y[0] == 6
    with emu.checks("auto"):
        with pytest.raises(emu.EmuError, match="race between blocks"):
            run(emu, code, 4, 1, x, y)
        monkeypatch.setattr(emu, "AUTO_CHECK_THREADS", 3)
        run(emu, code, 4, 1, x, y)                                    # 4 threads: above the limit, unchecked
    with pytest.raises(ValueError, match="one of auto, full, fast"):
        with emu.checks("thorough"):
            pass


# ------------------------------------------------------------------------------------------ launch configuration
def test_launch_configuration_is_checked_against_the_kernel_and_cuda(emu):
    bounded = 'constexpr int THREADS = 128;\nextern "C" __global__ void __launch_bounds__(BOUND) k(float* y) { }'
    y = np.zeros(4, np.float32)
    for bound in ("128", "THREADS"):
        kernel = emu.EmuRawModule(code=bounded.replace("BOUND", bound)).get_function("k")
        kernel(1, 128, (y,))
        with pytest.raises(emu.EmuError, match=r"k: blocks of \(256, 1, 1\) = 256 threads are more than the "
                                               r"kernel's __launch_bounds__\(128\); a GPU refuses this launch"):
            kernel(1, 256, (y,))
    kernel = emu.EmuRawModule(code='extern "C" __global__ void k(float* y) { }').get_function("k")
    for grid in ((1, 65536), (1, 1, 65536), (0,)):
        with pytest.raises(emu.EmuError, match="invalid launch configuration"):
            kernel(grid, 1, (y,))
    kernel((1, 65535), 1, (y,))                                     # the largest grid y is fine
    with pytest.raises(emu.EmuError, match=r"shared_mem=50000 bytes of dynamic shared memory is more than the "
                                           r"49152 bytes a launch may use without opting in"):
        kernel(1, 1, (y,), shared_mem=50000)
    kernel.max_dynamic_shared_size_bytes = 50000                    # the opt-in, as on a CuPy kernel
    kernel(1, 1, (y,), shared_mem=50000)


def test_static_shared_memory_over_48_kb_is_refused(emu):
    code = """template <typename T>
    __global__ void k(T* y) {
        __shared__ T a[4096];
        __shared__ T b[4096];
        a[threadIdx.x] = b[threadIdx.x] = 0;
    }"""
    module = emu.EmuRawModule(code=code, name_expressions=["k<float>", "k<double>"])
    module.get_function("k<float>")(1, 32, (np.zeros(4, np.float32),))          # 32 KB
    with pytest.raises(emu.EmuError, match=r"k<double>: block \(0,0,0\): thread \(0,0,0\): the __shared__ arrays "
                                           r"of this kernel take 65536 bytes \(with b\), more than the 49152"):
        module.get_function("k<double>")(1, 32, (np.zeros(4),))


def test_dynamic_shared_memory(emu):
    code = """extern "C" __global__ void k(const float* x, float* y) {
        extern __shared__ float buf[];
        buf[threadIdx.x + OFFSET] = x[threadIdx.x];
        __syncthreads();
        y[threadIdx.x] = buf[63 - threadIdx.x];
    }"""
    x, y = x_y()
    run(emu, code.replace("OFFSET", "0"), 1, 64, x, y, shared_mem=64 * 4)
    np.testing.assert_array_equal(y, x[::-1])
    with pytest.raises(emu.EmuError, match=r"thread \(63,0,0\): writes buf\[64\], out of bounds: buf has 64 "
                                           r"elements \(a __shared__ array\)"):
        run(emu, code.replace("OFFSET", "1"), 1, 64, x, y, shared_mem=64 * 4)


# ------------------------------------------------------------------------------------------ warp shuffles
SHUFFLE = """extern "C" __global__ void k(const float* x, float* y) {
    float v = x[threadIdx.x];
    int lane = threadIdx.x % 32;
    STATEMENT
    y[threadIdx.x] = v;
}"""


@pytest.mark.parametrize("statement, message", [
    ("v = __shfl_xor_sync(0xffffu, v, 1);", r"k: block \(0,0,0\): the __shfl_xor_sync at .*:4 has mask 0x0000ffff, "
                                            r"which does not name lane 16 although it calls it"),
    ("if (lane < 16) v = __shfl_xor_sync(0xffffffffu, v, 1);", r"is reached by 16 of the 32 lanes of its warp that "
                                                               r"its mask 0xffffffff names; the others have returned"),
    ("if (lane < 16) v = __shfl_xor_sync(0xffffffffu, v, 1); __syncthreads();",
     r"has mask 0xffffffff but lanes 0x0000ffff call it: lane 16 waits at the __syncthreads"),
    ("if (lane < 16) v = __shfl_xor_sync(0xffffu, v, 1); else v = __shfl_xor_sync(0xffffffffu, v, 1);",
     r"lanes 0 and 16 call the __shfl_xor_sync at .*:4 with different masks \(0x0000ffff, 0xffffffff\)"),
    ("if (lane < 16) v = __shfl_down_sync(0xffffu, v, 8);",
     r"lane 8 reads lane 16, which is not in the mask 0x0000ffff"),
    ("v = __shfl_xor_sync(0xffffffffu, v, 1, 12);", "the width must be a power of two"),
])
def test_shuffle_masks_must_match_the_calling_lanes(emu, statement, message):
    with pytest.raises(emu.EmuError, match=message):
        run(emu, SHUFFLE.replace("STATEMENT", statement), 1, 64, *x_y())


def test_partial_masks_widths_and_shuffle_down_follow_cuda(emu):
    x, y = x_y()
    run(emu, SHUFFLE.replace("STATEMENT", "if (lane < 16) v = __shfl_xor_sync(0xffffu, v, 1);"), 1, 64, x, y)
    swapped = (np.arange(64) ^ 1).astype(np.float32)
    np.testing.assert_array_equal(y, np.where(np.arange(64) % 32 < 16, swapped, x))
    run(emu, SHUFFLE.replace("STATEMENT", "v += __shfl_down_sync(0xffffffffu, v, 4, 8);"), 1, 64, x, y)
    lane = np.arange(64) % 8
    np.testing.assert_array_equal(y, np.where(lane < 4, 2 * x + 4, 2 * x))   # past the group of 8: own value
    run(emu, SHUFFLE.replace("STATEMENT", "v = __shfl_xor_sync(0xffffffffu, v, 1);"), 1, 48, x, y)   # partial warp
    np.testing.assert_array_equal(y[:48], swapped[:48])


# ------------------------------------------------------------------------------------------ the cache folder
PLANTED = r"""
#include <cstdio>
__attribute__((constructor)) static void planted() { std::FILE* f = std::fopen("MARKER", "w"); std::fclose(f); }
"""


@pytest.mark.parametrize("writable", ["root", "folder"])
def test_a_cache_folder_others_can_write_is_refused(emu, tmp_path, monkeypatch, writable):
    """A .so planted under the expected name in a cache folder that other users could write is never loaded."""
    code = 'extern "C" __global__ void k(float* y) { y[threadIdx.x] = 1; }'
    expected_name = emu.build(code, ["k"]).name                      # in the test session's own cache
    root, marker = tmp_path / "shared_cache", tmp_path / "planted-ran"
    (root / "cuda_emu").mkdir(parents=True)
    source = tmp_path / "planted.cpp"
    source.write_text(PLANTED.replace("MARKER", str(marker)))
    subprocess.run(["g++", "-shared", "-fPIC", "-o", str(root / "cuda_emu" / expected_name), str(source)], check=True)
    os.chmod(root / "cuda_emu" if writable == "folder" else root, 0o777)
    monkeypatch.setenv("NNLAB_CACHE", str(root))
    folder = root / "cuda_emu" if writable == "folder" else root
    message = rf"{folder} can be written by other users \(mode .rwxrwxrwx.*\).*chmod go-w {folder}"
    with pytest.raises(emu.EmuError, match=message):
        emu.EmuRawModule(code=code)
    assert not marker.exists()
    from engine.backends.cuda.emulator import unavailable_reason as emulator_unavailable
    assert str(folder) in emulator_unavailable()
    os.chmod(folder, 0o755)
    assert emulator_unavailable() is None
    assert stat.S_IMODE((root / "cuda_emu").stat().st_mode) & 0o022 == 0


def test_cache_file_names_are_content_hashes(emu):
    code = 'extern "C" __global__ void k(float* y) { y[0] = 1; }'
    plain, checked = emu.build(code, ["k"]), emu.build(code, ["k"], checked=True)
    assert plain != checked and checked.name.endswith("-checked.so")
    assert emu.build(code.replace("1", "2"), ["k"]).name != plain.name
    assert len(plain.stem) == 24 and int(plain.stem, 16) >= 0
