//! `Encoder`: a model's encoder arranged for a device, shared by any number of threads, and its
//! two forms of use: a whole recording at once (`encode`) or window by window (`stream`).

use std::collections::BTreeSet;
use std::sync::Arc;

use ndarray::{ArrayView2, ArrayView3};

use super::model::Weights;
use super::windows::WindowSelection;
use super::{CancelToken, Model, Precision};
use crate::encoder::OpKind;
use crate::error::{Error, Result};
use crate::exec::npu_adapter::{FAULT_ENV, Fault};
use crate::exec::{CompiledEncoder, Device, EncoderState, ExecOptions, LedgerEntry};
use crate::mel::{LogMel, WINDOW_SAMPLES};
use crate::model::config::ENCODER_FRAMES;
use crate::model::{EncoderModel, layers_to_load};
use crate::npu::cost;
pub use crate::npu::cost::{
    Bound as NpuCostBound, DeviceModel as NpuCostModel, Projection as NpuProjection,
};

/// Where and how the encoder runs.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct EncoderOptions {
    /// Which device runs the ops (default: the NPU when it is usable, else the CPU, and the
    /// placement says which).
    pub device: Device,
    /// The CPU path's arithmetic.
    pub precision: Precision,
    /// Op kinds kept on the CPU whatever the device.
    pub cpu_ops: BTreeSet<OpKind>,
    /// Any fallback to the CPU is an error ([`ErrorKind::NpuUnavailable`](crate::ErrorKind)).
    pub require_npu: bool,
    /// Also run every NPU op on the CPU and record how far apart they are in the ledger.
    pub verify: bool,
    /// Load only the first layers of the encoder (benchmarks and bring-up).
    pub layers: Option<usize>,
}

impl EncoderOptions {
    /// Run on `device`.
    pub fn device(mut self, device: Device) -> Self {
        self.device = device;
        self
    }

    /// Compute in `precision` on the CPU.
    pub fn precision(mut self, precision: Precision) -> Self {
        self.precision = precision;
        self
    }

    /// Keep these op kinds on the CPU.
    pub fn cpu_ops(mut self, kinds: impl IntoIterator<Item = OpKind>) -> Self {
        self.cpu_ops = kinds.into_iter().collect();
        self
    }

    /// Make any fallback to the CPU an error.
    pub fn require_npu(mut self, require: bool) -> Self {
        self.require_npu = require;
        self
    }

    /// Check every NPU op against the CPU.
    pub fn verify(mut self, verify: bool) -> Self {
        self.verify = verify;
        self
    }

    /// Load only the first `layers` encoder layers.
    pub fn layers(mut self, layers: Option<usize>) -> Self {
        self.layers = layers;
        self
    }

    fn exec_options(&self) -> Result<ExecOptions> {
        // The fault hook reaches only the simulator and the NPU, where fallback is tested.
        let fault = match std::env::var(FAULT_ENV) {
            Ok(spec) if !spec.is_empty() => Some(Fault::parse(&spec).map_err(Error::Usage)?),
            _ => None,
        };
        Ok(ExecOptions {
            precision: self.precision.arithmetic(),
            device: self.device,
            cpu_ops: self.cpu_ops.clone(),
            require_npu: self.require_npu,
            verify: self.verify,
            fault,
        })
    }
}

/// A model's encoder, arranged for its device: log-mel in, one `[1500 x d_model]` matrix of
/// embeddings per 30 s window out.
///
/// Cloning is cheap and clones share the arranged weights (and the NPU's hardware context):
/// one `Encoder` serves concurrent callers, each call with its own activations.
#[derive(Clone)]
pub struct Encoder {
    compiled: Arc<CompiledEncoder>,
    front_end: LogMel,
    precision: Precision,
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoder")
            .field("d_model", &self.d_model())
            .field("n_mels", &self.front_end.n_mels())
            .field("precision", &self.precision)
            .field("device_note", &self.device_note())
            .finish()
    }
}

impl Encoder {
    /// Arrange `model`'s encoder weights as `options` ask. Needs only the model's
    /// `config.json` and weights. Fails on unusable weights, a precision this CPU lacks, or an
    /// NPU that is required (`require_npu`) and missing.
    pub fn new(model: &Model, options: &EncoderOptions) -> Result<Encoder> {
        let weights = match &model.inner.weights {
            Weights::File(file) => EncoderModel::from_source(file, options.layers)?,
            Weights::Synthetic { config, .. } => {
                EncoderModel::synthetic(config, layers_to_load(config, options.layers)?)
            }
        };
        let compiled = CompiledEncoder::new(&weights, options.exec_options()?)?;
        Ok(Encoder {
            compiled: Arc::new(compiled),
            front_end: LogMel::new(model.config().num_mel_bins),
            precision: options.precision.resolve(),
        })
    }

    /// Encode a whole recording (16 kHz mono samples, any length): every 30 s window, the last
    /// one padded with silence.
    pub fn encode(&self, samples: &[f32]) -> Result<Embeddings> {
        self.encode_cancellable(samples, &CancelToken::new())
    }

    /// As [`encode`](Self::encode), checking `cancel` before each window: once it is cancelled
    /// the call returns [`Error::Cancelled`](crate::Error::Cancelled).
    pub fn encode_cancellable(&self, samples: &[f32], cancel: &CancelToken) -> Result<Embeddings> {
        self.encode_windows(samples, &WindowSelection::all(samples.len()), cancel)
    }

    /// Encode the windows `selection` holds (e.g. [`WindowSelection::with_speech`]), in its
    /// order, checking `cancel` before each. `samples` must be the recording the selection was
    /// made for.
    pub fn encode_windows(
        &self,
        samples: &[f32],
        selection: &WindowSelection,
        cancel: &CancelToken,
    ) -> Result<Embeddings> {
        let d = self.d_model();
        let mut values = Vec::with_capacity(selection.len() * ENCODER_FRAMES * d);
        let mut stream = self.stream();
        for window in selection.windows() {
            cancel.check()?;
            let Some(audio) = samples.get(window.samples.clone()) else {
                return Err(Error::Usage(format!(
                    "window {} covers samples {:?}, past the recording's {}",
                    window.index,
                    window.samples,
                    samples.len()
                )));
            };
            let embeddings = stream.encode_samples(audio)?;
            values.extend_from_slice(embeddings.as_slice().expect("standard layout"));
        }
        Ok(Embeddings {
            values,
            windows: selection.len(),
            d_model: d,
            audio_frames: selection.rows(true),
            ledger: stream.state.ledger().to_vec(),
        })
    }

    /// A window-by-window session with its own activations: for long recordings that should
    /// not be held whole, and for callers who write each window out as it is done.
    ///
    /// ```
    /// use npu_whisper::{Encoder, EncoderOptions, Model, mel::WINDOW_SAMPLES};
    /// # fn main() -> npu_whisper::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// # // The vocabulary of a committed fixture, so the example runs without fetched models.
    /// # let vocabulary = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/vocabulary/multilingual");
    /// # npu_whisper::tools::write_random_model_with_vocabulary(dir.path(), "tiny", Some(1), Some(1), 1, &vocabulary)?;
    /// let model = Model::open(dir.path())?;
    /// let encoder = Encoder::new(&model, &EncoderOptions::default())?;
    /// let recording = vec![0.01f32; 70 * 16_000]; // 70 s: three windows
    /// let mut stream = encoder.stream();
    /// let mut rows = 0;
    /// for window in recording.chunks(WINDOW_SAMPLES) {
    ///     let embeddings = stream.encode_samples(window)?; // 1500 x d_model, valid until the next call
    ///     rows += embeddings.nrows();
    /// }
    /// assert_eq!(rows, 3 * 1500);
    /// // Every op of every window is in the ledger: 3 runs each.
    /// assert!(stream.ledger().iter().all(|op| op.runs == 3 || op.fused_into.is_some()));
    /// # Ok(())
    /// # }
    /// ```
    pub fn stream(&self) -> EncoderStream {
        EncoderStream {
            compiled: self.compiled.clone(),
            front_end: self.front_end.clone(),
            state: self.compiled.state(),
            mel: vec![0.0; self.front_end.window_len()],
        }
    }

    /// Width of the embeddings (512 for base, 1280 for large).
    pub fn d_model(&self) -> usize {
        self.compiled.plan().config.d_model
    }

    /// The log-mel front end matching the model (80 or 128 mel bins).
    pub fn front_end(&self) -> &LogMel {
        &self.front_end
    }

    /// The CPU arithmetic in use (`Auto` resolved).
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// Why the requested device is not in use, when it is not (e.g. "NPU not used: no
    /// /dev/accel/accel0; running on the CPU").
    pub fn device_note(&self) -> Option<&str> {
        self.compiled.device_note()
    }

    /// Bytes of weights placed on the NPU once per model (0 on the CPU).
    pub fn resident_bytes(&self) -> usize {
        self.compiled.resident_bytes()
    }

    /// Encoder layers loaded (all of them unless [`EncoderOptions::layers`] said fewer).
    pub fn layers(&self) -> usize {
        self.compiled.plan().layers
    }

    /// Device calls per 30 s window on the NPU (0 on the CPU): one per op or fused group, never
    /// one per tile.
    pub fn npu_calls_per_window(&self) -> usize {
        self.compiled.calls().len()
    }

    /// What a window would take on each NPU generation, from the cost model (estimates, not
    /// measurements): of this encoder's NPU calls, or on the CPU of the calls it would make
    /// with every op on the NPU.
    pub fn npu_projections(&self) -> Vec<NpuProjection> {
        let all_on_npu;
        let calls = match self.compiled.calls() {
            [] => {
                let plan = self.compiled.plan();
                all_on_npu = crate::npu::calls::plan_calls(plan, &vec![true; plan.ops.len()]);
                &all_on_npu
            }
            calls => calls,
        };
        [&cost::NPU1, &cost::NPU4]
            .into_iter()
            .map(|device| cost::project(calls, device))
            .collect()
    }

    /// Floating-point operations of one window (multiply and add counted apart).
    pub fn flops_per_window(&self) -> f64 {
        self.compiled.plan().flops()
    }
}

/// One caller's window-by-window use of an [`Encoder`]: activations, scratch and a ledger of
/// its own. Made by [`Encoder::stream`].
pub struct EncoderStream {
    compiled: Arc<CompiledEncoder>,
    front_end: LogMel,
    state: EncoderState,
    mel: Vec<f32>,
}

impl EncoderStream {
    /// Encode one window of audio (at most 30 s of 16 kHz samples; shorter is padded with
    /// silence): `[1500 x d_model]`, valid until the next call.
    pub fn encode_samples(&mut self, window: &[f32]) -> Result<ArrayView2<'_, f32>> {
        if window.len() > WINDOW_SAMPLES {
            return Err(Error::Usage(format!(
                "a window holds at most {WINDOW_SAMPLES} samples (30 s); got {}",
                window.len()
            )));
        }
        self.front_end.window(window, &mut self.mel);
        self.compiled.encode_window(&mut self.state, &self.mel)?;
        Ok(self.last())
    }

    /// Encode one window's log-mel (`n_mels x 3000`, row-major, as
    /// [`LogMel::window`](crate::mel::LogMel::window) writes it): `[1500 x d_model]`, valid until
    /// the next call.
    pub fn encode_mel(&mut self, mel: &[f32]) -> Result<ArrayView2<'_, f32>> {
        if mel.len() != self.front_end.window_len() {
            return Err(Error::Usage(format!(
                "a log-mel window has {} values ({} mels x 3000 frames); got {}",
                self.front_end.window_len(),
                self.front_end.n_mels(),
                mel.len()
            )));
        }
        self.compiled.encode_window(&mut self.state, mel)?;
        Ok(self.last())
    }

    fn last(&self) -> ArrayView2<'_, f32> {
        let d = self.compiled.plan().config.d_model;
        ArrayView2::from_shape((ENCODER_FRAMES, d), self.state.output())
            .expect("the output buffer holds 1500 x d_model values")
    }

    /// Where each op ran, how often and how long, over this stream's windows.
    pub fn ledger(&self) -> &[LedgerEntry] {
        self.state.ledger()
    }

    /// Zero the ledger's counts and times (after warm-up windows), keeping placements and
    /// fallbacks.
    pub fn reset_counters(&mut self) {
        self.state.reset_counters();
    }
}

/// The encoder's output for a recording: `windows x 1500 x d_model` values, with the ledger of
/// where each op ran.
#[derive(Debug, Clone)]
pub struct Embeddings {
    values: Vec<f32>,
    windows: usize,
    d_model: usize,
    audio_frames: usize,
    ledger: Vec<LedgerEntry>,
}

impl Embeddings {
    /// All windows: `windows x 1500 x d_model` (20 ms per frame; the last window's frames past
    /// the end of the audio encode the padding).
    pub fn view(&self) -> ArrayView3<'_, f32> {
        ArrayView3::from_shape((self.windows, ENCODER_FRAMES, self.d_model), &self.values)
            .expect("windows x 1500 x d_model values")
    }

    /// Only the frames that hold audio, windows joined: `frames x d_model`. (Only a
    /// recording's last window is partly silence, so these are the first `frames` rows.)
    pub fn trimmed(&self) -> ArrayView2<'_, f32> {
        let frames = self.audio_frames.min(self.windows * ENCODER_FRAMES);
        ArrayView2::from_shape(
            (frames, self.d_model),
            &self.values[..frames * self.d_model],
        )
        .expect("frames x d_model values")
    }

    /// 30 s windows encoded.
    pub fn windows(&self) -> usize {
        self.windows
    }

    /// Encoded frames (20 ms each) that hold audio.
    pub fn audio_frames(&self) -> usize {
        self.audio_frames
    }

    /// Where each op ran, how often and how long.
    pub fn ledger(&self) -> &[LedgerEntry] {
        &self.ledger
    }

    /// "cpu: 66/66 ops"-style summary of the ledger, every fallback counted.
    pub fn placement(&self) -> String {
        crate::exec::placement_summary(&self.ledger)
    }

    /// The values, `windows x 1500 x d_model` in row-major order.
    pub fn into_vec(self) -> Vec<f32> {
        self.values
    }
}

// Shared by every request of a service; a field that cannot be would break that here.
const _: () = {
    const fn shared<T: Send + Sync>() {}
    shared::<Encoder>();
    shared::<EncoderStream>();
};
