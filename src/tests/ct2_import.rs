//! `convert`: a CTranslate2 model.bin written here from the tiny random model (fused QKV, zero
//! key bias, gamma/beta names) imports back to the same encoder; truncations never panic.

use super::common;

use std::path::Path;

use crate::exec::Executor;
use crate::model::ct2::{Ct2Model, OutputDtype, convert};
use crate::model::{EncoderModel, Tensor};
use common::fixture;

fn put_string(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&((s.len() + 1) as u16).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
    out.push(0);
}

/// Variables (name, shape, dtype id, bytes) serialised as CTranslate2 binary format 6.
fn ct2_bytes(vars: &[(String, Vec<usize>, u8, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&6u32.to_le_bytes());
    put_string(&mut out, "WhisperSpec");
    out.extend_from_slice(&3u32.to_le_bytes());
    out.extend_from_slice(&(vars.len() as u32).to_le_bytes());
    for (name, shape, dtype, data) in vars {
        put_string(&mut out, name);
        out.push(shape.len() as u8);
        for d in shape {
            out.extend_from_slice(&(*d as u32).to_le_bytes());
        }
        out.push(*dtype);
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(data);
    }
    out.extend_from_slice(&1u32.to_le_bytes());
    put_string(&mut out, "decoder/projection/weight");
    put_string(&mut out, "decoder/embeddings/weight");
    out
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn values(t: &Tensor) -> Vec<f32> {
    t.to_f32().unwrap().into_owned()
}

/// The tiny random model as CTranslate2 variables (float32).
fn tiny_random_as_ct2() -> Vec<(String, Vec<usize>, u8, Vec<u8>)> {
    let m = EncoderModel::load(&fixture("models/tiny-random-hf"), None).unwrap();
    let (d, f, mels) = (
        m.config.d_model,
        m.config.encoder_ffn_dim,
        m.config.num_mel_bins,
    );
    let e = &m.encoder;
    let mut v = vec![
        (
            "encoder/num_heads".to_string(),
            vec![],
            2u8,
            2i16.to_le_bytes().to_vec(),
        ),
        (
            "encoder/conv1/weight".into(),
            vec![d, mels, 3],
            0,
            f32_bytes(&values(&e.conv1_weight)),
        ),
        (
            "encoder/conv1/bias".into(),
            vec![d],
            0,
            f32_bytes(&values(&e.conv1_bias)),
        ),
        (
            "encoder/conv2/weight".into(),
            vec![d, d, 3],
            0,
            f32_bytes(&values(&e.conv2_weight)),
        ),
        (
            "encoder/conv2/bias".into(),
            vec![d],
            0,
            f32_bytes(&values(&e.conv2_bias)),
        ),
        (
            "encoder/position_encodings/encodings".into(),
            vec![1500, d],
            0,
            f32_bytes(&values(&e.positions)),
        ),
        (
            "encoder/layer_norm/gamma".into(),
            vec![d],
            0,
            f32_bytes(&values(&e.final_norm_gamma)),
        ),
        (
            "encoder/layer_norm/beta".into(),
            vec![d],
            0,
            f32_bytes(&values(&e.final_norm_beta)),
        ),
    ];
    for (i, l) in e.layers.iter().enumerate() {
        let p = format!("encoder/layer_{i}/");
        let qkv_w = [
            values(&l.query_weight),
            values(&l.key_weight),
            values(&l.value_weight),
        ]
        .concat();
        let qkv_b = [values(&l.query_bias), vec![0.0; d], values(&l.value_bias)].concat();
        for (name, shape, data) in [
            (
                "self_attention/layer_norm/gamma",
                vec![d],
                values(&l.attn_norm_gamma),
            ),
            (
                "self_attention/layer_norm/beta",
                vec![d],
                values(&l.attn_norm_beta),
            ),
            ("self_attention/linear_0/weight", vec![3 * d, d], qkv_w),
            ("self_attention/linear_0/bias", vec![3 * d], qkv_b),
            (
                "self_attention/linear_1/weight",
                vec![d, d],
                values(&l.out_weight),
            ),
            ("self_attention/linear_1/bias", vec![d], values(&l.out_bias)),
            ("ffn/layer_norm/gamma", vec![d], values(&l.mlp_norm_gamma)),
            ("ffn/layer_norm/beta", vec![d], values(&l.mlp_norm_beta)),
            ("ffn/linear_0/weight", vec![f, d], values(&l.fc1_weight)),
            ("ffn/linear_0/bias", vec![f], values(&l.fc1_bias)),
            ("ffn/linear_1/weight", vec![d, f], values(&l.fc2_weight)),
            ("ffn/linear_1/bias", vec![d], values(&l.fc2_bias)),
        ] {
            v.push((format!("{p}{name}"), shape, 0, f32_bytes(&data)));
        }
    }
    // A one-token "decoder" so the vocabulary size and tied projection alias are exercised.
    v.push((
        "decoder/embeddings/weight".into(),
        vec![4, d],
        0,
        f32_bytes(&vec![0.5; 4 * d]),
    ));
    v
}

fn write_ct2_dir(dir: &Path, bytes: &[u8]) {
    std::fs::write(dir.join("model.bin"), bytes).unwrap();
    std::fs::write(
        dir.join("tokenizer.json"),
        r#"{"added_tokens": [{"id": 3, "content": "<|endoftext|>"}, {"id": 0, "content": "<|startoftranscript|>"}, {"id": 1, "content": "<|en|>"}, {"id": 2, "content": "<|transcribe|>"}]}"#,
    )
    .unwrap();
    std::fs::write(
        dir.join("config.json"),
        r#"{"alignment_heads": [[1, 0]], "lang_ids": [1], "suppress_ids": [2], "suppress_ids_begin": [3]}"#,
    )
    .unwrap();
}

#[test]
fn convert_splits_fused_qkv_and_reproduces_the_encoder() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("ct2");
    std::fs::create_dir(&src).unwrap();
    write_ct2_dir(&src, &ct2_bytes(&tiny_random_as_ct2()));
    let out = dir.path().join("hf");
    let report = convert(&src.join("model.bin"), &out, OutputDtype::F32).unwrap();
    assert_eq!(report.encoder_layers, 2);
    assert_eq!(report.vocab_size, 4);

    let generation: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("generation_config.json")).unwrap())
            .unwrap();
    assert_eq!(generation["lang_to_id"]["<|en|>"], 1);
    assert_eq!(generation["task_to_id"]["transcribe"], 2);
    assert_eq!(generation["alignment_heads"], serde_json::json!([[1, 0]]));
    assert!(out.join("tokenizer.json").exists());

    let converted = EncoderModel::load(&out, None).unwrap();
    let original = EncoderModel::load(&fixture("models/tiny-random-hf"), None).unwrap();
    assert_eq!(converted.config.encoder_attention_heads, 2);
    let (_, mel) = common::read_npy_gz(&fixture("mel/speech_espeak_16k.n80.npy.gz"));
    let a = Executor::cpu(&converted)
        .unwrap()
        .encode_window(&mel)
        .unwrap()
        .to_vec();
    let b = Executor::cpu(&original)
        .unwrap()
        .encode_window(&mel)
        .unwrap()
        .to_vec();
    assert_eq!(a, b, "the imported encoder differs");
}

/// Four small variables (an int16 scalar, f32 weights, a bias, a decoder tensor).
fn small_vars() -> Vec<(String, Vec<usize>, u8, Vec<u8>)> {
    vec![
        (
            "encoder/num_heads".to_string(),
            vec![],
            2u8,
            2i16.to_le_bytes().to_vec(),
        ),
        (
            "encoder/conv1/weight".to_string(),
            vec![2, 1, 3],
            0,
            f32_bytes(&[0.5; 6]),
        ),
        ("encoder/conv1/bias".to_string(), vec![2], 4, vec![0; 4]),
        (
            "decoder/embeddings/weight".to_string(),
            vec![1, 2],
            5,
            vec![0; 4],
        ),
    ]
}

#[test]
fn truncation_anywhere_is_an_error_never_a_panic() {
    // Small variables so that every byte position can be a cut point, header and data alike.
    let bytes = ct2_bytes(&small_vars());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.bin");
    for cut in 0..bytes.len() {
        std::fs::write(&path, &bytes[..cut]).unwrap();
        let err = match Ct2Model::open(&path) {
            Ok(_) => panic!("a file cut at {cut} of {} bytes opened", bytes.len()),
            Err(e) => e.to_string(),
        };
        assert!(err.contains("model.bin"), "{err}");
    }
    std::fs::write(&path, &bytes).unwrap();
    assert_eq!(Ct2Model::open(&path).unwrap().variables.len(), 4);
}

#[test]
fn quantized_and_foreign_models_are_refused_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let mut vars = tiny_random_as_ct2();
    let (name, shape, _, data) = vars[1].clone();
    vars[1] = (name, shape, 1, data[..data.len() / 4].to_vec()); // int8 conv1
    write_ct2_dir(dir.path(), &ct2_bytes(&vars));
    let err = convert(
        &dir.path().join("model.bin"),
        &dir.path().join("out"),
        OutputDtype::F16,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("quantized"), "{err}");

    std::fs::write(dir.path().join("model.bin"), b"\x05\x00\x00\x00garbage").unwrap();
    let err = Ct2Model::open(&dir.path().join("model.bin"))
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("version 5"), "{err}");
}

/// Bounded mutation fuzzing of the reader: random overwrites, extreme length and count fields,
/// truncations and insertions anywhere in a small model file never panic.
#[test]
fn mutated_files_are_errors_or_models_never_panics() {
    let seed = ct2_bytes(&small_vars()[..3]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.bin");
    for bytes in common::mutations(&seed, 3000) {
        std::fs::write(&path, &bytes).unwrap();
        if let Err(e) = Ct2Model::open(&path) {
            assert!(e.to_string().contains("model.bin"), "{e}");
        }
    }
}
