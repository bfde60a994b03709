//! The executor: runs the encoder plan op by op on a device, owns the activation buffers, and
//! keeps the ledger of where each op ran, how often and how long.

pub mod cpu;

use std::time::Instant;

use crate::encoder::{Buf, OpKind, Plan};
use crate::mel::WINDOW_FRAMES;
use crate::model::Model;
use crate::model::config::ENCODER_FRAMES;

/// Activation storage for one window, sized once from the plan and reused for every window.
#[derive(Debug, Default)]
pub struct Buffers {
    mel: Vec<f32>,
    stem: Vec<f32>,
    residual: Vec<f32>,
    normed: Vec<f32>,
    qkv: Vec<f32>,
    context: Vec<f32>,
    projected: Vec<f32>,
    hidden: Vec<f32>,
    /// Scratch: im2col rows of the convolutions.
    pub(crate) im2col: Vec<f32>,
    /// Scratch: the mel input transposed to frames-first.
    pub(crate) mel_frames: Vec<f32>,
}

impl Buffers {
    pub fn new(plan: &Plan) -> Self {
        let c = &plan.config;
        let (t, d) = (ENCODER_FRAMES, c.d_model);
        Buffers {
            mel: vec![0.0; c.num_mel_bins * WINDOW_FRAMES],
            stem: vec![0.0; WINDOW_FRAMES * d],
            residual: vec![0.0; t * d],
            normed: vec![0.0; t * d],
            qkv: vec![0.0; t * 3 * d],
            context: vec![0.0; t * d],
            projected: vec![0.0; t * d],
            hidden: vec![0.0; t * c.encoder_ffn_dim],
            im2col: Vec::new(),
            mel_frames: Vec::new(),
        }
    }

    fn slot(&mut self, buf: Buf) -> &mut Vec<f32> {
        match buf {
            Buf::Mel => &mut self.mel,
            Buf::Stem => &mut self.stem,
            Buf::Residual => &mut self.residual,
            Buf::Normed => &mut self.normed,
            Buf::Qkv => &mut self.qkv,
            Buf::Context => &mut self.context,
            Buf::Projected => &mut self.projected,
            Buf::Hidden => &mut self.hidden,
        }
    }

    pub fn get(&self, buf: Buf) -> &[f32] {
        match buf {
            Buf::Mel => &self.mel,
            Buf::Stem => &self.stem,
            Buf::Residual => &self.residual,
            Buf::Normed => &self.normed,
            Buf::Qkv => &self.qkv,
            Buf::Context => &self.context,
            Buf::Projected => &self.projected,
            Buf::Hidden => &self.hidden,
        }
    }

    pub fn get_mut(&mut self, buf: Buf) -> &mut [f32] {
        self.slot(buf)
    }

    /// Move a buffer out so an op can write it while reading others; `put` returns it.
    pub fn take(&mut self, buf: Buf) -> Vec<f32> {
        std::mem::take(self.slot(buf))
    }

    pub fn put(&mut self, buf: Buf, values: Vec<f32>) {
        *self.slot(buf) = values;
    }
}

/// Where an op ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Device {
    Cpu,
}

impl Device {
    pub fn name(self) -> &'static str {
        match self {
            Device::Cpu => "cpu",
        }
    }
}

/// One row of the ledger: an op of the plan, accumulated over every window run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LedgerEntry {
    /// The op kind (`conv`, `matmul`, ...), as `--cpu-ops` names it.
    pub op: OpKind,
    pub name: &'static str,
    pub layer: Option<usize>,
    pub device: Device,
    pub shape: String,
    pub calls: u64,
    pub ms: f64,
    pub flops: f64,
    pub fallback: Option<String>,
}

/// Runs the plan for one window at a time.
pub struct Executor {
    plan: Plan,
    cpu: cpu::CpuWeights,
    buffers: Buffers,
    ledger: Vec<LedgerEntry>,
}

impl Executor {
    /// A CPU executor for the first `plan.layers` layers of `model`.
    pub fn cpu(model: &Model) -> Self {
        let plan = Plan::new(&model.config, model.encoder.layers.len());
        let cpu = cpu::CpuWeights::new(&model.config, &model.encoder);
        let ledger = plan
            .ops
            .iter()
            .map(|op| LedgerEntry {
                op: op.kind,
                name: op.name,
                layer: op.layer,
                device: Device::Cpu,
                shape: op.shape_text(),
                calls: 0,
                ms: 0.0,
                flops: op.flops(),
                fallback: None,
            })
            .collect();
        Executor {
            buffers: Buffers::new(&plan),
            plan,
            cpu,
            ledger,
        }
    }

    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// Encode one window's log-mel (`[n_mels][3000]`) and return its embeddings `[1500][d]`.
    pub fn encode_window(&mut self, mel: &[f32]) -> &[f32] {
        self.buffers.get_mut(Buf::Mel).copy_from_slice(mel);
        for (op, entry) in self.plan.ops.iter().zip(self.ledger.iter_mut()) {
            let started = Instant::now();
            cpu::run(&op.step, &self.cpu, &mut self.buffers);
            entry.ms += started.elapsed().as_secs_f64() * 1e3;
            entry.calls += 1;
        }
        self.buffers.get(Buf::Normed)
    }

    pub fn ledger(&self) -> &[LedgerEntry] {
        &self.ledger
    }
}
