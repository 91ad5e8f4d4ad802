// memory.cpp: the emulator's memory. It keeps the __shared__ arrays (poisoned before every block) and,
// in a checked launch, checks every load and store of the kernel:
//   * bounds: the address must lie inside one of the launch's array arguments (emu.py passes their
//     extents and copies them between red zones), inside a __shared__ array, or on the thread's own
//     stack; anything else stops the launch, naming the array it missed and by how much;
//   * shared-memory races: between two barriers, an element written by one thread and read or written
//     by another (a happens-before check per barrier interval, in the spirit of compute-sanitizer's
//     racecheck);
//   * races between blocks: within one launch, a global element written by one block and read or
//     written by another, other than by atomics on both sides. Blocks still run one after another here;
//     the check is on the record of which blocks touched each element, so their order does not matter.
// A checked build is compiled with -fsanitize=thread, which makes the compiler call __tsan_readN and
// __tsan_writeN before every access; those functions are defined at the end of this file (the
// ThreadSanitizer library itself is not linked).
#include <dlfcn.h>

#include <cstddef>

#include <vector>

#include "runtime.h"

namespace emu {
namespace {

constexpr int NONE = -1;
constexpr size_t MAX_STATIC_SHARED = 48 * 1024;    // bytes of static __shared__ memory a block may use

// Who touched one element during the launch (blocks, for global memory) or during the current barrier
// interval (threads, for shared memory): one writer, and up to two readers or atomic updaters, enough
// to name one that is not the current thread or block.
struct Touches {
    int writer = NONE, readers[2] = {NONE, NONE}, atomics[2] = {NONE, NONE};
    unsigned interval = 0;

    static void add(int (&who)[2], int me) {
        if (who[0] == NONE || who[0] == me) who[0] = me;
        else if (who[1] == NONE) who[1] = me;
    }
    static int other(const int (&who)[2], int me) { return who[0] != NONE && who[0] != me ? who[0] : who[1]; }
};

struct Array {
    uintptr_t begin, end;
    size_t element;
    std::string name;
    bool shared, dynamic = false;
    std::vector<unsigned> extents;              // of a __shared__ array, for messages like As[3][17]
    std::vector<Touches> touches;               // per element, in a checked launch
    unsigned long long launch = 0;              // shared: the last launch whose threads declared it

    std::string element_name(size_t i) const {
        if (!shared || extents.empty()) return name + "[" + std::to_string(i) + "]";
        std::string index;
        for (size_t d = extents.size(); d-- > 0;) {
            index = "[" + std::to_string(i % extents[d]) + "]" + index;
            i /= extents[d];
        }
        return name + index;
    }
};

struct Memory {
    std::vector<Array> globals, shared;         // shared: the static arrays, then the launch's dynamic memory
    std::vector<std::max_align_t> dynamic;      // the dynamic shared memory's storage
    bool checking = false;
    uintptr_t stack_begin = 0, stack_bytes = 0;
    unsigned interval = 1;
    unsigned long long launch = 0;
    size_t shared_bytes = 0;                    // static shared memory declared in this launch
    const void* error_pc = nullptr;             // the code address of a failed check (emu.py finds its line)
    std::string atomic_at;                      // where the atomic being checked is, for messages
} memory;

int thread_rank() { return int(threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z)); }
int block_rank() { return int(blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z)); }

bool is_builtin(uintptr_t a) {
    for (const void* p : {(const void*)&threadIdx, (const void*)&blockIdx, (const void*)&blockDim,
                          (const void*)&gridDim})
        if (a - uintptr_t(p) < sizeof(dim3)) return true;
    return false;
}

enum class Access { read, write, atomic };

const char* verb(Access kind) {
    return kind == Access::read ? "reads" : kind == Access::write ? "writes" : "atomically updates";
}

[[noreturn]] void stop(const std::string& message, const void* pc) {
    memory.error_pc = pc;
    stop_thread(message + (memory.atomic_at.empty() ? "" : " (the atomic at " + memory.atomic_at + ")"));
}

// Stops the launch for an access of `bytes` at `a` outside every array: names the nearest one.
[[noreturn]] void out_of_bounds(uintptr_t a, size_t bytes, Access kind, const void* pc) {
    const Array* nearest = nullptr;
    uintptr_t distance = ~uintptr_t(0);
    for (const auto* arrays : {&memory.globals, &memory.shared})
        for (const Array& array : *arrays) {
            const uintptr_t d = a < array.begin ? array.begin - a : a + bytes > array.end ? a + bytes - array.end : 0;
            if (array.end > array.begin && d < distance) distance = d, nearest = &array;
        }
    const std::string what = verb(kind) + std::string(" ");
    const std::string outside = what + std::to_string(bytes) + " bytes at " + std::to_string(a) +
                                ", outside every array of the launch";
    if (!nearest) stop(outside, pc);
    const std::string shared = nearest->shared ? " (a __shared__ array)" : "";
    const size_t n = (nearest->end - nearest->begin) / nearest->element;
    if (a >= nearest->begin && a < nearest->end + 4096)
        stop(what + nearest->element_name((a - nearest->begin) / nearest->element) + ", out of bounds: " +
             nearest->name + " has " + std::to_string(n) + " elements" + shared, pc);
    if (a < nearest->begin && nearest->begin - a <= 4096)
        stop(what + std::to_string(nearest->begin - a) + " bytes before the start of " + nearest->name +
             ", out of bounds" + shared, pc);
    stop(outside + " (the nearest is " + nearest->name + shared + ", " + std::to_string(distance) + " bytes away)", pc);
}

[[noreturn]] void race_between_blocks(const Array& array, size_t i, Access kind, int other, const char* what,
                                      const void* pc) {
    stop(std::string(verb(kind)) + " " + array.element_name(i) + ", which block " +
         describe(index_in(unsigned(other), gridDim)) + " " + what + " in this launch: a race between blocks (on a GPU "
         "blocks run at the same time, in no fixed order); use atomics on both sides, or let one block own each "
         "element", pc);
}

// Global memory: which blocks wrote, read and atomically updated each element during the launch.
void check_blocks(const Array& array, size_t i, Touches& t, Access kind, const void* pc) {
    const int me = block_rank();
    if (t.writer != NONE && t.writer != me)
        race_between_blocks(array, i, kind, t.writer, kind == Access::write ? "also wrote" : "wrote", pc);
    if (kind != Access::read && Touches::other(t.readers, me) != NONE)
        race_between_blocks(array, i, kind, Touches::other(t.readers, me), "read", pc);
    if (kind != Access::atomic && Touches::other(t.atomics, me) != NONE)
        race_between_blocks(array, i, kind, Touches::other(t.atomics, me), "updated with an atomic", pc);
    if (kind == Access::write) t.writer = me;
    else Touches::add(kind == Access::read ? t.readers : t.atomics, me);
}

// Shared memory: which threads of the block wrote and read each element since the last barrier.
void check_threads(const Array& array, size_t i, Touches& t, Access kind, const void* pc) {
    if (kind == Access::atomic) return;                 // atomics on shared memory may meet
    if (t.interval != memory.interval) t = Touches{.interval = memory.interval};
    const int me = thread_rank(), other = t.writer != NONE && t.writer != me ? t.writer
                                         : kind == Access::write ? Touches::other(t.readers, me) : NONE;
    if (other != NONE)
        stop("shared-memory race on " + array.element_name(i) + ": thread " + describe(index_in(unsigned(other),
             blockDim)) + (other == t.writer ? " wrote it" : " read it") + " and this thread " + verb(kind) +
             " it with no __syncthreads in between (a barrier is missing)", pc);
    if (kind == Access::write) t.writer = me;
    else Touches::add(t.readers, me);
}

void check(const void* address, size_t bytes, Access kind, const void* pc) {
    const uintptr_t a = uintptr_t(address);
    if (a - memory.stack_begin < memory.stack_bytes || is_builtin(a)) return;
    for (auto* arrays : {&memory.shared, &memory.globals})
        for (Array& array : *arrays) {
            if (a < array.begin || a >= array.end) continue;
            if (a + bytes > array.end) out_of_bounds(a, bytes, kind, pc);
            for (size_t i = (a - array.begin) / array.element; i <= (a + bytes - 1 - array.begin) / array.element; ++i)
                (array.shared ? check_threads : check_blocks)(array, i, array.touches[i], kind, pc);
            return;
        }
    out_of_bounds(a, bytes, kind, pc);
}

}  // namespace

void shared_memory(void* address, size_t bytes, size_t element, unsigned rank, const unsigned* extents,
                   const char* name) {
    Array* array = nullptr;
    for (Array& a : memory.shared)
        if (a.begin == uintptr_t(address)) array = &a;
    if (!array) {               // seen for the first time: no thread can have used it yet in this block
        array = &*memory.shared.insert(memory.shared.end() - 1,   // before the dynamic memory
                                       {uintptr_t(address), uintptr_t(address) + bytes, element, name, true, false,
                                        std::vector<unsigned>(extents, extents + rank)});
        std::memset(address, 0xFF, bytes);
    }
    if (memory.checking && array->touches.empty()) array->touches.resize(bytes / element);
    if (array->launch != memory.launch) {
        array->launch = memory.launch;
        memory.shared_bytes += bytes;
        if (memory.shared_bytes > MAX_STATIC_SHARED)
            stop_thread("the __shared__ arrays of this kernel take " + std::to_string(memory.shared_bytes) +
                        " bytes (with " + name + "), more than the " + std::to_string(MAX_STATIC_SHARED) +
                        " bytes of static shared memory a block may have (ptxas refuses the kernel)");
    }
}

void* dynamic_shared_memory(size_t element, const char* name) {
    Array& array = memory.shared.back();        // registered by memory_begin_launch
    if (array.launch != memory.launch) {        // the first thread to declare it in this launch names it
        array.launch = memory.launch;
        array.element = element;
        array.name = name;
        if (memory.checking) array.touches.assign((array.end - array.begin) / element, Touches{});
    }
    return reinterpret_cast<void*>(array.begin);
}

void atomic_access(const void* address, size_t bytes, const char* file, int line) {
    if (!memory.checking) return;
    memory.atomic_at = where(file, line);
    check(address, bytes, Access::atomic, nullptr);
    memory.atomic_at.clear();
}

void memory_begin_launch(const LaunchConfig& cfg) {
    memory.checking = cfg.checks != 0;
    memory.error_pc = nullptr;
    memory.atomic_at.clear();
    memory.shared_bytes = 0;
    ++memory.launch;
    memory.globals.clear();
    for (int r = 0; r < cfg.region_count; ++r) {
        const Region& region = cfg.regions[r];
        const uintptr_t begin = uintptr_t(region.base);
        memory.globals.push_back({begin, begin + region.bytes, region.element, region.name, false});
        if (memory.checking) memory.globals.back().touches.resize(region.bytes / region.element);
    }
    for (Array& a : memory.shared)
        if (memory.checking && a.touches.empty()) a.touches.resize((a.end - a.begin) / a.element);
    if (!memory.shared.empty() && memory.shared.back().dynamic) memory.shared.pop_back();
    memory.dynamic.assign(cfg.shared_bytes / sizeof(std::max_align_t) + 1, {});
    const uintptr_t begin = uintptr_t(memory.dynamic.data());
    memory.shared.push_back({begin, begin + cfg.shared_bytes, 1, "extern __shared__", true, true, {}, {}, 0});
}

void memory_end_launch(LaunchConfig& cfg) {
    Dl_info info;
    if (memory.error_pc && dladdr(memory.error_pc, &info))
        cfg.error_pc = reinterpret_cast<const void*>(uintptr_t(memory.error_pc) - uintptr_t(info.dli_fbase));
    memory.checking = false;
    memory.globals.clear();
}

void memory_begin_block() {
    for (const Array& a : memory.shared) std::memset(reinterpret_cast<void*>(a.begin), 0xFF, a.end - a.begin);
    memory_next_interval();
}

void memory_next_interval() { ++memory.interval; }

void memory_set_stack(const void* begin, size_t bytes) {
    memory.stack_begin = uintptr_t(begin);
    memory.stack_bytes = bytes;
}

}  // namespace emu

// The hooks a -fsanitize=thread build calls (see the top of this file). The return address is the
// kernel's code right after the access: emu.py turns it into a file and line.
#define EMU_HOOK(name, n, kind)                                                                    \
    extern "C" EMU_HIDDEN void name(void* p) {                                                       \
        if (emu::memory.checking) emu::check(p, n, emu::Access::kind, __builtin_return_address(0)); \
    }
#define EMU_HOOKS(n)                                  \
    EMU_HOOK(__tsan_read##n, n, read)                 \
    EMU_HOOK(__tsan_write##n, n, write)               \
    EMU_HOOK(__tsan_unaligned_read##n, n, read)       \
    EMU_HOOK(__tsan_unaligned_write##n, n, write)
EMU_HOOKS(1)
EMU_HOOKS(2)
EMU_HOOKS(4)
EMU_HOOKS(8)
EMU_HOOKS(16)
extern "C" EMU_HIDDEN void __tsan_read_range(void* p, unsigned long n) {
    if (emu::memory.checking && n) emu::check(p, n, emu::Access::read, __builtin_return_address(0));
}
extern "C" EMU_HIDDEN void __tsan_write_range(void* p, unsigned long n) {
    if (emu::memory.checking && n) emu::check(p, n, emu::Access::write, __builtin_return_address(0));
}
extern "C" EMU_HIDDEN void __tsan_init() {}
extern "C" EMU_HIDDEN void __tsan_func_entry(void*) {}
extern "C" EMU_HIDDEN void __tsan_func_exit() {}
