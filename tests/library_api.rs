//! The public API as an embedding program uses it (nothing but `npu_whisper::` items): one
//! model shared by threads gives the same embeddings as one caller, the streaming form equals
//! the whole-recording form, the ledger accounts for every window, and failures come back as
//! the right `ErrorKind`.

mod common;

use std::sync::Arc;

use npu_whisper::{
    CancelToken, DecodingOptions, Device, Encoder, EncoderOptions, ErrorKind, Model, OptionName,
    Precision, SpeechRange, TranscribeOptions, Transcriber, WindowSelection, mel::WINDOW_SAMPLES,
};

/// The committed tiny random-weight model: config.json and weights only.
fn tiny() -> Model {
    Model::open(common::fixture("models/tiny-random-hf")).unwrap()
}

/// A deterministic recording of `seconds`, different for each `seed`.
fn recording(seconds: usize, seed: u32) -> Vec<f32> {
    (0..seconds * 16_000)
        .map(|i| {
            let t = i as f32 / 16_000.0;
            0.3 * (t * (300.0 + 40.0 * seed as f32) * std::f32::consts::TAU).sin()
                * (0.5 + 0.5 * (t * 3.0).sin())
        })
        .collect()
}

fn exact() -> EncoderOptions {
    EncoderOptions::default()
        .device(Device::Cpu)
        .precision(Precision::F32)
}

#[test]
fn an_encoder_shared_by_threads_gives_each_caller_its_own_exact_result() {
    let encoder = Arc::new(Encoder::new(&tiny(), &exact()).unwrap());
    let inputs: Vec<Vec<f32>> = (0..4).map(|seed| recording(35, seed)).collect();
    let alone: Vec<Vec<f32>> = inputs
        .iter()
        .map(|samples| encoder.encode(samples).unwrap().into_vec())
        .collect();
    let together: Vec<Vec<f32>> = std::thread::scope(|scope| {
        let handles: Vec<_> = inputs
            .iter()
            .map(|samples| {
                let encoder = Arc::clone(&encoder);
                scope.spawn(move || encoder.encode(samples).unwrap().into_vec())
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_ne!(alone[0], alone[1], "different inputs, different embeddings");
    for (i, (a, b)) in alone.iter().zip(&together).enumerate() {
        assert!(
            a == b,
            "input {i}: concurrent result differs from the lone one"
        );
    }
}

#[test]
fn the_stream_equals_the_whole_recording_and_its_ledger_counts_every_window() {
    let model = tiny();
    let encoder = Encoder::new(&model, &exact()).unwrap();
    let samples = recording(65, 7);
    let whole = encoder.encode(&samples).unwrap();
    let d = model.config().d_model;
    assert_eq!(whole.view().shape(), &[3, 1500, d]);
    assert_eq!(whole.trimmed().shape(), &[3250, d]);
    let mut stream = encoder.stream();
    for (w, window) in samples.chunks(WINDOW_SAMPLES).enumerate() {
        let embeddings = stream.encode_samples(window).unwrap();
        assert!(
            embeddings == whole.view().index_axis(ndarray::Axis(0), w),
            "window {w}"
        );
    }
    for op in stream.ledger() {
        assert_eq!(op.runs, 3, "{}", op.name);
    }
    assert_eq!(whole.placement(), "cpu: 26/26 ops");
}

#[test]
fn selected_windows_are_the_same_rows_as_in_the_whole_recording() {
    let model = tiny();
    let encoder = Encoder::new(&model, &exact()).unwrap();
    let samples = recording(65, 3);
    let whole = encoder.encode(&samples).unwrap();
    // Speech only in the last 5 s: the third window alone, 250 frames of it hold audio.
    let speech = [SpeechRange::new(60 * 16_000 + 100, 65 * 16_000)];
    let selection = WindowSelection::with_speech(samples.len(), &speech);
    let some = encoder
        .encode_windows(&samples, &selection, &CancelToken::new())
        .unwrap();
    assert_eq!(some.windows(), 1);
    assert_eq!(some.trimmed().nrows(), 250);
    assert!(
        some.view().index_axis(ndarray::Axis(0), 0) == whole.view().index_axis(ndarray::Axis(0), 2)
    );
    for op in some.ledger() {
        assert_eq!(op.runs, 1, "{}", op.name);
    }
    // A selection made for a longer recording is refused, not read out of bounds.
    let longer = WindowSelection::all(samples.len() + WINDOW_SAMPLES);
    let refused = encoder.encode_windows(&samples, &longer, &CancelToken::new());
    assert_eq!(refused.unwrap_err().kind(), ErrorKind::Usage);
}

#[test]
fn failures_come_back_with_their_kind() {
    let missing = Model::open("/no/such/model").unwrap_err();
    assert_eq!(missing.kind(), ErrorKind::InvalidInput);
    assert_eq!(missing.kind().exit_code(), 3);

    // Encoding needs only config.json and the weights; transcription needs the tokenizer too.
    let model = tiny();
    assert!(!model.can_transcribe());
    let refused = Transcriber::new(&model, TranscribeOptions::default()).unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::InvalidInput, "{refused}");
    assert!(refused.to_string().contains("tokenizer.json"), "{refused}");

    let too_many = Encoder::new(&model, &exact().layers(Some(99))).unwrap_err();
    assert_eq!(too_many.kind(), ErrorKind::Usage, "{too_many}");

    let encoder = Encoder::new(&model, &exact()).unwrap();
    let long = vec![0.0f32; WINDOW_SAMPLES + 1];
    let err = encoder.stream().encode_samples(&long).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Usage, "{err}");

    let required = Encoder::new(
        &model,
        &EncoderOptions::default()
            .device(Device::Npu)
            .require_npu(true),
    )
    .unwrap_err();
    assert_eq!(required.kind(), ErrorKind::NpuUnavailable, "{required}");
}

#[test]
fn a_transcriber_shared_by_threads_transcribes_with_a_random_model() {
    let dir = tempfile::tempdir().unwrap();
    npu_whisper::tools::write_random_model_with_vocabulary(
        dir.path(),
        "tiny",
        Some(1),
        Some(1),
        3,
        &common::vocabulary("tiny"),
    )
    .unwrap();
    let model = Model::open(dir.path()).unwrap();
    assert!(model.can_transcribe() && model.is_multilingual());
    let transcriber = Transcriber::new(&model, TranscribeOptions::default()).unwrap();
    let results: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..2)
            .map(|seed| {
                let transcriber = transcriber.clone();
                scope.spawn(move || transcriber.transcribe(&recording(40, seed)).unwrap())
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for transcript in results {
        // The random decoder detects its vocabulary's last language and ends each window.
        assert_eq!(transcript.language.as_deref(), Some("su"));
        assert_eq!(transcript.windows, 2);
        assert_eq!(transcript.text(), "");
        assert!(!transcript.ledger.is_empty());
    }

    // Per-request options: checked against the model, the weights shared.
    let languages = model.languages();
    assert!(languages.contains(&"en".to_string()) && languages.contains(&"su".to_string()));
    let mut german = DecodingOptions::default();
    german.language = Some("de".into());
    let german = transcriber.with_decoding(german).unwrap();
    assert_eq!(german.decoding().language.as_deref(), Some("de"));
    assert_eq!(
        german
            .transcribe(&recording(10, 1))
            .unwrap()
            .language
            .as_deref(),
        Some("de")
    );
    assert_eq!(
        transcriber.decoding().language,
        None,
        "the original is unchanged"
    );
    let mut klingon = DecodingOptions::default();
    klingon.language = Some("tlh".into());
    let refused = transcriber.with_decoding(klingon).unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::Usage, "{refused}");
}

#[test]
fn a_half_or_broken_tokenizer_stops_transcription_but_not_encoding() {
    let tiny_dir = common::fixture("models/tiny-random-hf");
    for (file, text, want) in [
        ("tokenizer.json", "{}", "generation_config.json is missing"),
        ("generation_config.json", "{}", "tokenizer.json is missing"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        for f in ["config.json", "model.safetensors"] {
            std::fs::copy(tiny_dir.join(f), dir.path().join(f)).unwrap();
        }
        std::fs::write(dir.path().join(file), text).unwrap();
        let model = Model::open(dir.path()).unwrap();
        assert!(!model.can_transcribe());
        let encoder = Encoder::new(&model, &exact()).unwrap();
        assert_eq!(encoder.encode(&recording(1, 0)).unwrap().windows(), 1);
        let refused = Transcriber::new(&model, TranscribeOptions::default()).unwrap_err();
        assert_eq!(refused.kind(), ErrorKind::InvalidInput);
        assert!(refused.to_string().contains(want), "{refused}");
    }
    // Both present, the tokenizer corrupt: named with the file.
    let dir = tempfile::tempdir().unwrap();
    for f in ["config.json", "model.safetensors"] {
        std::fs::copy(tiny_dir.join(f), dir.path().join(f)).unwrap();
    }
    std::fs::write(dir.path().join("tokenizer.json"), "not json").unwrap();
    std::fs::write(dir.path().join("generation_config.json"), "{}").unwrap();
    let model = Model::open(dir.path()).unwrap();
    let refused = Transcriber::new(&model, TranscribeOptions::default()).unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::InvalidInput);
    assert!(refused.to_string().contains("tokenizer.json"), "{refused}");
}

#[test]
fn option_errors_are_data_naming_the_option_not_a_flag() {
    let model = tiny();
    let conflict = Encoder::new(
        &model,
        &EncoderOptions::default()
            .device(Device::Cpu)
            .require_npu(true),
    );
    match conflict {
        Err(npu_whisper::Error::ConflictingOptions {
            option: OptionName::RequireNpu,
            other: OptionName::Device,
            other_value,
        }) => assert_eq!(other_value, "cpu"),
        other => panic!("expected ConflictingOptions, got {other:?}"),
    }
    let too_deep = Encoder::new(&model, &EncoderOptions::default().layers(Some(9)));
    let Err(error) = too_deep else {
        panic!("9 layers of a 2-layer model were taken")
    };
    assert!(
        matches!(
            &error,
            npu_whisper::Error::InvalidOption { option: OptionName::EncoderLayers, value, .. }
                if value == "9"
        ),
        "{error:?}"
    );
    assert_eq!(error.kind(), ErrorKind::Usage);
    assert!(!error.to_string().contains("--"), "{error}");
}
