// SimpleRNN, LSTM and GRU: one fused kernel launch per time step.
//
// Layouts as Keras: x (N, T, F), every state array (N, T, u), kernels multiply from the right.
// Before the time loop the launch code computes the input projection of all steps at once with one
// cuBLAS matrix product, xw = x·W + b (N, T, G*u), G = 1, 4 (i, f, c, o) or 3 (z, r, h). Each step
// kernel then computes the recurrent projection h_{t-1}·U itself (a small tiled matrix product in
// shared memory) and applies the gates in the same launch. The backward step kernels likewise
// compute d_{t+1}·Uᵀ for the gradient flowing into h_t; the weight gradients are one matrix product
// over all steps afterwards.
//
// Launch of every step kernel: grid (ceil(u / 32), ceil(N / 8)), block (32, 8). Thread (tx, ty)
// computes unit j = bx*32 + tx of batch row n = by*8 + ty. The reduction over k runs in slices of 32:
// the block stages its 8 rows of the left operand and a 32-wide slice of U in shared memory
// (consecutive threads read consecutive addresses of both), then every thread accumulates from there.
// Threads outside (N, u) still take part in loading and in every __syncthreads.
#include "common.h"

constexpr int RU = 32;    // units per block (threadIdx.x)
constexpr int RB = 8;     // batch rows per block (threadIdx.y)
constexpr int RK = 32;    // reduction slice

// acc[g] += sum_k h[k] * U[k, g*u + j] for the G gates of this thread's unit j, where h is this
// thread's row of h_{t-1} and U is (u, G*u).
template <typename T, int G>
__device__ __forceinline__ void times_U(const T* h, const T* U, int u, bool row_ok, T (&acc)[G]) {
    __shared__ T Hs[RB][RK];
    __shared__ T Us[RK][G][RU];
    const int tx = threadIdx.x, ty = threadIdx.y, j = blockIdx.x * RU + tx;
    for (int k0 = 0; k0 < u; k0 += RK) {
        Hs[ty][tx] = (row_ok && k0 + tx < u) ? h[k0 + tx] : T(0);
        for (int r = 0; r < RK / RB; ++r) {
            const int k = k0 + ty + RB * r;
            for (int g = 0; g < G; ++g)
                Us[ty + RB * r][g][tx] = (k < u && j < u) ? U[k * G * u + g * u + j] : T(0);
        }
        __syncthreads();
        for (int kk = 0; kk < RK; ++kk)
            for (int g = 0; g < G; ++g) acc[g] += Hs[ty][kk] * Us[kk][g][tx];
        __syncthreads();
    }
}

// Returns sum_k d[k] * U[j, k] over k < G*u: this thread's entry of d·Uᵀ, where d is this thread's
// row of the next step's pre-activation gradient (G*u wide) and U is (u, G*u). U is read along k
// (coalesced) and stored transposed, with a padding column against bank conflicts.
template <typename T>
__device__ __forceinline__ T times_U_transposed(const T* d, const T* U, int u, int Gu, bool row_ok) {
    __shared__ T Ds[RB][RK];
    __shared__ T Ut[RK][RU + 1];
    const int tx = threadIdx.x, ty = threadIdx.y, j0 = blockIdx.x * RU;
    T acc = T(0);
    for (int k0 = 0; k0 < Gu; k0 += RK) {
        Ds[ty][tx] = (row_ok && k0 + tx < Gu) ? d[k0 + tx] : T(0);
        for (int r = 0; r < RU / RB; ++r) {
            const int jj = ty + RB * r;
            Ut[tx][jj] = (j0 + jj < u && k0 + tx < Gu) ? U[(j0 + jj) * Gu + k0 + tx] : T(0);
        }
        __syncthreads();
        for (int kk = 0; kk < RK; ++kk) acc += Ds[ty][kk] * Ut[kk][tx];
        __syncthreads();
    }
    return acc;
}

// simple_rnn_forward_step: hs[n,t,j] = act(xw[n,t,j] + sum_k h_{t-1}[n,k] * U[k,j]),
// h_{t-1} = h0 at t = 0, else hs[:, t-1].
template <typename T>
__global__ void __launch_bounds__(256) simple_rnn_forward_step(
    const T* xw, const T* U, const T* h0, T* hs, int N, int steps, int u, int t, int act) {
    const int j = blockIdx.x * RU + threadIdx.x, n = blockIdx.y * RB + threadIdx.y;
    const int row = n * steps + t;                         // (n, t) in the (N, T, .) arrays
    const T* h_prev = t == 0 ? h0 + n * u : hs + (row - 1) * u;
    T a[1] = {T(0)};
    times_U<T, 1>(h_prev, U, u, n < N, a);
    if (n < N && j < u) hs[row * u + j] = activate(xw[row * u + j] + a[0], act, T(0));
}

// simple_rnn_backward_step (t = T-1 down to 0): da[n,t,j] = (dhs[n,t,j] + sum_k da[n,t+1,k] * U[j,k]) * act'(h_t),
// the second term absent at t = T-1. act' is taken from the output h_t (for relu: h_t > 0).
template <typename T>
__global__ void __launch_bounds__(256) simple_rnn_backward_step(
    const T* dhs, const T* hs, const T* U, T* da, int N, int steps, int u, int t, int act) {
    const int j = blockIdx.x * RU + threadIdx.x, n = blockIdx.y * RB + threadIdx.y;
    const int row = n * steps + t;
    T dh = T(0);
    if (t + 1 < steps) dh = times_U_transposed(da + (row + 1) * u, U, u, u, n < N);
    if (n < N && j < u) {
        const T h = hs[row * u + j];
        da[row * u + j] = (dhs[row * u + j] + dh) * activation_slope(h, h, act, T(0));
    }
}

// lstm_forward_step: z = xw[n,t,:] + h_{t-1}·U with gates i, f, c, o (u wide each);
// i, f, o = sigmoid(z_i, z_f, z_o), g = act(z_c); c_t = f*c_{t-1} + i*g; h_t = o*act(c_t).
// Stores the activated gates (i, f, g, o), c_t, act(c_t) and h_t for the backward pass.
template <typename T>
__global__ void __launch_bounds__(256) lstm_forward_step(
    const T* xw, const T* U, const T* h0, const T* c0, T* gates, T* cs, T* act_cs, T* hs,
    int N, int steps, int u, int t, int act) {
    const int j = blockIdx.x * RU + threadIdx.x, n = blockIdx.y * RB + threadIdx.y;
    const int row = n * steps + t;
    const T* h_prev = t == 0 ? h0 + n * u : hs + (row - 1) * u;
    T z[4] = {T(0), T(0), T(0), T(0)};
    times_U<T, 4>(h_prev, U, u, n < N, z);
    if (n >= N || j >= u) return;
    const T* zx = xw + row * 4 * u;
    const T i = sigmoid(zx[j] + z[0]), f = sigmoid(zx[u + j] + z[1]);
    const T g = activate(zx[2 * u + j] + z[2], act, T(0)), o = sigmoid(zx[3 * u + j] + z[3]);
    const T c_prev = t == 0 ? c0[n * u + j] : cs[(row - 1) * u + j];
    const T c = f * c_prev + i * g, ac = activate(c, act, T(0));
    T* gr = gates + row * 4 * u;
    gr[j] = i;
    gr[u + j] = f;
    gr[2 * u + j] = g;
    gr[3 * u + j] = o;
    cs[row * u + j] = c;
    act_cs[row * u + j] = ac;
    hs[row * u + j] = o * ac;
}

// lstm_backward_step (t = T-1 down to 0), with dc holding dc_{t+1}*f_{t+1} (zero at t = T-1):
//   dh = dhs_t + dz_{t+1}·Uᵀ;  dc = dc + dh*o*act'(c_t)
//   dz_t = (dc*g*i(1-i), dc*c_{t-1}*f(1-f), dc*i*act'(g), dh*act(c_t)*o(1-o));  dc <- dc*f.
template <typename T>
__global__ void __launch_bounds__(256) lstm_backward_step(
    const T* dhs, const T* gates, const T* cs, const T* act_cs, const T* c0, const T* U, T* dz, T* dc,
    int N, int steps, int u, int t, int act) {
    const int j = blockIdx.x * RU + threadIdx.x, n = blockIdx.y * RB + threadIdx.y;
    const int row = n * steps + t;
    T dh = T(0);
    if (t + 1 < steps) dh = times_U_transposed(dz + (row + 1) * 4 * u, U, u, 4 * u, n < N);
    if (n >= N || j >= u) return;
    dh += dhs[row * u + j];
    const T* gr = gates + row * 4 * u;
    const T i = gr[j], f = gr[u + j], g = gr[2 * u + j], o = gr[3 * u + j];
    const T ac = act_cs[row * u + j];
    const T c_prev = t == 0 ? c0[n * u + j] : cs[(row - 1) * u + j];
    const T dct = dc[n * u + j] + dh * o * activation_slope(ac, ac, act, T(0));
    T* dzr = dz + row * 4 * u;
    dzr[j] = dct * g * i * (T(1) - i);
    dzr[u + j] = dct * c_prev * f * (T(1) - f);
    dzr[2 * u + j] = dct * i * activation_slope(g, g, act, T(0));
    dzr[3 * u + j] = dh * ac * o * (T(1) - o);
    dc[n * u + j] = dct * f;
}

// gru_forward_step (Keras reset_after=True): x_z, x_r, x_h = xw[n,t,:] (x_t·W + B[0]);
// h_z, h_r, h_h = h_{t-1}·U + b_rec (B[1]); z = sigmoid(x_z + h_z); r = sigmoid(x_r + h_r);
// hc = act(x_h + r*h_h); h_t = z*h_{t-1} + (1-z)*hc. Stores z, r, hc, h_h and h_t.
template <typename T>
__global__ void __launch_bounds__(256) gru_forward_step(
    const T* xw, const T* U, const T* b_rec, const T* h0, T* zs, T* rs, T* hcs, T* hhs, T* hs,
    int N, int steps, int u, int t, int act) {
    const int j = blockIdx.x * RU + threadIdx.x, n = blockIdx.y * RB + threadIdx.y;
    const int row = n * steps + t;
    const T* h_prev = t == 0 ? h0 + n * u : hs + (row - 1) * u;
    T p[3] = {T(0), T(0), T(0)};
    times_U<T, 3>(h_prev, U, u, n < N, p);
    if (n >= N || j >= u) return;
    const T* zx = xw + row * 3 * u;
    const T z = sigmoid(zx[j] + p[0] + b_rec[j]), r = sigmoid(zx[u + j] + p[1] + b_rec[u + j]);
    const T hh = p[2] + b_rec[2 * u + j], hc = activate(zx[2 * u + j] + r * hh, act, T(0));
    zs[row * u + j] = z;
    rs[row * u + j] = r;
    hcs[row * u + j] = hc;
    hhs[row * u + j] = hh;
    hs[row * u + j] = z * h_prev[j] + (T(1) - z) * hc;
}

// gru_backward_step (t = T-1 down to 0), with carry holding dh_{t+1}*z_{t+1} (zero at t = T-1):
//   dh = dhs_t + carry + dhu_{t+1}·Uᵀ
//   dsz = dh*(h_{t-1} - hc)*z(1-z);  da = dh*(1-z)*act'(hc);  dsr = da*h_h*r(1-r)
//   dxw_t = (dsz, dsr, da) (gradient of x_t·W + B[0]);  dhu_t = (dsz, dsr, da*r) (of h_{t-1}·U + B[1]);
//   carry <- dh*z.
template <typename T>
__global__ void __launch_bounds__(256) gru_backward_step(
    const T* dhs, const T* hs, const T* h0, const T* zs, const T* rs, const T* hcs, const T* hhs,
    const T* U, T* dxw, T* dhu, T* carry, int N, int steps, int u, int t, int act) {
    const int j = blockIdx.x * RU + threadIdx.x, n = blockIdx.y * RB + threadIdx.y;
    const int row = n * steps + t;
    T dh = T(0);
    if (t + 1 < steps) dh = times_U_transposed(dhu + (row + 1) * 3 * u, U, u, 3 * u, n < N);
    if (n >= N || j >= u) return;
    dh += dhs[row * u + j] + carry[n * u + j];
    const T z = zs[row * u + j], r = rs[row * u + j], hc = hcs[row * u + j];
    const T h_prev = t == 0 ? h0[n * u + j] : hs[(row - 1) * u + j];
    const T dsz = dh * (h_prev - hc) * z * (T(1) - z);
    const T da = dh * (T(1) - z) * activation_slope(hc, hc, act, T(0));
    const T dsr = da * hhs[row * u + j] * r * (T(1) - r);
    T* dx_row = dxw + row * 3 * u;
    T* dh_row = dhu + row * 3 * u;
    dx_row[j] = dh_row[j] = dsz;
    dx_row[u + j] = dh_row[u + j] = dsr;
    dx_row[2 * u + j] = da;
    dh_row[2 * u + j] = da * r;
    carry[n * u + j] = dh * z;
}
