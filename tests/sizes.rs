//! Every Whisper size end to end, on the CPU and in npu-sim: random-weight models of the real
//! widths, mel counts, head counts and vocabularies (`write_random_model`; fewer layers than the
//! published ones), encoded on both devices and transcribed. The random decoder is built to
//! detect the vocabulary's last language and stop at once (see `write_random_model`), so the
//! transcription checks the special-token layout of each vocabulary: large-v3's 51866 tokens
//! must detect `yue`, the language only large-v3 has.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

fn npu_whisper() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_npu-whisper"));
    cmd.env("HF_HUB_OFFLINE", "1").arg("--threads").arg("2");
    cmd
}

/// A random model of catalogue size `name` with one encoder layer and `decoder_layers`.
fn random_model(
    dir: &Path,
    name: &str,
    decoder_layers: usize,
) -> (PathBuf, npu_whisper::ModelConfig) {
    let path = dir.join(name);
    let written = npu_whisper::tools::write_random_model_with_vocabulary(
        &path,
        name,
        Some(1),
        Some(decoder_layers),
        7,
        &common::vocabulary(name),
    )
    .unwrap();
    (path, written.config)
}

/// Encode `audio` with the model on `device`: the embeddings.
fn encode(model: &Path, device: &str, out: &Path) -> Vec<f32> {
    let audio = common::sample("jfk.wav");
    let result = npu_whisper()
        .args(["encode", "--model"])
        .arg(model)
        .args(["--device", device, "-o"])
        .arg(out)
        .arg(&audio)
        .output()
        .unwrap();
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    let (shape, values) = common::parse_npy(&std::fs::read(out).unwrap());
    assert_eq!(shape[..2], [1, 1500]);
    assert!(values.iter().all(|v| v.is_finite()));
    values
}

/// Transcribe jfk.wav: the JSON document.
fn transcribe(model: &Path, device: &str) -> serde_json::Value {
    let result = npu_whisper()
        .args(["transcribe", "--model"])
        .arg(model)
        .args(["--device", device, "-f", "json"])
        .arg(common::sample("jfk.wav"))
        .output()
        .unwrap();
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    serde_json::from_slice(&result.stdout).unwrap()
}

/// Encode on the CPU and in npu-sim (agreeing to bf16 precision) and transcribe on the CPU
/// (and in npu-sim when `sim_transcribe`): each step checks the size's shapes and vocabulary.
fn check_size(name: &str, decoder_layers: usize, sim_transcribe: bool) {
    let dir = tempfile::tempdir().unwrap();
    let (model, config) = random_model(dir.path(), name, decoder_layers);
    let cpu = encode(&model, "cpu", &dir.path().join("cpu.npy"));
    assert_eq!(cpu.len(), 1500 * config.d_model, "{name}");
    let sim = encode(&model, "npu-sim", &dir.path().join("sim.npy"));
    let cosine = common::cosine(&cpu, &sim);
    assert!(cosine > 0.999, "{name}: npu-sim vs cpu cosine {cosine}");
    let expected_language = match config.vocab_size {
        51864 => "en", // English-only: no detection
        51865 => "su", // the last of the 99 languages
        _ => "yue",    // large-v3's added language
    };
    let mut devices = vec!["cpu"];
    if sim_transcribe {
        devices.push("npu-sim");
    }
    for device in devices {
        let doc = transcribe(&model, device);
        assert_eq!(
            doc["language"], expected_language,
            "{name} on {device}: {doc}"
        );
        assert_eq!(doc["windows"], 1, "{name} on {device}");
        assert_eq!(
            doc["text"], "",
            "{name} on {device}: the decoder ends each window at once"
        );
    }
}

/// One test per size (so they run in parallel and fail by name): catalogue name, decoder
/// layers of the random model, and whether npu-sim transcribes too.
macro_rules! sizes {
    ($($test:ident: $name:literal, $decoder_layers:literal, $sim_transcribe:literal;)*) => {
        $(
            #[test]
            fn $test() {
                check_size($name, $decoder_layers, $sim_transcribe);
            }
        )*
    };
}

sizes! {
    tiny_en: "tiny.en", 1, true;
    base: "base", 1, false;
    small: "small", 1, false;
    medium_en: "medium.en", 1, false;
    large_v2: "large-v2", 1, false;
    large_v3: "large-v3", 1, true;
    large_v3_turbo_with_its_four_decoder_layers: "turbo", 4, true;
    distil_large_v3_with_its_two_decoder_layers: "distil-large-v3", 2, false;
    distil_small_en_with_its_four_decoder_layers: "distil-small.en", 4, false;
}
