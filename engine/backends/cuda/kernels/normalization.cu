// Batch normalisation over every axis but the last, and inverted-dropout masks.
//
// Batch norm: x is viewed as an (M, C) matrix, one column per channel, and the statistics are per
// column.
//
// The two reduction kernels share one launch: block (32, 8), grid (ceil(C / 32), S).
// threadIdx.x picks the channel c = blockIdx.x*32 + tx, so a warp reads 32 consecutive channels of
// one row (coalesced); thread (tx, ty) of grid row by sums rows ty + 8*by, ty + 8*by + 8*S, ...
// The 8 partial sums of a block meet in shared memory and one thread per channel adds them to the
// output with atomicAdd (the output starts at zero). The other kernels (and dropout_mask) are
// elementwise: 1-D grid-stride loop, block 256, grid min(ceil(n / 256), 4096).
#include "common.h"

// Adds this thread's sums s1, s2 of channel c to sums[c] and sums[C + c], one atomicAdd per block.
template <typename T>
__device__ __forceinline__ void add_column_sums(T s1, T s2, T* sums, int c, int C) {
    __shared__ T part[2][8][32];
    part[0][threadIdx.y][threadIdx.x] = s1;
    part[1][threadIdx.y][threadIdx.x] = s2;
    __syncthreads();
    if (threadIdx.y == 0 && c < C) {
        T a = T(0), b = T(0);
        for (int r = 0; r < 8; ++r) {
            a += part[0][r][threadIdx.x];
            b += part[1][r][threadIdx.x];
        }
        atomicAdd(&sums[c], a);
        atomicAdd(&sums[C + c], b);
    }
}

// batch_norm_moments: sums[0][c] += sum_m d, sums[1][c] += sum_m d^2 with d = x[m,c] - x[0,c].
// Shifting by the first row keeps var = E[d^2] - E[d]^2 accurate (no cancellation of a large mean).
template <typename T>
__global__ void batch_norm_moments(const T* x, T* sums, int M, int C) {
    const int c = blockIdx.x * 32 + threadIdx.x;
    T s1 = T(0), s2 = T(0);
    if (c < C) {
        for (int m = blockIdx.y * 8 + threadIdx.y; m < M; m += 8 * gridDim.y) {
            const T d = x[m * C + c] - x[c];
            s1 += d;
            s2 += d * d;
        }
    }
    add_column_sums(s1, s2, sums, c, C);
}

// batch_norm_backward_sums: sums[0][c] += sum_m dy, sums[1][c] += sum_m dy * x_hat,
// x_hat = (x - mean) * inv_std.
template <typename T>
__global__ void batch_norm_backward_sums(const T* dy, const T* x, const T* mean, const T* inv_std,
                                         T* sums, int M, int C) {
    const int c = blockIdx.x * 32 + threadIdx.x;
    T s1 = T(0), s2 = T(0);
    if (c < C) {
        for (int m = blockIdx.y * 8 + threadIdx.y; m < M; m += 8 * gridDim.y) {
            s1 += dy[m * C + c];
            s2 += dy[m * C + c] * (x[m * C + c] - mean[c]) * inv_std[c];
        }
    }
    add_column_sums(s1, s2, sums, c, C);
}

// batch_norm_apply: y = gamma * (x - mean) * inv_std + beta (training and inference alike).
template <typename T>
__global__ void batch_norm_apply(const T* x, const T* mean, const T* inv_std, const T* gamma,
                                 const T* beta, T* y, int M, int C) {
    for (int e = blockIdx.x * blockDim.x + threadIdx.x; e < M * C; e += gridDim.x * blockDim.x) {
        const int c = e % C;
        y[e] = gamma[c] * (x[e] - mean[c]) * inv_std[c] + beta[c];
    }
}

// batch_norm_backward_dx: dx = gamma * inv_std / M * (M*dy - sum dy - x_hat * sum(dy * x_hat)),
// with the two sums from batch_norm_backward_sums (sums[0] and sums[1]).
template <typename T>
__global__ void batch_norm_backward_dx(const T* dy, const T* x, const T* mean, const T* inv_std,
                                       const T* gamma, const T* sums, T* dx, int M, int C) {
    for (int e = blockIdx.x * blockDim.x + threadIdx.x; e < M * C; e += gridDim.x * blockDim.x) {
        const int c = e % C;
        const T x_hat = (x[e] - mean[c]) * inv_std[c];
        dx[e] = gamma[c] * inv_std[c] / T(M) * (T(M) * dy[e] - sums[c] - x_hat * sums[C + c]);
    }
}

// dropout_mask: mask[e] = scale if u_e >= rate else 0, where u_e in [0, 1) comes from a counter-based
// hash of (seed, e) (splitmix64's finaliser). Every element draws independently of the launch shape
// and thread order, so the mask depends only on the seed.
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
