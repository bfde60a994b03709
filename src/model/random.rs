//! Random-weight Whisper models of any published size, written as a Hugging Face model
//! directory (`config.json`, `generation_config.json`, `tokenizer.json`, f16
//! `model.safetensors`), for tests and benchmarks of sizes whose real weights cannot be
//! downloaded here. The weights are random, the shapes and the vocabulary are the real ones:
//!
//! - the tokenizer and generation config come from a real model of the same vocabulary family
//!   (`template`: whisper-base for multilingual, tiny.en for English-only); large-v3's 51866
//!   tokens are derived from the multilingual files the way large-v3 differs from them: one
//!   more language, `<|yue|>`, at 50358, and every special token from `<|translate|>` on one
//!   id higher (suppress lists, task and no-timestamps ids included);
//! - the decoder is built to decode a known, short result whatever the audio: its final
//!   LayerNorm outputs a constant vector `u` (gamma 0, beta `u`), so the logits are the token
//!   embeddings' dot products with `u`, and the embeddings of `<|endoftext|>`, `<|0.00|>` and
//!   the vocabulary's last language token are set along `u`. Transcription then detects that
//!   language (`yue` on a large-v3 vocabulary, `su` on the others) and ends each window at
//!   once, so a test can check the special-token layout end to end in milliseconds.
//!
//! The safetensors file is written tensor by tensor, so a 3 GB large-v3 never sits in memory.

use std::io::{Read, Write};
use std::path::Path;

use serde_json::{Value, json};

use super::Config;
use super::config::ENCODER_FRAMES;
use super::names::{
    self, DECODER_FINAL_NORM_BETA, DECODER_FINAL_NORM_GAMMA, DECODER_TOKEN_EMBEDDING, TensorRole,
    hf_decoder_names,
};
use crate::error::{Error, Result};

/// The decoder's learned positions (Whisper's text context).
pub const DECODER_POSITIONS: usize = 448;
/// The language large-v3 added (Cantonese), its last.
const LAST_V3_LANGUAGE: &str = "<|yue|>";
/// The first special token after the languages, `<|translate|>`, in the 51865-token layout.
const TRANSLATE_MULTILINGUAL: u64 = 50358;

/// What `write` produced.
#[derive(Debug, Clone, Copy)]
pub struct Written {
    /// Bytes of the encoder's tensors in the file.
    pub encoder_bytes: u64,
    /// Bytes of the whole weights file.
    pub file_bytes: u64,
}

/// Write a random model of `config`'s dimensions (its layer counts as given: fewer than the
/// published model's are fine) into `dir`, with the vocabulary of `template` (see the module
/// documentation). `seed` picks the weights.
pub fn write(dir: &Path, config: &Config, template: &Path, seed: u64) -> Result<Written> {
    let write_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::WriteOutput { path, source }
    };
    std::fs::create_dir_all(dir).map_err(write_error(dir))?;
    let (tokenizer, generation) = vocabulary(template, config)?;
    let last_language = generation["lang_to_id"]
        .as_object()
        .and_then(|m| m.values().filter_map(Value::as_u64).max());
    let eot = generation["eos_token_id"].as_u64().unwrap_or(50257) as usize;
    let no_timestamps = generation["no_timestamps_token_id"].as_u64().unwrap_or(0) as usize;
    write_json(&dir.join("tokenizer.json"), &tokenizer)?;
    write_json(&dir.join("generation_config.json"), &generation)?;
    write_json(&dir.join("config.json"), &config_json(config, eot))?;

    let tensors = tensor_list(config);
    let path = dir.join("model.safetensors");
    let mut header = serde_json::Map::new();
    let mut offset = 0usize;
    for t in &tensors {
        let bytes = 2 * t.shape.iter().product::<usize>();
        header.insert(
            t.name.clone(),
            json!({"dtype": "F16", "shape": t.shape, "data_offsets": [offset, offset + bytes]}),
        );
        offset += bytes;
    }
    header.insert(
        "__metadata__".into(),
        json!({"format": "pt", "made_by": "npu-whisper model::random (random weights)"}),
    );
    let mut header_bytes = serde_json::to_vec(&Value::Object(header)).unwrap_or_default();
    header_bytes.resize(header_bytes.len().next_multiple_of(8), b' ');
    let file = std::fs::File::create(&path).map_err(write_error(&path))?;
    let mut out = std::io::BufWriter::with_capacity(1 << 22, file);
    out.write_all(&(header_bytes.len() as u64).to_le_bytes())
        .and_then(|()| out.write_all(&header_bytes))
        .map_err(write_error(&path))?;
    let d = config.d_model;
    let steer = steering_vector(d);
    let mut encoder_bytes = 0u64;
    for (i, t) in tensors.iter().enumerate() {
        let len: usize = t.shape.iter().product();
        let values: Vec<f32> = match t.fill {
            Fill::Constant(v) => vec![v; len],
            Fill::Uniform(scale) => uniform(seed ^ ((i as u64) << 32), len, scale),
            Fill::Steer => steer.clone(),
            Fill::Positions => sinusoids(len / d, d),
            Fill::Tokens(scale) => {
                let mut v = uniform(seed ^ ((i as u64) << 32), len, scale);
                for (token, weight) in [(eot, 10.0), (no_timestamps + 1, 8.0)]
                    .into_iter()
                    .chain(last_language.map(|l| (l as usize, 5.0)))
                {
                    for (x, s) in v[token * d..(token + 1) * d].iter_mut().zip(&steer) {
                        *x = weight * s;
                    }
                }
                v
            }
        };
        let mut halves = vec![half::f16::ZERO; len];
        use half::slice::HalfFloatSliceExt;
        halves.convert_from_f32_slice(&values);
        let bytes: Vec<u8> = halves.iter().flat_map(|h| h.to_le_bytes()).collect();
        out.write_all(&bytes).map_err(write_error(&path))?;
        if t.name.starts_with("model.encoder.") {
            encoder_bytes += bytes.len() as u64;
        }
    }
    out.flush().map_err(write_error(&path))?;
    Ok(Written {
        encoder_bytes,
        file_bytes: (8 + header_bytes.len() + offset) as u64,
    })
}

/// How a tensor's values are made.
#[derive(Debug, Clone, Copy)]
enum Fill {
    Constant(f32),
    Uniform(f32),
    /// The decoder's final LayerNorm bias: the vector `u` the logits are measured along.
    Steer,
    /// Whisper's sinusoidal positions.
    Positions,
    /// The token embedding: uniform, with the steered rows.
    Tokens(f32),
}

struct Planned {
    name: String,
    shape: Vec<usize>,
    fill: Fill,
}

/// Every tensor of the model under its Hugging Face name (from `names`), in checkpoint order.
fn tensor_list(config: &Config) -> Vec<Planned> {
    let encoder = TensorRole::encoder(config.encoder_layers)
        .into_iter()
        .map(|role| format!("model.{}", role.hf_name()));
    encoder
        .chain(hf_decoder_names(config.decoder_layers))
        .map(|name| {
            let (shape, fill) = shape_and_fill(&name, config);
            Planned { name, shape, fill }
        })
        .collect()
}

/// A tensor's shape and values, from its Hugging Face name.
fn shape_and_fill(name: &str, config: &Config) -> (Vec<usize>, Fill) {
    let d = config.d_model;
    let w = 1.0 / (d as f32).sqrt();
    let ffn = if name.starts_with("model.encoder.") {
        config.encoder_ffn_dim
    } else {
        config.decoder_ffn_dim
    };
    let ends = |suffix: &str| name.ends_with(suffix);
    let decoder = |(suffix, _): (&str, &str)| name == format!("model.decoder.{suffix}");
    match name {
        _ if name == format!("model.{}", TensorRole::Positions.hf_name()) => {
            (vec![ENCODER_FRAMES, d], Fill::Positions)
        }
        _ if decoder(DECODER_TOKEN_EMBEDDING) => (vec![config.vocab_size, d], Fill::Tokens(0.02)),
        _ if decoder(names::DECODER_POSITION_EMBEDDING) => {
            (vec![DECODER_POSITIONS, d], Fill::Uniform(0.02))
        }
        // Gamma 0: the final hidden state is the bias `u` whatever the input (see the module doc).
        _ if decoder(DECODER_FINAL_NORM_GAMMA) => (vec![d], Fill::Constant(0.0)),
        _ if decoder(DECODER_FINAL_NORM_BETA) => (vec![d], Fill::Steer),
        _ if ends("conv1.weight") => (vec![d, config.num_mel_bins, 3], Fill::Uniform(0.2)),
        _ if ends("conv2.weight") => (vec![d, d, 3], Fill::Uniform(w)),
        _ if ends("layer_norm.weight") => (vec![d], Fill::Constant(1.0)),
        _ if ends("layer_norm.bias") => (vec![d], Fill::Constant(0.0)),
        _ if ends("fc1.weight") => (vec![ffn, d], Fill::Uniform(w)),
        _ if ends("fc1.bias") => (vec![ffn], Fill::Uniform(0.1)),
        _ if ends("fc2.weight") => (vec![d, ffn], Fill::Uniform(1.0 / (ffn as f32).sqrt())),
        // Attention projections; convolution and projection biases.
        _ if ends(".weight") => (vec![d, d], Fill::Uniform(w)),
        _ => (vec![d], Fill::Uniform(0.1)),
    }
}

/// A fixed unit vector with components of both signs.
fn steering_vector(d: usize) -> Vec<f32> {
    let norm = (d as f32).sqrt();
    (0..d)
        .map(|i| if i % 3 == 0 { -1.0 / norm } else { 1.0 / norm })
        .collect()
}

/// Uniform values in `[-scale, scale)` from xorshift64*.
fn uniform(seed: u64, len: usize, scale: f32) -> Vec<f32> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            let bits = state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 40;
            (bits as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale
        })
        .collect()
}

/// OpenAI's `sinusoids(length, channels)`: sin then cos, log-spaced timescales to 10000.
fn sinusoids(length: usize, channels: usize) -> Vec<f32> {
    let half = channels / 2;
    let increment = (10000f64).ln() / (half as f64 - 1.0);
    let mut out = vec![0.0f32; length * channels];
    for t in 0..length {
        for i in 0..half {
            let angle = t as f64 * (-increment * i as f64).exp();
            out[t * channels + i] = angle.sin() as f32;
            out[t * channels + half + i] = angle.cos() as f32;
        }
    }
    out
}

/// config.json as transformers writes it for Whisper.
fn config_json(c: &Config, eot: usize) -> Value {
    json!({
        "model_type": "whisper",
        "architectures": ["WhisperForConditionalGeneration"],
        "num_mel_bins": c.num_mel_bins,
        "d_model": c.d_model,
        "encoder_layers": c.encoder_layers,
        "encoder_attention_heads": c.encoder_attention_heads,
        "encoder_ffn_dim": c.encoder_ffn_dim,
        "decoder_layers": c.decoder_layers,
        "decoder_attention_heads": c.decoder_attention_heads,
        "decoder_ffn_dim": c.decoder_ffn_dim,
        "vocab_size": c.vocab_size,
        "max_source_positions": ENCODER_FRAMES,
        "max_target_positions": DECODER_POSITIONS,
        "bos_token_id": eot,
        "eos_token_id": eot,
        "pad_token_id": eot,
        "decoder_start_token_id": eot + 1,
        "torch_dtype": "float16",
    })
}

/// The tokenizer.json and generation_config.json for `config`'s vocabulary, from `template`.
fn vocabulary(template: &Path, config: &Config) -> Result<(Value, Value)> {
    // Each file as it is or gzip-compressed (`NAME.gz`: the committed test vocabularies).
    let read = |name: &str| -> Result<Value> {
        let plain = template.join(name);
        let gzipped = template.join(format!("{name}.gz"));
        let path = if plain.is_file() || !gzipped.is_file() {
            plain
        } else {
            gzipped
        };
        let read_error = |source| Error::ReadInput {
            path: path.clone(),
            source,
        };
        let file = std::fs::File::open(&path).map_err(read_error)?;
        let mut text = String::new();
        if path.extension().is_some_and(|e| e == "gz") {
            flate2::read::GzDecoder::new(file).read_to_string(&mut text)
        } else {
            std::io::BufReader::new(file).read_to_string(&mut text)
        }
        .map_err(read_error)?;
        serde_json::from_str(&text).map_err(|e| Error::model(&path, format!("not JSON: {e}")))
    };
    let (mut tokenizer, mut generation) =
        (read("tokenizer.json")?, read("generation_config.json")?);
    let template_vocab = generation["no_timestamps_token_id"]
        .as_u64()
        .map(|n| n as usize + 1 + 1501)
        .unwrap_or(0);
    match config.vocab_size.checked_sub(template_vocab) {
        Some(0) => {}
        Some(1) if generation["is_multilingual"].as_bool() == Some(true) => {
            add_v3_language(&mut tokenizer, &mut generation);
        }
        _ => {
            return Err(Error::Usage(format!(
                "a {}-token vocabulary cannot be made from {} ({template_vocab} tokens)",
                config.vocab_size,
                template.display()
            )));
        }
    }
    // Alignment heads that exist in this model's (possibly shortened) decoder.
    let last = config.decoder_layers.saturating_sub(1);
    generation["alignment_heads"] = json!([[last, 0]]);
    Ok((tokenizer, generation))
}

/// large-v3's vocabulary from the 51865-token one: `<|yue|>` at 50358 and every id from
/// `<|translate|>` on one higher.
fn add_v3_language(tokenizer: &mut Value, generation: &mut Value) {
    let shift = |id: &mut Value| {
        if let Some(n) = id.as_u64()
            && n >= TRANSLATE_MULTILINGUAL
        {
            *id = json!(n + 1);
        }
    };
    if let Some(added) = tokenizer["added_tokens"].as_array_mut() {
        for token in added.iter_mut() {
            shift(&mut token["id"]);
        }
        let at = added
            .iter()
            .position(|t| t["id"].as_u64() > Some(TRANSLATE_MULTILINGUAL))
            .unwrap_or(added.len());
        added.insert(
            at,
            json!({"id": TRANSLATE_MULTILINGUAL, "content": LAST_V3_LANGUAGE, "single_word": false,
                   "lstrip": false, "rstrip": false, "normalized": false, "special": true}),
        );
    }
    for key in ["suppress_tokens", "begin_suppress_tokens"] {
        if let Some(list) = generation[key].as_array_mut() {
            list.iter_mut().for_each(shift);
        }
    }
    for key in ["no_timestamps_token_id", "prev_sot_token_id"] {
        shift(&mut generation[key]);
    }
    if let Some(tasks) = generation["task_to_id"].as_object_mut() {
        tasks.values_mut().for_each(shift);
    }
    if let Some(langs) = generation["lang_to_id"].as_object_mut() {
        langs.insert(LAST_V3_LANGUAGE.into(), json!(TRANSLATE_MULTILINGUAL));
    }
}

fn write_json(path: &Path, value: &Value) -> Result<()> {
    let text = serde_json::to_string_pretty(value).unwrap_or_default();
    std::fs::write(path, text).map_err(|source| Error::WriteOutput {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sinusoids_are_openais() {
        // whisper.model.sinusoids(3, 4): log_timescale_increment = ln(10000) / 1.
        let s = sinusoids(3, 4);
        assert_eq!(&s[0..4], &[0.0, 0.0, 1.0, 1.0]);
        let inc = (10000f64).ln();
        assert!((s[4 + 1] as f64 - (1.0 * (-inc).exp()).sin()).abs() < 1e-7);
        assert!((s[8] as f64 - 2f64.sin()).abs() < 1e-7);
    }

    #[test]
    fn the_v3_vocabulary_shifts_the_specials_from_translate_on() {
        let mut tokenizer = json!({"added_tokens": [
            {"id": 50357, "content": "<|su|>"}, {"id": 50358, "content": "<|translate|>"},
            {"id": 50363, "content": "<|notimestamps|>"}]});
        let mut generation = json!({"suppress_tokens": [1, 50258, 50358, 50362],
            "begin_suppress_tokens": [220, 50257], "no_timestamps_token_id": 50363,
            "task_to_id": {"translate": 50358, "transcribe": 50359},
            "lang_to_id": {"<|su|>": 50357}});
        add_v3_language(&mut tokenizer, &mut generation);
        let ids: Vec<(u64, &str)> = tokenizer["added_tokens"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| (t["id"].as_u64().unwrap(), t["content"].as_str().unwrap()))
            .collect();
        assert_eq!(
            ids,
            vec![
                (50357, "<|su|>"),
                (50358, "<|yue|>"),
                (50359, "<|translate|>"),
                (50364, "<|notimestamps|>")
            ]
        );
        assert_eq!(
            generation["suppress_tokens"],
            json!([1, 50258, 50359, 50363])
        );
        assert_eq!(generation["begin_suppress_tokens"], json!([220, 50257]));
        assert_eq!(generation["no_timestamps_token_id"], 50364);
        assert_eq!(generation["task_to_id"]["transcribe"], 50360);
        assert_eq!(generation["lang_to_id"]["<|yue|>"], 50358);
    }
}
