//! The call plan: which kernel runs each op placed on the NPU, its argument plan and buffer sizes.
//!
//! One call per op, never per tile: a GEMM of any size is one run of a dynamic-shape kernel, and
//! all attention heads go in one submission. Adjacent ops fuse into one call where a kernel has
//! the epilogue: matmul/conv + GELU. (A residual add is its own `add` call: fused, each core
//! would need a third input stream, and it has two - scripts/check-designs.) A GEMM whose output
//! a residual add reads next keeps it in f32 (`gemm_bias_f32`). Buffers are bound by construction:
//! a `BufferArg` knows only its own argument index, and the device layer allocates it with
//! `kernel.group_id(arg_index)` from that (there is no way to pass a group id in), so a data
//! buffer can never be allocated with another argument's, or a scalar slot's, memory group.

use super::kernel::Kernel;
use super::layout::{Dtype, GemmShape, pad_to};
use super::manifest::{ArgKind, KernelSpec, manifest};
use crate::encoder::{AddSource, Buf, Op, Plan, Step};

/// Index of the first data-buffer argument (0 opcode, 1 instructions, 2 instruction count).
pub const FIRST_DATA_ARG: usize = 3;

/// Direction of a data buffer, from the host's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Input,
    Output,
    Inout,
}

/// One data-buffer argument of a call.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BufferArg {
    arg_index: usize,
    pub name: String,
    pub dtype: Dtype,
    pub direction: Direction,
    pub bytes: usize,
    /// Weights and other tensors that live on the device for the whole run (not moved per call).
    pub resident: bool,
}

impl BufferArg {
    /// The only constructor. Scalar slots (0..3) cannot hold a buffer.
    fn new(
        arg_index: usize,
        name: &str,
        dtype: Dtype,
        direction: Direction,
        bytes: usize,
        resident: bool,
    ) -> Self {
        assert!(
            arg_index >= FIRST_DATA_ARG,
            "argument {arg_index} is a scalar slot, not a buffer"
        );
        BufferArg {
            arg_index,
            name: name.to_string(),
            dtype,
            direction,
            bytes,
            resident,
        }
    }

    /// The kernel argument this buffer binds to; its memory group is `kernel.group_id()` of
    /// exactly this index.
    #[cfg_attr(not(feature = "xrt"), allow(dead_code))]
    pub fn arg_index(&self) -> usize {
        self.arg_index
    }
}

/// The arguments of one kernel run.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ArgPlan {
    /// Argument 0.
    pub opcode: u32,
    /// Argument 1 is the instruction buffer loaded from this file (relative to the kernel
    /// directory, see `Call::instructions_file`); argument 2 its word count, known once loaded.
    pub instructions: String,
    pub buffers: Vec<BufferArg>,
}

/// The shape a kernel works on.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub enum CallShape {
    Gemm(GemmShape),
    Attention {
        heads: usize,
        frames: usize,
        frames_p: usize,
        d_model: usize,
    },
    Rows {
        rows: usize,
        cols: usize,
    },
    Elements {
        len: usize,
    },
}

impl CallShape {
    /// The shape's name in instruction-stream file names. A kernel's runtime sequence (its DMA
    /// transfers and the loop counts it writes into the cores' runtime parameters) is specific
    /// to a shape, while the core programs in the xclbin are not: one xclbin, one stream per
    /// shape. `xclbin/designs/shapes.py` derives the same names (tested).
    pub fn key(&self) -> String {
        match *self {
            CallShape::Gemm(s) => format!("m{}_k{}_n{}", s.mp, s.kp, s.np),
            CallShape::Attention {
                heads,
                frames,
                frames_p,
                d_model,
            } => format!("h{heads}_f{frames}_fp{frames_p}_d{d_model}"),
            CallShape::Rows { rows, cols } => format!("r{rows}_c{cols}"),
            CallShape::Elements { len } => format!("n{len}"),
        }
    }
}

/// Where a GEMM's A operand comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GemmInput {
    Rows(Buf),
    /// im2col of a kernel-3 padding-1 convolution: rows are `[x[s*t-1], x[s*t], x[s*t+1]]`.
    Im2col {
        input: Buf,
        in_frames: usize,
        channels: usize,
        stride: usize,
    },
}

/// One kernel run covering one or more consecutive plan ops.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub kernel: Kernel,
    /// Indices into `Plan::ops`; the first is the op the call is named after.
    pub ops: Vec<usize>,
    pub shape: CallShape,
    pub args: ArgPlan,
    /// Runs of the kernel per window: always 1 (one call per op, never per tile).
    pub runs: u32,
}

impl Call {
    /// The instruction stream of this kernel at this shape, relative to the kernel directory.
    pub fn instructions_file(&self) -> String {
        format!("{}/{}.insts", self.kernel, self.shape.key())
    }

    /// Whether `buffers` (the data arguments, in order) have the sizes the plan gave them.
    pub fn check_buffers(&self, buffers: &[std::borrow::Cow<'_, [u8]>]) -> Result<(), String> {
        for (buffer, arg) in buffers.iter().zip(&self.args.buffers) {
            if buffer.len() != arg.bytes {
                return Err(format!(
                    "{}: buffer `{}` holds {} bytes, the call plan says {}",
                    self.kernel,
                    arg.name,
                    buffer.len(),
                    arg.bytes
                ));
            }
        }
        Ok(())
    }

    /// Bytes moved between host and device per run (resident weights excluded).
    pub fn bytes_moved(&self) -> usize {
        self.args
            .buffers
            .iter()
            .filter(|b| !b.resident)
            .map(|b| match b.direction {
                Direction::Inout => 2 * b.bytes,
                _ => b.bytes,
            })
            .sum()
    }
}

fn arg_plan(kernel: Kernel, sizes: &[(usize, bool)]) -> ArgPlan {
    let spec: &KernelSpec = kernel.spec();
    let data: Vec<_> = spec.data_args().collect();
    assert_eq!(data.len(), sizes.len(), "kernel {kernel}: buffer count");
    let buffers = data
        .iter()
        .zip(sizes)
        .map(|(a, &(elements, resident))| {
            let dtype = a
                .dtype
                .expect("data arguments have a dtype (manifest test)");
            let direction = match a.kind {
                ArgKind::Input => Direction::Input,
                ArgKind::Output => Direction::Output,
                _ => Direction::Inout,
            };
            BufferArg::new(
                a.index,
                &a.name,
                dtype,
                direction,
                elements * dtype.size(),
                resident,
            )
        })
        .collect();
    ArgPlan {
        opcode: manifest().opcode,
        instructions: String::new(), // set by `with_instructions` once the shape is known
        buffers,
    }
}

fn gemm_call(kernel: Kernel, ops: Vec<usize>, shape: GemmShape) -> Call {
    let a = shape.mp * shape.kp;
    let b = shape.kp * shape.np;
    let c = shape.mp * shape.np;
    Call {
        kernel,
        ops,
        shape: CallShape::Gemm(shape),
        args: arg_plan(
            kernel,
            &[
                (a, false),
                (b, true),
                (shape.bias_floats(), true),
                (c, false),
            ],
        ),
        runs: 1,
    }
}

fn with_instructions(mut call: Call) -> Call {
    call.args.instructions = call.instructions_file();
    call
}

/// The GEMM input of a conv or matmul op.
pub fn gemm_input(op: &Op) -> Option<(GemmInput, GemmShape)> {
    match op.step {
        Step::Conv {
            input,
            in_channels,
            out_channels,
            in_frames,
            out_frames,
            stride,
            ..
        } => Some((
            GemmInput::Im2col {
                input,
                in_frames,
                channels: in_channels,
                stride,
            },
            GemmShape::new(out_frames, 3 * in_channels, out_channels),
        )),
        Step::Matmul {
            input, rows, k, n, ..
        } => Some((GemmInput::Rows(input), GemmShape::new(rows, k, n))),
        _ => None,
    }
}

fn gemm_output(op: &Op) -> Option<Buf> {
    match op.step {
        Step::Conv { output, .. } | Step::Matmul { output, .. } => Some(output),
        _ => None,
    }
}

/// Build the calls for the ops with `on_npu[i]` set, fusing epilogues where the next op is also
/// on the NPU.
///
/// Kept whole: one walk over the plan deciding, op by op, which ops share a device call; the
/// grouping rules read together.
pub fn plan_calls(plan: &Plan, on_npu: &[bool]) -> Vec<Call> {
    assert_eq!(on_npu.len(), plan.ops.len());
    let mut calls = Vec::new();
    let mut i = 0;
    while i < plan.ops.len() {
        if !on_npu[i] {
            i += 1;
            continue;
        }
        let op = &plan.ops[i];
        let next = plan
            .ops
            .get(i + 1)
            .filter(|_| on_npu.get(i + 1) == Some(&true));
        if let Some((_, shape)) = gemm_input(op) {
            let out = gemm_output(op).expect("GEMM ops have an output");
            let fuses_gelu =
                next.is_some_and(|n| matches!(n.step, Step::Gelu { buf, .. } if buf == out));
            // The residual add reads this output next (on either device): keep it in f32.
            let feeds_residual = plan.ops.get(i + 1).is_some_and(|n| {
                matches!(n.step, Step::Add { target: Buf::Residual, source: AddSource::Buf(src), .. } if src == out)
            });
            let (kernel, ops) = if fuses_gelu && out == Buf::Residual {
                (Kernel::GemmBiasGeluF32, vec![i, i + 1])
            } else if fuses_gelu {
                (Kernel::GemmBiasGelu, vec![i, i + 1])
            } else if feeds_residual {
                (Kernel::GemmBiasF32, vec![i])
            } else {
                (Kernel::GemmBias, vec![i])
            };
            i += ops.len();
            calls.push(with_instructions(gemm_call(kernel, ops, shape)));
            continue;
        }
        let call = match op.step {
            Step::Attention {
                heads,
                frames,
                d_model,
                ..
            } => {
                let frames_p = pad_to(frames, 64);
                Call {
                    kernel: Kernel::Attention,
                    ops: vec![i],
                    shape: CallShape::Attention {
                        heads,
                        frames,
                        frames_p,
                        d_model,
                    },
                    args: arg_plan(
                        Kernel::Attention,
                        &[(frames_p * 3 * d_model, false), (frames_p * d_model, false)],
                    ),
                    runs: 1,
                }
            }
            Step::LayerNorm { rows, cols, .. } => {
                let kernel = if op.layer.is_none() && i + 1 == plan.ops.len() {
                    Kernel::LayerNormF32
                } else {
                    Kernel::LayerNorm
                };
                Call {
                    kernel,
                    ops: vec![i],
                    shape: CallShape::Rows { rows, cols },
                    args: arg_plan(
                        kernel,
                        &[(rows * cols, false), (2 * cols, true), (rows * cols, false)],
                    ),
                    runs: 1,
                }
            }
            Step::Gelu { len, .. } => Call {
                kernel: Kernel::Gelu,
                ops: vec![i],
                shape: CallShape::Elements { len },
                args: arg_plan(Kernel::Gelu, &[(len, false), (len, false)]),
                runs: 1,
            },
            Step::Add { source, len, .. } => Call {
                kernel: Kernel::Add,
                ops: vec![i],
                shape: CallShape::Elements { len },
                args: arg_plan(
                    Kernel::Add,
                    &[(len, false), (len, matches!(source, AddSource::Weight(_)))],
                ),
                runs: 1,
            },
            Step::Conv { .. } | Step::Matmul { .. } => unreachable!("handled above"),
        };
        calls.push(with_instructions(call));
        i += 1;
    }
    calls
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Config;

    #[test]
    fn a_base_window_is_a_small_constant_number_of_calls_per_layer() {
        let config = Config::standard(80, 512, 6);
        let plan = Plan::new(&config, 6);
        let calls = plan_calls(&plan, &vec![true; plan.ops.len()]);
        let per_layer = |l: usize| {
            calls
                .iter()
                .filter(|c| plan.ops[c.ops[0]].layer == Some(l))
                .count()
        };
        for l in 0..6 {
            // LN, QKV, attention, out_proj, residual add, LN, fc1+GELU, fc2, residual add.
            assert_eq!(per_layer(l), 9, "layer {l}");
        }
        let stem = calls
            .iter()
            .filter(|c| plan.ops[c.ops[0]].layer.is_none())
            .count();
        assert_eq!(
            stem,
            3 + 1,
            "conv1+gelu, conv2+gelu, positions, final LayerNorm"
        );
        assert_eq!(calls.len(), 58);
        // Every op is covered exactly once.
        let mut covered: Vec<usize> = calls.iter().flat_map(|c| c.ops.clone()).collect();
        covered.sort();
        assert_eq!(covered, (0..plan.ops.len()).collect::<Vec<_>>());
        assert!(calls.iter().all(|c| c.runs == 1));
        // Independent of size: every catalogue model takes 9 calls per layer, and the cost
        // model projects each (large-v3's 32 layers: 292 calls).
        for entry in crate::hub::catalogue::entries() {
            let Some(dims) = entry.dims else { continue };
            let config = dims.config();
            let layers = config.encoder_layers;
            let p = Plan::new(&config, layers);
            let calls = plan_calls(&p, &vec![true; p.ops.len()]);
            assert_eq!(calls.len(), 4 + 9 * layers, "{}", entry.name);
            for device in [&crate::npu::cost::NPU1, &crate::npu::cost::NPU4] {
                let projected = crate::npu::cost::project(&calls, device);
                assert!(
                    projected.ms.optimistic > 0.0
                        && projected.ms.optimistic < projected.ms.pessimistic
                        && projected.ms.pessimistic.is_finite(),
                    "{}",
                    entry.name
                );
            }
        }
    }

    #[test]
    fn every_buffer_is_bound_to_its_own_argument_index() {
        let config = Config::standard(80, 384, 2);
        let plan = Plan::new(&config, 2);
        for call in plan_calls(&plan, &vec![true; plan.ops.len()]) {
            let spec = call.kernel.spec();
            for (buffer, arg) in call.args.buffers.iter().zip(spec.data_args()) {
                assert_eq!(buffer.arg_index(), arg.index);
                assert!(buffer.arg_index() >= FIRST_DATA_ARG);
            }
            assert_eq!(call.args.opcode, 3);
        }
    }

    /// scripts/build-xclbin writes the instruction streams xclbin/designs/shapes.py lists; the
    /// host must ask for exactly those.
    #[test]
    fn the_build_writes_the_instruction_streams_the_host_asks_for() {
        // Every distinct encoder shape of the catalogue (tiny ... large-v3-turbo, distil-*).
        let mut shapes: Vec<Config> = crate::hub::catalogue::entries()
            .filter_map(|e| e.dims.map(|d| d.config()))
            .collect();
        shapes.sort_by_key(|c| (c.num_mel_bins, c.d_model));
        shapes.dedup_by_key(|c| (c.num_mel_bins, c.d_model));
        assert_eq!(
            shapes.len(),
            6,
            "80 mels x five widths, and 128 mels at 1280"
        );
        for mut config in shapes {
            let layers = 1;
            config.encoder_layers = layers;
            let (mels, d) = (config.num_mel_bins, config.d_model);
            let plan = Plan::new(&config, layers);
            let mut host: Vec<String> = plan_calls(&plan, &vec![true; plan.ops.len()])
                .iter()
                .map(|c| c.args.instructions.clone())
                .collect();
            host.sort();
            host.dedup();
            let out = std::process::Command::new("python3")
                .arg(concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/xclbin/designs/shapes.py"
                ))
                .args(["--mels", &mels.to_string(), "--d-model", &d.to_string()])
                .args(["--heads", &config.encoder_attention_heads.to_string()])
                .args(["--ffn", &config.encoder_ffn_dim.to_string()])
                .output()
                .expect("python3 runs");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let mut built: Vec<String> = String::from_utf8(out.stdout)
                .unwrap()
                .lines()
                .map(str::to_string)
                .collect();
            built.sort();
            assert_eq!(host, built, "d_model {d}");
        }
    }

    #[test]
    fn gemm_operands_are_padded_to_what_the_whole_array_design_divides() {
        let s = GemmShape::new(3000, 240, 384);
        assert_eq!((s.mp, s.kp, s.np), (3072, 256, 512));
        let config = Config::standard(80, 512, 1);
        let plan = Plan::new(&config, 1);
        for call in plan_calls(&plan, &vec![true; plan.ops.len()]) {
            if let CallShape::Gemm(s) = call.shape {
                assert_eq!(s.mp % (4 * 64), 0);
                assert_eq!(s.np % (8 * 64), 0);
                assert_eq!(s.kp % 64, 0);
            }
        }
    }

    #[test]
    #[should_panic(expected = "scalar slot")]
    fn a_buffer_cannot_take_a_scalar_slot() {
        BufferArg::new(2, "x", Dtype::Bf16, Direction::Input, 4, false);
    }

    #[test]
    fn ops_kept_on_the_cpu_break_fusion() {
        let config = Config::standard(80, 384, 1);
        let plan = Plan::new(&config, 1);
        let on_npu: Vec<bool> = plan
            .ops
            .iter()
            .map(|o| !matches!(o.kind, crate::encoder::OpKind::Gelu))
            .collect();
        let calls = plan_calls(&plan, &on_npu);
        assert!(calls.iter().all(|c| c.kernel != Kernel::GemmBiasGelu));
        assert!(calls.iter().all(|c| c.ops.iter().all(|&i| on_npu[i])));
    }
}
