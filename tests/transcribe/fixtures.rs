//! The committed faster-whisper references, the recordings rebuilt from their parts, and
//! runs of the binary over many inputs in one process.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use assert_cmd::Command;
use npu_whisper::audio::{self, AudioSource};

use serde_json::Value;

use crate::common::{fixture, sample};

pub fn manifest() -> &'static Value {
    static MANIFEST: OnceLock<Value> = OnceLock::new();
    MANIFEST.get_or_init(|| {
        let text = std::fs::read_to_string(fixture("transcripts/manifest.json")).unwrap();
        serde_json::from_str(&text).unwrap()
    })
}

pub fn model_dir(name: &str) -> String {
    let dir = npu_whisper::ModelCache::from_env(true).dir().join(name);
    assert!(
        dir.join("tokenizer.json").exists(),
        "{} is missing: run scripts/fetch-model {name} (scripts/test does)",
        dir.display()
    );
    dir.to_str().unwrap().to_string()
}

/// The reference run `key` ("reference" is greedy, "beam5", "words", "vad") of `model`:
/// clip name -> faster-whisper's result.
pub fn references(key: &str, model: &str) -> &'static serde_json::Map<String, Value> {
    manifest()[key][model].as_object().unwrap()
}

/// A scratch directory for these tests, under the one Cargo provides to integration tests
/// (rewritten by every run, so nothing piles up in /tmp).
pub fn scratch() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("transcribe");
        std::fs::create_dir_all(&dir).unwrap();
        dir
    })
}

/// A recording of the manifest (clips, silences and noise in order) written as a 16-bit WAV,
/// sample for sample what the fixture script transcribed.
fn recording(name: &str) -> PathBuf {
    static BUILT: OnceLock<std::sync::Mutex<BTreeMap<String, PathBuf>>> = OnceLock::new();
    let built = BUILT.get_or_init(Default::default);
    let mut built = built.lock().unwrap();
    if let Some(path) = built.get(name) {
        return path.clone();
    }
    let description = &manifest()["recordings"][name];
    let mut samples: Vec<i16> = Vec::new();
    for part in description["parts"].as_array().unwrap() {
        if let Some(clip) = part["clip"].as_str() {
            samples.extend(clip_samples(clip));
        } else if let Some(seconds) = part["silence_s"].as_f64() {
            samples.extend(std::iter::repeat_n(0, (seconds * 16000.0) as usize));
        } else {
            let seconds = part["noise_s"].as_f64().unwrap();
            let amplitude = part["amplitude"].as_i64().unwrap();
            let seed = part["seed"].as_u64().unwrap();
            samples.extend(lcg_noise((seconds * 16000.0) as usize, amplitude, seed));
        }
    }
    let want = description["seconds"].as_f64().unwrap();
    assert!(
        (samples.len() as f64 / 16000.0 - want).abs() < 1e-3,
        "{name}"
    );
    let path = write_wav(&format!("{name}.wav"), &samples);
    built.insert(name.to_string(), path.clone());
    path
}

/// The fixture script's noise: uniform integers in [-amplitude, amplitude] from the C
/// library's LCG, one draw per sample.
pub fn lcg_noise(n: usize, amplitude: i64, seed: u64) -> Vec<i16> {
    let span = (2 * amplitude + 1) as u64;
    let mut x = seed;
    (0..n)
        .map(|_| {
            x = (1_103_515_245 * x + 12_345) & 0x7fff_ffff;
            (((x >> 8) % span) as i64 - amplitude) as i16
        })
        .collect()
}

/// A committed clip's samples as 16-bit values.
pub fn clip_samples(clip: &str) -> Vec<i16> {
    let file = fixture(&format!("transcripts/{clip}.flac"));
    let audio = audio::load(&AudioSource::File(file), &Default::default()).unwrap();
    audio
        .samples
        .iter()
        .map(|&x| (x * 32768.0).round() as i16)
        .collect()
}

/// 16 kHz mono 16-bit `samples` written to a scratch WAV called `name`.
pub fn write_wav(name: &str, samples: &[i16]) -> PathBuf {
    let path = scratch().join(name);
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 16000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(&path, spec).unwrap();
    for &s in samples {
        writer.write_sample(s).unwrap();
    }
    writer.finalize().unwrap();
    path
}

pub fn audio_of(clip: &str) -> PathBuf {
    if clip == "jfk" {
        sample("jfk.wav")
    } else if manifest()["recordings"].get(clip).is_some() {
        recording(clip)
    } else {
        fixture(&format!("transcripts/{clip}.flac"))
    }
}

pub fn script_of(clip: &str) -> &'static str {
    let m = manifest();
    if clip == "jfk" {
        m["jfk_script"].as_str().unwrap()
    } else if let Some(recording) = m["recordings"].get(clip) {
        recording["script"].as_str().unwrap()
    } else {
        m["clips"][clip]["script"].as_str().unwrap()
    }
}

/// `transcribe -f json` of one clip.
pub fn transcribe(clip: &str, model: &str, device: &str) -> Value {
    transcribe_with(clip, model, &["--device", device], false)
}

/// `transcribe -f json` of one clip with `args`, with AVX-512 forced off if `avx2_only`.
pub fn transcribe_with(clip: &str, model: &str, args: &[&str], avx2_only: bool) -> Value {
    transcribe_file(&audio_of(clip), model, args, avx2_only)
}

/// `transcribe -f json` of the file `audio` with `args`, with AVX-512 forced off if
/// `avx2_only`.
pub fn transcribe_file(audio: &Path, model: &str, args: &[&str], avx2_only: bool) -> Value {
    let mut command = Command::cargo_bin("npu-whisper").unwrap();
    if avx2_only {
        command.env("NPU_WHISPER_FORCE_AVX2", "1");
    }
    let output = command
        .args(["--threads", "2", "transcribe"])
        .arg(audio)
        .args(["--model", &model_dir(model), "-f", "json"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{} {model} {args:?}: {}",
        audio.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// `transcribe -f json` of every clip in one process (the model loaded once), with `args`:
/// clip name -> transcript.
pub fn transcribe_all(clips: &[&str], model: &str, args: &[&str]) -> BTreeMap<String, Value> {
    let out = scratch().join(format!("{model}-{}", args.join("_").replace('-', "")));
    let mut command = Command::cargo_bin("npu-whisper").unwrap();
    command.args(["--threads", "2", "transcribe"]);
    for clip in clips {
        command.arg(audio_of(clip));
    }
    let output = command
        .args(["--model", &model_dir(model), "-f", "json", "-o"])
        .arg(format!("{}/", out.display()))
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{model} {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    clips
        .iter()
        .map(|clip| {
            let text = std::fs::read_to_string(out.join(format!("{clip}.json"))).unwrap();
            (clip.to_string(), serde_json::from_str(&text).unwrap())
        })
        .collect()
}

/// Lowercase words without punctuation (the fixture script's `words`).
pub fn words(text: &str) -> Vec<String> {
    let keep = |c: char| c.is_ascii_alphanumeric() || c == '\'' || "äöüß".contains(c);
    text.to_lowercase()
        .split(|c: char| !keep(c))
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// Word-level edit distance and reference length.
pub fn word_errors(reference: &str, hypothesis: &str) -> (usize, usize) {
    let (r, h) = (words(reference), words(hypothesis));
    let mut row: Vec<usize> = (0..=h.len()).collect();
    for i in 1..=r.len() {
        let mut previous = row[0];
        row[0] = i;
        for j in 1..=h.len() {
            let substitution = previous + usize::from(r[i - 1] != h[j - 1]);
            previous = row[j];
            row[j] = (row[j] + 1).min(row[j - 1] + 1).min(substitution);
        }
    }
    (row[h.len()], r.len())
}

pub fn text_of(v: &Value) -> &str {
    v["text"].as_str().unwrap()
}

/// A segment's tokens.
pub fn tokens_of(segment: &Value) -> Vec<u64> {
    segment["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_u64().unwrap())
        .collect()
}
