// 2-D convolution (cross-correlation, NHWC) as three "implicit GEMM" kernels.
//
// With m = (n, p, q) an output pixel and k = (i, j, c) a kernel tap and input channel, the forward pass
// is the matrix product  y[m, o] = b[o] + sum_k A[m, k] * w[k, o]  where w (kh, kw, Cin, Cout) already
// is the K x Cout matrix in memory (K = kh*kw*Cin) and
//
//     A[m, k] = x[n, p*sh + i*dil_h - top, q*sw + j*dil_w - left, c]      (zero in the padding)
//
// is the "im2col" matrix. It is never stored: every kernel gathers the slice of A it needs straight
// from x into shared memory. All three kernels share one tiling:
//   * a block computes a BM x BN tile of its output matrix with 256 threads (block (16, 16));
//   * the reduction runs in slices of BK: the block loads a BK x BM slice of the left operand and a
//     BK x BN slice of the right one into shared memory, then every thread accumulates its TM x TN
//     results (rows ty + 16*i, columns tx + 16*j) from shared memory;
//   * loads are arranged so that consecutive threads read consecutive addresses (channels are the
//     fastest axis in NHWC), and tiles that are stored transposed get one padding column against
//     shared-memory bank conflicts.
#include "common.h"

constexpr int BM = 128;        // output rows per block
constexpr int BN = 64;         // output columns per block
constexpr int BK = 16;         // reduction slice held in shared memory
constexpr int TM = BM / 16;    // rows per thread (8)
constexpr int TN = BN / 16;    // columns per thread (4)

// acc[i][j] += sum_kk As[kk][ty + 16*i] * Bs[kk][tx + 16*j]: one BK slice of the tile product.
// Within a warp the As reads are broadcasts and the Bs reads hit 16 consecutive words.
template <typename T>
__device__ __forceinline__ void multiply_tiles(const T (&As)[BK][BM + 1], const T (&Bs)[BK][BN + 1],
                                               T (&acc)[TM][TN]) {
#pragma unroll
    for (int kk = 0; kk < BK; ++kk) {
        T a[TM], b[TN];
#pragma unroll
        for (int i = 0; i < TM; ++i) a[i] = As[kk][threadIdx.y + 16 * i];
#pragma unroll
        for (int j = 0; j < TN; ++j) b[j] = Bs[kk][threadIdx.x + 16 * j];
#pragma unroll
        for (int i = 0; i < TM; ++i)
#pragma unroll
            for (int j = 0; j < TN; ++j) acc[i][j] += a[i] * b[j];
    }
}

// conv2d_forward: y[n,p,q,o] = b[o] + sum_{i,j,c} x[n, p*sh+i*dil_h-top, q*sw+j*dil_w-left, c] * w[i,j,c,o]
//
// Output matrix y (M = N*Ho*Wo rows, Cout columns) = A (M x K) times w (K x Cout), plus b.
// Launch: grid (ceil(M / BM), ceil(Cout / BN)), block (16, 16).
// Block (bx, by) owns rows bx*BM.., columns by*BN... A table in shared memory first records, for
// each of its BM output pixels, the image and the top-left corner of its window. Per slice, thread
// tid loads A column kk = tid % BK for rows tid / BK + 16*r (a warp reads 16 consecutive channels
// of 2 pixels) and w rows tid / BN + 4*r at column tid % BN (consecutive output channels).
template <typename T>
__global__ void __launch_bounds__(256) conv2d_forward(
    const T* x, const T* w, const T* b, T* y, int N, int H, int W, int Cin, int Ho, int Wo, int Cout,
    int kh, int kw, int sh, int sw, int dil_h, int dil_w, int top, int left) {
    __shared__ T As[BK][BM + 1];
    __shared__ T Bs[BK][BN + 1];
    __shared__ int row_n[BM];
    __shared__ int row_h[BM];
    __shared__ int row_w[BM];
    const int tid = threadIdx.y * 16 + threadIdx.x;
    const int M = N * Ho * Wo, K = kh * kw * Cin;
    const int m0 = blockIdx.x * BM, o0 = blockIdx.y * BN;
    if (tid < BM) {
        const int m = m0 + tid, pq = m % (Ho * Wo);
        row_n[tid] = m < M ? m / (Ho * Wo) : -1;          // -1: past the last pixel, never loaded
        row_h[tid] = (pq / Wo) * sh - top;
        row_w[tid] = (pq % Wo) * sw - left;
    }
    __syncthreads();
    T acc[TM][TN] = {};
    for (int k0 = 0; k0 < K; k0 += BK) {
        const int kk = tid % BK, k = k0 + kk;
        const int c = k % Cin, tap = k / Cin, dh = (tap / kw) * dil_h, dw = (tap % kw) * dil_w;
        for (int r = 0; r < BM / 16; ++r) {
            const int row = tid / BK + 16 * r;
            const int n = row_n[row], h = row_h[row] + dh, v = row_w[row] + dw;
            const bool inside = k < K && n >= 0 && h >= 0 && h < H && v >= 0 && v < W;
            As[kk][row] = inside ? x[((n * H + h) * W + v) * Cin + c] : T(0);
        }
        for (int r = 0; r < BK * BN / 256; ++r) {
            const int kr = tid / BN + (256 / BN) * r, o = o0 + tid % BN;
            Bs[kr][tid % BN] = (k0 + kr < K && o < Cout) ? w[(k0 + kr) * Cout + o] : T(0);
        }
        __syncthreads();
        multiply_tiles(As, Bs, acc);
        __syncthreads();
    }
    for (int i = 0; i < TM; ++i) {
        const int m = m0 + threadIdx.y + 16 * i;
        for (int j = 0; j < TN; ++j) {
            const int o = o0 + threadIdx.x + 16 * j;
            if (m < M && o < Cout) y[m * Cout + o] = acc[i][j] + b[o];
        }
    }
}

// conv2d_backward_input: dx[n,h,v,c] = sum_{i,j,o} dy[n,p,q,o] * w[i,j,c,o] over the taps that read
// pixel (h, v): h + top = p*sh + i*dil_h and v + left = q*sw + j*dil_w with whole p in [0, Ho) and q in [0, Wo).
//
// Output matrix dx (M = N*H*W rows, Cin columns) = A (M x K) times B (K x Cin) with k = (i, j, o),
// K = kh*kw*Cout, A[m, k] = dy[n, p, q, o] (zero when tap (i, j) of no output pixel reads m) and
// B[k, c] = w[i, j, c, o].
// Launch: grid (ceil(M / BM), ceil(Cin / BN)), block (16, 16), tiling as in conv2d_forward. The A slice
// is gathered like conv2d_forward's (consecutive threads: consecutive o of one dy pixel). The B slice
// is read with consecutive threads along o too (coalesced), which transposes it on the way into Bs.
template <typename T>
__global__ void __launch_bounds__(256) conv2d_backward_input(
    const T* dy, const T* w, T* dx, int N, int H, int W, int Cin, int Ho, int Wo, int Cout,
    int kh, int kw, int sh, int sw, int dil_h, int dil_w, int top, int left) {
    __shared__ T As[BK][BM + 1];
    __shared__ T Bs[BK][BN + 1];
    __shared__ int row_n[BM];                              // pixel table: image and padded
    __shared__ int row_h[BM];                              // coordinates of each output row
    __shared__ int row_w[BM];
    const int tid = threadIdx.y * 16 + threadIdx.x;
    const int M = N * H * W, K = kh * kw * Cout;
    const int m0 = blockIdx.x * BM, c0 = blockIdx.y * BN;
    if (tid < BM) {
        const int m = m0 + tid, hv = m % (H * W);
        row_n[tid] = m < M ? m / (H * W) : -1;
        row_h[tid] = hv / W + top;                         // the pixel in padded coordinates
        row_w[tid] = hv % W + left;
    }
    __syncthreads();
    T acc[TM][TN] = {};
    for (int k0 = 0; k0 < K; k0 += BK) {
        const int kk = tid % BK, k = k0 + kk;
        const int o = k % Cout, tap = k / Cout, i = tap / kw, j = tap % kw;
        for (int r = 0; r < BM / 16; ++r) {
            const int row = tid / BK + 16 * r;
            const int n = row_n[row], ph = row_h[row] - i * dil_h, pw = row_w[row] - j * dil_w;
            const int p = ph / sh, q = pw / sw;
            const bool hit = k < K && n >= 0 && ph >= 0 && pw >= 0 && ph % sh == 0 && pw % sw == 0 &&
                             p < Ho && q < Wo;
            As[kk][row] = hit ? dy[((n * Ho + p) * Wo + q) * Cout + o] : T(0);
        }
        for (int r = 0; r < BN / 16; ++r) {
            const int col = tid / BK + 16 * r, c = c0 + col;
            Bs[kk][col] = (k < K && c < Cin) ? w[((i * kw + j) * Cin + c) * Cout + o] : T(0);
        }
        __syncthreads();
        multiply_tiles(As, Bs, acc);
        __syncthreads();
    }
    for (int i = 0; i < TM; ++i) {
        const int m = m0 + threadIdx.y + 16 * i;
        for (int j = 0; j < TN; ++j) {
            const int c = c0 + threadIdx.x + 16 * j;
            if (m < M && c < Cin) dx[m * Cin + c] = acc[i][j];
        }
    }
}

// conv2d_backward_weight: dw[i,j,c,o] = sum_{n,p,q} x[n, p*sh+i*dil_h-top, q*sw+j*dil_w-left, c] * dy[n,p,q,o]
//
// Output matrix dw (K = kh*kw*Cin rows, Cout columns) = A^T (K x M) times dy (M x Cout), A as in
// conv2d_forward. The reduction runs over all M = N*Ho*Wo output pixels, which is long, while dw is
// small, so it is also split across blocks ("split-K"): block z sums the pixels
// [z*chunk, (z+1)*chunk) and adds its partial tile to dw with atomicAdd (dw must start at zero).
// Launch: grid (ceil(K / BM), ceil(Cout / BN), ceil(M / chunk)), block (16, 16), chunk a multiple of BK.
// Per slice of BK pixels, the first BK threads write a pixel table, then thread tid loads A for
// tap column tid % BM (fixed for the whole kernel; consecutive threads: consecutive channels) and
// dy at column tid % BN (consecutive output channels).
template <typename T>
__global__ void __launch_bounds__(256) conv2d_backward_weight(
    const T* x, const T* dy, T* dw, int N, int H, int W, int Cin, int Ho, int Wo, int Cout,
    int kh, int kw, int sh, int sw, int dil_h, int dil_w, int top, int left, int chunk) {
    __shared__ T As[BK][BM + 1];
    __shared__ T Bs[BK][BN + 1];
    __shared__ int pix_n[BK];
    __shared__ int pix_h[BK];
    __shared__ int pix_w[BK];
    const int tid = threadIdx.y * 16 + threadIdx.x;
    const int M = N * Ho * Wo, K = kh * kw * Cin;
    const int k0 = blockIdx.x * BM, o0 = blockIdx.y * BN;
    const int m_begin = blockIdx.z * chunk, m_end = min(M, m_begin + chunk);
    // The tap column this thread loads: k = k0 + tid % BM = (i, j, c).
    const int k = k0 + tid % BM, c = k % Cin, tap = k / Cin;
    const int dh = (tap / kw) * dil_h, dv = (tap % kw) * dil_w;
    T acc[TM][TN] = {};
    for (int s0 = m_begin; s0 < m_end; s0 += BK) {
        if (tid < BK) {
            const int m = s0 + tid, pq = m % (Ho * Wo);
            pix_n[tid] = m < m_end ? m / (Ho * Wo) : -1;
            pix_h[tid] = (pq / Wo) * sh - top;
            pix_w[tid] = (pq % Wo) * sw - left;
        }
        __syncthreads();
        for (int r = 0; r < BK * BM / 256; ++r) {
            const int s = tid / BM + (256 / BM) * r;
            const int n = pix_n[s], h = pix_h[s] + dh, v = pix_w[s] + dv;
            const bool inside = k < K && n >= 0 && h >= 0 && h < H && v >= 0 && v < W;
            As[s][tid % BM] = inside ? x[((n * H + h) * W + v) * Cin + c] : T(0);
        }
        for (int r = 0; r < BK * BN / 256; ++r) {
            const int s = tid / BN + (256 / BN) * r, o = o0 + tid % BN;
            Bs[s][tid % BN] = (s0 + s < m_end && o < Cout) ? dy[(s0 + s) * Cout + o] : T(0);
        }
        __syncthreads();
        multiply_tiles(As, Bs, acc);
        __syncthreads();
    }
    for (int i = 0; i < TM; ++i) {
        const int kr = k0 + threadIdx.y + 16 * i;
        for (int j = 0; j < TN; ++j) {
            const int o = o0 + threadIdx.x + 16 * j;
            if (kr < K && o < Cout) atomicAdd(&dw[kr * Cout + o], acc[i][j]);
        }
    }
}
