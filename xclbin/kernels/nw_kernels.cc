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

// e^x for x <= 0 as 2^n * poly(f), y = x log2(e), n = floor(y), f = y - n. NaN in, NaN out
// (a softmax row with a NaN score is NaN, as in the simulator and the CPU encoder); both tests
// come before the int conversion, which is undefined in C++ for NaN and for y below INT_MIN
// (found by scripts/test-kernels-native: compiled with g++, a NaN score became probability 0).
static inline float nw_exp(float x) {
  if (x != x) return x;
  const float y = x * 1.44269504088896340736f;
  if (y < -126.0f) return 0.0f;  // floor(y) < -126 exactly when y < -126
  float n = (float)(int)y;
  if (n > y) n -= 1.0f;  // floor for negative y
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

// out = acc + bias in f32 (a residual add follows as its own call: fused, a core would need a
// third input stream and it has two). The f32 output tile is the accumulator: in place.
void nw_epilogue_bias_f32(const float* acc, const float* bias, float* out, int32_t rows, int32_t cols) {
  for (int i = 0; i < rows; ++i)
    for (int j = 0; j < cols; ++j) out[i * cols + j] = acc[i * cols + j] + bias[j];
}

// The bias of one output tile column from its chunk in the B stream (a B-tile-sized element
// whose first `cols` floats are the bias; see the manifest's bias layout).
void nw_copy_bias_f32(const bfloat16* chunk, float* bias, int32_t cols) {
  const float* values = reinterpret_cast<const float*>(chunk);
  for (int j = 0; j < cols; ++j) bias[j] = values[j];
}

// ---------------------------------------------------------------- attention (4 query rows)

// scores[i][kb*64 + j] = q[i] . k[j] over the 64 head dimensions, in blocks of 8 summed from
// zero and added in order (the simulator's Q.K^T GEMM). q is 4x64, k a 64x64 tile of frames.
void nw_attention_scores(const bfloat16* q, const bfloat16* k, float* scores, int32_t kb, int32_t frames_p) {
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 64; ++j) {
      float acc = 0.0f;
      for (int c0 = 0; c0 < 64; c0 += NW_MMUL_S) {
        float part = 0.0f;
        for (int c = c0; c < c0 + NW_MMUL_S; ++c) part += (float)q[i * 64 + c] * (float)k[j * 64 + c];
        acc += part;
      }
      scores[i * frames_p + kb * 64 + j] = acc;
    }
}

// Softmax of `rows` rows of scores scaled by 1/8 (d_head 64) over the `frames` real columns;
// probabilities rounded to bf16 and stored in place as a rows x frames_p bf16 matrix at the start
// of the same buffer (each bf16 lands at or before the f32 it came from, never on an unread one);
// padding columns zero.
void nw_attention_softmax(float* scores, int32_t rows, int32_t frames, int32_t frames_p) {
  bfloat16* probs = (bfloat16*)scores;
  for (int i = 0; i < rows; ++i) {
    float* row = scores + i * frames_p;
    float max = -3.4028235e38f;
    for (int j = 0; j < frames; ++j) {
      row[j] *= 0.125f;
      if (row[j] > max) max = row[j];
    }
    float sum = 0.0f;
    for (int j = 0; j < frames; ++j) {
      row[j] = nw_exp(row[j] - max);
      sum += row[j];
    }
    const float inv = 1.0f / sum;
    for (int j = 0; j < frames; ++j) probs[i * frames_p + j] = nw_to_bf16(row[j] * inv);
    for (int j = frames; j < frames_p; ++j) probs[i * frames_p + j] = (bfloat16)0.0f;
  }
}

// acc[i][c] += sum over the 64 frames of block vb of p[i][t] * v[t][c], in blocks of 8 from zero
// added in order (the simulator's P.V GEMM). p is the bf16 probability matrix softmax left in
// the scores buffer.
void nw_attention_context(const float* scores, const bfloat16* v, float* acc, int32_t vb, int32_t frames_p) {
  const bfloat16* p = (const bfloat16*)scores;
  for (int i = 0; i < 4; ++i)
    for (int c = 0; c < 64; ++c) {
      float a = acc[i * 64 + c];
      for (int t0 = 0; t0 < 64; t0 += NW_MMUL_S) {
        float part = 0.0f;
        for (int t = t0; t < t0 + NW_MMUL_S; ++t) part += (float)p[i * frames_p + vb * 64 + t] * (float)v[t * 64 + c];
        a += part;
      }
      acc[i * 64 + c] = a;
    }
}

void nw_round_bf16(const float* x, bfloat16* y, int32_t n) {
  for (int i = 0; i < n; ++i) y[i] = nw_to_bf16(x[i]);
}

// ---------------------------------------------------------------- LayerNorm, 64 values at a time

// state: [0] running sum, [1] mean, [2] running sum of squared deviations, [3] 1/sqrt(var + eps).
// The row is streamed three times; the sums run in ascending column order, as in the simulator.
void nw_ln_begin(float* state) {
  state[0] = state[1] = state[2] = state[3] = 0.0f;
}

void nw_ln_sum(const float* x, float* state, int32_t n) {
  for (int j = 0; j < n; ++j) state[0] += x[j];
}

void nw_ln_mean(float* state, int32_t cols) {
  state[1] = state[0] / (float)cols;
}

void nw_ln_sq(const float* x, float* state, int32_t n) {
  for (int j = 0; j < n; ++j) state[2] += (x[j] - state[1]) * (x[j] - state[1]);
}

void nw_ln_rstd(float* state, int32_t cols) {
  state[3] = 1.0f / aie::sqrt(state[2] / (float)cols + NW_LAYERNORM_EPS);
}

// gamma_beta is this chunk's [gamma[64], beta[64]].
void nw_ln_apply_bf16(const float* x, const float* gamma_beta, bfloat16* y, const float* state, int32_t n) {
  for (int j = 0; j < n; ++j) y[j] = nw_to_bf16((x[j] - state[1]) * state[3] * gamma_beta[j] + gamma_beta[n + j]);
}

void nw_ln_apply_f32(const float* x, const float* gamma_beta, float* y, const float* state, int32_t n) {
  for (int j = 0; j < n; ++j) y[j] = (x[j] - state[1]) * state[3] * gamma_beta[j] + gamma_beta[n + j];
}

// ---------------------------------------------------------------- element kernels

void nw_gelu_bf16(const bfloat16* x, bfloat16* y, int32_t n) {
  for (int i = 0; i < n; ++i) y[i] = nw_to_bf16(nw_gelu((float)x[i]));
}

// y = a + b in f32 (the host's a is both input and output of the `add` kernel).
void nw_add_into_f32(const float* a, const float* b, float* y, int32_t n) {
  for (int i = 0; i < n; ++i) y[i] = a[i] + b[i];
}

}  // extern "C"
