// Activations on 16 float32 lanes (AVX-512), applied in registers before a kernel's store.
#pragma once

#include <immintrin.h>

#include <cstdint>

namespace effnet_native {

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

}  // namespace effnet_native
