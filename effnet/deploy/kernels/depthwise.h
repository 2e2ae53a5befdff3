// Depthwise kxk convolution + bias + activation (+ the SE block's channel means), NHWC float32,
// AVX-512.
#pragma once

#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <tuple>
#include <vector>

#include "activation.h"

namespace effnet_native {

// Depthwise kxk convolution + bias + activation, one output row of one 16-channel vector of one
// image, NHWC (MBConv's middle layer, paper Table 1), with PyTorch's symmetric padding. The k*k
// weights of the vector are held in registers along the row; rows are the outer loop, so the k
// input rows a row needs stay in cache while every channel vector uses them. With `sum`, the
// activated outputs are also added to it (the squeeze of the SE block that follows, paper §4).
template <int KS>
void depthwise_row(const float* X, int64_t H, int64_t W, int64_t C, const float* Wt, int64_t ldw,
                   const float* bias, float* Y, int64_t oy, int64_t OW, int64_t stride,
                   int64_t pad, int64_t c0, __mmask16 mask, int64_t act, float* sum) {
  __m512 w[KS * KS];
#pragma GCC unroll 49
  for (int t = 0; t < KS * KS; ++t) w[t] = _mm512_loadu_ps(Wt + t * ldw + c0);
  const __m512 b = _mm512_loadu_ps(bias + c0);
  __m512 total = _mm512_setzero_ps();
  const int64_t iy0 = oy * stride - pad;
  const bool rows_inside = iy0 >= 0 && iy0 + KS <= H;
  for (int64_t ox = 0; ox < OW; ++ox) {
    const int64_t ix0 = ox * stride - pad;
    __m512 acc = b;
    if (rows_inside && ix0 >= 0 && ix0 + KS <= W) {
      const float* base = X + (iy0 * W + ix0) * C + c0;
#pragma GCC unroll 7
      for (int ky = 0; ky < KS; ++ky) {
#pragma GCC unroll 7
        for (int kx = 0; kx < KS; ++kx) {
          acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mask, base + (ky * W + kx) * C),
                                w[ky * KS + kx], acc);
        }
      }
    } else {
#pragma GCC unroll 7
      for (int ky = 0; ky < KS; ++ky) {
        const int64_t iy = iy0 + ky;
        if (iy < 0 || iy >= H) continue;
#pragma GCC unroll 7
        for (int kx = 0; kx < KS; ++kx) {
          const int64_t ix = ix0 + kx;
          if (ix < 0 || ix >= W) continue;
          acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mask, X + (iy * W + ix) * C + c0),
                                w[ky * KS + kx], acc);
        }
      }
    }
    const __m512 y = _mm512_maskz_mov_ps(mask, activate(acc, act));
    _mm512_mask_storeu_ps(Y + (oy * OW + ox) * C + c0, mask, y);
    total = _mm512_add_ps(total, y);
  }
  if (sum) _mm512_storeu_ps(sum + c0, _mm512_add_ps(_mm512_loadu_ps(sum + c0), total));
}

// x: [n, C, H, W] float (made channels-last); weight: [k*k, Cpad] (tap-major, channels
// contiguous, zero-padded to a multiple of 16); bias: [Cpad]. Returns the activated output and,
// with `with_mean`, its per-channel mean over the plane as [n, C, 1, 1] (else an empty tensor).
inline std::tuple<at::Tensor, at::Tensor> depthwise_conv(const at::Tensor& x, const at::Tensor& weight,
                                                  const at::Tensor& bias, int64_t kernel,
                                                  int64_t stride, int64_t act, bool with_mean) {
  TORCH_CHECK(x.dim() == 4 && x.scalar_type() == at::kFloat && x.device().is_cpu(),
              "depthwise_conv: expected a 4-d float32 CPU tensor, got ", x.sizes(), " ",
              x.scalar_type());
  const int64_t n = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const int64_t cpad = (C + 15) / 16 * 16;
  TORCH_CHECK(kernel == 3 || kernel == 5 || kernel == 7, "depthwise_conv: kernel 3, 5 or 7, got ",
              kernel);
  TORCH_CHECK(stride == 1 || stride == 2, "depthwise_conv: stride 1 or 2, got ", stride);
  TORCH_CHECK(weight.dim() == 2 && weight.size(0) == kernel * kernel && weight.size(1) == cpad &&
                  weight.is_contiguous() && weight.scalar_type() == at::kFloat,
              "depthwise_conv: packed weight of shape [", kernel * kernel, ", ", cpad,
              "] expected, got ", weight.sizes());
  TORCH_CHECK(bias.numel() == cpad && bias.is_contiguous() && bias.scalar_type() == at::kFloat,
              "depthwise_conv: bias of ", cpad, " floats expected");
  TORCH_CHECK(act >= kNone && act <= kRelu6, "depthwise_conv: unknown activation ", act);
  const int64_t pad = kernel / 2;
  const int64_t OH = (H + 2 * pad - kernel) / stride + 1, OW = (W + 2 * pad - kernel) / stride + 1;
  const at::Tensor xc = x.contiguous(at::MemoryFormat::ChannelsLast);
  at::Tensor y = at::empty({n, C, OH, OW}, xc.options().memory_format(at::MemoryFormat::ChannelsLast));
  at::Tensor mean = with_mean ? at::empty({n, C, 1, 1}, xc.options()) : at::empty({0}, xc.options());
  const float* X = xc.const_data_ptr<float>();
  const float* Wt = weight.const_data_ptr<float>();
  const float* B = bias.const_data_ptr<float>();
  float* Y = y.mutable_data_ptr<float>();
  float* M = with_mean ? mean.mutable_data_ptr<float>() : nullptr;
  const int64_t vectors = cpad / 16;
  // Threads share out (image, channel vector) pairs; each sweeps the rows of its vectors, so it
  // alone owns their sums.
  at::parallel_for(0, n * vectors, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> sums(with_mean ? cpad : 0, 0.0f);
    for (int64_t first = begin; first < end;) {
      const int64_t img = first / vectors, v0 = first % vectors;
      const int64_t v1 = std::min(vectors, v0 + (end - first));
      const float* Xi = X + img * H * W * C;
      float* Yi = Y + img * OH * OW * C;
      float* S = with_mean ? sums.data() : nullptr;
      std::fill(sums.begin(), sums.end(), 0.0f);
      for (int64_t oy = 0; oy < OH; ++oy) {
        for (int64_t v = v0; v < v1; ++v) {
          const int64_t c0 = 16 * v;
          const __mmask16 mask = static_cast<__mmask16>((1u << std::min<int64_t>(16, C - c0)) - 1u);
          switch (kernel) {
            case 3: depthwise_row<3>(Xi, H, W, C, Wt, cpad, B, Yi, oy, OW, stride, pad, c0, mask, act, S); break;
            case 5: depthwise_row<5>(Xi, H, W, C, Wt, cpad, B, Yi, oy, OW, stride, pad, c0, mask, act, S); break;
            default: depthwise_row<7>(Xi, H, W, C, Wt, cpad, B, Yi, oy, OW, stride, pad, c0, mask, act, S); break;
          }
        }
      }
      if (with_mean) {
        const float scale = 1.0f / static_cast<float>(OH * OW);
        for (int64_t c = 16 * v0; c < std::min(C, 16 * v1); ++c) M[img * C + c] = sums[c] * scale;
      }
      first += v1 - v0;
    }
  });
  return {y, mean};
}

}  // namespace effnet_native
