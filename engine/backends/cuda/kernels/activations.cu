// Activations (elementwise) and softmax (over the last axis).
//
// Two launch shapes are used here:
//   * elementwise kernels: a 1-D grid-stride loop. Block 256, grid min(ceil(n / 256), 4096); thread t
//     handles elements t, t + stride, t + 2*stride, ... (stride = all threads of the grid), so a warp
//     always touches 32 consecutive elements, whatever n is;
//   * row kernels (softmax over the last axis): one warp per row. Block (32, 8) holds 8 rows,
//     grid ceil(rows / 8). Lane l handles columns l, l + 32, ...; the row's max and sums are
//     combined across the warp with shuffles (warp_max, warp_sum), no shared memory needed.
#include "common.h"

// activation_forward: y = f(x) elementwise (linear, relu, sigmoid, tanh, leaky_relu with slope alpha).
template <typename T>
__global__ void activation_forward(const T* x, T* y, int n, int act, T alpha) {
    for (int e = blockIdx.x * blockDim.x + threadIdx.x; e < n; e += gridDim.x * blockDim.x)
        y[e] = activate(x[e], act, alpha);
}

// activation_backward: dx = dy * f'(x), with f' taken from x (ReLU family) or from y = f(x).
template <typename T>
__global__ void activation_backward(const T* dy, const T* x, const T* y, T* dx, int n, int act, T alpha) {
    for (int e = blockIdx.x * blockDim.x + threadIdx.x; e < n; e += gridDim.x * blockDim.x)
        dx[e] = dy[e] * activation_slope(x[e], y[e], act, alpha);
}

// softmax_forward: y[r, c] = exp(x[r,c] - max_r) / sum_c' exp(x[r,c'] - max_r), one warp per row.
template <typename T>
__global__ void softmax_forward(const T* x, T* y, int rows, int C) {
    const int row = blockIdx.x * blockDim.y + threadIdx.y, lane = threadIdx.x;
    if (row >= rows) return;                               // the whole warp leaves together
    const T* xr = x + row * C;
    T top, sum;
    warp_softmax_stats(xr, C, top, sum);
    for (int c = lane; c < C; c += 32) y[row * C + c] = exp(xr[c] - top) / sum;
}

// softmax_backward: dx = y * (dy - sum_c dy[r,c] * y[r,c]), one warp per row.
template <typename T>
__global__ void softmax_backward(const T* dy, const T* y, T* dx, int rows, int C) {
    const int row = blockIdx.x * blockDim.y + threadIdx.y, lane = threadIdx.x;
    if (row >= rows) return;
    T dot = T(0);
    for (int c = lane; c < C; c += 32) dot += dy[row * C + c] * y[row * C + c];
    dot = warp_sum(dot);
    for (int c = lane; c < C; c += 32) dx[row * C + c] = y[row * C + c] * (dy[row * C + c] - dot);
}
