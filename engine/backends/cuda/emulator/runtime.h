// runtime.h: what the two parts of the emulator's runtime tell each other (kernels never see it).
//
// scheduler.cpp runs the blocks and threads of a launch; memory.cpp keeps the __shared__ arrays and,
// in checked launches, checks every memory access. emu.py compiles both once and links them into every
// kernel module; each module keeps its own copy of the state (hidden symbols).
#pragma once

#include <string>

#include "cuda_emu.h"

namespace emu {

// A launch that cannot go on: run_grid returns its message.
struct Error {
    std::string message;
};

// Ends the launch from inside a CUDA thread; the scheduler adds the block to the message.
[[noreturn]] EMU_HIDDEN void stop_thread(const std::string& message);

EMU_HIDDEN std::string where(const char* file, int line);            // "conv.cu:80"
EMU_HIDDEN std::string describe(uint3 index);                        // "(3,1,0)"
EMU_HIDDEN uint3 index_in(unsigned rank, dim3 shape);                // rank -> (x, y, z), x fastest

// The scheduler's calls into memory.cpp.
EMU_HIDDEN void memory_begin_launch(const LaunchConfig& cfg);
EMU_HIDDEN void memory_end_launch(LaunchConfig& cfg);                // fills cfg.error_pc after a failed check
EMU_HIDDEN void memory_begin_block();                                // poisons shared memory
EMU_HIDDEN void memory_next_interval();                              // every thread passed a __syncthreads
EMU_HIDDEN void memory_set_stack(const void* begin, size_t bytes);  // the running thread's own stack

}  // namespace emu
