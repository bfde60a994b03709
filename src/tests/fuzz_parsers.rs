//! Bounded mutation fuzzing of the input parsers, run with the test suite: thousands of
//! deterministic mutations of valid audio files and of a model's safetensors header. Every
//! result must be an `Ok` or an input-data error naming the file; a panic, an abort or an
//! unbounded allocation fails the run. (The xclbin parser has its own in `src/npu/xclbin.rs`;
//! the CTranslate2 reader in `src/tests/ct2_import.rs`.)

use super::common;

use std::path::Path;

use crate::error::exit_code;
use common::{fixture, mutations};

#[test]
fn audio_decoders_survive_mutated_files() {
    for name in [
        "speech_espeak_16k.wav",
        "speech_espeak_44k_stereo.wav",
        "speech_espeak_16k.mp3",
        "speech_espeak_16k.flac",
        "speech_espeak_16k.ogg",
    ] {
        let seed = std::fs::read(fixture(&format!("audio/{name}"))).unwrap();
        // Headers live in the first few hundred bytes: fuzz a short prefix hard, so every
        // mutation reaches the header code, plus the whole file less often.
        let short = &seed[..seed.len().min(4096)];
        let mut ok = 0;
        for bytes in mutations(short, 5000)
            .into_iter()
            .chain(mutations(&seed, 100))
        {
            match crate::audio::decode_bytes(bytes, Path::new(name), &Default::default()) {
                Ok(audio) => {
                    assert!(audio.samples.iter().all(|s| s.is_finite()));
                    ok += 1;
                }
                Err(e) => {
                    assert_eq!(e.exit_code(), exit_code::INPUT_DATA, "{name}: {e}");
                    assert!(e.to_string().contains(name), "{e}");
                }
            }
        }
        eprintln!("{name}: {ok} of 5100 mutations still decoded");
    }
}

#[test]
fn the_model_loader_survives_mutated_safetensors_headers() {
    let seed = std::fs::read(fixture("models/tiny-random-hf/model.safetensors")).unwrap();
    let header_end = 8 + u64::from_le_bytes(seed[..8].try_into().unwrap()) as usize;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    let mut loaded = 0;
    for header in mutations(&seed[..header_end], 2000) {
        let mut bytes = header;
        bytes.extend_from_slice(&seed[header_end..]);
        std::fs::write(&path, &bytes).unwrap();
        match crate::model::EncoderModel::load(&path, None) {
            Ok(_) => loaded += 1,
            Err(e) => {
                assert_eq!(e.exit_code(), exit_code::INPUT_DATA, "{e}");
                assert!(e.to_string().contains("model.safetensors"), "{e}");
            }
        }
    }
    eprintln!("{loaded} of 2000 mutated headers still loaded");
}
