//! The CPU backend: f32 weights arranged once per model, and `run` for each plan step.

use crate::encoder::{AddSource, Buf, Step, Weight};
use crate::error::Result;
use crate::kernels::gemm::Epilogue;
use crate::kernels::{attention, bf16, gemm, rows};
use crate::model::weights::{read_conv_row, read_stacked_row};
use crate::model::{Config, EncoderWeights, Tensor};
use rayon::prelude::*;

use super::Buffers;
pub use crate::kernels::layers::{Arithmetic, Arranged, Linear, Norm};

#[derive(Debug, Clone)]
pub struct CpuLayer {
    pub attn_norm: Norm,
    /// Q, K, V stacked into one `[3d][d]` projection; the K bias is zero.
    pub qkv: Linear,
    pub out: Linear,
    pub mlp_norm: Norm,
    pub fc1: Linear,
    pub fc2: Linear,
}

/// Encoder weights arranged for the CPU kernels.
#[derive(Debug, Clone)]
pub struct CpuWeights {
    /// conv weights rearranged from PyTorch's `[out][in][3]` to `[out][3][in]` so that im2col rows
    /// are three contiguous frame copies.
    pub conv1: Linear,
    pub conv2: Linear,
    pub positions: Vec<f32>,
    pub layers: Vec<CpuLayer>,
    pub final_norm: Norm,
    /// The arithmetic of the GEMMs and the attention.
    pub precision: Arithmetic,
}

impl CpuWeights {
    /// Arrange `weights` for `precision` (bf16 needs `cpu_features::has_avx512_bf16()`), one tensor at a
    /// time, releasing each stored tensor's pages once it is arranged.
    pub fn new(config: &Config, weights: &EncoderWeights, precision: Arithmetic) -> Result<Self> {
        let d = config.d_model;
        let f = config.encoder_ffn_dim;
        let values = |t: &Tensor| -> Result<Vec<f32>> {
            let v = t.to_f32()?.into_owned();
            t.release();
            Ok(v)
        };
        let norm = |g: &Tensor, b: &Tensor| -> Result<Norm> {
            Ok(Norm {
                gamma: values(g)?,
                beta: values(b)?,
            })
        };
        let linear = |w: &Tensor, b: &Tensor, n: usize, k: usize| -> Result<Linear> {
            let arranged =
                Linear::from_rows(n, k, values(b)?, precision, |j, row| w.read_row(j, k, row))?;
            w.release();
            Ok(arranged)
        };
        let conv = |w: &Tensor, b: &Tensor, input: usize| -> Result<Linear> {
            let mut scratch = vec![0.0; 3 * input];
            let arranged = Linear::from_rows(d, 3 * input, values(b)?, precision, |o, row| {
                read_conv_row(w, o, row, &mut scratch)
            })?;
            w.release();
            Ok(arranged)
        };
        let layer = |l: &crate::model::LayerWeights| -> Result<CpuLayer> {
            let qkv_parts = [&l.query_weight, &l.key_weight, &l.value_weight];
            let qkv_bias = crate::model::fused_attention_bias(
                Some(values(&l.query_bias)?),
                values(&l.value_bias)?,
            );
            let qkv = Linear::from_rows(3 * d, d, qkv_bias, precision, |j, row| {
                read_stacked_row(&qkv_parts, d, j, row)
            })?;
            qkv_parts.iter().for_each(|t| t.release());
            Ok(CpuLayer {
                attn_norm: norm(&l.attn_norm_gamma, &l.attn_norm_beta)?,
                qkv,
                out: linear(&l.out_weight, &l.out_bias, d, d)?,
                mlp_norm: norm(&l.mlp_norm_gamma, &l.mlp_norm_beta)?,
                fc1: linear(&l.fc1_weight, &l.fc1_bias, f, d)?,
                fc2: linear(&l.fc2_weight, &l.fc2_bias, d, f)?,
            })
        };
        Ok(CpuWeights {
            conv1: conv(
                &weights.conv1_weight,
                &weights.conv1_bias,
                config.num_mel_bins,
            )?,
            conv2: conv(&weights.conv2_weight, &weights.conv2_bias, d)?,
            positions: values(&weights.positions)?,
            // Layers in parallel: the weight transposes or packing are most of the load-time work.
            layers: weights
                .layers
                .par_iter()
                .map(layer)
                .collect::<Result<_>>()?,
            final_norm: norm(&weights.final_norm_gamma, &weights.final_norm_beta)?,
            precision,
        })
    }

    fn linear(&self, weight: Weight) -> &Linear {
        match weight {
            Weight::Conv1 => &self.conv1,
            Weight::Conv2 => &self.conv2,
            Weight::Qkv(l) => &self.layers[l].qkv,
            Weight::Out(l) => &self.layers[l].out,
            Weight::Fc1(l) => &self.layers[l].fc1,
            Weight::Fc2(l) => &self.layers[l].fc2,
            other => panic!("{other:?} is not a linear weight"),
        }
    }

    fn norm(&self, weight: Weight) -> &Norm {
        match weight {
            Weight::AttnNorm(l) => &self.layers[l].attn_norm,
            Weight::MlpNorm(l) => &self.layers[l].mlp_norm,
            Weight::FinalNorm => &self.final_norm,
            other => panic!("{other:?} is not a LayerNorm weight"),
        }
    }
}

/// The op after a GEMM that the GEMM's epilogue performs instead (see `fusion`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fused {
    /// Nothing fused: `out = x·W + b`.
    Nothing,
    /// The GELU in place on the GEMM's output that follows.
    Gelu,
    /// The `target += output` that follows: the GEMM adds into `target` directly and never
    /// writes its own output buffer.
    AccumulateInto(Buf),
}

impl Fused {
    fn epilogue(self) -> Epilogue {
        match self {
            Fused::Nothing => Epilogue::Bias,
            Fused::Gelu => Epilogue::BiasGelu,
            Fused::AccumulateInto(_) => Epilogue::BiasAccumulate,
        }
    }
}

/// What the CPU can fold of `next` into `op`'s GEMM, given the ops after `next` (the folded
/// add skips writing `op`'s output buffer, so that buffer must be rewritten before any later
/// op reads it).
pub fn fusion<'a>(
    op: &Step,
    next: &Step,
    later: impl IntoIterator<Item = &'a Step>,
) -> Option<Fused> {
    let output = match *op {
        Step::Conv { output, .. } | Step::Matmul { output, .. } => output,
        _ => return None,
    };
    match *next {
        Step::Gelu { buf, .. } if buf == output => Some(Fused::Gelu),
        Step::Matmul { .. } | Step::Conv { .. } => None,
        Step::Add {
            target,
            source: AddSource::Buf(source),
            ..
        } if source == output && target != output && matches!(op, Step::Matmul { .. }) => {
            let dead = later
                .into_iter()
                .find_map(|s| {
                    if s.reads().contains(&output) {
                        Some(false)
                    } else if s.writes() == output {
                        Some(true)
                    } else {
                        None
                    }
                })
                .unwrap_or(true);
            dead.then_some(Fused::AccumulateInto(target))
        }
        _ => None,
    }
}

/// Run one step of the plan on the CPU.
pub fn run(step: &Step, weights: &CpuWeights, buffers: &mut Buffers) {
    run_fused(step, Fused::Nothing, weights, buffers)
}

/// Run one GEMM step with the op after it folded into its epilogue (`Fused::Nothing`: any step).
///
/// Kept whole: one match over the six step kinds, each arm a few kernel calls on its buffers;
/// a function per arm would only move the buffer borrowing apart from the kernel it feeds.
pub fn run_fused(step: &Step, fused: Fused, weights: &CpuWeights, buffers: &mut Buffers) {
    let epilogue = fused.epilogue();
    match *step {
        Step::Conv {
            input,
            output,
            weight,
            in_channels,
            in_frames,
            out_frames,
            stride,
            ..
        } => {
            let linear = weights.linear(weight);
            let mut out = buffers.take(output);
            let mut cols = std::mem::take(&mut buffers.im2col);
            let mut pairs = std::mem::take(&mut buffers.bf16_pairs);
            cols.resize(out_frames * 3 * in_channels, 0.0);
            if input == Buf::Mel {
                // The front end writes [n_mels][3000]; convolution wants frames first.
                let mut frames = std::mem::take(&mut buffers.mel_frames);
                gemm::transpose_into(buffers.get(Buf::Mel), in_channels, in_frames, &mut frames);
                buffers.mel_frames = frames;
            }
            let source = if input == Buf::Mel {
                &buffers.mel_frames
            } else {
                buffers.get(input)
            };
            match &linear.weight {
                Arranged::Bf16(packed) => {
                    gemm::im2col_k3_par(&mut cols, source, in_frames, in_channels, stride);
                    bf16::matmul_fused_par(
                        &mut out,
                        &cols,
                        packed,
                        &linear.bias,
                        out_frames,
                        epilogue,
                        &mut pairs,
                    );
                }
                Arranged::F32(weight_kn) => gemm::conv1d_k3_par(
                    &mut out,
                    &mut cols,
                    source,
                    weight_kn,
                    &linear.bias,
                    in_frames,
                    in_channels,
                    out_frames,
                    stride,
                    epilogue,
                ),
            }
            buffers.im2col = cols;
            buffers.bf16_pairs = pairs;
            buffers.put(output, out);
        }
        Step::Matmul {
            input,
            output,
            weight,
            rows,
            k,
            n,
        } => {
            let linear = weights.linear(weight);
            let destination = match fused {
                Fused::AccumulateInto(target) => target,
                _ => output,
            };
            let mut out = buffers.take(destination);
            match &linear.weight {
                Arranged::Bf16(packed) => {
                    let mut pairs = std::mem::take(&mut buffers.bf16_pairs);
                    bf16::matmul_fused_par(
                        &mut out,
                        buffers.get(input),
                        packed,
                        &linear.bias,
                        rows,
                        epilogue,
                        &mut pairs,
                    );
                    buffers.bf16_pairs = pairs;
                }
                Arranged::F32(weight_kn) => gemm::matmul_fused_par(
                    &mut out,
                    buffers.get(input),
                    weight_kn,
                    &linear.bias,
                    rows,
                    k,
                    n,
                    epilogue,
                ),
            }
            buffers.put(destination, out);
        }
        Step::Attention {
            qkv,
            output,
            heads,
            frames,
            d_model,
        } => {
            let mut out = buffers.take(output);
            if weights.precision == Arithmetic::Bf16 {
                let mut scratch = std::mem::take(&mut buffers.bf16_attention);
                bf16::attention_par(
                    &mut out,
                    buffers.get(qkv),
                    heads,
                    frames,
                    d_model,
                    &mut scratch,
                );
                buffers.bf16_attention = scratch;
            } else {
                attention::attention_par(
                    &mut out,
                    buffers.get(qkv),
                    heads,
                    frames,
                    d_model,
                    &buffers.attention_scratch,
                );
            }
            buffers.put(output, out);
        }
        Step::LayerNorm {
            input,
            output,
            weight,
            cols,
            ..
        } => {
            let norm = weights.norm(weight);
            let mut out = buffers.take(output);
            rows::layer_norm_par(&mut out, buffers.get(input), &norm.gamma, &norm.beta, cols);
            buffers.put(output, out);
        }
        Step::Gelu { buf, .. } => rows::gelu_par(buffers.get_mut(buf)),
        Step::Add { target, source, .. } => {
            let mut out = buffers.take(target);
            match source {
                AddSource::Buf(b) => rows::add_par(&mut out, buffers.get(b)),
                AddSource::Weight(Weight::Positions) => rows::add_par(&mut out, &weights.positions),
                AddSource::Weight(other) => panic!("cannot add weight {other:?}"),
            }
            buffers.put(target, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoder::{OpKind, Plan};
    use crate::model::Config;

    fn fusions(plan: &Plan) -> Vec<(&'static str, &'static str, Fused)> {
        let steps: Vec<Step> = plan.ops.iter().map(|op| op.step.clone()).collect();
        (0..steps.len() - 1)
            .filter_map(|i| {
                fusion(&steps[i], &steps[i + 1], &steps[i + 2..])
                    .map(|f| (plan.ops[i].name, plan.ops[i + 1].name, f))
            })
            .collect()
    }

    #[test]
    fn gelus_and_residual_adds_fold_into_the_gemm_before_them() {
        let plan = Plan::new(&Config::standard(80, 512, 6), 1);
        let found = fusions(&plan);
        let names: Vec<_> = found.iter().map(|(a, b, _)| format!("{a}+{b}")).collect();
        assert_eq!(
            names,
            [
                "conv1+conv1_gelu",
                "conv2+conv2_gelu",
                "out_proj+attn_residual",
                "fc1+fc1_gelu",
                "fc2+mlp_residual"
            ]
        );
        assert!(found.iter().all(|(_, b, f)| match f {
            Fused::Gelu => b.ends_with("gelu"),
            Fused::AccumulateInto(target) => *target == Buf::Residual,
            Fused::Nothing => false,
        }));
        assert!(plan.ops.iter().any(|op| op.kind == OpKind::Add));
    }

    #[test]
    fn an_add_is_not_folded_when_a_later_op_reads_the_skipped_output() {
        let matmul = Step::Matmul {
            input: Buf::Normed,
            output: Buf::Projected,
            weight: Weight::Out(0),
            rows: 4,
            k: 4,
            n: 4,
        };
        let add = Step::Add {
            target: Buf::Residual,
            source: AddSource::Buf(Buf::Projected),
            len: 16,
        };
        let reader = Step::Gelu {
            buf: Buf::Projected,
            len: 16,
        };
        assert_eq!(fusion(&matmul, &add, &[reader]), None);
        assert_eq!(
            fusion(&matmul, &add, &[]),
            Some(Fused::AccumulateInto(Buf::Residual))
        );
    }
}
