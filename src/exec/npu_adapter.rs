//! The adapter between the executor and the NPU wing: packs host activations into a call's
//! device buffers (one function per call shape), runs the call on whatever `NpuDevice` it holds
//! (the simulator or the real NPU), checks the output and unpacks it straight into the
//! executor's buffer - only once it passed, so a failed call leaves the buffers as they were and
//! the executor can fall back (or stop) cleanly.

use std::borrow::Cow;

use super::Buffers;
use crate::encoder::{AddSource, Buf, Op, Plan, Step, Weight};
use crate::kernels::gemm::{im2col_k3_par, transpose_into};
use crate::npu::calls::{Call, CallShape, GemmInput, gemm_input};
use crate::npu::dispatch::NpuDevice;
use crate::npu::kernel::Kernel;
use crate::npu::layout::{Dtype, GemmShape, pack_rows, unpack_rows};
use crate::npu::prepare::PreparedWeights;

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

/// Where a call's output goes: the executor buffer, and the padded layout it has on the device.
#[derive(Debug, Clone, Copy)]
struct Output {
    buf: Buf,
    /// Index of the output among the call's data buffers.
    arg: usize,
    rows: usize,
    cols: usize,
    cols_p: usize,
    dtype: Dtype,
}

/// A call's device buffers and where its output goes.
struct Marshalled<'a> {
    args: Vec<Cow<'a, [u8]>>,
    output: Output,
    /// The inputs cannot produce an all-zero output (an add can cancel; a GEMM of a non-zero A
    /// with our weights, a LayerNorm, attention and GELU of non-zero input do not).
    zero_is_suspect: bool,
}

pub struct NpuAdapter {
    pub device: Box<dyn NpuDevice>,
    pub prepared: PreparedWeights,
    pub fault: Option<Fault>,
}

impl NpuAdapter {
    /// Run `call` on the host buffers; on success its output is in `buffers` and its name is
    /// returned, on failure `buffers` are unchanged.
    pub fn run(&self, plan: &Plan, call: &Call, buffers: &mut Buffers) -> Result<Buf, String> {
        let op = &plan.ops[call.ops[0]];
        let last = &plan.ops[*call.ops.last().expect("calls cover ops")];
        let Marshalled {
            mut args,
            output,
            zero_is_suspect,
        } = self.marshal(op, call, buffers)?;
        self.device.run(call, &mut args)?;
        let bytes = args[output.arg].to_mut();
        if let Some(fault) = &self.fault
            && (fault.op == op.name || fault.op == last.name)
            && (fault.layer.is_none() || fault.layer == op.layer)
        {
            match fault.kind {
                FaultKind::Error => return Err(format!("injected fault ({FAULT_ENV})")),
                FaultKind::Zeros => bytes.fill(0),
                FaultKind::Nan => fill_nan(bytes, output.dtype),
            }
        }
        check_output(bytes, &output, zero_is_suspect)?;
        unpack_rows(
            bytes,
            output.rows,
            output.cols,
            output.cols_p,
            output.dtype,
            buffers.get_mut(output.buf),
        );
        Ok(output.buf)
    }

    fn marshal<'a>(
        &'a self,
        op: &Op,
        call: &Call,
        buffers: &Buffers,
    ) -> Result<Marshalled<'a>, String> {
        match (call.shape, &op.step) {
            (CallShape::Gemm(shape), _) => self.marshal_gemm(op, call, shape, buffers),
            (
                CallShape::Attention {
                    frames,
                    frames_p,
                    d_model,
                    ..
                },
                Step::Attention { qkv, output, .. },
            ) => Ok(marshal_attention(
                call, frames, frames_p, d_model, *qkv, *output, buffers,
            )),
            (
                CallShape::Rows { rows, cols },
                Step::LayerNorm {
                    input,
                    output,
                    weight,
                    ..
                },
            ) => {
                let norm = self
                    .prepared
                    .norms
                    .get(weight)
                    .ok_or_else(|| format!("no prepared weights for {weight:?}"))?;
                Ok(marshal_layernorm(
                    call, rows, cols, *input, *output, norm, buffers,
                ))
            }
            (CallShape::Elements { len }, Step::Gelu { buf, .. }) => {
                Ok(marshal_gelu(call, len, *buf, buffers))
            }
            (CallShape::Elements { len }, Step::Add { target, source, .. }) => {
                let b: Cow<'a, [u8]> = match source {
                    AddSource::Buf(b) => {
                        Cow::Owned(pack_rows(buffers.get(*b), 1, len, 1, len, Dtype::F32))
                    }
                    AddSource::Weight(Weight::Positions) => {
                        Cow::Borrowed(&self.prepared.positions[..])
                    }
                    AddSource::Weight(other) => return Err(format!("cannot add weight {other:?}")),
                };
                Ok(marshal_add(call, len, *target, b, buffers))
            }
            (shape, step) => Err(format!("call shape {shape:?} does not fit op {step:?}")),
        }
    }

    /// A (host activations, im2col for convolutions), B and bias (resident), C (zeros).
    fn marshal_gemm<'a>(
        &'a self,
        op: &Op,
        call: &Call,
        shape: GemmShape,
        buffers: &Buffers,
    ) -> Result<Marshalled<'a>, String> {
        let (input, _) = gemm_input(op).ok_or("not a GEMM op")?;
        let (weight, output) = match op.step {
            Step::Conv { weight, output, .. } | Step::Matmul { weight, output, .. } => {
                (weight, output)
            }
            _ => unreachable!("gemm_input matched"),
        };
        let w = self
            .prepared
            .gemms
            .get(&weight)
            .ok_or_else(|| format!("no prepared weights for {weight:?}"))?;
        let a_f32 = gemm_a(input, shape.m, shape.k, buffers);
        let a = pack_rows(&a_f32, shape.m, shape.k, shape.mp, shape.kp, Dtype::Bf16);
        Ok(Marshalled {
            args: vec![
                Cow::Owned(a),
                Cow::Borrowed(&w.b[..]),
                Cow::Borrowed(&w.bias[..]),
                zeros(call, 3),
            ],
            output: Output {
                buf: output,
                arg: 3,
                rows: shape.m,
                cols: shape.n,
                cols_p: shape.np,
                dtype: call.kernel.output_dtype(),
            },
            zero_is_suspect: a_f32.iter().any(|&v| v != 0.0),
        })
    }
}

fn zeros<'a>(call: &Call, arg: usize) -> Cow<'a, [u8]> {
    Cow::Owned(vec![0u8; call.args.buffers[arg].bytes])
}

/// QKV rows padded to `frames_p` (zeros), the context out.
fn marshal_attention<'a>(
    call: &Call,
    frames: usize,
    frames_p: usize,
    d_model: usize,
    qkv: Buf,
    output: Buf,
    buffers: &Buffers,
) -> Marshalled<'a> {
    let host = buffers.get(qkv);
    Marshalled {
        args: vec![
            Cow::Owned(pack_rows(
                host,
                frames,
                3 * d_model,
                frames_p,
                3 * d_model,
                Dtype::Bf16,
            )),
            zeros(call, 1),
        ],
        output: Output {
            buf: output,
            arg: 1,
            rows: frames,
            cols: d_model,
            cols_p: d_model,
            dtype: Kernel::Attention.output_dtype(),
        },
        zero_is_suspect: host.iter().any(|&v| v != 0.0),
    }
}

/// f32 rows, resident gamma/beta, the normalised rows out.
fn marshal_layernorm<'a>(
    call: &Call,
    rows: usize,
    cols: usize,
    input: Buf,
    output: Buf,
    norm: &'a [u8],
    buffers: &Buffers,
) -> Marshalled<'a> {
    let host = buffers.get(input);
    Marshalled {
        args: vec![
            Cow::Owned(pack_rows(host, rows, cols, rows, cols, Dtype::F32)),
            Cow::Borrowed(norm),
            zeros(call, 2),
        ],
        output: Output {
            buf: output,
            arg: 2,
            rows,
            cols,
            cols_p: cols,
            dtype: call.kernel.output_dtype(),
        },
        zero_is_suspect: host.iter().any(|&v| v != 0.0),
    }
}

/// GELU in place: bf16 in, bf16 out.
fn marshal_gelu<'a>(call: &Call, len: usize, buf: Buf, buffers: &Buffers) -> Marshalled<'a> {
    let host = buffers.get(buf);
    Marshalled {
        args: vec![
            Cow::Owned(pack_rows(host, 1, len, 1, len, Dtype::Bf16)),
            zeros(call, 1),
        ],
        output: Output {
            buf,
            arg: 1,
            rows: 1,
            cols: len,
            cols_p: len,
            dtype: Kernel::Gelu.output_dtype(),
        },
        zero_is_suspect: host.iter().any(|&v| v != 0.0),
    }
}

/// `target += b`, f32.
fn marshal_add<'a>(
    _call: &Call,
    len: usize,
    target: Buf,
    b: Cow<'a, [u8]>,
    buffers: &Buffers,
) -> Marshalled<'a> {
    Marshalled {
        args: vec![
            Cow::Owned(pack_rows(buffers.get(target), 1, len, 1, len, Dtype::F32)),
            b,
        ],
        output: Output {
            buf: target,
            arg: 0,
            rows: 1,
            cols: len,
            cols_p: len,
            dtype: Kernel::Add.output_dtype(),
        },
        // An add of two non-zero tensors can legitimately cancel.
        zero_is_suspect: false,
    }
}

/// The device output, checked where it will be read: finite, and not all zero when the inputs
/// cannot give zeros.
fn check_output(bytes: &[u8], out: &Output, zero_is_suspect: bool) -> Result<(), String> {
    let size = out.dtype.size();
    let mut all_zero = true;
    for r in 0..out.rows {
        let row = &bytes[r * out.cols_p * size..(r * out.cols_p + out.cols) * size];
        for (c, v) in row.chunks_exact(size).enumerate() {
            let value = match out.dtype {
                Dtype::Bf16 => half::bf16::from_le_bytes([v[0], v[1]]).to_f32(),
                Dtype::F32 => f32::from_le_bytes([v[0], v[1], v[2], v[3]]),
            };
            if !value.is_finite() {
                return Err(format!(
                    "non-finite output (element {} is {value})",
                    r * out.cols + c
                ));
            }
            all_zero &= value == 0.0;
        }
    }
    if zero_is_suspect && all_zero {
        return Err("all-zero output from a non-zero input".to_string());
    }
    Ok(())
}

fn fill_nan(bytes: &mut [u8], dtype: Dtype) {
    match dtype {
        Dtype::Bf16 => bytes
            .chunks_exact_mut(2)
            .for_each(|c| c.copy_from_slice(&half::bf16::NAN.to_le_bytes())),
        Dtype::F32 => bytes
            .chunks_exact_mut(4)
            .for_each(|c| c.copy_from_slice(&f32::NAN.to_le_bytes())),
    }
}

/// The A operand of a GEMM op as host f32 rows `[m][k]`: the im2col of the CPU path for
/// convolutions (on the device this gather would be the DMA access pattern of the A stream).
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
            let mut frames_first = Vec::new();
            let src: &[f32] = if input == Buf::Mel {
                transpose_into(
                    buffers.get(Buf::Mel),
                    channels,
                    in_frames,
                    &mut frames_first,
                );
                &frames_first
            } else {
                buffers.get(input)
            };
            let mut a = vec![0.0f32; m * k];
            im2col_k3_par(&mut a, src, in_frames, channels, stride);
            Cow::Owned(a)
        }
    }
}
