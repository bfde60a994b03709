//! The encoder as a plan of ops with static shapes, built once per model. No arithmetic here:
//! the executor (`exec`) runs each op on a device.
//!
//! OpenAI's `AudioEncoder.forward`: `gelu(conv1(mel))`, `gelu(conv2(x))` (stride 2), `+ positional
//! embedding`, N pre-LayerNorm blocks (`x += attn(attn_ln(x))`, `x += mlp(mlp_ln(x))` with
//! `mlp = fc2(gelu(fc1))`), then `ln_post`.

use crate::mel::WINDOW_FRAMES;
use crate::model::Config;
use crate::model::config::ENCODER_FRAMES;

/// Where an op runs: the ledger's record of each op (after any fallback), and what an NPU
/// device (`npu::dispatch::NpuDevice`) is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OpDevice {
    /// The CPU.
    Cpu,
    /// The NPU simulator.
    NpuSim,
    /// The NPU.
    Npu,
}

impl OpDevice {
    /// `cpu`, `npu-sim` or `npu`, as the ledger prints it.
    pub fn name(self) -> &'static str {
        match self {
            OpDevice::Cpu => "cpu",
            OpDevice::NpuSim => "npu-sim",
            OpDevice::Npu => "npu",
        }
    }
}

/// The six kinds of op; also the names accepted by `--cpu-ops`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OpKind {
    /// conv1/conv2, run as im2col GEMMs.
    Conv,
    /// QKV, out-projection, fc1, fc2.
    Matmul,
    /// Scaled dot-product attention over all heads.
    Attention,
    /// LayerNorm.
    LayerNorm,
    /// GELU.
    Gelu,
    /// Residual and positional adds.
    Add,
}

impl OpKind {
    /// Every kind, in the order of a layer.
    pub const ALL: [OpKind; 6] = [
        OpKind::Conv,
        OpKind::Matmul,
        OpKind::Attention,
        OpKind::LayerNorm,
        OpKind::Gelu,
        OpKind::Add,
    ];

    /// The name `--cpu-ops` and the ledger use.
    pub fn name(self) -> &'static str {
        match self {
            OpKind::Conv => "conv",
            OpKind::Matmul => "matmul",
            OpKind::Attention => "attention",
            OpKind::LayerNorm => "layernorm",
            OpKind::Gelu => "gelu",
            OpKind::Add => "add",
        }
    }
}

/// Activation buffers of one window; the executor owns their storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Buf {
    /// Log-mel input, `[n_mels][3000]` as the front end writes it.
    Mel,
    /// conv1 output, `[3000][d]`.
    Stem,
    /// The residual stream, `[1500][d]`.
    Residual,
    /// LayerNorm output, `[1500][d]`; after the final LayerNorm, the embeddings.
    Normed,
    /// Fused Q|K|V projections, `[1500][3d]`.
    Qkv,
    /// Attention output (heads concatenated), `[1500][d]`.
    Context,
    /// Output of the out-projection or fc2, before the residual add, `[1500][d]`.
    Projected,
    /// MLP hidden layer, `[1500][ffn]`.
    Hidden,
}

/// Weights an op reads; `layer` indexes the encoder blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Weight {
    Conv1,
    Conv2,
    Positions,
    AttnNorm(usize),
    Qkv(usize),
    Out(usize),
    MlpNorm(usize),
    Fc1(usize),
    Fc2(usize),
    FinalNorm,
}

/// What an op computes, with its static shapes.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// `output[t][o] = bias[o] + sum_{c,j} w[o][c][j] * input[c][stride*t + j - 1]`, k = 3.
    Conv {
        input: Buf,
        output: Buf,
        weight: Weight,
        in_channels: usize,
        out_channels: usize,
        in_frames: usize,
        out_frames: usize,
        stride: usize,
    },
    /// `output[rows][n] = input[rows][k] · weight[n][k]^T + bias[n]`.
    Matmul {
        input: Buf,
        output: Buf,
        weight: Weight,
        rows: usize,
        k: usize,
        n: usize,
    },
    /// Softmax(Q K^T / sqrt(head_dim)) V for every head, from the fused QKV buffer.
    Attention {
        qkv: Buf,
        output: Buf,
        heads: usize,
        frames: usize,
        d_model: usize,
    },
    /// Per row: `(x - mean) / sqrt(var + 1e-5) * gamma + beta`.
    LayerNorm {
        input: Buf,
        output: Buf,
        weight: Weight,
        rows: usize,
        cols: usize,
    },
    /// Exact erf GELU in place: `x * 0.5 * (1 + erf(x / sqrt 2))`.
    Gelu { buf: Buf, len: usize },
    /// `target += source` elementwise.
    Add {
        target: Buf,
        source: AddSource,
        len: usize,
    },
}

impl Step {
    /// The buffers the step reads (an in-place step reads its target too).
    pub fn reads(&self) -> Vec<Buf> {
        match *self {
            Step::Conv { input, .. }
            | Step::Matmul { input, .. }
            | Step::LayerNorm { input, .. } => vec![input],
            Step::Attention { qkv, .. } => vec![qkv],
            Step::Gelu { buf, .. } => vec![buf],
            Step::Add { target, source, .. } => match source {
                AddSource::Buf(b) => vec![target, b],
                AddSource::Weight(_) => vec![target],
            },
        }
    }

    /// The buffer the step writes.
    pub fn writes(&self) -> Buf {
        match *self {
            Step::Conv { output, .. }
            | Step::Matmul { output, .. }
            | Step::Attention { output, .. }
            | Step::LayerNorm { output, .. } => output,
            Step::Gelu { buf, .. } => buf,
            Step::Add { target, .. } => target,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddSource {
    Buf(Buf),
    Weight(Weight),
}

/// One op of the plan.
#[derive(Debug, Clone, PartialEq)]
pub struct Op {
    pub kind: OpKind,
    /// The encoder block, or `None` for the stem and the final LayerNorm.
    pub layer: Option<usize>,
    /// A short name unique within its layer: "conv1", "qkv", "attn_ln", "fc1_gelu", ...
    pub name: &'static str,
    pub step: Step,
}

impl Op {
    /// Floating-point operations of one run (multiply-add = 2).
    pub fn flops(&self) -> f64 {
        match &self.step {
            Step::Conv {
                in_channels,
                out_channels,
                out_frames,
                ..
            } => 2.0 * (*out_frames * *out_channels * *in_channels * 3) as f64,
            Step::Matmul { rows, k, n, .. } => 2.0 * (*rows * *k * *n) as f64,
            Step::Attention {
                frames, d_model, ..
            } => 2.0 * 2.0 * (*frames * *frames * *d_model) as f64,
            Step::LayerNorm { rows, cols, .. } => 8.0 * (*rows * *cols) as f64,
            Step::Gelu { len, .. } => 20.0 * *len as f64,
            Step::Add { len, .. } => *len as f64,
        }
    }

    /// "conv [3000x80 -> 3000x512]"-style shape text for the ledger.
    pub fn shape_text(&self) -> String {
        match &self.step {
            Step::Conv {
                in_channels,
                out_channels,
                in_frames,
                out_frames,
                ..
            } => format!("{in_frames}x{in_channels} -> {out_frames}x{out_channels}"),
            Step::Matmul { rows, k, n, .. } => format!("{rows}x{k} · {k}x{n}"),
            Step::Attention {
                heads,
                frames,
                d_model,
                ..
            } => format!("{heads} heads x {frames}x{frames}, d {d_model}"),
            Step::LayerNorm { rows, cols, .. } => format!("{rows}x{cols}"),
            Step::Gelu { len, .. } | Step::Add { len, .. } => format!("{len}"),
        }
    }
}

/// The ops of one encoder window, in execution order.
#[derive(Debug, Clone)]
pub struct Plan {
    pub config: Config,
    /// Encoder blocks in this plan (`--layers` may run fewer than the model has).
    pub layers: usize,
    pub ops: Vec<Op>,
}

impl Plan {
    /// Kept whole: the ops are listed in the order OpenAI's `AudioEncoder.forward` runs them, one
    /// push per op: the listing is the plan's documentation.
    pub fn new(config: &Config, layers: usize) -> Self {
        let d = config.d_model;
        let f = config.encoder_ffn_dim;
        let t = ENCODER_FRAMES;
        let mut ops = vec![
            Op {
                kind: OpKind::Conv,
                layer: None,
                name: "conv1",
                step: Step::Conv {
                    input: Buf::Mel,
                    output: Buf::Stem,
                    weight: Weight::Conv1,
                    in_channels: config.num_mel_bins,
                    out_channels: d,
                    in_frames: WINDOW_FRAMES,
                    out_frames: WINDOW_FRAMES,
                    stride: 1,
                },
            },
            gelu(None, "conv1_gelu", Buf::Stem, WINDOW_FRAMES * d),
            Op {
                kind: OpKind::Conv,
                layer: None,
                name: "conv2",
                step: Step::Conv {
                    input: Buf::Stem,
                    output: Buf::Residual,
                    weight: Weight::Conv2,
                    in_channels: d,
                    out_channels: d,
                    in_frames: WINDOW_FRAMES,
                    out_frames: t,
                    stride: 2,
                },
            },
            gelu(None, "conv2_gelu", Buf::Residual, t * d),
            Op {
                kind: OpKind::Add,
                layer: None,
                name: "positions",
                step: Step::Add {
                    target: Buf::Residual,
                    source: AddSource::Weight(Weight::Positions),
                    len: t * d,
                },
            },
        ];
        for l in 0..layers {
            let layer = Some(l);
            ops.push(layer_norm(layer, "attn_ln", Weight::AttnNorm(l), t, d));
            ops.push(matmul(
                layer,
                "qkv",
                Buf::Normed,
                Buf::Qkv,
                Weight::Qkv(l),
                t,
                d,
                3 * d,
            ));
            ops.push(Op {
                kind: OpKind::Attention,
                layer,
                name: "attention",
                step: Step::Attention {
                    qkv: Buf::Qkv,
                    output: Buf::Context,
                    heads: config.encoder_attention_heads,
                    frames: t,
                    d_model: d,
                },
            });
            ops.push(matmul(
                layer,
                "out_proj",
                Buf::Context,
                Buf::Projected,
                Weight::Out(l),
                t,
                d,
                d,
            ));
            ops.push(residual(layer, "attn_residual", t * d));
            ops.push(layer_norm(layer, "mlp_ln", Weight::MlpNorm(l), t, d));
            ops.push(matmul(
                layer,
                "fc1",
                Buf::Normed,
                Buf::Hidden,
                Weight::Fc1(l),
                t,
                d,
                f,
            ));
            ops.push(gelu(layer, "fc1_gelu", Buf::Hidden, t * f));
            ops.push(matmul(
                layer,
                "fc2",
                Buf::Hidden,
                Buf::Projected,
                Weight::Fc2(l),
                t,
                f,
                d,
            ));
            ops.push(residual(layer, "mlp_residual", t * d));
        }
        ops.push(layer_norm(None, "ln_post", Weight::FinalNorm, t, d));
        Plan {
            config: config.clone(),
            layers,
            ops,
        }
    }

    /// Total floating-point operations of one window.
    pub fn flops(&self) -> f64 {
        self.ops.iter().map(Op::flops).sum()
    }
}

fn gelu(layer: Option<usize>, name: &'static str, buf: Buf, len: usize) -> Op {
    Op {
        kind: OpKind::Gelu,
        layer,
        name,
        step: Step::Gelu { buf, len },
    }
}

fn layer_norm(
    layer: Option<usize>,
    name: &'static str,
    weight: Weight,
    rows: usize,
    cols: usize,
) -> Op {
    Op {
        kind: OpKind::LayerNorm,
        layer,
        name,
        step: Step::LayerNorm {
            input: Buf::Residual,
            output: Buf::Normed,
            weight,
            rows,
            cols,
        },
    }
}

#[allow(clippy::too_many_arguments)]
fn matmul(
    layer: Option<usize>,
    name: &'static str,
    input: Buf,
    output: Buf,
    weight: Weight,
    rows: usize,
    k: usize,
    n: usize,
) -> Op {
    Op {
        kind: OpKind::Matmul,
        layer,
        name,
        step: Step::Matmul {
            input,
            output,
            weight,
            rows,
            k,
            n,
        },
    }
}

fn residual(layer: Option<usize>, name: &'static str, len: usize) -> Op {
    Op {
        kind: OpKind::Add,
        layer,
        name,
        step: Step::Add {
            target: Buf::Residual,
            source: AddSource::Buf(Buf::Projected),
            len,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_plan_has_stem_ten_ops_per_layer_and_final_norm() {
        let plan = Plan::new(&Config::standard(80, 512, 6), 6);
        assert_eq!(plan.ops.len(), 5 + 10 * 6 + 1);
        // The plan's arithmetic matches the config's closed-form count (LN/GELU/add are extra).
        let gemm_flops: f64 = plan
            .ops
            .iter()
            .filter(|o| matches!(o.kind, OpKind::Conv | OpKind::Matmul | OpKind::Attention))
            .map(Op::flops)
            .sum();
        let expected = plan.config.encoder_flops();
        assert!((gemm_flops - expected).abs() / expected < 1e-9);
    }

    #[test]
    fn the_last_op_writes_the_embeddings_to_normed() {
        let plan = Plan::new(&Config::standard(80, 384, 4), 2);
        let last = plan.ops.last().unwrap();
        assert!(matches!(
            last.step,
            Step::LayerNorm {
                output: Buf::Normed,
                ..
            }
        ));
        assert_eq!(plan.layers, 2);
    }
}
