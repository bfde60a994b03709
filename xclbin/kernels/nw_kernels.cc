// npu-whisper AIE kernels (AIE2 / AIE2P, aie_api). Their arithmetic is the one src/npu/sim.rs
// models; the constants come from npu_whisper_constants.h, generated from xclbin/constants.json,
// which the simulator reads too.
//
// STATUS: a design, never compiled here (the MLIR-AIE/Peano toolchain is not installable on this
// project's machines) and never run on an NPU. scripts/build-xclbin compiles it on a machine with
// the toolchain; scripts/npu-validate compares every kernel bit for bit with the simulator.
//
// Conventions shared with the simulator:
//  * bf16 x bf16 products are exact in f32; sums run in f32 in the 4x8x4 microkernel order: the
//    k dimension in blocks of 8, each block summed from zero, then added to the accumulator.
//  * f32 -> bf16 conversions round to nearest even (aie::rounding_mode::conv_even), never the
//    default truncation.

#include <aie_api/aie.hpp>
#include <stdint.h>

#include "npu_whisper_constants.h"

extern "C" {

// ---------------------------------------------------------------- helpers (scalar reference)

static inline float nw_gelu(float x) {
  if (x != x) return x;
  if (x < NW_GELU_LO) return 0.0f;
  if (x >= NW_GELU_HI) return x;
  int seg = (int)((x - NW_GELU_LO) / NW_GELU_SEGMENT_WIDTH);
  if (seg > NW_GELU_SEGMENTS - 1) seg = NW_GELU_SEGMENTS - 1;
  const float centre = NW_GELU_LO + ((float)seg + 0.5f) * NW_GELU_SEGMENT_WIDTH;
  const float t = x - centre;
  float p = 0.0f;
  for (int i = NW_GELU_TERMS - 1; i >= 0; --i) p = p * t + NW_GELU_COEFFS[seg][i];
  return p;
}

// e^x for x <= 0 as 2^n * poly(f), y = x log2(e), n = floor(y), f = y - n.
static inline float nw_exp(float x) {
  const float y = x * 1.44269504088896340736f;
  float n = (float)(int)y;
  if (n > y) n -= 1.0f;  // floor for negative y
  if (n < -126.0f) return 0.0f;
  const float f = y - n;
  float p = 0.0f;
  for (int i = NW_EXP2_TERMS - 1; i >= 0; --i) p = p * f + NW_EXP2_COEFFS[i];
  union { uint32_t u; float f; } scale;
  scale.u = (uint32_t)((int)n + 127) << 23;
  return p * scale.f;
}

static inline bfloat16 nw_to_bf16(float x) {
  // Round to nearest even on the bit pattern (matches half::bf16::from_f32 in the simulator).
  union { float f; uint32_t u; } v;
  v.f = x;
  if ((v.u & 0x7fffffffu) > 0x7f800000u) return (bfloat16)x;  // NaN stays NaN
  const uint32_t rounding = 0x7fffu + ((v.u >> 16) & 1u);
  v.u = (v.u + rounding) & 0xffff0000u;
  return (bfloat16)v.f;
}

// ---------------------------------------------------------------- GEMM core tile

// C[64][64] (f32) += A[64][64] · B[64][64] (bf16), with A and B in the row-major tiles the
// object FIFOs deliver. aie::mmul<4, 8, 4> computes one 4x4 output block over 8 k at a time;
// the block's partial product starts from zero and is then added to the accumulator, the order
// the simulator reproduces.
void nw_mm_64x64x64_bf16_f32(const bfloat16* __restrict a, const bfloat16* __restrict b, float* __restrict c) {
  using MMUL = aie::mmul<NW_MMUL_R, NW_MMUL_S, NW_MMUL_T, bfloat16, bfloat16, accfloat>;
  aie::set_rounding(aie::rounding_mode::conv_even);
  for (int i = 0; i < NW_TILE_M; i += NW_MMUL_R) {
    for (int j = 0; j < NW_TILE_N; j += NW_MMUL_T) {
      aie::accum<accfloat, NW_MMUL_R * NW_MMUL_T> acc;
      // Load the running C block.
      aie::vector<float, NW_MMUL_R * NW_MMUL_T> cv;
      for (int r = 0; r < NW_MMUL_R; ++r)
        for (int t = 0; t < NW_MMUL_T; ++t) cv[r * NW_MMUL_T + t] = c[(i + r) * NW_TILE_N + j + t];
      acc.from_vector(cv);
      for (int k = 0; k < NW_TILE_K; k += NW_MMUL_S) {
        aie::vector<bfloat16, NW_MMUL_R * NW_MMUL_S> av;
        aie::vector<bfloat16, NW_MMUL_S * NW_MMUL_T> bv;
        for (int r = 0; r < NW_MMUL_R; ++r)
          for (int s = 0; s < NW_MMUL_S; ++s) av[r * NW_MMUL_S + s] = a[(i + r) * NW_TILE_K + k + s];
        for (int s = 0; s < NW_MMUL_S; ++s)
          for (int t = 0; t < NW_MMUL_T; ++t) bv[s * NW_MMUL_T + t] = b[(k + s) * NW_TILE_N + j + t];
        MMUL block;
        block.mul(av, bv);  // the 8-term partial, from zero
        acc = aie::add(acc, block.to_accum());
      }
      aie::vector<float, NW_MMUL_R * NW_MMUL_T> out = acc.template to_vector<float>();
      for (int r = 0; r < NW_MMUL_R; ++r)
        for (int t = 0; t < NW_MMUL_T; ++t) c[(i + r) * NW_TILE_N + j + t] = out[r * NW_MMUL_T + t];
    }
  }
}

void nw_zero_f32(float* c, int32_t n) {
  for (int i = 0; i < n; ++i) c[i] = 0.0f;
}

// ---------------------------------------------------------------- GEMM epilogues (per C tile)

// out = bf16(acc + bias)
void nw_epilogue_bias_bf16(const float* acc, const float* bias, bfloat16* out, int32_t rows, int32_t cols) {
  for (int i = 0; i < rows; ++i)
    for (int j = 0; j < cols; ++j) out[i * cols + j] = nw_to_bf16(acc[i * cols + j] + bias[j]);
}

// out = bf16(gelu(acc + bias))
void nw_epilogue_bias_gelu_bf16(const float* acc, const float* bias, bfloat16* out, int32_t rows, int32_t cols) {
  for (int i = 0; i < rows; ++i)
    for (int j = 0; j < cols; ++j) out[i * cols + j] = nw_to_bf16(nw_gelu(acc[i * cols + j] + bias[j]));
}

// out = gelu(acc + bias) in f32
void nw_epilogue_bias_gelu_f32(const float* acc, const float* bias, float* out, int32_t rows, int32_t cols) {
  for (int i = 0; i < rows; ++i)
    for (int j = 0; j < cols; ++j) out[i * cols + j] = nw_gelu(acc[i * cols + j] + bias[j]);
}

// c = c + (acc + bias) in f32 (the residual add fused into the GEMM)
void nw_epilogue_bias_residual_f32(const float* acc, const float* bias, float* c, int32_t rows, int32_t cols) {
  for (int i = 0; i < rows; ++i)
    for (int j = 0; j < cols; ++j) c[i * cols + j] = (acc[i * cols + j] + bias[j]) + c[i * cols + j];
}

// ---------------------------------------------------------------- row and element kernels

// Row statistics in ascending order, as the simulator computes them: mean, then 1/sqrt(var+eps).
static inline void nw_row_stats(const float* row, int32_t cols, float* mean, float* rstd) {
  float sum = 0.0f;
  for (int j = 0; j < cols; ++j) sum += row[j];
  const float m = sum / (float)cols;
  float sq = 0.0f;
  for (int j = 0; j < cols; ++j) sq += (row[j] - m) * (row[j] - m);
  *mean = m;
  *rstd = 1.0f / aie::sqrt(sq / (float)cols + NW_LAYERNORM_EPS);
}

// LayerNorm of `rows` rows of `cols` f32 values; gamma_beta is [2][cols] f32; bf16 output.
void nw_layernorm_bf16(const float* x, const float* gamma_beta, bfloat16* y, int32_t rows, int32_t cols) {
  for (int r = 0; r < rows; ++r) {
    float mean, rstd;
    nw_row_stats(x + r * cols, cols, &mean, &rstd);
    for (int j = 0; j < cols; ++j)
      y[r * cols + j] = nw_to_bf16((x[r * cols + j] - mean) * rstd * gamma_beta[j] + gamma_beta[cols + j]);
  }
}

// The same with f32 output (the final ln_post).
void nw_layernorm_f32(const float* x, const float* gamma_beta, float* y, int32_t rows, int32_t cols) {
  for (int r = 0; r < rows; ++r) {
    float mean, rstd;
    nw_row_stats(x + r * cols, cols, &mean, &rstd);
    for (int j = 0; j < cols; ++j)
      y[r * cols + j] = (x[r * cols + j] - mean) * rstd * gamma_beta[j] + gamma_beta[cols + j];
  }
}

// Softmax of one row of attention scores (f32, already Q·K^T), scaled, over `frames` real
// columns of a `frames_p`-wide row; probabilities rounded to bf16, padding columns zero.
void nw_softmax_row_bf16(float* scores, bfloat16* probs, int32_t frames, int32_t frames_p, float scale) {
  float max = -3.4028235e38f;
  for (int j = 0; j < frames; ++j) {
    scores[j] *= scale;
    if (scores[j] > max) max = scores[j];
  }
  float sum = 0.0f;
  for (int j = 0; j < frames; ++j) {
    scores[j] = nw_exp(scores[j] - max);
    sum += scores[j];
  }
  const float inv = 1.0f / sum;
  for (int j = 0; j < frames; ++j) probs[j] = nw_to_bf16(scores[j] * inv);
  for (int j = frames; j < frames_p; ++j) probs[j] = (bfloat16)0.0f;
}

void nw_gelu_bf16(const bfloat16* x, bfloat16* y, int32_t n) {
  for (int i = 0; i < n; ++i) y[i] = nw_to_bf16(nw_gelu((float)x[i]));
}

void nw_add_f32(float* a, const float* b, int32_t n) {
  for (int i = 0; i < n; ++i) a[i] += b[i];
}

}  // extern "C"
