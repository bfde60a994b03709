// A native (x86-64, g++) model of exactly the part of AMD's aie_api that nw_kernels.cc uses, so
// that the kernel source the Peano build takes compiles unchanged on the host and runs against
// the simulator (scripts/test-kernels-native) and inside the dataflow emulator
// (scripts/emulate-npu). Not aie_api: every definition below is written from the semantics
// aie_api documents, cited as path:line at jgmelber/aie_api commit
// 2b7eedfcb66430046898f1a85cfbe794161c505c (a public copy of Xilinx/aie_api's headers).
//
// Where the hardware may differ from this model (each is a row of docs/npu.md's table):
//  * mmul<4, 8, 4> bf16: aie_api forwards to the intrinsic mul_4x8_8x4
//    (detail/aie2/mmul_bf16_bf16.hpp:38); how the AIE2 multiplier array reduces the 8 products
//    of one output (order, internal width, rounding) is not documented there. Modelled: exact
//    bf16 x bf16 products (8-bit significands: exact in f32) summed in f32 from zero in
//    ascending k, each sum rounded to nearest even.
//  * accumulator adds (aie::add on accfloat): f32 adds, round to nearest even. AIE2's vector
//    floating-point unit flushes denormals (inputs and results) to zero; x86 does not, and
//    neither does this model nor the simulator. A difference shows only for values below 2^-126.
//  * aie::sqrt(float): aie_api's scalar path is std::sqrt (detail/elementary.hpp:38-39), i.e.
//    the target libm's; correctly rounded here (x86 sqrtss), unknown on the core.
//  * float -> bfloat16 casts: round to nearest even, NaN kept NaN with its sign and quiet bit
//    set (LLVM's fptrunc, which Peano compiles `(bfloat16)x` to). The kernels round with their
//    own bit arithmetic and cast only values that are already bf16 or NaN.
//  * aie::set_rounding: recorded, and it has no effect here: the one mode the kernels set,
//    conv_even, is the model's only mode.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

// The element type (types.hpp:102 declares it for host builds; on the core it is the
// compiler's bf16).
struct bfloat16 {
  uint16_t bits;

  bfloat16() = default;
  bfloat16(float x) : bits(round_to_nearest_even(x)) {}
  operator float() const {
    const uint32_t u = (uint32_t)bits << 16;
    float f;
    std::memcpy(&f, &u, sizeof f);
    return f;
  }

 private:
  static uint16_t round_to_nearest_even(float x) {
    uint32_t u;
    std::memcpy(&u, &x, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x0040u);
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
  }
};
static_assert(sizeof(bfloat16) == 2, "bfloat16 is two bytes, as in the device's buffers");

// The accumulator tag of f32 accumulation (aie_types.hpp declares accfloat).
struct accfloat {};

namespace aie {

// rounding_mode (aie_types.hpp:46; conv_even at :53).
enum class rounding_mode : unsigned { floor, ceil, positive_inf, negative_inf, symmetric_inf,
                                      symmetric_zero, conv_even, conv_odd };

inline rounding_mode& current_rounding() {
  static thread_local rounding_mode mode = rounding_mode::conv_even;
  return mode;
}

// aie::set_rounding (aie.hpp:8179: sets the tile's rounding mode for conversions out of
// accumulators).
inline void set_rounding(rounding_mode mode) { current_rounding() = mode; }

// aie::vector<T, N> (vector.hpp): N elements; operator[] reads and writes element idx
// (vector.hpp:292, :306).
template <typename T, unsigned N>
struct vector {
  T data[N];
  T& operator[](unsigned idx) { return data[idx]; }
  const T& operator[](unsigned idx) const { return data[idx]; }
  static constexpr unsigned size() { return N; }
};

template <typename Tag, unsigned N>
struct accum;

// aie::accum<accfloat, N>: N f32 lanes. from_vector (accum.hpp:474) loads a vector (shift 0:
// unchanged); to_vector<T> (accum.hpp:392) converts each lane to T (float: unchanged).
template <unsigned N>
struct accum<accfloat, N> {
  float lanes[N];

  void from_vector(const vector<float, N>& v, int shift = 0) {
    (void)shift;
    for (unsigned i = 0; i < N; ++i) lanes[i] = v[i];
  }

  template <typename T>
  vector<T, N> to_vector(int shift = 0) const {
    (void)shift;
    vector<T, N> out;
    for (unsigned i = 0; i < N; ++i) out[i] = (T)lanes[i];
    return out;
  }
};

// aie::add(acc1, acc2) (aie.hpp:3841): out[i] = acc1[i] + acc2[i] (its documented loop,
// aie.hpp:3830-3832).
template <unsigned N>
inline accum<accfloat, N> add(const accum<accfloat, N>& a, const accum<accfloat, N>& b) {
  accum<accfloat, N> out;
  for (unsigned i = 0; i < N; ++i) out.lanes[i] = a.lanes[i] + b.lanes[i];
  return out;
}

// aie::mmul<M, K, N, TypeA, TypeB, AccumTag> (aie.hpp:6319): C = A x B for an M x K block of A
// and a K x N block of B, both row-major (aie.hpp:6480-6482); mul (aie.hpp:6490) computes the
// first product into the block's accumulator, to_accum (aie.hpp:6448) returns it, row-major.
template <unsigned M, unsigned K, unsigned N, typename TypeA, typename TypeB, typename AccumTag>
struct mmul;

template <unsigned M, unsigned K, unsigned N>
struct mmul<M, K, N, bfloat16, bfloat16, accfloat> {
  accum<accfloat, M * N> c;

  void mul(const vector<bfloat16, M * K>& a, const vector<bfloat16, K * N>& b) {
    for (unsigned r = 0; r < M; ++r)
      for (unsigned t = 0; t < N; ++t) {
        float sum = 0.0f;
        for (unsigned s = 0; s < K; ++s) {
          // Exact: a product of two 8-bit significands fits f32's 24 bits.
          const float product = (float)a[r * K + s] * (float)b[s * N + t];
          sum = sum + product;
        }
        c.lanes[r * N + t] = sum;
      }
  }

  accum<accfloat, M * N> to_accum() const { return c; }
};

// aie::sqrt(a) for a scalar (aie.hpp:7042), which aie_api runs as std::sqrt
// (detail/elementary.hpp:38-39).
inline float sqrt(float a) { return std::sqrt(a); }

}  // namespace aie
