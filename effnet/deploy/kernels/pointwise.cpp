// 1x1 convolution + bias + activation in one pass over the output, for NHWC float tensors on
// x86 CPUs with AVX-512 (effnet.deploy.pointwise builds and loads it; see effnet/deploy/native.py).
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
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <immintrin.h>
#include <torch/library.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <tuple>
#include <vector>

namespace {

constexpr int kRows = 6;      // pixels per tile
constexpr int kVectors = 4;   // 16-channel vectors per tile: one 64-channel group
constexpr int64_t kDepth = 128;  // input channels per pass

enum Activation : int64_t { kNone = 0, kSilu = 1, kRelu = 2, kRelu6 = 3 };

// exp(x) for float32 lanes: x = n ln2 + r with |r| <= ln2/2, exp(r) by the degree-7 polynomial of
// Cephes' expf (relative error ~1e-7), scaled by 2^n.
inline __m512 exp_ps(__m512 x) {
  x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.3f)), _mm512_set1_ps(88.3f));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r);
  return _mm512_scalef_ps(_mm512_add_ps(p, _mm512_set1_ps(1.0f)), n);
}

// SiLU (Swish, paper §4): x / (1 + exp(-x)), the reciprocal by rcp14 and one Newton step.
inline __m512 silu_ps(__m512 x) {
  const __m512 d = _mm512_add_ps(_mm512_set1_ps(1.0f), exp_ps(_mm512_sub_ps(_mm512_setzero_ps(), x)));
  __m512 r = _mm512_rcp14_ps(d);
  r = _mm512_mul_ps(r, _mm512_fnmadd_ps(d, r, _mm512_set1_ps(2.0f)));
  return _mm512_mul_ps(x, r);
}

inline __m512 activate(__m512 y, int64_t act) {
  switch (act) {
    case kSilu: return silu_ps(y);
    case kRelu: return _mm512_max_ps(y, _mm512_setzero_ps());
    case kRelu6: return _mm512_min_ps(_mm512_max_ps(y, _mm512_setzero_ps()), _mm512_set1_ps(6.0f));
    default: return y;
  }
}

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
at::Tensor pointwise_conv(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
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
std::tuple<at::Tensor, at::Tensor> depthwise_conv(const at::Tensor& x, const at::Tensor& weight,
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
  at::parallel_for(0, n, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> sums(with_mean ? cpad : 0, 0.0f);
    for (int64_t img = begin; img < end; ++img) {
      const float* Xi = X + img * H * W * C;
      float* Yi = Y + img * OH * OW * C;
      float* S = with_mean ? sums.data() : nullptr;
      std::fill(sums.begin(), sums.end(), 0.0f);
      for (int64_t oy = 0; oy < OH; ++oy) {
        for (int64_t v = 0; v < vectors; ++v) {
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
        for (int64_t c = 0; c < C; ++c) M[img * C + c] = sums[c] * scale;
      }
    }
  });
  return {y, mean};
}

// Whether the kernel above is the faster choice for x: one intra-op thread and a small batch.
// (TorchScript has no builtin for the thread count; taking x keeps freezing from folding the
// answer into a constant.)
bool use_pointwise(const at::Tensor& x, int64_t max_batch) {
  return at::get_num_threads() == 1 && x.size(0) <= max_batch;
}

}  // namespace

TORCH_LIBRARY(effnet_native, m) {
  m.def("pointwise_conv(Tensor x, Tensor weight, Tensor bias, int out_channels, int act, Tensor? gate=None) -> Tensor");
  m.def("depthwise_conv(Tensor x, Tensor weight, Tensor bias, int kernel, int stride, int act, bool with_mean) -> (Tensor, Tensor)");
  m.def("use_pointwise(Tensor x, int max_batch) -> bool", &use_pointwise);
}

TORCH_LIBRARY_IMPL(effnet_native, CPU, m) {
  m.impl("pointwise_conv", &pointwise_conv);
  m.impl("depthwise_conv", &depthwise_conv);
}
