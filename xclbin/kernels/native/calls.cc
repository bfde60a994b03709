// Whole calls of xclbin/manifest.json from nw_kernels.cc's tile functions, for the native
// library (scripts/test-kernels-native): each entry point runs the core program of its design
// (xclbin/designs/*.py) for every tile, one core after another, on the host buffers of the
// call, gathering each tile the way the design's data movement delivers it. What it checks is the
// kernels' arithmetic; the data movement itself is run by the dataflow emulator
// (scripts/emulate-npu). Buffers are the call's, in the call plan's layout (src/npu/calls.rs).
#include <stdint.h>
#include <string.h>

#include <vector>

#include <aie_api/aie.hpp>

#include "npu_whisper_constants.h"

extern "C" {
void nw_mm_64x64x64_bf16_f32(const bfloat16* a, const bfloat16* b, float* c);
void nw_zero_f32(float* c, int32_t n);
void nw_epilogue_bias_bf16(const float* acc, const float* bias, bfloat16* out, int32_t rows, int32_t cols);
void nw_epilogue_bias_gelu_bf16(const float* acc, const float* bias, bfloat16* out, int32_t rows, int32_t cols);
void nw_epilogue_bias_gelu_f32(const float* acc, const float* bias, float* out, int32_t rows, int32_t cols);
void nw_epilogue_bias_f32(const float* acc, const float* bias, float* out, int32_t rows, int32_t cols);
void nw_copy_bias_f32(const bfloat16* chunk, float* bias, int32_t cols);
void nw_attention_scores(const bfloat16* q, const bfloat16* k, float* scores, int32_t kb, int32_t frames_p);
void nw_attention_softmax(float* scores, int32_t rows, int32_t frames, int32_t frames_p);
void nw_attention_context(const float* scores, const bfloat16* v, float* acc, int32_t vb, int32_t frames_p);
void nw_round_bf16(const float* x, bfloat16* y, int32_t n);
void nw_ln_begin(float* state);
void nw_ln_sum(const float* x, float* state, int32_t n);
void nw_ln_mean(float* state, int32_t cols);
void nw_ln_sq(const float* x, float* state, int32_t n);
void nw_ln_rstd(float* state, int32_t cols);
void nw_ln_apply_bf16(const float* x, const float* gamma_beta, bfloat16* y, const float* state, int32_t n);
void nw_ln_apply_f32(const float* x, const float* gamma_beta, float* y, const float* state, int32_t n);
void nw_gelu_bf16(const bfloat16* x, bfloat16* y, int32_t n);
void nw_add_into_f32(const float* a, const float* b, float* y, int32_t n);

// The GEMM variants, numbered as in src/npu/native.rs.
enum { NW_GEMM_BIAS = 0, NW_GEMM_BIAS_GELU = 1, NW_GEMM_BIAS_GELU_F32 = 2, NW_GEMM_BIAS_F32 = 3 };

// C = epilogue(A.B + bias): A m x k bf16, B k x n bf16 (row-major, padded to whole tiles), the
// bias in chunks of one B tile (2048 f32, its 64 values first), C m x n (bf16 or f32). Returns 0,
// or -1 for a variant or shape the design does not take.
int32_t nw_call_gemm(int32_t variant, const uint16_t* a, const uint16_t* b, const float* bias_chunks,
                     void* c, int32_t m, int32_t k, int32_t n) {
  const int tm = NW_TILE_M, tk = NW_TILE_K, tn = NW_TILE_N;
  if (variant < 0 || variant > 3 || m % tm || k % tk || n % tn) return -1;
  const bool f32_out = variant == NW_GEMM_BIAS_GELU_F32 || variant == NW_GEMM_BIAS_F32;
  std::vector<bfloat16> ta(tm * tk), tb(tk * tn), out_bf16(tm * tn);
  std::vector<float> acc(tm * tn), out_f32(tm * tn), bias(tn);
  const bfloat16* A = reinterpret_cast<const bfloat16*>(a);
  const bfloat16* B = reinterpret_cast<const bfloat16*>(b);
  const int chunk_floats = tk * tn / 2;
  for (int i = 0; i < m / tm; ++i)
    for (int j = 0; j < n / tn; ++j) {
      nw_copy_bias_f32(reinterpret_cast<const bfloat16*>(bias_chunks + j * chunk_floats), bias.data(), tn);
      float* target = f32_out ? out_f32.data() : acc.data();
      nw_zero_f32(target, tm * tn);
      for (int kt = 0; kt < k / tk; ++kt) {
        for (int r = 0; r < tm; ++r) memcpy(&ta[r * tk], &A[(size_t)(i * tm + r) * k + kt * tk], tk * 2);
        for (int r = 0; r < tk; ++r) memcpy(&tb[r * tn], &B[(size_t)(kt * tk + r) * n + j * tn], tn * 2);
        nw_mm_64x64x64_bf16_f32(ta.data(), tb.data(), target);
      }
      switch (variant) {
        case NW_GEMM_BIAS: nw_epilogue_bias_bf16(acc.data(), bias.data(), out_bf16.data(), tm, tn); break;
        case NW_GEMM_BIAS_GELU: nw_epilogue_bias_gelu_bf16(acc.data(), bias.data(), out_bf16.data(), tm, tn); break;
        case NW_GEMM_BIAS_GELU_F32: nw_epilogue_bias_gelu_f32(target, bias.data(), out_f32.data(), tm, tn); break;
        default: nw_epilogue_bias_f32(target, bias.data(), out_f32.data(), tm, tn); break;
      }
      for (int r = 0; r < tm; ++r) {
        const size_t row = (size_t)(i * tm + r) * n + j * tn;
        if (f32_out) memcpy(static_cast<float*>(c) + row, &out_f32[r * tn], tn * 4);
        else memcpy(static_cast<uint16_t*>(c) + row, &out_bf16[r * tn], tn * 2);
      }
    }
  return 0;
}

// Attention: qkv frames_p x 3d bf16 (Q, K, V side by side), ctx frames_p x d bf16; 4 query rows
// at a time per head, every K tile, softmax, every V tile, as attention.py's core does.
int32_t nw_call_attention(const uint16_t* qkv, uint16_t* ctx, int32_t heads, int32_t frames,
                          int32_t frames_p, int32_t d_model) {
  const int dh = 64, rows = 4;
  if (d_model != heads * dh || frames_p % dh || frames > frames_p || frames < 1) return -1;
  const bfloat16* QKV = reinterpret_cast<const bfloat16*>(qkv);
  const size_t width = 3 * (size_t)d_model;
  std::vector<bfloat16> q(rows * dh), kv(dh * dh), out(rows * dh);
  std::vector<float> scores(rows * (size_t)frames_p), acc(rows * dh);
  for (int h = 0; h < heads; ++h)
    for (int t0 = 0; t0 < frames_p; t0 += rows) {
      for (int r = 0; r < rows; ++r) memcpy(&q[r * dh], &QKV[(t0 + r) * width + h * dh], dh * 2);
      for (int kb = 0; kb < frames_p / dh; ++kb) {
        for (int t = 0; t < dh; ++t) memcpy(&kv[t * dh], &QKV[(kb * dh + t) * width + d_model + h * dh], dh * 2);
        nw_attention_scores(q.data(), kv.data(), scores.data(), kb, frames_p);
      }
      nw_attention_softmax(scores.data(), rows, frames, frames_p);
      nw_zero_f32(acc.data(), rows * dh);
      for (int vb = 0; vb < frames_p / dh; ++vb) {
        for (int t = 0; t < dh; ++t) memcpy(&kv[t * dh], &QKV[(vb * dh + t) * width + 2 * d_model + h * dh], dh * 2);
        nw_attention_context(scores.data(), kv.data(), acc.data(), vb, frames_p);
      }
      nw_round_bf16(acc.data(), out.data(), rows * dh);
      for (int r = 0; r < rows; ++r) memcpy(&ctx[(t0 + r) * (size_t)d_model + h * dh], &out[r * dh], dh * 2);
    }
  return 0;
}

// LayerNorm: x rows x cols f32, gamma_beta [gamma[cols], beta[cols]], y bf16 (f32_out 0) or f32;
// each row streamed three times in chunks of 64, as rows.py's core does.
int32_t nw_call_layernorm(int32_t f32_out, const float* x, const float* gamma_beta, void* y,
                          int32_t rows, int32_t cols) {
  const int chunk = 64;
  if (cols % chunk || cols < chunk) return -1;
  float state[4];
  float gb[2 * 64];
  for (int i = 0; i < rows; ++i) {
    const float* row = x + (size_t)i * cols;
    nw_ln_begin(state);
    for (int c = 0; c < cols; c += chunk) nw_ln_sum(row + c, state, chunk);
    nw_ln_mean(state, cols);
    for (int c = 0; c < cols; c += chunk) nw_ln_sq(row + c, state, chunk);
    nw_ln_rstd(state, cols);
    for (int c = 0; c < cols; c += chunk) {
      memcpy(gb, gamma_beta + c, chunk * 4);
      memcpy(gb + chunk, gamma_beta + cols + c, chunk * 4);
      if (f32_out) nw_ln_apply_f32(row + c, gb, static_cast<float*>(y) + (size_t)i * cols + c, state, chunk);
      else nw_ln_apply_bf16(row + c, gb, reinterpret_cast<bfloat16*>(y) + (size_t)i * cols + c, state, chunk);
    }
  }
  return 0;
}

// gelu (bf16 x -> y) and add (f32 a += b), in chunks of 256 as rows.py's cores take them.
int32_t nw_call_gelu(const uint16_t* x, uint16_t* y, int32_t len) {
  const int chunk = 256;
  if (len % chunk) return -1;
  for (int i = 0; i < len; i += chunk)
    nw_gelu_bf16(reinterpret_cast<const bfloat16*>(x) + i, reinterpret_cast<bfloat16*>(y) + i, chunk);
  return 0;
}

int32_t nw_call_add(float* a, const float* b, int32_t len) {
  const int chunk = 256;
  if (len % chunk) return -1;
  std::vector<float> y(chunk);
  for (int i = 0; i < len; i += chunk) {
    nw_add_into_f32(a + i, b + i, y.data(), chunk);
    memcpy(a + i, y.data(), chunk * 4);
  }
  return 0;
}
}
