// Softmax cross-entropy fused on the logits, forward and backward.
//
// Row kernels: one warp per row of the last axis. Block (32, 8) holds 8 rows, grid ceil(rows / 8).
// Lane l handles columns l, l + 32, ...; the row's max and sums are combined across the warp with
// shuffles (warp_max, warp_sum), no shared memory needed.
#include "common.h"

// softmax_cross_entropy_forward: with log_p = z - max - log sum exp(z - max) (the stable log-softmax),
// losses[r] = -sum_c t[r,c] * log_p[r,c] and probs = exp(log_p). One warp per row.
template <typename T>
__global__ void softmax_cross_entropy_forward(const T* logits, const T* targets, T* losses, T* probs,
                                              int rows, int C) {
    const int row = blockIdx.x * blockDim.y + threadIdx.y, lane = threadIdx.x;
    if (row >= rows) return;
    const T* z = logits + row * C;
    T top, sum;
    warp_softmax_stats(z, C, top, sum);
    const T log_sum = log(sum);
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
