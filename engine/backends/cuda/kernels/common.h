// Helpers shared by the kernel files. The Python loader pastes this file in place of
// `#include "common.h"`, so NVRTC, nvcc and the CPU emulator all see one self-contained source.
//
// Conventions of every kernel file:
//   * each kernel is `template <typename T> __global__ void name(...)` and is instantiated for
//     T = float and T = double (the loader asks for `name<float>` and `name<double>`);
//   * arrays are C-contiguous in the Keras layouts (NHWC images, NTF sequences);
//   * sizes are `int` (the Python launch code checks they fit), scalars of type T are passed as T.

// Activation codes: the same numbers as ACTIVATION_CODES in engine/backends/contract.py (a test keeps them equal).
enum Activation { LINEAR = 0, RELU = 1, SIGMOID = 2, TANH = 3, LEAKY_RELU = 4 };

// sigma(a) = 1 / (1 + e^-a), written as 0.5 (1 + tanh(a/2)) so it never overflows (as the reference).
template <typename T>
__device__ __forceinline__ T sigmoid(T a) { return T(0.5) * (T(1) + tanh(T(0.5) * a)); }

// y = f(a) for the activation `act`; alpha is the LeakyReLU slope below zero.
template <typename T>
__device__ __forceinline__ T activate(T a, int act, T alpha) {
    switch (act) {
        case RELU: return a > T(0) ? a : T(0);
        case SIGMOID: return sigmoid(a);
        case TANH: return tanh(a);
        case LEAKY_RELU: return a >= T(0) ? a : alpha * a;
        default: return a;
    }
}

// f'(a), written through the input a (ReLU family) or the output y = f(a) (sigmoid, tanh).
template <typename T>
__device__ __forceinline__ T activation_slope(T a, T y, int act, T alpha) {
    switch (act) {
        case RELU: return a > T(0) ? T(1) : T(0);
        case SIGMOID: return y * (T(1) - y);
        case TANH: return T(1) - y * y;
        case LEAKY_RELU: return a >= T(0) ? T(1) : alpha;
        default: return T(1);
    }
}

// Sum and maximum over the 32 lanes of a warp (butterfly exchange: after 5 steps every lane holds
// the result). All 32 lanes must call them together.
template <typename T>
__device__ __forceinline__ T warp_sum(T v) {
    for (int offset = 16; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffffu, v, offset);
    return v;
}

template <typename T>
__device__ __forceinline__ T warp_max(T v) {
    for (int offset = 16; offset > 0; offset /= 2) {
        T other = __shfl_xor_sync(0xffffffffu, v, offset);
        v = other > v ? other : v;
    }
    return v;
}

// The two reductions of a softmax over one row of C values, by a whole warp (lane l reads columns l, l+32, ...):
// top = max_c row[c] and sum = sum_c exp(row[c] - top), the same in every lane.
template <typename T>
__device__ __forceinline__ void warp_softmax_stats(const T* row, int C, T& top, T& sum) {
    const int lane = threadIdx.x;
    top = row[0];
    for (int c = lane; c < C; c += 32) top = row[c] > top ? row[c] : top;
    top = warp_max(top);
    sum = T(0);
    for (int c = lane; c < C; c += 32) sum += exp(row[c] - top);
    sum = warp_sum(sum);
}
