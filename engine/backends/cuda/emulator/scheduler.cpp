// scheduler.cpp: runs the blocks and threads of a launch (see the top of cuda_emu.h for the model).
#include <ucontext.h>

#include <cstdlib>
#include <numeric>
#include <string>
#include <vector>

#include "runtime.h"

uint3 threadIdx, blockIdx;
dim3 blockDim, gridDim;

namespace emu {

std::string where(const char* file, int line) {
    const char* slash = std::strrchr(file, '/');
    return std::string(slash ? slash + 1 : file) + ":" + std::to_string(line);
}

std::string describe(uint3 index) {
    return "(" + std::to_string(index.x) + "," + std::to_string(index.y) + "," + std::to_string(index.z) + ")";
}

uint3 index_in(unsigned rank, dim3 shape) {
    return {rank % shape.x, rank / shape.x % shape.y, rank / (shape.x * shape.y)};
}

namespace {

enum class State { ready, at_syncthreads, at_shuffle, done };

struct Fiber {
    ucontext_t context;
    uint3 index;
    State state;
    const char* what;    // the shuffle or "__syncthreads" it waits at, and where
    const char* file;
    int line;
    unsigned mask;       // a shuffle's lane mask, the value it offers, the lane it reads and what it got
    uint64_t bits, result;
    int source;
};

std::string hex(unsigned mask) {
    char text[16];
    std::snprintf(text, sizeof text, "0x%08x", mask);
    return text;
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

    // Runs every block of the launch; throws Error on a barrier misuse or a failed memory check.
    void run(ThreadBody kernel, const LaunchConfig& cfg) {
        body = kernel;
        checked = cfg.checks != 0;
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
            blockIdx = index_in(b, gridDim);
            memory_begin_block();
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

    // __syncthreads: park this fiber until every live thread of the block is parked at this line.
    void syncthreads(const char* file, int line) { park(State::at_syncthreads, "__syncthreads", file, line); }

    // A warp shuffle: offer `bits`, wait until the lanes of `mask` are here, take lane `source`'s offer.
    uint64_t shuffle(unsigned mask, uint64_t bits, int source, const char* what, const char* file, int line) {
        if (as_calls) park(State::at_shuffle, what, file, line);    // reports the misuse
        Fiber& f = fibers[current];
        f.mask = mask;
        f.bits = bits;
        f.source = source;
        park(State::at_shuffle, what, file, line);
        return fibers[current].result;
    }

    // Ends the launch with an error raised inside a CUDA thread. A fiber cannot throw (there is
    // nothing to unwind into), so it hands the message to the scheduler and is never resumed.
    [[noreturn]] void stop(const std::string& message) {
        const std::string text = "thread " + describe(threadIdx) + ": " + message;
        if (current < 0) fail(text);
        failure = text;
        swapcontext(&fibers[current].context, &scheduler_context);
        __builtin_unreachable();
    }

  private:
    ThreadBody body{};
    Random rng{0};
    bool random_order = false, used_barriers = false, fibers_needed = false, as_calls = false, checked = false;
    int threads = 0, current = -1;
    std::string failure;
    ucontext_t scheduler_context;
    std::vector<Fiber> fibers;
    std::vector<char*> stacks;

    std::vector<int> order_of(std::vector<int> ids) {
        if (random_order) rng.shuffle(ids);
        return ids;
    }

    static void fiber_main();

    void park(State state, const char* what, const char* file, int line) {
        if (as_calls)
            stop(std::string("a ") + what + " at " + where(file, line) + " is reached although the first block of "
                 "this launch reached none, so the emulator ran the other blocks without fibers; make barrier "
                 "use the same in every block");
        used_barriers = true;
        Fiber& f = fibers[current];
        f.state = state;
        f.what = what;
        f.file = file;
        f.line = line;
        swapcontext(&f.context, &scheduler_context);
    }

    // Runs the threads one after another. In a checked launch each runs on a fiber all the same, so that
    // a failed memory check can leave it (exceptions cannot pass the checking hooks, which g++ declares
    // as never throwing).
    void run_block_as_calls() {
        as_calls = true;
        std::vector<int> ids(threads);
        std::iota(ids.begin(), ids.end(), 0);
        if (!checked) {                 // the kernel's frames lie below this one: the thread's own stack
            char* frame = static_cast<char*>(__builtin_frame_address(0));
            memory_set_stack(frame - (1 << 20), (1 << 20) + 4096);
        }
        for (int t : order_of(ids)) {
            threadIdx = index_in(unsigned(t), blockDim);
            if (checked) run_fiber(prepare_fiber(0, threadIdx));
            else body.run(body.call);
        }
        as_calls = false;
    }

    void run_block_as_fibers() {
        std::vector<int> ready(threads);
        std::iota(ready.begin(), ready.end(), 0);
        for (int t = 0; t < threads; ++t) prepare_fiber(t, index_in(unsigned(t), blockDim));
        while (!ready.empty()) {
            for (int t : order_of(ready)) run_fiber(t);
            ready = release();
        }
    }

    // Fiber `slot`, made ready to run CUDA thread `index` from the start.
    int prepare_fiber(int slot, uint3 index) {
        if (fibers.size() < size_t(threads)) fibers.resize(threads);
        while (stacks.size() < size_t(threads)) stacks.push_back(static_cast<char*>(std::malloc(stack_bytes)));
        Fiber& f = fibers[slot];
        getcontext(&f.context);
        f.context.uc_stack.ss_sp = stacks[slot];
        f.context.uc_stack.ss_size = stack_bytes;
        f.context.uc_link = &scheduler_context;
        makecontext(&f.context, fiber_main, 0);
        f.index = index;
        f.state = State::ready;
        return slot;
    }

    // Runs fiber t until it parks or returns; fails the block if it stopped the launch.
    void run_fiber(int t) {
        current = t;
        threadIdx = fibers[t].index;
        memory_set_stack(stacks[t], stack_bytes);
        swapcontext(&scheduler_context, &fibers[t].context);
        current = -1;
        if (!failure.empty()) fail(std::exchange(failure, std::string()));
    }

    // Which parked threads may continue: the lanes of every shuffle whose mask's lanes are all there,
    // else the whole block if every live thread waits at one __syncthreads.
    std::vector<int> release() {
        std::vector<int> freed;
        for (int begin = 0; begin < threads; begin += warpSize)
            for (int t = begin; t < std::min(threads, begin + warpSize); ++t)
                if (fibers[t].state == State::at_shuffle) release_shuffle(begin, t, freed);
        if (freed.empty()) {
            int live = 0, at_sync = 0;
            for (int t = 0; t < threads; ++t) {
                live += fibers[t].state != State::done;
                at_sync += fibers[t].state == State::at_syncthreads;
            }
            if (live == 0) return freed;
            if (at_sync != live) fail("deadlock: " + describe_waits());
            const Fiber& f = check_same_place();
            if (live < threads)
                fail("__syncthreads at " + where(f.file, f.line) + " is reached by " + std::to_string(live) +
                     " of the " + std::to_string(threads) + " threads of the block; the others have returned");
            freed.resize(threads);
            std::iota(freed.begin(), freed.end(), 0);
            memory_next_interval();
        }
        for (int t : freed) fibers[t].state = State::ready;
        return freed;
    }

    // The lanes of the warp starting at thread `begin` that wait at the shuffle where lane `first` waits
    // exchange their values, after checking that they are exactly the lanes of the mask (as CUDA requires:
    // each caller is in the mask, and every lane of the mask calls the same shuffle with the same mask).
    void release_shuffle(int begin, int first, std::vector<int>& freed) {
        const Fiber& a = fibers[first];
        const int end = std::min(threads, begin + warpSize);
        const unsigned existing = end - begin == warpSize ? ~0u : (1u << (end - begin)) - 1;
        unsigned here = 0;
        for (int t = first; t < end; ++t) {
            const Fiber& b = fibers[t];
            if (b.state != State::at_shuffle || b.line != a.line || std::strcmp(b.file, a.file) != 0) continue;
            here |= 1u << (t - begin);
            if (b.mask != a.mask)
                fail("lanes " + std::to_string(first - begin) + " and " + std::to_string(t - begin) + " call the " +
                     a.what + " at " + where(a.file, a.line) + " with different masks (" + hex(a.mask) + ", " +
                     hex(b.mask) + ")");
        }
        const std::string at = "the " + std::string(a.what) + " at " + where(a.file, a.line);
        if (unsigned outsiders = here & ~a.mask)
            fail(at + " has mask " + hex(a.mask) + ", which does not name lane " +
                 std::to_string(__builtin_ctz(outsiders)) + " although it calls it (lanes calling it: " + hex(here) + ")");
        if (unsigned missing = a.mask & existing & ~here) {
            const int lane = __builtin_ctz(missing);
            const Fiber& m = fibers[begin + lane];
            if (m.state == State::done && (missing & ~exited_lanes(begin, end)) == 0)
                fail(at + " is reached by " + std::to_string(__builtin_popcount(here)) + " of the " +
                     std::to_string(__builtin_popcount(a.mask & existing)) + " lanes of its warp that its mask " +
                     hex(a.mask) + " names; the others have returned (the mask must name exactly the calling lanes)");
            fail(at + " has mask " + hex(a.mask) + " but lanes " + hex(here) + " call it: lane " + std::to_string(lane) +
                 (m.state == State::done ? " has returned"
                                         : std::string(" waits at the ") + m.what + " at " + where(m.file, m.line)) +
                 " (the mask must name exactly the calling lanes)");
        }
        for (int t = first; t < end; ++t) {
            Fiber& b = fibers[t];
            if (!(here >> (t - begin) & 1)) continue;
            if (b.source == -2)
                fail(at + ": the width must be a power of two from 1 to 32");
            const bool reads_other = b.source >= 0 && b.source < end - begin;
            if (reads_other && !(here >> b.source & 1))
                fail(at + ": lane " + std::to_string(t - begin) + " reads lane " + std::to_string(b.source) +
                     ", which is not in the mask " + hex(a.mask) + " (its value is undefined on a GPU)");
            b.result = reads_other ? fibers[begin + b.source].bits : b.bits;
        }
        for (int t = first; t < end; ++t)
            if (here >> (t - begin) & 1) {
                fibers[t].state = State::ready;   // so that the loop in release() does not see it again
                freed.push_back(t);
            }
    }

    unsigned exited_lanes(int begin, int end) const {
        unsigned lanes = 0;
        for (int t = begin; t < end; ++t) lanes |= unsigned(fibers[t].state == State::done) << (t - begin);
        return lanes;
    }

    // The first thread waiting at a __syncthreads; fails unless all waiting threads wait at its line.
    const Fiber& check_same_place() {
        int first = 0;
        while (fibers[first].state != State::at_syncthreads) ++first;
        const Fiber& a = fibers[first];
        for (int t = first; t < threads; ++t) {
            const Fiber& b = fibers[t];
            if (b.state == State::at_syncthreads && (b.line != a.line || std::strcmp(b.file, a.file) != 0))
                fail("divergent __syncthreads: threads of one block wait at " + where(a.file, a.line) + " and at " +
                     where(b.file, b.line) + " (" + describe_waits() + ")");
        }
        return a;
    }

    std::string describe_waits() const {
        std::string out;
        for (int t = 0; t < threads; ++t) {
            const Fiber& f = fibers[t];
            if (f.state != State::at_syncthreads && f.state != State::at_shuffle) continue;
            if (!out.empty()) out += ", ";
            out += "thread " + describe(f.index) + " at " + f.what + " " + where(f.file, f.line);
            if (out.size() > 400) return out + ", ...";
        }
        return out;
    }

    [[noreturn]] void fail(const std::string& message) const {
        throw Error{"block " + describe(blockIdx) + ": " + message};
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
        memory_begin_launch(*cfg);
        scheduler.run(body, *cfg);
    } catch (const Error& e) {
        std::snprintf(cfg->error, sizeof cfg->error, "%s", e.message.c_str());
        failed = 1;
    }
    memory_end_launch(*cfg);
    std::fflush(stdout);   // kernel printf output appears before Python's next line
    return failed;
}

void stop_thread(const std::string& message) { scheduler.stop(message); }

void syncthreads(const char* file, int line) { scheduler.syncthreads(file, line); }

uint64_t shuffle(unsigned mask, uint64_t bits, int source, const char* what, const char* file, int line) {
    return scheduler.shuffle(mask, bits, source, what, file, line);
}

}  // namespace emu
