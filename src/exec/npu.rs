//! The thin adapter between the executor and the NPU wing: packs host activations into the
//! call's device buffers, runs the call on a device (the simulator here), checks the result and
//! unpacks it. The executor decides what to do when a call fails (fall back, or stop).

use std::borrow::Cow;

use super::Buffers;
use crate::encoder::{AddSource, Buf, Plan, Step, Weight};
use crate::npu::calls::{Call, CallShape, GemmInput, gemm_input};
use crate::npu::layout::{Dtype, pack_rows, unpack_rows};
use crate::npu::prepare::PreparedWeights;
use crate::npu::sim;

/// A documented test hook: `NPU_WHISPER_FAULT=NAME[@LAYER]=error|zeros|nan` makes the NPU call
/// covering op NAME (in LAYER, or in every layer) fail, return zeros or return NaN, so that the
/// per-op fallback can be exercised without hardware.
pub const FAULT_ENV: &str = "NPU_WHISPER_FAULT";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    Error,
    Zeros,
    Nan,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub op: String,
    pub layer: Option<usize>,
    pub kind: FaultKind,
}

impl Fault {
    /// Parse `NAME[@LAYER]=error|zeros|nan`.
    pub fn parse(spec: &str) -> Result<Self, String> {
        let bad = || format!("{FAULT_ENV}={spec}: expected NAME[@LAYER]=error|zeros|nan");
        let (target, kind) = spec.split_once('=').ok_or_else(bad)?;
        let kind = match kind {
            "error" => FaultKind::Error,
            "zeros" => FaultKind::Zeros,
            "nan" => FaultKind::Nan,
            _ => return Err(bad()),
        };
        let (op, layer) = match target.split_once('@') {
            Some((op, layer)) => (op, Some(layer.parse().map_err(|_| bad())?)),
            None => (target, None),
        };
        Ok(Fault {
            op: op.to_string(),
            layer,
            kind,
        })
    }
}

#[cfg(feature = "xrt")]
/// How long one NPU run may take before it counts as failed (and falls back).
pub const RUN_TIMEOUT_MS: u32 = 5_000;

/// The device the adapter hands calls to.
pub enum Backend {
    /// The software model of our kernels.
    Sim,
    /// The real NPU through XRT (feature `xrt`). One hardware context serves every request of
    /// a shared encoder, one call at a time: the session's instruction-stream cache is not
    /// meant for concurrent use, and the device runs one call of a context at a time anyway.
    #[cfg(feature = "xrt")]
    Xrt(Box<std::sync::Mutex<crate::npu::xrt::XrtSession>>),
}

/// What a successful call returns: the unpacked output, to be written by the executor.
pub struct CallResult {
    pub output: Buf,
    pub values: Vec<f32>,
}

pub struct NpuAdapter {
    pub backend: Backend,
    pub prepared: PreparedWeights,
    pub fault: Option<Fault>,
}

impl NpuAdapter {
    /// Run `call` against the host buffers; on success return the output (not yet written).
    pub fn run(&self, plan: &Plan, call: &Call, buffers: &Buffers) -> Result<CallResult, String> {
        let op = &plan.ops[call.ops[0]];
        let last = &plan.ops[*call.ops.last().expect("calls cover ops")];
        let (mut args, output, out_rows, out_cols, out_cols_p, out_dtype, input_nonzero) =
            self.marshal(plan, call, buffers)?;
        match &self.backend {
            Backend::Sim => sim::run(call, &mut args)?,
            #[cfg(feature = "xrt")]
            Backend::Xrt(session) => session
                .lock()
                .map_err(|_| "an earlier NPU call panicked while holding the session".to_string())?
                .run(call, &mut args, RUN_TIMEOUT_MS)?,
        }
        let out_index = call
            .args
            .buffers
            .iter()
            .position(|b| b.direction != crate::npu::calls::Direction::Input)
            .expect("every kernel has an output");
        let mut values = vec![0.0f32; out_rows * out_cols];
        unpack_rows(
            &args[out_index],
            out_rows,
            out_cols,
            out_cols_p,
            out_dtype,
            &mut values,
        );
        if let Some(fault) = &self.fault
            && (fault.op == op.name || fault.op == last.name)
            && (fault.layer.is_none() || fault.layer == op.layer)
        {
            match fault.kind {
                FaultKind::Error => return Err(format!("injected fault ({FAULT_ENV})")),
                FaultKind::Zeros => values.fill(0.0),
                FaultKind::Nan => values.fill(f32::NAN),
            }
        }
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(format!("non-finite output (element {i} is {})", values[i]));
        }
        if input_nonzero && values.iter().all(|&v| v == 0.0) {
            return Err("all-zero output from a non-zero input".to_string());
        }
        Ok(CallResult { output, values })
    }

    /// Build the device buffers of a call from host activations and resident weights.
    #[allow(clippy::type_complexity)]
    fn marshal<'a>(
        &'a self,
        plan: &Plan,
        call: &Call,
        buffers: &Buffers,
    ) -> Result<(Vec<Cow<'a, [u8]>>, Buf, usize, usize, usize, Dtype, bool), String> {
        let op = &plan.ops[call.ops[0]];
        let zeros = |bytes: usize| Cow::Owned(vec![0u8; bytes]);
        let sizes: Vec<usize> = call.args.buffers.iter().map(|b| b.bytes).collect();
        match (call.shape, &op.step) {
            (CallShape::Gemm(shape), _) => {
                let (input, _) = gemm_input(op).ok_or("not a GEMM op")?;
                let weight = match op.step {
                    Step::Conv { weight, .. } | Step::Matmul { weight, .. } => weight,
                    _ => unreachable!("gemm_input matched"),
                };
                let w = self
                    .prepared
                    .gemms
                    .get(&weight)
                    .ok_or_else(|| format!("no prepared weights for {weight:?}"))?;
                let a_f32 = gemm_a(input, shape.m, shape.k, buffers);
                let nonzero = a_f32.iter().any(|&v| v != 0.0);
                let a = pack_rows(&a_f32, shape.m, shape.k, shape.mp, shape.kp, Dtype::Bf16);
                let output = match op.step {
                    Step::Conv { output, .. } | Step::Matmul { output, .. } => output,
                    _ => unreachable!(),
                };
                let (c, out_buf, out_dtype) = match call.kernel {
                    "gemm_bias_residual" => (
                        Cow::Owned(pack_rows(
                            buffers.get(Buf::Residual),
                            shape.m,
                            shape.n,
                            shape.mp,
                            shape.np,
                            Dtype::F32,
                        )),
                        Buf::Residual,
                        Dtype::F32,
                    ),
                    "gemm_bias_gelu_f32" => (zeros(sizes[3]), output, Dtype::F32),
                    _ => (zeros(sizes[3]), output, Dtype::Bf16),
                };
                Ok((
                    vec![
                        Cow::Owned(a),
                        Cow::Borrowed(&w.b[..]),
                        Cow::Borrowed(&w.bias[..]),
                        c,
                    ],
                    out_buf,
                    shape.m,
                    shape.n,
                    shape.np,
                    out_dtype,
                    nonzero,
                ))
            }
            (
                CallShape::Attention {
                    frames,
                    frames_p,
                    d_model,
                    ..
                },
                Step::Attention { qkv, output, .. },
            ) => {
                let host = buffers.get(*qkv);
                let nonzero = host.iter().any(|&v| v != 0.0);
                let packed = pack_rows(
                    host,
                    frames,
                    3 * d_model,
                    frames_p,
                    3 * d_model,
                    Dtype::Bf16,
                );
                Ok((
                    vec![Cow::Owned(packed), zeros(sizes[1])],
                    *output,
                    frames,
                    d_model,
                    d_model,
                    Dtype::Bf16,
                    nonzero,
                ))
            }
            (
                CallShape::Rows { rows, cols },
                Step::LayerNorm {
                    input,
                    output,
                    weight,
                    ..
                },
            ) => {
                let host = buffers.get(*input);
                let norm = self
                    .prepared
                    .norms
                    .get(weight)
                    .ok_or_else(|| format!("no prepared weights for {weight:?}"))?;
                let dtype = if call.kernel == "layernorm" {
                    Dtype::Bf16
                } else {
                    Dtype::F32
                };
                Ok((
                    vec![
                        Cow::Owned(pack_rows(host, rows, cols, rows, cols, Dtype::F32)),
                        Cow::Borrowed(&norm[..]),
                        zeros(sizes[2]),
                    ],
                    *output,
                    rows,
                    cols,
                    cols,
                    dtype,
                    host.iter().any(|&v| v != 0.0),
                ))
            }
            (CallShape::Elements { len }, Step::Gelu { buf, .. }) => {
                let host = buffers.get(*buf);
                Ok((
                    vec![
                        Cow::Owned(pack_rows(host, 1, len, 1, len, Dtype::Bf16)),
                        zeros(sizes[1]),
                    ],
                    *buf,
                    1,
                    len,
                    len,
                    Dtype::Bf16,
                    host.iter().any(|&v| v != 0.0),
                ))
            }
            (CallShape::Elements { len }, Step::Add { target, source, .. }) => {
                let host = buffers.get(*target);
                let b: Cow<'a, [u8]> = match source {
                    AddSource::Buf(b) => {
                        Cow::Owned(pack_rows(buffers.get(*b), 1, len, 1, len, Dtype::F32))
                    }
                    AddSource::Weight(Weight::Positions) => {
                        Cow::Borrowed(&self.prepared.positions[..])
                    }
                    AddSource::Weight(other) => return Err(format!("cannot add weight {other:?}")),
                };
                Ok((
                    vec![Cow::Owned(pack_rows(host, 1, len, 1, len, Dtype::F32)), b],
                    *target,
                    1,
                    len,
                    len,
                    Dtype::F32,
                    // An add of two non-zero tensors can legitimately cancel; only a zero
                    // result from inputs that cannot cancel is suspicious, so do not check.
                    false,
                ))
            }
            (shape, step) => Err(format!("call shape {shape:?} does not fit op {step:?}")),
        }
    }
}

/// The A operand of a GEMM op as host f32 rows `[m][k]` (im2col for convolutions: on the device
/// this gather is the DMA access pattern of the A stream).
fn gemm_a(input: GemmInput, m: usize, k: usize, buffers: &Buffers) -> Cow<'_, [f32]> {
    match input {
        GemmInput::Rows(buf) => Cow::Borrowed(&buffers.get(buf)[..m * k]),
        GemmInput::Im2col {
            input,
            in_frames,
            channels,
            stride,
        } => {
            // The mel input is [n_mels][3000]; everything else is frames-first.
            let frames_first;
            let src: &[f32] = if input == Buf::Mel {
                let mel = buffers.get(Buf::Mel);
                let mut t = vec![0.0f32; in_frames * channels];
                for c in 0..channels {
                    for f in 0..in_frames {
                        t[f * channels + c] = mel[c * in_frames + f];
                    }
                }
                frames_first = t;
                &frames_first
            } else {
                buffers.get(input)
            };
            let mut a = vec![0.0f32; m * k];
            for (t, row) in a.chunks_exact_mut(k).enumerate() {
                for j in 0..3 {
                    let s = (stride * t + j) as isize - 1;
                    if s >= 0 && (s as usize) < in_frames {
                        let s = s as usize;
                        row[j * channels..(j + 1) * channels]
                            .copy_from_slice(&src[s * channels..(s + 1) * channels]);
                    }
                }
            }
            Cow::Owned(a)
        }
    }
}
