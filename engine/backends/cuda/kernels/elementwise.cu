// Activations, softmax, softmax + cross-entropy and dropout masks.
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
    T top = xr[0];
    for (int c = lane; c < C; c += 32) top = xr[c] > top ? xr[c] : top;
    top = warp_max(top);
    T sum = T(0);
    for (int c = lane; c < C; c += 32) sum += exp(xr[c] - top);
    sum = warp_sum(sum);
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

// softmax_cross_entropy_forward: with log_p = z - max - log sum exp(z - max) (the stable log-softmax),
// losses[r] = -sum_c t[r,c] * log_p[r,c] and probs = exp(log_p). One warp per row.
template <typename T>
__global__ void softmax_cross_entropy_forward(const T* logits, const T* targets, T* losses, T* probs,
                                              int rows, int C) {
    const int row = blockIdx.x * blockDim.y + threadIdx.y, lane = threadIdx.x;
    if (row >= rows) return;
    const T* z = logits + row * C;
    T top = z[0];
    for (int c = lane; c < C; c += 32) top = z[c] > top ? z[c] : top;
    top = warp_max(top);
    T sum = T(0);
    for (int c = lane; c < C; c += 32) sum += exp(z[c] - top);
    const T log_sum = log(warp_sum(sum));
    T loss = T(0);
    for (int c = lane; c < C; c += 32) {
        const T log_p = z[c] - top - log_sum;
        loss -= targets[row * C + c] * log_p;
        probs[row * C + c] = exp(log_p);
    }
    loss = warp_sum(loss);
    if (lane == 0) losses[row] = loss;
}

// softmax_cross_entropy_backward: dlogits[r,c] = dlosses[r] * (p[r,c] * sum_c' t[r,c'] - t[r,c])
// (= dlosses * (p - t) for targets that sum to one). One warp per row.
template <typename T>
__global__ void softmax_cross_entropy_backward(const T* dlosses, const T* probs, const T* targets,
                                               T* dlogits, int rows, int C) {
    const int row = blockIdx.x * blockDim.y + threadIdx.y, lane = threadIdx.x;
    if (row >= rows) return;
    T total = T(0);
    for (int c = lane; c < C; c += 32) total += targets[row * C + c];
    total = warp_sum(total);
    for (int c = lane; c < C; c += 32) {
        const int at = row * C + c;
        dlogits[at] = dlosses[row] * (probs[at] * total - targets[at]);
    }
}

// dropout_mask: mask[e] = scale if u_e >= rate else 0, where u_e in [0, 1) comes from a counter-based
// hash of (seed, e) (splitmix64's finaliser). Every element draws independently of the launch shape
// and thread order, so the mask depends only on the seed. Elementwise launch.
template <typename T>
__global__ void dropout_mask(T* mask, int n, unsigned long long seed, double rate, T scale) {
    for (int e = blockIdx.x * blockDim.x + threadIdx.x; e < n; e += gridDim.x * blockDim.x) {
        unsigned long long z = seed + (unsigned long long)(e + 1) * 0x9E3779B97F4A7C15ull;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z ^= z >> 31;
        const double u = double(z >> 11) * (1.0 / 9007199254740992.0);   // 53 random bits / 2^53
        mask[e] = u >= rate ? scale : T(0);
    }
}
