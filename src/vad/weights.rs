//! Silero VAD v6's weights: imported from faster-whisper's ONNX file, stored as safetensors
//! (what `npu-whisper convert` writes and `--vad` loads), checked shape by shape.

use std::collections::BTreeMap;
use std::path::Path;

use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};

use super::net::{Conv, HIDDEN, Silero};
use super::onnx;
use crate::error::{Error, Result};
use crate::tools::export::{OutputTarget, write_atomically};

/// The file faster-whisper ships and `model fetch silero-vad` brings.
pub const ONNX_FILE: &str = "silero_vad_v6.onnx";
/// The imported weights, written beside it on first use.
pub const WEIGHTS_FILE: &str = "silero_vad_v6.safetensors";

/// Tensors by our names: (shape, values).
pub type Tensors = BTreeMap<String, (Vec<usize>, Vec<f32>)>;

/// Our tensor names, their shapes, and the ONNX initializer each comes from (`None`: found
/// through the LSTM node's inputs, whose initializer names the exporter numbers).
const LAYOUT: [(&str, &[usize], Option<&str>); 14] = [
    (
        "stft.basis",
        &[258, 1, 256],
        Some("encoder.feature_extractor.forward_basis_buffer"),
    ),
    (
        "conv.0.weight",
        &[128, 129, 3],
        Some("encoder.conv_layers.0.weight"),
    ),
    ("conv.0.bias", &[128], Some("encoder.conv_layers.0.bias")),
    (
        "conv.1.weight",
        &[64, 128, 3],
        Some("encoder.conv_layers.1.weight"),
    ),
    ("conv.1.bias", &[64], Some("encoder.conv_layers.1.bias")),
    (
        "conv.2.weight",
        &[64, 64, 3],
        Some("encoder.conv_layers.2.weight"),
    ),
    ("conv.2.bias", &[64], Some("encoder.conv_layers.2.bias")),
    (
        "conv.3.weight",
        &[128, 64, 3],
        Some("encoder.conv_layers.3.weight"),
    ),
    ("conv.3.bias", &[128], Some("encoder.conv_layers.3.bias")),
    ("lstm.input_weights", &[1, 512, 128], None),
    ("lstm.recurrent_weights", &[1, 512, 128], None),
    ("lstm.bias", &[1, 1024], None),
    ("head.weight", &[1, 128, 1], Some("decoder.conv1d.weight")),
    ("head.bias", &[1], Some("decoder.conv1d.bias")),
];

/// The shape `LAYOUT` gives tensor `name`.
fn layout_shape(name: &str) -> &'static [usize] {
    LAYOUT
        .iter()
        .find(|(n, ..)| *n == name)
        .map(|(_, shape, _)| *shape)
        .expect("a name from LAYOUT")
}

fn not_silero(path: &Path, why: impl std::fmt::Display) -> Error {
    Error::model(path, format!("not Silero VAD v6 weights: {why}"))
}

/// The weights of faster-whisper's `silero_vad_v6.onnx` (its bytes), by our names.
pub fn import_onnx(path: &Path, bytes: &[u8]) -> Result<Tensors> {
    let mut graph = onnx::read_graph(bytes).map_err(|e| not_silero(path, e))?;
    let lstm = graph
        .nodes
        .iter()
        .find(|(op, _)| op == "LSTM")
        .map(|(_, inputs)| inputs.clone())
        .ok_or_else(|| not_silero(path, "the graph has no LSTM"))?;
    let mut take = |ours: &str, theirs: &str, shape: &[usize]| -> Result<(Vec<usize>, Vec<f32>)> {
        let t = graph
            .initializers
            .remove(theirs)
            .ok_or_else(|| not_silero(path, format!("no tensor {theirs}")))?;
        if t.shape != shape {
            return Err(not_silero(
                path,
                format!("{theirs} ({ours}) is {:?}, expected {shape:?}", t.shape),
            ));
        }
        Ok((t.shape, t.values))
    };
    let mut tensors = Tensors::new();
    let mut lstm_inputs = lstm.iter().skip(1);
    for (ours, shape, theirs) in &LAYOUT {
        let theirs = match theirs {
            Some(name) => name.to_string(),
            None => lstm_inputs
                .next()
                .cloned()
                .ok_or_else(|| not_silero(path, "the LSTM lacks W, R or B"))?,
        };
        tensors.insert(ours.to_string(), take(ours, &theirs, shape)?);
    }
    Ok(tensors)
}

/// Write `tensors` as a float32 safetensors file, atomically.
pub fn write(tensors: &Tensors, target: &Path) -> Result<()> {
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|(name, (shape, values))| {
            let raw = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            (name.clone(), shape.clone(), raw)
        })
        .collect();
    let views: Vec<(String, TensorView)> = bytes
        .iter()
        .map(|(name, shape, raw)| {
            let view = TensorView::new(Dtype::F32, shape.clone(), raw).expect("sizes match");
            (name.clone(), view)
        })
        .collect();
    // One key: the crate writes a map's keys in hash order, and the same weights should
    // always give the same file.
    let metadata = std::collections::HashMap::from([(
        "format".to_string(),
        format!("silero-vad-v6 (imported from faster-whisper's {ONNX_FILE})"),
    )]);
    let file = safetensors::serialize(views, Some(metadata))
        .map_err(|e| Error::Runtime(format!("serialising the VAD weights: {e}")))?;
    write_atomically(&OutputTarget::File(target.to_path_buf()), |out| {
        out.write_all(&file)
    })
}

/// Silero VAD v6 is 1.2 MB of weights (2.2 MB as ONNX): a file far larger is something else,
/// and is not read whole into memory to find that out.
const MAX_FILE_BYTES: u64 = 16 << 20;

/// The bytes of a weights file of plausible size.
fn read_small(path: &Path) -> Result<Vec<u8>> {
    let read_error = |source| Error::ReadInput {
        path: path.to_path_buf(),
        source,
    };
    let size = std::fs::metadata(path).map_err(read_error)?.len();
    if size > MAX_FILE_BYTES {
        return Err(not_silero(
            path,
            format!("{:.0} MB, far more than the VAD's 2 MB", size as f64 / 1e6),
        ));
    }
    std::fs::read(path).map_err(read_error)
}

/// Read a safetensors file written by `write`.
pub fn read(path: &Path) -> Result<Tensors> {
    let bytes = read_small(path)?;
    let file = SafeTensors::deserialize(&bytes).map_err(|e| not_silero(path, e))?;
    let mut tensors = Tensors::new();
    for (name, view) in file.tensors() {
        if view.dtype() != Dtype::F32 {
            return Err(not_silero(
                path,
                format!("{name} is {:?}, not F32", view.dtype()),
            ));
        }
        let values = view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        tensors.insert(name, (view.shape().to_vec(), values));
    }
    Ok(tensors)
}

/// The network from tensors by our names, every shape checked and every value finite.
pub fn network(path: &Path, mut tensors: Tensors) -> Result<Silero> {
    let mut take = |name: &str| -> Result<Vec<f32>> {
        let shape = layout_shape(name);
        let (got, values) = tensors
            .remove(name)
            .ok_or_else(|| not_silero(path, format!("no tensor {name}")))?;
        if got != shape {
            return Err(not_silero(
                path,
                format!("{name} is {got:?}, expected {shape:?}"),
            ));
        }
        if let Some(bad) = values.iter().find(|v| !v.is_finite()) {
            return Err(not_silero(path, format!("{name} holds {bad}")));
        }
        Ok(values)
    };
    let stft_basis = take("stft.basis")?;
    let strides = [1, 2, 2, 1];
    let mut convs = Vec::new();
    for (i, stride) in strides.into_iter().enumerate() {
        let weight_name = format!("conv.{i}.weight");
        let weight = take(&weight_name)?;
        let bias = take(&format!("conv.{i}.bias"))?;
        let inputs = layout_shape(&weight_name)[1];
        convs.push(Conv::from_onnx(&weight, bias, inputs, stride));
    }
    let lstm_input = take("lstm.input_weights")?;
    let lstm_recurrent = take("lstm.recurrent_weights")?;
    let biases = take("lstm.bias")?;
    // ONNX keeps the input and the recurrent bias apart ([Wb, Rb]); the cell adds both.
    let lstm_bias = (0..4 * HIDDEN)
        .map(|g| biases[g] + biases[4 * HIDDEN + g])
        .collect();
    let head_weight = take("head.weight")?;
    let head_bias = take("head.bias")?[0];
    Ok(Silero {
        stft_basis,
        convs: convs.try_into().expect("four convolutions"),
        lstm_input,
        lstm_recurrent,
        lstm_bias,
        head_weight,
        head_bias,
    })
}

/// The weights of an ONNX file on disk, by our names.
pub fn import_onnx_file(path: &Path) -> Result<Tensors> {
    import_onnx(path, &read_small(path)?)
}

/// Load the network from a safetensors file, or from the ONNX file itself (`.onnx`).
pub fn load(path: &Path) -> Result<Silero> {
    let tensors = if path.extension().is_some_and(|e| e == "onnx") {
        import_onnx_file(path)?
    } else {
        read(path)?
    };
    network(path, tensors)
}
