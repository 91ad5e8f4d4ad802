// cuda_emu.h: run CUDA C kernels on the CPU (the `cuda-emu` backend of nnlab). This is what kernels see.
//
// A .cu file is compiled by g++ with this header in front of it (see emu.py). The header turns the
// CUDA keywords into plain C++; the runtime (scheduler.cpp, memory.cpp, compiled once and linked into
// every kernel module) emulates the execution model:
//   * blocks run one after another (forward order, or a random permutation);
//   * the threads of a block are fibers (ucontext), all on one OS thread. A fiber runs until it
//     reaches __syncthreads() or a warp shuffle, or returns. When every live thread waits at the same
//     __syncthreads the block moves on; a shuffle releases the lanes named in its mask. Threads that
//     wait at different barriers, or a __syncthreads that some threads skip by returning, is an error;
//   * each phase runs its threads in forward or in random order, so a missing barrier shows up as a
//     wrong result in at least one order;
//   * a `__shared__` array is a static array (one per kernel: blocks run one at a time). emu.py rewrites
//     each `__shared__ T name[...];` into `static T name[...]; EMU_SHARED(name);`, which registers it;
//     before every block all registered arrays are filled with 0xFF bytes (NaN for floats, -1 for
//     ints), so reading shared memory no thread wrote gives NaN, not a leftover value;
//   * the first block of a launch tells whether the kernel uses barriers at all. If it does not,
//     the other blocks run as plain function calls, thread after thread (much faster); a barrier
//     reached later in that mode is reported as an error instead of being ignored.
// Atomics are plain read-modify-writes: only one CUDA thread runs at any moment. Every switch between
// fibers is a system call (ucontext saves the signal mask), about 0.2 us: a launch of 100k threads that
// meet at a few barriers takes tens of milliseconds. The emulator is for correctness, not speed.
//
// Checked builds (emu.py adds -DCUDA_EMU_CHECKS -fsanitize=thread): the compiler then calls a function
// before every load and store (the hooks ThreadSanitizer would use; memory.cpp supplies them instead
// of the ThreadSanitizer library), and memory.cpp checks each access against the launch's arrays:
// bounds, races between threads of a block between two barriers on __shared__ memory, and races
// between blocks on global memory. Atomics report themselves (they may meet across blocks).
//
// Supported subset: __global__/__device__/__host__/__forceinline__/__launch_bounds__, __shared__
// arrays declared one per statement inside functions, `extern __shared__ T name[];` (dynamic shared
// memory), __syncthreads, __shfl_xor_sync and __shfl_down_sync (any mask and width),
// atomicAdd/atomicMax/atomicCAS, threadIdx/blockIdx/blockDim/gridDim/warpSize, the C math library,
// printf. Not emulated: other warp intrinsics, cooperative groups, __constant__, textures, half types.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <math.h>
#include <type_traits>
#include <utility>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)   // emu.py reads the bound from the source and checks launches against it
#define EMU_HIDDEN __attribute__((visibility("hidden")))
// Code that must not be checked access by access: the argument unpacking and the atomics (which report
// their accesses themselves).
#define EMU_UNCHECKED __attribute__((no_sanitize_thread))

using std::max;
using std::min;

struct uint3 { unsigned x, y, z; };
struct dim3 {
    unsigned x, y, z;
    dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};

// The built-in indices. Globals (not thread_local): the scheduler rewrites threadIdx before it
// switches to a fiber, and the switch is an opaque call, so kernels always read the current value.
extern EMU_HIDDEN uint3 threadIdx, blockIdx;
extern EMU_HIDDEN dim3 blockDim, gridDim;
constexpr int warpSize = 32;

namespace emu {

// An array argument of a launch, as emu.py describes it (mirrored by the ctypes structure Region).
struct Region {
    const void* base;
    unsigned long long bytes, element;
    const char* name;
};

// Mirrors the ctypes structure LaunchConfig in emu.py.
struct LaunchConfig {
    unsigned grid[3], block[3];
    int random_order;
    unsigned long long seed;
    unsigned long long shared_bytes;   // dynamic shared memory (the launch's shared_mem)
    int checks;                // check every memory access (the module is a checked build)
    int region_count;
    const Region* regions;
    const void* error_pc;      // the code address of a failed memory check (emu.py finds its line)
    char error[2048];
};

// The body of one CUDA thread: run(call) calls the kernel with the launch's arguments.
struct ThreadBody {
    void (*run)(void* call);
    void* call;
};

// Runs every thread of the grid; returns 0, or 1 with a message in cfg->error.
EMU_HIDDEN int run_grid(ThreadBody body, LaunchConfig* cfg);
EMU_HIDDEN void syncthreads(const char* file, int line);
// A warp shuffle: returns the `bits` of lane `source` (-1: the caller's own bits) among the lanes of `mask`.
EMU_HIDDEN uint64_t shuffle(unsigned mask, uint64_t bits, int source, const char* what, const char* file, int line);
EMU_HIDDEN void shared_memory(void* address, size_t bytes, size_t element, unsigned rank, const unsigned* extents,
                              const char* name);
EMU_HIDDEN void* dynamic_shared_memory(size_t element, const char* name);
EMU_HIDDEN void atomic_access(const void* address, size_t bytes, const char* file, int line);

// Registers a __shared__ array (see the rewrite above) with its shape, for poisoning and for messages.
template <typename A>
void shared_array(A* array, const char* name) {
    unsigned extents[std::rank_v<A> + 1] = {};
    [&]<size_t... I>(std::index_sequence<I...>) { ((extents[I] = unsigned(std::extent_v<A, I>)), ...); }
    (std::make_index_sequence<std::rank_v<A>>{});
    shared_memory(array, sizeof(A), sizeof(std::remove_all_extents_t<A>), std::rank_v<A>, extents, name);
}

// `extern __shared__ T name[];` becomes `T* const name = emu::dynamic_shared<T>("name");` (emu.py).
template <typename T>
T* dynamic_shared(const char* name) { return static_cast<T*>(dynamic_shared_memory(sizeof(T), name)); }

template <typename... A>
struct KernelCall {
    void (*kernel)(A...);
    void** args;   // args[i] points at the value of parameter i (for a pointer parameter: at the pointer)

    template <size_t... I>
    EMU_UNCHECKED void call(std::index_sequence<I...>) { kernel(*static_cast<A*>(args[I])...); }

    EMU_UNCHECKED static void run(void* self) {
        static_cast<KernelCall*>(self)->call(std::index_sequence_for<A...>{});
    }
};

template <typename... A>
int launch(void (*kernel)(A...), LaunchConfig* cfg, void** args) {
    KernelCall<A...> call{kernel, args};
    return run_grid(ThreadBody{&KernelCall<A...>::run, &call}, cfg);
}

// Type codes of kernel parameters, read by emu.py to check arguments: a scalar is 's' + code, a
// pointer 'p' (or 'P' when it points to const) + the code of what it points to.
template <typename T>
constexpr char code_of() {
    if constexpr (std::is_same_v<T, float>) return 'f';
    else if constexpr (std::is_same_v<T, double>) return 'd';
    else if constexpr (std::is_same_v<T, int>) return 'i';
    else if constexpr (std::is_same_v<T, unsigned>) return 'I';
    else if constexpr (std::is_same_v<T, long> || std::is_same_v<T, long long>) return 'q';
    else if constexpr (std::is_same_v<T, unsigned long> || std::is_same_v<T, unsigned long long>) return 'Q';
    else if constexpr (std::is_same_v<T, bool>) return '?';
    else return 'x';
}

template <typename A>
constexpr char kind_of() {
    if constexpr (!std::is_pointer_v<A>) return 's';
    else return std::is_const_v<std::remove_pointer_t<A>> ? 'P' : 'p';
}

template <typename... A>
const char* signature(void (*)(A...)) {
    struct Codes { char text[3 * sizeof...(A) + 1]; };
    static constexpr Codes codes = [] {
        Codes c{};
        int i = 0;
        ((c.text[i++] = kind_of<A>(), c.text[i++] = code_of<std::remove_cv_t<std::remove_pointer_t<A>>>(),
          c.text[i++] = ','), ...);
        return c;
    }();
    return codes.text;
}

// The calling thread's lane in its warp (threads are numbered x fastest, as on the GPU).
inline int lane_id() { return int((threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z)) % warpSize); }

template <typename T>
T shuffle_value(unsigned mask, T value, int source, int width, const char* what, const char* file, int line) {
    static_assert(sizeof(T) <= sizeof(uint64_t), "warp shuffle of a value wider than 64 bits");
    if (width < 1 || width > warpSize || (width & (width - 1)))
        source = -2;                                   // not a power of two up to 32: the runtime says so
    uint64_t bits = 0;
    std::memcpy(&bits, &value, sizeof(T));
    bits = shuffle(mask, bits, source, what, file, line);
    std::memcpy(&value, &bits, sizeof(T));
    return value;
}

}  // namespace emu

#define EMU_SHARED(name) emu::shared_array(&name, #name)

inline void __syncthreads(const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
    emu::syncthreads(file, line);
}

// Lane l reads lane l ^ lane_mask; a lane in a later group of `width` lanes gives back the caller's value.
template <typename T>
T __shfl_xor_sync(unsigned mask, T value, int lane_mask, int width = warpSize,
                  const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
    const int lane = emu::lane_id(), source = lane ^ lane_mask;
    const bool inside = source < (lane / width + 1) * width;
    return emu::shuffle_value(mask, value, inside ? source : -1, width, "__shfl_xor_sync", file, line);
}

// Lane l reads lane l + delta of its group of `width` lanes; past the group's end it keeps its value.
template <typename T>
T __shfl_down_sync(unsigned mask, T value, unsigned delta, int width = warpSize,
                   const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
    const int lane = emu::lane_id(), source = lane + int(delta);
    const bool inside = source < (lane / width + 1) * width;
    return emu::shuffle_value(mask, value, inside ? source : -1, width, "__shfl_down_sync", file, line);
}

template <typename T>
EMU_UNCHECKED T atomicAdd(T* address, T value, const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
    emu::atomic_access(address, sizeof(T), file, line);
    const T old = *address;
    *address = old + value;
    return old;
}

template <typename T>
EMU_UNCHECKED T atomicMax(T* address, T value, const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
    emu::atomic_access(address, sizeof(T), file, line);
    const T old = *address;
    *address = old > value ? old : value;
    return old;
}

template <typename T>
EMU_UNCHECKED T atomicCAS(T* address, T compare, T value, const char* file = __builtin_FILE(),
                          int line = __builtin_LINE()) {
    emu::atomic_access(address, sizeof(T), file, line);
    const T old = *address;
    if (old == compare) *address = value;
    return old;
}
