//! One op-level suite, run against every backend (cpu, npu-sim) with the same inputs, each
//! compared with a float64 reference written here from the op's definition.

use super::common;

use crate::encoder::{AddSource, Buf, OpKind, Plan, Step, Weight};
use crate::exec::cpu::{self, CpuWeights};
use crate::exec::npu_adapter::NpuAdapter;
use crate::exec::{Arithmetic, Buffers};
use crate::model::{EncoderModel, EncoderWeights, Tensor};
use crate::npu::calls::plan_calls;
use crate::npu::prepare::PreparedWeights;
use crate::npu::sim::Simulator;
use common::fixture;

struct Rng(u64);
impl Rng {
    fn f32(&mut self) -> f32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) % 20001) as f32 / 10000.0 - 1.0
    }
}

struct Fixture {
    model: EncoderModel,
    plan: Plan,
    cpu: CpuWeights,
    npu: NpuAdapter,
    buffers: Buffers,
}

fn setup() -> Fixture {
    let model = EncoderModel::load(&fixture("models/tiny-random-hf"), None).unwrap();
    let plan = Plan::new(&model.config, model.encoder.layers.len());
    let mut buffers = Buffers::new(&plan);
    let mut rng = Rng(42);
    for buf in [
        Buf::Mel,
        Buf::Stem,
        Buf::Residual,
        Buf::Normed,
        Buf::Qkv,
        Buf::Context,
        Buf::Projected,
        Buf::Hidden,
    ] {
        let scale = if buf == Buf::Qkv { 2.0 } else { 1.0 };
        for v in buffers.get_mut(buf) {
            *v = rng.f32() * scale;
        }
    }
    Fixture {
        cpu: CpuWeights::new(&model.config, &model.encoder, Arithmetic::F32).unwrap(),
        npu: NpuAdapter {
            device: Box::new(Simulator),
            prepared: PreparedWeights::new(&model.config, &model.encoder).unwrap(),
            fault: None,
        },
        model,
        plan,
        buffers,
    }
}

/// Run op `index` alone on the CPU (`npu` None) or through the NPU adapter's device; return its
/// output buffer's values.
fn run(f: &Fixture, index: usize, npu: Option<&NpuAdapter>) -> (Buf, Vec<f32>) {
    let mut b = f.buffers.clone();
    let out = match npu {
        None => {
            cpu::run(&f.plan.ops[index].step, &f.cpu, &mut b);
            f.plan.ops[index].step.writes()
        }
        Some(adapter) => {
            let mut on_npu = vec![false; f.plan.ops.len()];
            on_npu[index] = true;
            let calls = plan_calls(&f.plan, &on_npu);
            assert_eq!(calls.len(), 1);
            adapter.run(&f.plan, &calls[0], &mut b).unwrap()
        }
    };
    (out, b.get(out).to_vec())
}

/// The name of where `run` runs an op.
fn device_name(npu: Option<&NpuAdapter>) -> &'static str {
    npu.map_or(crate::exec::OpDevice::Cpu, |a| a.device.placement())
        .name()
}

fn gelu64(x: f64) -> f64 {
    0.5 * x * (1.0 + libm::erf(x / std::f64::consts::SQRT_2))
}

/// The float64 reference of op `index` on the fixture's buffers.
fn reference(f: &Fixture, index: usize) -> Vec<f64> {
    let e: &EncoderWeights = &f.model.encoder;
    let v = |t: &Tensor| -> Vec<f32> { t.to_f32().unwrap().into_owned() };
    let b = |buf: Buf| {
        f.buffers
            .get(buf)
            .iter()
            .map(|&v| v as f64)
            .collect::<Vec<f64>>()
    };
    match f.plan.ops[index].step {
        Step::Conv {
            input,
            weight,
            in_channels: c,
            out_channels: o,
            in_frames,
            out_frames,
            stride,
            ..
        } => {
            let (w, bias) = match weight {
                Weight::Conv1 => (v(&e.conv1_weight), v(&e.conv1_bias)),
                _ => (v(&e.conv2_weight), v(&e.conv2_bias)),
            };
            let x = b(input);
            // Mel is channel-major [c][t]; the stem output is frames-first [t][c].
            let at = |ch: usize, t: usize| {
                if input == Buf::Mel {
                    x[ch * in_frames + t]
                } else {
                    x[t * c + ch]
                }
            };
            let mut out = vec![0.0; out_frames * o];
            for t in 0..out_frames {
                for oo in 0..o {
                    let mut acc = bias[oo] as f64;
                    for ch in 0..c {
                        for j in 0..3 {
                            let s = (stride * t + j) as isize - 1;
                            if s >= 0 && (s as usize) < in_frames {
                                acc += w[oo * c * 3 + ch * 3 + j] as f64 * at(ch, s as usize);
                            }
                        }
                    }
                    out[t * o + oo] = acc;
                }
            }
            out
        }
        Step::Matmul {
            input,
            weight,
            rows,
            k,
            n,
            ..
        } => {
            let l = match weight {
                Weight::Qkv(l) | Weight::Out(l) | Weight::Fc1(l) | Weight::Fc2(l) => l,
                _ => unreachable!(),
            };
            let layer = &e.layers[l];
            let (w, bias): (Vec<f32>, Vec<f32>) = match weight {
                Weight::Qkv(_) => (
                    [
                        v(&layer.query_weight),
                        v(&layer.key_weight),
                        v(&layer.value_weight),
                    ]
                    .concat(),
                    [v(&layer.query_bias), vec![0.0; k], v(&layer.value_bias)].concat(),
                ),
                Weight::Out(_) => (v(&layer.out_weight), v(&layer.out_bias)),
                Weight::Fc1(_) => (v(&layer.fc1_weight), v(&layer.fc1_bias)),
                _ => (v(&layer.fc2_weight), v(&layer.fc2_bias)),
            };
            let x = b(input);
            let mut out = vec![0.0; rows * n];
            for i in 0..rows {
                for j in 0..n {
                    out[i * n + j] = bias[j] as f64
                        + (0..k)
                            .map(|kk| x[i * k + kk] * w[j * k + kk] as f64)
                            .sum::<f64>();
                }
            }
            out
        }
        Step::Attention {
            qkv,
            heads,
            frames,
            d_model: d,
            ..
        } => {
            let x = b(qkv);
            let hd = d / heads;
            let mut out = vec![0.0; frames * d];
            for h in 0..heads {
                for i in 0..frames {
                    let s: Vec<f64> = (0..frames)
                        .map(|j| {
                            (0..hd)
                                .map(|c| x[i * 3 * d + h * hd + c] * x[j * 3 * d + d + h * hd + c])
                                .sum::<f64>()
                                / (hd as f64).sqrt()
                        })
                        .collect();
                    let max = s.iter().cloned().fold(f64::MIN, f64::max);
                    let p: Vec<f64> = s.iter().map(|v| (v - max).exp()).collect();
                    let sum: f64 = p.iter().sum();
                    for c in 0..hd {
                        out[i * d + h * hd + c] = (0..frames)
                            .map(|j| p[j] / sum * x[j * 3 * d + 2 * d + h * hd + c])
                            .sum::<f64>();
                    }
                }
            }
            out
        }
        Step::LayerNorm {
            input,
            weight,
            cols,
            ..
        } => {
            let (g, bt) = match weight {
                Weight::AttnNorm(l) => (&e.layers[l].attn_norm_gamma, &e.layers[l].attn_norm_beta),
                Weight::MlpNorm(l) => (&e.layers[l].mlp_norm_gamma, &e.layers[l].mlp_norm_beta),
                _ => (&e.final_norm_gamma, &e.final_norm_beta),
            };
            let (g, bt) = (&v(g), &v(bt));
            b(input)
                .chunks(cols)
                .flat_map(|row| {
                    let mean = row.iter().sum::<f64>() / cols as f64;
                    let var = row.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / cols as f64;
                    row.iter()
                        .enumerate()
                        .map(move |(j, v)| {
                            (v - mean) / (var + 1e-5).sqrt() * g[j] as f64 + bt[j] as f64
                        })
                        .collect::<Vec<_>>()
                })
                .collect()
        }
        Step::Gelu { buf, .. } => b(buf).into_iter().map(gelu64).collect(),
        Step::Add { target, source, .. } => {
            let src: Vec<f64> = match source {
                AddSource::Buf(s) => b(s),
                AddSource::Weight(_) => v(&e.positions).iter().map(|&x| x as f64).collect(),
            };
            b(target).iter().zip(&src).map(|(a, s)| a + s).collect()
        }
    }
}

fn stats(got: &[f32], want: &[f64]) -> (f64, f64, f64) {
    assert_eq!(got.len(), want.len());
    let (mut dot, mut na, mut nb, mut max_abs, mut scale) = (0.0, 0.0, 0.0, 0.0f64, 0.0f64);
    for (&g, &w) in got.iter().zip(want) {
        let g = g as f64;
        dot += g * w;
        na += g * g;
        nb += w * w;
        max_abs = max_abs.max((g - w).abs());
        scale = scale.max(w.abs());
    }
    (dot / (na.sqrt() * nb.sqrt()), max_abs, scale)
}

#[test]
fn every_op_kind_matches_float64_on_every_backend() {
    let f = setup();
    let pick = |name: &str, layer: Option<usize>| {
        f.plan
            .ops
            .iter()
            .position(|o| o.name == name && o.layer == layer)
            .unwrap()
    };
    let cases = [
        (OpKind::Conv, pick("conv1", None)),
        (OpKind::Conv, pick("conv2", None)),
        (OpKind::Matmul, pick("qkv", Some(0))),
        (OpKind::Matmul, pick("fc2", Some(1))),
        (OpKind::Attention, pick("attention", Some(0))),
        (OpKind::LayerNorm, pick("attn_ln", Some(0))),
        (OpKind::LayerNorm, pick("ln_post", None)),
        (OpKind::Gelu, pick("fc1_gelu", Some(0))),
        (OpKind::Add, pick("attn_residual", Some(0))),
        (OpKind::Add, pick("positions", None)),
    ];
    for (kind, index) in cases {
        assert_eq!(f.plan.ops[index].kind, kind);
        let want = reference(&f, index);
        for npu in [None, Some(&f.npu)] {
            let backend = device_name(npu);
            let (_, got) = run(&f, index, npu);
            let (cos, max_abs, scale) = stats(&got, &want);
            let name = f.plan.ops[index].name;
            eprintln!(
                "{name:<13} {backend}: cosine {cos:.7}, max |diff| {max_abs:.2e} (scale {scale:.2})"
            );
            let (min_cos, max_rel) = match npu {
                None => (0.999_999, 1e-5),
                // bf16 inputs and outputs: ~3 significant digits.
                Some(_) => (0.999_5, 2e-2),
            };
            assert!(cos >= min_cos, "{name} on {backend}: cosine {cos}");
            assert!(
                max_abs <= max_rel * scale.max(1.0),
                "{name} on {backend}: max |diff| {max_abs}"
            );
        }
    }
}
