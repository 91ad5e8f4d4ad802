// cuda_emu.h: run CUDA C kernels on the CPU (the `cuda-emu` backend of nnlab).
//
// A .cu file is compiled by g++ with this header in front of it (see emu.py). The header turns the
// CUDA keywords into plain C++ and emulates the execution model:
//   * blocks run one after another (forward order, or a random permutation);
//   * the threads of a block are fibers (ucontext), all on one OS thread. A fiber runs until it
//     reaches __syncthreads() or a warp shuffle, or returns. When every live thread waits at the same
//     __syncthreads the block moves on; a shuffle releases the 32 lanes of its warp. Threads that
//     wait at different barriers, or a __syncthreads that some threads skip by returning, is an error;
//   * each phase runs its threads in forward or in random order, so a missing barrier shows up as a
//     wrong result in at least one order;
//   * a `__shared__` array is a static array (one per kernel: blocks run one at a time). emu.py rewrites
//     each `__shared__ T name[...];` into `static T name[...]; emu::shared_memory(&name, sizeof name);`,
//     which registers it; before every block all registered arrays are filled with 0xFF bytes (NaN for
//     floats, -1 for ints), so reading shared memory no thread wrote gives NaN, not a leftover value;
//   * the first block of a launch tells whether the kernel uses barriers at all. If it does not,
//     the other blocks run as plain function calls, thread after thread (much faster); a barrier
//     reached later in that mode is reported as an error instead of being ignored.
// Atomics are plain read-modify-writes: only one CUDA thread runs at any moment. Every switch between
// fibers is a system call (ucontext saves the signal mask), about 0.2 us: a launch of 100k threads that
// meet at a few barriers takes tens of milliseconds. The emulator is for correctness, not speed.
//
// Supported subset: __global__/__device__/__host__/__forceinline__/__launch_bounds__, __shared__
// arrays declared one per statement inside functions, __syncthreads, __shfl_xor_sync (full mask),
// atomicAdd/atomicMax/atomicCAS, threadIdx/blockIdx/blockDim/gridDim/warpSize, the C math library,
// printf. Not emulated: dynamic (extern) shared memory, other warp intrinsics, cooperative groups,
// __constant__, textures, half types.
//
// The file has two parts. The first is what kernels see. The second, the scheduler, is compiled only
// with -DCUDA_EMU_RUNTIME, once, into an object that emu.py links into every kernel module; each
// module keeps its own copy of the state (hidden symbols), and launches are serialised in Python.
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
#define __launch_bounds__(...)
#define EMU_HIDDEN __attribute__((visibility("hidden")))

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

// Mirrors the ctypes structure LaunchConfig in emu.py.
struct LaunchConfig {
    unsigned grid[3], block[3];
    int random_order;
    unsigned long long seed;
    char error[1024];
};

// The body of one CUDA thread: run(call) calls the kernel with the launch's arguments.
struct ThreadBody {
    void (*run)(void* call);
    void* call;
};

// Runs every thread of the grid; returns 0, or 1 with a message in cfg->error.
EMU_HIDDEN int run_grid(ThreadBody body, LaunchConfig* cfg);
EMU_HIDDEN void syncthreads(const char* file, int line);
EMU_HIDDEN uint64_t shuffle(unsigned mask, uint64_t bits, int source_lane, const char* file, int line);
EMU_HIDDEN void shared_memory(void* address, size_t bytes);   // see the rewrite of __shared__ above

template <typename... A>
struct KernelCall {
    void (*kernel)(A...);
    void** args;   // args[i] points at the value of parameter i (for a pointer parameter: at the pointer)

    template <size_t... I>
    void call(std::index_sequence<I...>) { kernel(*static_cast<A*>(args[I])...); }

    static void run(void* self) { static_cast<KernelCall*>(self)->call(std::index_sequence_for<A...>{}); }
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

}  // namespace emu

inline void __syncthreads(const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
    emu::syncthreads(file, line);
}

template <typename T>
T __shfl_xor_sync(unsigned mask, T value, int lane_mask, int width = warpSize,
                  const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
    static_assert(sizeof(T) <= sizeof(uint64_t), "__shfl_xor_sync: value wider than 64 bits");
    if (width != warpSize) mask = 0;   // sub-warp widths are not emulated either
    const unsigned lane = (threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z)) % warpSize;
    uint64_t bits = 0;
    std::memcpy(&bits, &value, sizeof(T));
    bits = emu::shuffle(mask, bits, int(lane ^ unsigned(lane_mask)), file, line);
    std::memcpy(&value, &bits, sizeof(T));
    return value;
}

template <typename T>
T atomicAdd(T* address, T value) {
    const T old = *address;
    *address = old + value;
    return old;
}

template <typename T>
T atomicMax(T* address, T value) {
    const T old = *address;
    *address = old > value ? old : value;
    return old;
}

template <typename T>
T atomicCAS(T* address, T compare, T value) {
    const T old = *address;
    if (old == compare) *address = value;
    return old;
}

#ifdef CUDA_EMU_RUNTIME
// ------------------------------------------------------------------ the scheduler (compiled once)
#include <ucontext.h>

#include <cstdlib>
#include <numeric>
#include <string>
#include <vector>

uint3 threadIdx, blockIdx;
dim3 blockDim, gridDim;

namespace emu {
namespace {

struct Error {
    std::string message;
};

enum class State { ready, at_syncthreads, at_shuffle, done };

struct Fiber {
    ucontext_t context;
    uint3 index;
    State state;
    const char* file;
    int line;
    unsigned shuffles;   // shuffles done in this block: lanes of a warp must agree
};

std::string where(const char* file, int line) {
    const char* slash = std::strrchr(file, '/');
    return std::string(slash ? slash + 1 : file) + ":" + std::to_string(line);
}

// splitmix64: the random source of the random thread and block orders.
struct Random {
    uint64_t state;
    uint64_t next() {
        uint64_t z = (state += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    }
    template <typename V>
    void shuffle(std::vector<V>& v) {   // Fisher-Yates
        for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[next() % i]);
    }
};

class Scheduler {
  public:
    static constexpr size_t stack_bytes = 256 * 1024;

    ~Scheduler() {
        for (char* stack : stacks) std::free(stack);
    }

    // Runs every block of the launch; throws Error on a barrier misuse.
    void run(ThreadBody kernel, const LaunchConfig& cfg) {
        body = kernel;
        rng.state = cfg.seed;
        random_order = cfg.random_order != 0;
        gridDim = dim3(cfg.grid[0], cfg.grid[1], cfg.grid[2]);
        blockDim = dim3(cfg.block[0], cfg.block[1], cfg.block[2]);
        threads = blockDim.x * blockDim.y * blockDim.z;
        std::vector<unsigned> blocks(size_t(gridDim.x) * gridDim.y * gridDim.z);
        std::iota(blocks.begin(), blocks.end(), 0u);
        if (random_order) rng.shuffle(blocks);
        bool first = true;
        for (unsigned b : blocks) {
            blockIdx = {b % gridDim.x, b / gridDim.x % gridDim.y, b / (gridDim.x * gridDim.y)};
            for (const SharedArray& a : shared_arrays) std::memset(a.address, 0xFF, a.bytes);
            if (first) {
                used_barriers = false;
                run_block_as_fibers();
                fibers_needed = used_barriers;
                first = false;
            } else if (fibers_needed) {
                run_block_as_fibers();
            } else {
                run_block_as_calls();
            }
        }
    }

    // Called wherever a thread passes a __shared__ declaration: an array seen for the first time is
    // registered and poisoned (no thread can have used it yet in this block).
    void shared_memory(void* address, size_t bytes) {
        for (const SharedArray& a : shared_arrays)
            if (a.address == address) return;
        shared_arrays.push_back({address, bytes});
        std::memset(address, 0xFF, bytes);
    }

    // __syncthreads: park this fiber until every live thread of the block is parked at this line.
    void syncthreads(const char* file, int line) { park(State::at_syncthreads, file, line); }

    // A warp shuffle: publish `bits`, wait for the 32 lanes, read lane `source`'s value. Shuffles
    // alternate between two exchange buffers, so a lane that runs ahead into the next shuffle does not
    // overwrite a value another lane has still to read.
    uint64_t shuffle(unsigned mask, uint64_t bits, int source, const char* file, int line) {
        if (mask != 0xffffffffu)
            stop("the shuffle at " + where(file, line) + " is not a full-warp shuffle (mask 0xffffffff, width 32), "
                 "the only kind the emulator supports");
        const int me = current;
        uint64_t* buffer = exchange.data() + (fibers[me].shuffles++ % 2) * threads;
        buffer[me] = bits;
        park(State::at_shuffle, file, line);
        const int from = me - me % warpSize + source;
        return (source >= 0 && source < warpSize && from < threads) ? buffer[from] : bits;
    }

  private:
    struct SharedArray {
        void* address;
        size_t bytes;
    };

    std::vector<SharedArray> shared_arrays;
    ThreadBody body{};
    Random rng{0};
    bool random_order = false, used_barriers = false, fibers_needed = false, as_calls = false;
    int threads = 0, current = -1;
    std::string failure;
    ucontext_t scheduler_context;
    std::vector<Fiber> fibers;
    std::vector<char*> stacks;
    std::vector<uint64_t> exchange;

    uint3 index_of(int t) const {
        return {unsigned(t) % blockDim.x, unsigned(t) / blockDim.x % blockDim.y,
                unsigned(t) / (blockDim.x * blockDim.y)};
    }

    std::vector<int> order_of(std::vector<int> ids) {
        if (random_order) rng.shuffle(ids);
        return ids;
    }

    static void fiber_main();

    // Ends the launch with an error raised inside a CUDA thread. A fiber cannot throw (there is
    // nothing to unwind into), so it hands the message to the scheduler and is never resumed.
    [[noreturn]] void stop(const std::string& message) {
        if (as_calls) fail(message);
        failure = message;
        swapcontext(&fibers[current].context, &scheduler_context);
        __builtin_unreachable();
    }

    void park(State state, const char* file, int line) {
        if (as_calls)
            fail("a barrier at " + where(file, line) + " is reached although the first block of this launch "
                 "reached none, so the emulator ran the other blocks without fibers; make barrier use the "
                 "same in every block");
        used_barriers = true;
        Fiber& f = fibers[current];
        f.state = state;
        f.file = file;
        f.line = line;
        swapcontext(&f.context, &scheduler_context);
    }

    void run_block_as_calls() {
        as_calls = true;
        std::vector<int> ids(threads);
        std::iota(ids.begin(), ids.end(), 0);
        for (int t : order_of(ids)) {
            threadIdx = index_of(t);
            body.run(body.call);
        }
        as_calls = false;
    }

    void run_block_as_fibers() {
        if (int(fibers.size()) < threads) {
            fibers.resize(threads);
            exchange.resize(2 * size_t(threads));
            while (int(stacks.size()) < threads) stacks.push_back(static_cast<char*>(std::malloc(stack_bytes)));
        }
        std::vector<int> ready(threads);
        std::iota(ready.begin(), ready.end(), 0);
        for (int t = 0; t < threads; ++t) {
            Fiber& f = fibers[t];
            getcontext(&f.context);
            f.context.uc_stack.ss_sp = stacks[t];
            f.context.uc_stack.ss_size = stack_bytes;
            f.context.uc_link = &scheduler_context;
            makecontext(&f.context, fiber_main, 0);
            f.index = index_of(t);
            f.state = State::ready;
            f.shuffles = 0;
        }
        while (!ready.empty()) {
            for (int t : order_of(ready)) {
                current = t;
                threadIdx = fibers[t].index;
                swapcontext(&scheduler_context, &fibers[t].context);
                if (!failure.empty()) fail(std::exchange(failure, std::string()));
            }
            ready = release();
        }
    }

    // Which parked threads may continue: the lanes of every warp whose live threads all wait at one
    // shuffle, else the whole block if every live thread waits at one __syncthreads.
    std::vector<int> release() {
        std::vector<int> freed;
        for (int begin = 0; begin < threads; begin += warpSize) {
            const int end = std::min(threads, begin + warpSize);
            int waiting = 0, exited = 0;
            for (int t = begin; t < end; ++t) {
                waiting += fibers[t].state == State::at_shuffle;
                exited += fibers[t].state == State::done;
            }
            if (waiting == 0 || waiting + exited < end - begin) continue;   // no shuffle, or lanes elsewhere
            const Fiber& f = check_same_place(begin, end, State::at_shuffle, "__shfl_xor_sync");
            if (exited)
                fail("the warp shuffle at " + where(f.file, f.line) + " is reached by " + std::to_string(waiting) +
                     " of the " + std::to_string(end - begin) + " lanes of its warp; the others have returned");
            for (int t = begin; t < end; ++t) freed.push_back(t);
        }
        if (freed.empty()) {
            int live = 0, at_sync = 0;
            for (int t = 0; t < threads; ++t) {
                live += fibers[t].state != State::done;
                at_sync += fibers[t].state == State::at_syncthreads;
            }
            if (live == 0) return freed;
            if (at_sync != live) fail("deadlock: " + describe_waits());
            const Fiber& f = check_same_place(0, threads, State::at_syncthreads, "__syncthreads");
            if (live < threads)
                fail("__syncthreads at " + where(f.file, f.line) + " is reached by " + std::to_string(live) +
                     " of the " + std::to_string(threads) + " threads of the block; the others have returned");
            freed.resize(threads);
            std::iota(freed.begin(), freed.end(), 0);
        }
        for (int t : freed) fibers[t].state = State::ready;
        return freed;
    }

    // The first thread of [begin, end) waiting in `state`; fails unless all such threads wait at its line.
    const Fiber& check_same_place(int begin, int end, State state, const char* what) {
        int first = begin;
        while (fibers[first].state != state) ++first;
        const Fiber& a = fibers[first];
        for (int t = first; t < end; ++t) {
            const Fiber& b = fibers[t];
            const bool same = b.line == a.line && std::strcmp(b.file, a.file) == 0 &&
                              (state != State::at_shuffle || b.shuffles == a.shuffles);
            if (b.state == state && !same)
                fail(std::string("divergent ") + what + ": threads of one block wait at " + where(a.file, a.line) +
                     " and at " + where(b.file, b.line) + " (" + describe_waits() + ")");
        }
        return a;
    }

    std::string describe_waits() const {
        std::string out;
        for (int t = 0; t < threads; ++t) {
            const Fiber& f = fibers[t];
            if (f.state != State::at_syncthreads && f.state != State::at_shuffle) continue;
            if (!out.empty()) out += ", ";
            out += "thread (" + std::to_string(f.index.x) + "," + std::to_string(f.index.y) + "," +
                   std::to_string(f.index.z) + ") at " +
                   (f.state == State::at_shuffle ? "a shuffle " : "__syncthreads ") + where(f.file, f.line);
            if (out.size() > 400) return out + ", ...";
        }
        return out;
    }

    [[noreturn]] void fail(const std::string& message) const {
        throw Error{"block (" + std::to_string(blockIdx.x) + "," + std::to_string(blockIdx.y) + "," +
                    std::to_string(blockIdx.z) + "): " + message};
    }
};

Scheduler scheduler;

void Scheduler::fiber_main() {
    scheduler.body.run(scheduler.body.call);
    scheduler.fibers[scheduler.current].state = State::done;   // uc_link returns to the scheduler
}

}  // namespace

int run_grid(ThreadBody body, LaunchConfig* cfg) {
    int failed = 0;
    try {
        scheduler.run(body, *cfg);
    } catch (const Error& e) {
        std::snprintf(cfg->error, sizeof cfg->error, "%s", e.message.c_str());
        failed = 1;
    }
    std::fflush(stdout);   // kernel printf output appears before Python's next line
    return failed;
}

void syncthreads(const char* file, int line) { scheduler.syncthreads(file, line); }

uint64_t shuffle(unsigned mask, uint64_t bits, int source_lane, const char* file, int line) {
    return scheduler.shuffle(mask, bits, source_lane, file, line);
}

void shared_memory(void* address, size_t bytes) { scheduler.shared_memory(address, bytes); }

}  // namespace emu
#endif  // CUDA_EMU_RUNTIME
