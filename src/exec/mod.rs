//! The executor: runs the encoder plan op by op on a device, owns the activation buffers, and
//! keeps the ledger of where each op ran, how often and how long.

mod buffers;
pub mod cpu;
pub mod npu_adapter;

pub use buffers::Buffers;

use std::collections::BTreeSet;
use std::time::Instant;

pub use crate::encoder::OpDevice;
use crate::encoder::{Buf, OpKind, Plan};
use crate::error::{Error, OptionName, Result};
use crate::model::EncoderModel;
use crate::npu::calls::{Call, plan_calls};
use crate::npu::dispatch::NpuDevice;
use crate::npu::prepare::PreparedWeights;
use npu_adapter::{Fault, NpuAdapter};

/// The device asked for (`--device`). What each op actually ran on is in the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Device {
    /// The NPU when device, runtime and kernels are all usable; otherwise the CPU, and the
    /// encoder's device note says why.
    #[default]
    Auto,
    /// The CPU only.
    Cpu,
    /// The NPU (an AMD Ryzen AI NPU through XRT; needs the `xrt` feature); ops it cannot run
    /// fall back to the CPU unless the NPU is required.
    Npu,
    /// The software model of our NPU kernels, for testing the NPU path without hardware
    /// (bit-faithfulness to hardware not yet checked on a real device).
    NpuSim,
}

pub use crate::kernels::layers::Arithmetic;

/// How to place and check the ops.
#[derive(Debug, Clone)]
pub struct ExecOptions {
    /// The CPU path's GEMM arithmetic.
    pub precision: Arithmetic,
    pub device: Device,
    /// Op kinds forced to the CPU (`--cpu-ops`).
    pub cpu_ops: BTreeSet<OpKind>,
    /// Any fallback is an error (exit 4).
    pub require_npu: bool,
    /// Also run every NPU op on the CPU and compare.
    pub verify: bool,
    /// Test hook (`NPU_WHISPER_FAULT`).
    pub fault: Option<Fault>,
}

impl Default for ExecOptions {
    fn default() -> Self {
        ExecOptions {
            precision: Arithmetic::F32,
            device: Device::Cpu,
            cpu_ops: BTreeSet::new(),
            require_npu: false,
            verify: false,
            fault: None,
        }
    }
}

/// `--verify` figures of one op: NPU output against the CPU's from the same inputs.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct VerifyStats {
    /// The largest absolute difference.
    pub max_abs: f32,
    /// The cosine of the two outputs.
    pub cosine: f64,
}

/// One row of the ledger: an op of the plan, accumulated over every window run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LedgerEntry {
    /// The op kind (`conv`, `matmul`, ...), as `--cpu-ops` names it.
    pub op: OpKind,
    /// The op's name in the plan (`qkv`, `fc1`, ...).
    pub name: &'static str,
    /// The encoder layer, for ops inside one.
    pub layer: Option<usize>,
    /// Where the op ran (after any fallback).
    pub device: OpDevice,
    /// The op's shape, as text (`1500x512 @ 512x1536`).
    pub shape: String,
    /// The kernel that ran it on the NPU.
    pub kernel: Option<&'static str>,
    /// When the op ran inside another op's call (a fused epilogue): that op's name.
    pub fused_into: Option<&'static str>,
    /// OpDevice runs for this op (0 for fused ops and CPU ops).
    pub calls: u64,
    /// Times the op was executed (windows).
    pub runs: u64,
    /// Bytes moved between host and device.
    pub bytes: u64,
    /// Milliseconds, all runs.
    pub ms: f64,
    /// Floating-point operations of one run.
    pub flops: f64,
    /// Why the op fell back to the CPU, when it did.
    pub fallback: Option<String>,
    /// `verify`: how far the NPU output was from the CPU's (the worst window).
    pub verify: Option<VerifyStats>,
}

/// One step of the per-window schedule.
#[derive(Debug, Clone, Copy)]
enum Unit {
    Cpu(usize),
    /// A CPU GEMM (op `.0`) with the op after it folded into its epilogue.
    CpuFused(usize, cpu::Fused),
    Npu(usize),
}

/// The immutable half of an encoder: the plan, the weights arranged for the CPU kernels (and
/// prepared for the NPU), the NPU calls and the schedule. It is `Send + Sync` and shared through
/// an `Arc`, so one loaded model serves any number of concurrent encodes, each with its own
/// [`EncoderState`] (as inference runtimes split a compiled plan from per-request state).
pub struct CompiledEncoder {
    plan: Plan,
    cpu: cpu::CpuWeights,
    npu: Option<NpuAdapter>,
    calls: Vec<Call>,
    schedule: Vec<Unit>,
    /// The ledger before any run: placements, kernels, fused ops, FLOPs.
    ledger: Vec<LedgerEntry>,
    options: ExecOptions,
    /// Why the requested device was not used, when it was not.
    device_note: Option<String>,
}

// One compiled encoder is shared between threads; a field that is not would break that here.
const _: () = {
    const fn shared<T: Send + Sync>() {}
    shared::<CompiledEncoder>();
};

/// The per-call half: activations, scratch and the ledger of the windows this state ran.
#[derive(Clone)]
pub struct EncoderState {
    buffers: Buffers,
    ledger: Vec<LedgerEntry>,
}

impl EncoderState {
    /// The last window's embeddings (`[1500][d]`).
    pub fn output(&self) -> &[f32] {
        self.buffers.get(Buf::Normed)
    }

    /// Where each op ran, how often and how long, over the windows encoded with this state.
    pub fn ledger(&self) -> &[LedgerEntry] {
        &self.ledger
    }

    /// Zero the ledger's counters (after warm-up runs), keeping placements and fallbacks.
    pub fn reset_counters(&mut self) {
        for e in &mut self.ledger {
            e.calls = 0;
            e.runs = 0;
            e.bytes = 0;
            e.ms = 0.0;
        }
    }
}

impl CompiledEncoder {
    /// Arrange `model`'s encoder for the devices `options` ask for (fails only on unusable
    /// weights, e.g. a non-finite value, or on a device that is required and missing).
    pub fn new(model: &EncoderModel, options: ExecOptions) -> Result<Self> {
        let (backend, device_note) = match options.device {
            Device::Cpu => {
                if options.require_npu {
                    return Err(Error::ConflictingOptions {
                        option: OptionName::RequireNpu,
                        other: OptionName::Device,
                        other_value: "cpu".into(),
                    });
                }
                (None, None)
            }
            Device::NpuSim => (
                Some(Box::new(crate::npu::sim::Simulator) as Box<dyn NpuDevice>),
                None,
            ),
            Device::Npu | Device::Auto => match crate::npu::open_device() {
                Ok(backend) => (Some(backend), None),
                Err(reason) if options.require_npu => return Err(Error::NpuUnavailable(reason)),
                Err(reason) => (
                    None,
                    Some(format!("NPU not used: {reason}; running on the CPU")),
                ),
            },
        };
        Self::with_backend(model, options, backend, device_note)
    }

    /// Arrange `model`'s encoder with its NPU ops on `device` (the dataflow emulator's check
    /// runs a window this way; `options.device` is not consulted).
    pub(crate) fn with_device(
        model: &EncoderModel,
        options: ExecOptions,
        device: Box<dyn NpuDevice>,
    ) -> Result<Self> {
        Self::with_backend(model, options, Some(device), None)
    }

    /// Kept whole: the steps run in one order (ops placed, calls planned, the schedule built
    /// over those calls, weights prepared for the device), each using the locals of the one
    /// before.
    fn with_backend(
        model: &EncoderModel,
        options: ExecOptions,
        backend: Option<Box<dyn NpuDevice>>,
        device_note: Option<String>,
    ) -> Result<Self> {
        let plan = Plan::new(&model.config, model.encoder.layers.len());
        let device = backend.as_ref().map_or(OpDevice::Cpu, |d| d.placement());
        let on_npu: Vec<bool> = plan
            .ops
            .iter()
            .map(|op| backend.is_some() && !options.cpu_ops.contains(&op.kind))
            .collect();
        let calls = if backend.is_some() {
            plan_calls(&plan, &on_npu)
        } else {
            Vec::new()
        };
        let mut ledger: Vec<LedgerEntry> = plan
            .ops
            .iter()
            .zip(&on_npu)
            .map(|(op, &npu)| LedgerEntry {
                op: op.kind,
                name: op.name,
                layer: op.layer,
                device: if npu { device } else { OpDevice::Cpu },
                shape: op.shape_text(),
                kernel: None,
                fused_into: None,
                calls: 0,
                runs: 0,
                bytes: 0,
                ms: 0.0,
                flops: op.flops(),
                fallback: None,
                verify: None,
            })
            .collect();
        let mut schedule = Vec::new();
        let mut next_call = 0;
        let mut i = 0;
        while i < plan.ops.len() {
            if let Some(call) = calls.get(next_call).filter(|c| c.ops[0] == i) {
                for &covered in &call.ops {
                    ledger[covered].kernel = Some(call.kernel.name());
                    if covered != i {
                        ledger[covered].fused_into = Some(plan.ops[i].name);
                    }
                }
                schedule.push(Unit::Npu(next_call));
                i += call.ops.len();
                next_call += 1;
            } else if let Some(fused) = cpu_fusion(&plan, &on_npu, i) {
                ledger[i + 1].fused_into = Some(plan.ops[i].name);
                schedule.push(Unit::CpuFused(i, fused));
                i += 2;
            } else {
                schedule.push(Unit::Cpu(i));
                i += 1;
            }
        }
        let npu = match backend {
            Some(device) => Some(NpuAdapter {
                device,
                prepared: PreparedWeights::new(&model.config, &model.encoder)?,
                fault: options.fault.clone(),
            }),
            None => None,
        };
        if options.precision == Arithmetic::Bf16 && !crate::cpu_features::has_avx512_bf16() {
            return Err(Error::Runtime(
                "bf16 precision needs a CPU with AVX512_BF16 (and AVX-512 not forced off); this one has none".into(),
            ));
        }
        Ok(CompiledEncoder {
            cpu: cpu::CpuWeights::new(&model.config, &model.encoder, options.precision)?,
            npu,
            calls,
            schedule,
            plan,
            ledger,
            options,
            device_note,
        })
    }

    /// A fresh per-call state: activation buffers for one window and an empty ledger.
    pub fn state(&self) -> EncoderState {
        EncoderState {
            buffers: Buffers::new(&self.plan),
            ledger: self.ledger.clone(),
        }
    }

    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The NPU calls of one window (empty on the CPU).
    pub fn calls(&self) -> &[Call] {
        &self.calls
    }

    /// Why the requested device is not in use, if it is not.
    pub fn device_note(&self) -> Option<&str> {
        self.device_note.as_deref()
    }

    /// Bytes of weights placed on the device once per model.
    pub fn resident_bytes(&self) -> usize {
        self.npu.as_ref().map_or(0, |n| n.prepared.resident_bytes())
    }

    /// Encode one window's log-mel (`[n_mels][3000]`) with `state`'s buffers and return its
    /// embeddings `[1500][d]`, which stay in `state` until its next window.
    pub fn encode_window<'s>(&self, state: &'s mut EncoderState, mel: &[f32]) -> Result<&'s [f32]> {
        state.buffers.get_mut(Buf::Mel).copy_from_slice(mel);
        for &unit in &self.schedule {
            match unit {
                Unit::Cpu(i) => {
                    let started = Instant::now();
                    cpu::run(&self.plan.ops[i].step, &self.cpu, &mut state.buffers);
                    let entry = &mut state.ledger[i];
                    entry.ms += started.elapsed().as_secs_f64() * 1e3;
                    entry.runs += 1;
                }
                Unit::CpuFused(i, fused) => {
                    let started = Instant::now();
                    cpu::run_fused(&self.plan.ops[i].step, fused, &self.cpu, &mut state.buffers);
                    state.ledger[i].ms += started.elapsed().as_secs_f64() * 1e3;
                    state.ledger[i].runs += 1;
                    state.ledger[i + 1].runs += 1;
                }
                Unit::Npu(c) => self.run_npu_call(state, c)?,
            }
        }
        Ok(state.buffers.get(Buf::Normed))
    }

    fn run_npu_call(&self, state: &mut EncoderState, index: usize) -> Result<()> {
        let call = &self.calls[index];
        let adapter = self
            .npu
            .as_ref()
            .expect("NPU units exist only with an adapter");
        let snapshot = self.options.verify.then(|| state.buffers.clone());
        let started = Instant::now();
        let result = adapter.run(&self.plan, call, &mut state.buffers);
        let elapsed = started.elapsed().as_secs_f64() * 1e3;
        let first = call.ops[0];
        match result {
            Ok(output) => {
                let entry = &mut state.ledger[first];
                entry.ms += elapsed;
                entry.calls += call.runs as u64;
                entry.bytes += call.bytes_moved() as u64;
                for &i in &call.ops {
                    state.ledger[i].runs += 1;
                }
                if let Some(mut reference) = snapshot {
                    for &i in &call.ops {
                        cpu::run(&self.plan.ops[i].step, &self.cpu, &mut reference);
                    }
                    let stats = compare(reference.get(output), state.buffers.get(output));
                    for &i in &call.ops {
                        let entry = &mut state.ledger[i];
                        entry.verify = Some(match entry.verify {
                            Some(prev) if prev.cosine < stats.cosine => prev,
                            _ => stats,
                        });
                    }
                }
                Ok(())
            }
            Err(reason) => {
                let op = &self.plan.ops[first];
                let where_ = match op.layer {
                    Some(l) => format!("{} (layer {l})", op.name),
                    None => op.name.to_string(),
                };
                if self.options.require_npu {
                    return Err(Error::NpuUnavailable(format!(
                        "the NPU call for {where_} failed ({reason}) and the NPU is required: no CPU fallback"
                    )));
                }
                tracing::warn!("{where_}: NPU call failed ({reason}); running it on the CPU");
                for &i in &call.ops {
                    let started = Instant::now();
                    cpu::run(&self.plan.ops[i].step, &self.cpu, &mut state.buffers);
                    let entry = &mut state.ledger[i];
                    entry.ms += started.elapsed().as_secs_f64() * 1e3;
                    entry.runs += 1;
                    entry.device = OpDevice::Cpu;
                    entry.fallback = Some(reason.clone());
                }
                state.ledger[first].ms += elapsed;
                Ok(())
            }
        }
    }
}

#[cfg(any(test, feature = "internals"))]
/// A compiled encoder with one state of its own: the single-threaded form used by the
/// command-line pipelines, tests and benches.
pub struct Executor {
    compiled: std::sync::Arc<CompiledEncoder>,
    state: EncoderState,
}

#[cfg(any(test, feature = "internals"))]
impl Executor {
    /// A CPU-only f32 executor for every layer loaded in `model` (fails only on unusable
    /// weights, e.g. a non-finite value).
    pub fn cpu(model: &EncoderModel) -> Result<Self> {
        Executor::new(model, ExecOptions::default())
    }

    /// An executor placing ops as `options` ask.
    pub fn new(model: &EncoderModel, options: ExecOptions) -> Result<Self> {
        Ok(Executor::from_compiled(std::sync::Arc::new(
            CompiledEncoder::new(model, options)?,
        )))
    }

    /// A state of its own for an already compiled (and perhaps shared) encoder.
    pub fn from_compiled(compiled: std::sync::Arc<CompiledEncoder>) -> Self {
        let state = compiled.state();
        Executor { compiled, state }
    }

    /// The NPU calls of one window (empty on the CPU).
    pub fn calls(&self) -> &[Call] {
        self.compiled.calls()
    }

    /// Why the requested device is not in use, if it is not.
    pub fn device_note(&self) -> Option<&str> {
        self.compiled.device_note()
    }

    /// Encode one window's log-mel (`[n_mels][3000]`) and return its embeddings `[1500][d]`.
    pub fn encode_window(&mut self, mel: &[f32]) -> Result<&[f32]> {
        self.compiled.encode_window(&mut self.state, mel)
    }

    pub fn ledger(&self) -> &[LedgerEntry] {
        self.state.ledger()
    }
}

/// Whether op `i` (a CPU GEMM) can take op `i + 1` (also on the CPU) into its epilogue.
fn cpu_fusion(plan: &Plan, on_npu: &[bool], i: usize) -> Option<cpu::Fused> {
    if on_npu[i] || *on_npu.get(i + 1)? {
        return None;
    }
    let later = plan.ops[i + 2..].iter().map(|op| &op.step);
    cpu::fusion(&plan.ops[i].step, &plan.ops[i + 1].step, later)
}

/// Max |a - b| and cosine of two outputs.
fn compare(reference: &[f32], got: &[f32]) -> VerifyStats {
    let mut max_abs = 0.0f32;
    let (mut dot, mut na, mut nb) = (0.0f64, 0.0f64, 0.0f64);
    for (&a, &b) in reference.iter().zip(got) {
        max_abs = max_abs.max((a - b).abs());
        dot += a as f64 * b as f64;
        na += (a as f64).powi(2);
        nb += (b as f64).powi(2);
    }
    let cosine = if na == 0.0 && nb == 0.0 {
        1.0
    } else {
        dot / (na.sqrt() * nb.sqrt())
    };
    VerifyStats { max_abs, cosine }
}

/// "npu-sim: 66/66 ops; cpu: 0/66"-style summary, every device listed.
pub fn placement_summary(ledger: &[LedgerEntry]) -> String {
    let total = ledger.len();
    let count = |d: OpDevice| ledger.iter().filter(|e| e.device == d).count();
    let mut parts = Vec::new();
    for d in [OpDevice::Npu, OpDevice::NpuSim] {
        if count(d) > 0 {
            parts.push(format!("{}: {}/{total} ops", d.name(), count(d)));
        }
    }
    parts.push(format!("cpu: {}/{total} ops", count(OpDevice::Cpu)));
    let fallbacks = ledger.iter().filter(|e| e.fallback.is_some()).count();
    if fallbacks > 0 {
        parts.push(format!("{fallbacks} fell back to the cpu"));
    }
    parts.join("; ")
}
