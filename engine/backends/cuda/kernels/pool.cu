// 2-D max and average pooling (NHWC).
//
// Output pixel (p, q) pools the window cells x[n, p*sh + i - top, q*sw + j - left, c], 0 <= i < ph,
// 0 <= j < pw, that lie inside the image (padded cells never win and are not counted).
//
// Every kernel here is elementwise over its output: one thread per element, 1-D launch with
// block 256 and grid ceil(elements / 256). The element index runs fastest over the channel c,
// so the 32 threads of a warp touch 32 consecutive channels of one pixel: coalesced in NHWC.
// The backward kernels gather (each input cell sums over the windows that contain it) instead of
// scattering with atomics, so they are deterministic.
#include "common.h"

// The windows that contain padded row hp = h + top: p from ceil((hp - ph + 1) / sh) to floor(hp / sh),
// clipped to [0, Ho). The same function serves the columns.
__device__ __forceinline__ void windows_containing(int hp, int ph, int sh, int Ho, int& first, int& last) {
    const int reach = hp - ph + 1;
    first = reach > 0 ? (reach + sh - 1) / sh : 0;
    last = min(Ho - 1, hp / sh);
}

// Number of window cells inside the image (at least 1, so an all-padding window averages to 0).
__device__ __forceinline__ int cells_inside(int p, int q, int H, int W, int ph, int pw, int sh, int sw,
                                            int top, int left) {
    const int h0 = p * sh - top, v0 = q * sw - left;
    const int rows = min(H, h0 + ph) - max(0, h0), cols = min(W, v0 + pw) - max(0, v0);
    return max(1, rows * cols);
}

// max_pool2d_forward: y[n,p,q,c] = max of the window's cells inside the image;
// argmax[n,p,q,c] = i*pw + j of the first maximal cell in row-major order (strict > keeps the first tie).
// A window wholly in the padding gives -inf and argmax 0.
// Launch: one thread per output element (N*Ho*Wo*C), 1-D, block 256.
template <typename T>
__global__ void max_pool2d_forward(const T* x, T* y, int* argmax, int N, int H, int W, int C, int Ho,
                                   int Wo, int ph, int pw, int sh, int sw, int top, int left) {
    const int e = blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= N * Ho * Wo * C) return;
    const int c = e % C, q = (e / C) % Wo, p = (e / (C * Wo)) % Ho, n = e / (C * Wo * Ho);
    T best = T(-1) / T(0);                                 // -inf (NVRTC has no INFINITY macro)
    int best_at = 0;
    for (int i = 0; i < ph; ++i) {
        const int h = p * sh + i - top;
        if (h < 0 || h >= H) continue;
        for (int j = 0; j < pw; ++j) {
            const int v = q * sw + j - left;
            if (v < 0 || v >= W) continue;
            const T value = x[((n * H + h) * W + v) * C + c];
            if (value > best) {
                best = value;
                best_at = i * pw + j;
            }
        }
    }
    y[e] = best;
    argmax[e] = best_at;
}

// max_pool2d_backward: dx[n,h,v,c] = sum of dy[n,p,q,c] over the windows (p, q) whose winner is (h, v).
// Launch: one thread per input element (N*H*W*C), 1-D, block 256.
template <typename T>
__global__ void max_pool2d_backward(const T* dy, const int* argmax, T* dx, int N, int H, int W, int C,
                                    int Ho, int Wo, int ph, int pw, int sh, int sw, int top, int left) {
    const int e = blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= N * H * W * C) return;
    const int c = e % C, v = (e / C) % W, h = (e / (C * W)) % H, n = e / (C * W * H);
    int p0, p1, q0, q1;
    windows_containing(h + top, ph, sh, Ho, p0, p1);
    windows_containing(v + left, pw, sw, Wo, q0, q1);
    T sum = T(0);
    for (int p = p0; p <= p1; ++p) {
        for (int q = q0; q <= q1; ++q) {
            const int at = ((n * Ho + p) * Wo + q) * C + c;
            if (p * sh - top + argmax[at] / pw == h && q * sw - left + argmax[at] % pw == v) sum += dy[at];
        }
    }
    dx[e] = sum;
}

// avg_pool2d_forward: y[n,p,q,c] = (sum of the window's cells inside the image) / (their number).
// Launch: one thread per output element (N*Ho*Wo*C), 1-D, block 256.
template <typename T>
__global__ void avg_pool2d_forward(const T* x, T* y, int N, int H, int W, int C, int Ho, int Wo,
                                   int ph, int pw, int sh, int sw, int top, int left) {
    const int e = blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= N * Ho * Wo * C) return;
    const int c = e % C, q = (e / C) % Wo, p = (e / (C * Wo)) % Ho, n = e / (C * Wo * Ho);
    T sum = T(0);
    for (int h = max(0, p * sh - top); h < min(H, p * sh - top + ph); ++h)
        for (int v = max(0, q * sw - left); v < min(W, q * sw - left + pw); ++v)
            sum += x[((n * H + h) * W + v) * C + c];
    y[e] = sum / T(cells_inside(p, q, H, W, ph, pw, sh, sw, top, left));
}

// avg_pool2d_backward: dx[n,h,v,c] = sum over the windows (p, q) containing (h, v) of dy[n,p,q,c] / count(p, q).
// Launch: one thread per input element (N*H*W*C), 1-D, block 256.
template <typename T>
__global__ void avg_pool2d_backward(const T* dy, T* dx, int N, int H, int W, int C, int Ho, int Wo,
                                    int ph, int pw, int sh, int sw, int top, int left) {
    const int e = blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= N * H * W * C) return;
    const int c = e % C, v = (e / C) % W, h = (e / (C * W)) % H, n = e / (C * W * H);
    int p0, p1, q0, q1;
    windows_containing(h + top, ph, sh, Ho, p0, p1);
    windows_containing(v + left, pw, sw, Wo, q0, q1);
    T sum = T(0);
    for (int p = p0; p <= p1; ++p)
        for (int q = q0; q <= q1; ++q)
            sum += dy[((n * Ho + p) * Wo + q) * C + c] / T(cells_inside(p, q, H, W, ph, pw, sh, sw, top, left));
    dx[e] = sum;
}
