// 1x1 convolution + bias + activation in one pass over the output, NHWC float32, AVX-512.
//
// A 1x1 convolution over channels-last activations is the matrix product Y[P, N] = X[P, K] W[K, N]
// (P pixels, K input and N output channels). PyTorch runs it as a GEMM after copying the bias
// into the output, then applies the activation in another pass; at batch 1 those two extra passes
// over the output cost as much as the product itself (benchmarks/compare.py). Here each 6-pixel x
// 64-channel tile of Y is accumulated in 24 AVX-512 registers starting from the bias, and the
// activation is applied before the single store.
//
// Weights are packed by effnet.deploy.pointwise.pack_weight as [groups, K, 64] (64 output channels
// per group, zero-padded), so a tile streams its weights contiguously; input channels are taken in
// blocks of 128 so that a block's weights (32 KB) stay in L1 while all pixel tiles use them.
#pragma once

#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <optional>

#include "activation.h"

namespace effnet_native {

constexpr int kRows = 6;      // pixels per tile
constexpr int kVectors = 4;   // 16-channel vectors per tile: one 64-channel group
constexpr int64_t kDepth = 128;  // input channels per pass

// Y[R x 16V] (+)= X[R x depth] W[depth x 64]: starts from the bias on the first pass, from the
// partial sums in Y otherwise; activates and stores on the last pass. `tail` masks the channels
// of the last vector that exist.
template <int R, int V, bool GATED>
inline void tile(const float* X, int64_t K, const float* W, const float* bias, float* Y, int64_t N,
                 int64_t depth, bool first, bool last, int64_t act, __mmask16 tail,
                 const float* const* gate) {
  __m512 acc[R][V];
#pragma GCC unroll 8
  for (int m = 0; m < R; ++m) {
#pragma GCC unroll 8
    for (int v = 0; v < V; ++v) {
      const __mmask16 mask = (v == V - 1) ? tail : static_cast<__mmask16>(0xFFFF);
      acc[m][v] = first ? _mm512_loadu_ps(bias + 16 * v)
                        : _mm512_maskz_loadu_ps(mask, Y + m * N + 16 * v);
    }
  }
  for (int64_t k = 0; k < depth; ++k) {
    __m512 w[V];
#pragma GCC unroll 8
    for (int v = 0; v < V; ++v) w[v] = _mm512_loadu_ps(W + k * 64 + 16 * v);
#pragma GCC unroll 8
    for (int m = 0; m < R; ++m) {
      const __m512 xv = _mm512_set1_ps(GATED ? X[m * K + k] * gate[m][k] : X[m * K + k]);
#pragma GCC unroll 8
      for (int v = 0; v < V; ++v) acc[m][v] = _mm512_fmadd_ps(xv, w[v], acc[m][v]);
    }
  }
#pragma GCC unroll 8
  for (int m = 0; m < R; ++m) {
#pragma GCC unroll 8
    for (int v = 0; v < V; ++v) {
      const __mmask16 mask = (v == V - 1) ? tail : static_cast<__mmask16>(0xFFFF);
      const __m512 y = last ? activate(acc[m][v], act) : acc[m][v];
      _mm512_mask_storeu_ps(Y + m * N + 16 * v, mask, y);
    }
  }
}

template <int R, bool GATED>
inline void tile_vectors(const float* X, int64_t K, const float* W, const float* bias, float* Y,
                         int64_t N, int64_t depth, bool first, bool last, int64_t act, int vectors,
                         __mmask16 tail, const float* const* gate) {
  switch (vectors) {
    case 4: tile<R, 4, GATED>(X, K, W, bias, Y, N, depth, first, last, act, tail, gate); break;
    case 3: tile<R, 3, GATED>(X, K, W, bias, Y, N, depth, first, last, act, tail, gate); break;
    case 2: tile<R, 2, GATED>(X, K, W, bias, Y, N, depth, first, last, act, tail, gate); break;
    default: tile<R, 1, GATED>(X, K, W, bias, Y, N, depth, first, last, act, tail, gate); break;
  }
}

template <int R>
inline void tile_rows(const float* X, int64_t K, const float* W, const float* bias, float* Y,
                      int64_t N, int64_t depth, bool first, bool last, int64_t act, int vectors,
                      __mmask16 tail, const float* const* gate) {
  if (gate) {
    tile_vectors<R, true>(X, K, W, bias, Y, N, depth, first, last, act, vectors, tail, gate);
  } else {
    tile_vectors<R, false>(X, K, W, bias, Y, N, depth, first, last, act, vectors, tail, gate);
  }
}

// x: [n, K, h, w] float (made channels-last); weight: [groups, K, 64]; bias: [groups * 64];
// gate: none, or [n, K] per-image input-channel scales applied to x on the fly (the SE gate of
// MBConv, which multiplies the projection conv's input; paper §4).
inline at::Tensor pointwise_conv(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                          int64_t out_channels, int64_t act,
                          const std::optional<at::Tensor>& gate) {
  TORCH_CHECK(x.dim() == 4 && x.scalar_type() == at::kFloat && x.device().is_cpu(),
              "pointwise_conv: expected a 4-d float32 CPU tensor, got ", x.sizes(), " ",
              x.scalar_type());
  const int64_t K = x.size(1), N = out_channels, groups = (N + 63) / 64;
  TORCH_CHECK(weight.dim() == 3 && weight.size(0) == groups && weight.size(1) == K &&
                  weight.size(2) == 64 && weight.is_contiguous() &&
                  weight.scalar_type() == at::kFloat,
              "pointwise_conv: packed weight of shape [", groups, ", ", K, ", 64] expected, got ",
              weight.sizes());
  TORCH_CHECK(bias.numel() == groups * 64 && bias.is_contiguous() &&
                  bias.scalar_type() == at::kFloat,
              "pointwise_conv: bias of ", groups * 64, " floats expected");
  TORCH_CHECK(act >= kNone && act <= kRelu6, "pointwise_conv: unknown activation ", act);
  at::Tensor g;
  if (gate.has_value()) {
    g = gate->contiguous();
    TORCH_CHECK(g.scalar_type() == at::kFloat && g.numel() == x.size(0) * K,
                "pointwise_conv: gate of ", x.size(0), " x ", K, " floats expected, got ",
                g.sizes());
  }
  const float* G = g.defined() ? g.const_data_ptr<float>() : nullptr;
  const at::Tensor xc = x.contiguous(at::MemoryFormat::ChannelsLast);
  const int64_t P = xc.size(0) * xc.size(2) * xc.size(3), plane = xc.size(2) * xc.size(3);
  at::Tensor y = at::empty({xc.size(0), N, xc.size(2), xc.size(3)},
                           xc.options().memory_format(at::MemoryFormat::ChannelsLast));
  const float* X = xc.const_data_ptr<float>();
  const float* W = weight.const_data_ptr<float>();
  const float* B = bias.const_data_ptr<float>();
  float* Y = y.mutable_data_ptr<float>();
  const int64_t tiles = (P + kRows - 1) / kRows;
  at::parallel_for(0, tiles, 16, [&](int64_t begin, int64_t end) {
    for (int64_t g = 0; g < groups; ++g) {
      const int64_t c0 = 64 * g;
      const int64_t channels = std::min<int64_t>(64, N - c0);
      const int vectors = static_cast<int>((channels + 15) / 16);
      const int64_t rest = channels - 16 * (vectors - 1);
      const __mmask16 tail = static_cast<__mmask16>((1u << rest) - 1u);
      for (int64_t k0 = 0; k0 < K; k0 += kDepth) {
        const int64_t depth = std::min<int64_t>(kDepth, K - k0);
        const bool first = k0 == 0, last = k0 + depth >= K;
        const float* Wg = W + (g * K + k0) * 64;
        for (int64_t t = begin; t < end; ++t) {
          const int64_t p = t * kRows;
          const float* Xp = X + p * K + k0;
          float* Yp = Y + p * N + c0;
          const float* rows_gate[kRows];
          if (G) {
            for (int m = 0; m < kRows; ++m) rows_gate[m] = G + std::min(p + m, P - 1) / plane * K + k0;
          }
          const float* const* Gp = G ? rows_gate : nullptr;
          switch (std::min<int64_t>(kRows, P - p)) {
            case 6: tile_rows<6>(Xp, K, Wg, B + c0, Yp, N, depth, first, last, act, vectors, tail, Gp); break;
            case 5: tile_rows<5>(Xp, K, Wg, B + c0, Yp, N, depth, first, last, act, vectors, tail, Gp); break;
            case 4: tile_rows<4>(Xp, K, Wg, B + c0, Yp, N, depth, first, last, act, vectors, tail, Gp); break;
            case 3: tile_rows<3>(Xp, K, Wg, B + c0, Yp, N, depth, first, last, act, vectors, tail, Gp); break;
            case 2: tile_rows<2>(Xp, K, Wg, B + c0, Yp, N, depth, first, last, act, vectors, tail, Gp); break;
            default: tile_rows<1>(Xp, K, Wg, B + c0, Yp, N, depth, first, last, act, vectors, tail, Gp); break;
          }
        }
      }
    }
  });
  return y;
}

}  // namespace effnet_native
