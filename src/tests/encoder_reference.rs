//! The f32 CPU encoder against independent references (scripts/make-encoder-fixtures.py):
//! CTranslate2 float32 on the original whisper-base and tiny.en weights, and numpy float64 on a
//! tiny random-weight model stored in both naming conventions and three dtypes.
//! Bounds from the issue: cosine >= 0.99999 and max |diff| <= 5e-3 per window.

use super::common;

use crate::exec::Executor;
use crate::model::{self, EncoderModel};
use common::{cosine, fixture, large_fixture, read_npy_gz};

/// Encode the committed reference mel of `clip` with `model` and compare to `reference`.
fn check(model: &EncoderModel, clip: &str, reference: &str, max_abs_bound: f32) {
    let Some(reference_path) = large_fixture(&format!("encoder/{reference}")) else {
        return;
    };
    let (_, mel) = read_npy_gz(&fixture(&format!("mel/{clip}.n80.npy.gz")));
    let (shape, want) = read_npy_gz(&reference_path);
    let mut executor = Executor::cpu(model).unwrap();
    let got = executor.encode_window(&mel).unwrap().to_vec();
    assert_eq!(
        got.len(),
        shape.iter().product::<usize>(),
        "{reference}: shape {shape:?}"
    );
    let cos = cosine(&got, &want);
    let max_abs = got
        .iter()
        .zip(&want)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    eprintln!("{reference}: cosine {cos:.9}, max |diff| {max_abs:.3e}");
    assert!(cos >= 0.99999, "{reference}: cosine {cos}");
    assert!(
        max_abs <= max_abs_bound,
        "{reference}: max |diff| {max_abs}"
    );
}

fn cached(name: &str) -> EncoderModel {
    let dir = model::cache_dir().join(name);
    assert!(
        dir.join("model.safetensors").exists(),
        "{} is missing: run scripts/fetch-model {name} (scripts/test does)",
        dir.display()
    );
    EncoderModel::load(&dir, None).unwrap()
}

#[test]
#[ignore = "needs the cached base model: run scripts/test"]
fn whisper_base_matches_ctranslate2_float32() {
    if large_fixture("encoder/base_jfk.ct2.npy.gz").is_none() {
        return;
    }
    let model = cached("base");
    assert_eq!(model.config.size_name(), "base");
    check(&model, "jfk", "base_jfk.ct2.npy.gz", 5e-3);
    check(
        &model,
        "speech_espeak_16k",
        "base_speech_espeak_16k.ct2.npy.gz",
        5e-3,
    );
}

#[test]
#[ignore = "needs the cached tiny.en model: run scripts/test"]
fn whisper_tiny_en_matches_ctranslate2_float32() {
    if large_fixture("encoder/tiny.en_jfk.ct2.npy.gz").is_none() {
        return;
    }
    let model = cached("tiny.en");
    assert_eq!(model.config.size_name(), "tiny");
    check(&model, "jfk", "tiny.en_jfk.ct2.npy.gz", 5e-3);
}

#[test]
fn random_model_in_hf_layout_f16_matches_numpy_float64() {
    let model = EncoderModel::load(&fixture("models/tiny-random-hf"), None).unwrap();
    assert_eq!(model.config.d_model, 128);
    assert_eq!(model.config.encoder_attention_heads, 2);
    check(
        &model,
        "speech_espeak_16k",
        "tiny_random_speech.f64.npy.gz",
        1e-4,
    );
}

#[test]
fn random_model_as_one_openai_named_bf16_file_loads_and_matches() {
    // No config.json: dimensions come from the tensor shapes.
    let model =
        EncoderModel::load(&fixture("models/tiny-random-openai.safetensors"), None).unwrap();
    assert_eq!(model.config.encoder_layers, 2);
    assert_eq!(model.config.encoder_ffn_dim, 512);
    check(
        &model,
        "speech_espeak_16k",
        "tiny_random_speech.f64.npy.gz",
        1e-4,
    );
}

#[test]
fn a_model_directory_in_openai_naming_loads() {
    // The OpenAI-named file as `model.safetensors` of a directory without config.json.
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        fixture("models/tiny-random-openai.safetensors"),
        dir.path().join("model.safetensors"),
    )
    .unwrap();
    let model = EncoderModel::load(dir.path(), None).unwrap();
    assert_eq!(model.config.encoder_layers, 2);
    check(
        &model,
        "speech_espeak_16k",
        "tiny_random_speech.f64.npy.gz",
        1e-4,
    );
}

#[test]
#[ignore = "needs the cached base model: run scripts/test"]
fn the_bf16_cpu_path_stays_within_cosine_0_9995_of_ctranslate2() {
    use crate::exec::{Arithmetic, ExecOptions};
    if !crate::cpu_features::has_avx512_bf16() {
        eprintln!("no AVX512_BF16 here: --precision bf16 is refused on this CPU (tested in cli)");
        return;
    }
    let Some(reference) = large_fixture("encoder/base_jfk.ct2.npy.gz") else {
        return;
    };
    let model = cached("base");
    let options = ExecOptions {
        precision: Arithmetic::Bf16,
        ..ExecOptions::default()
    };
    let mut executor = Executor::new(&model, options).unwrap();
    let (_, mel) = read_npy_gz(&fixture("mel/jfk.n80.npy.gz"));
    let got = executor.encode_window(&mel).unwrap().to_vec();
    let (_, want) = read_npy_gz(&reference);
    let cos = cosine(&got, &want);
    eprintln!("base bf16 vs CTranslate2 float32: cosine {cos:.7}");
    assert!(cos >= 0.9995, "cosine {cos}");
}
