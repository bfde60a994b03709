//! The arithmetic the encoder and the decoder share, on plain slices so each kernel is tested
//! on its own. Names say what differs: `_par` kernels split their work across the rayon pool
//! (whole 30 s windows); the others run on the calling thread (the decoder's few rows per
//! token, where waking the pool costs more than the work). The NPU simulator models the
//! device's own kernels and uses none of these.
//!
//! - `gemm`: f32 GEMM with bias and fused epilogues, the weight transpose, the kernel-3
//!   convolution as im2col + GEMM;
//! - `bf16`: the bf16 GEMM (`vdpbf16ps`), its weight packers, the bf16 attention;
//! - `half`: products of a few rows with f16 weights, and single-query attention (the decoder);
//! - `attention`: f32 multi-head self-attention over a window, the row softmax;
//! - `rows`: LayerNorm, GELU, adds;
//! - `layers`: a linear layer arranged for its arithmetic, LayerNorm's parameters;
//! - `math`: vectorisable `exp`, `erf`, GELU.

pub mod attention;
pub mod bf16;
pub mod gemm;
pub mod half;
pub mod layers;
pub mod math;
pub mod rows;
