//! Transcribe one audio file with timed segments (and words):
//! `cargo run --release --example transcribe -- MODEL AUDIO` (MODEL: a directory, a cached name
//! such as `base`, or a Hub id).

use npu_whisper::{DecodingOptions, Model, TranscribeOptions, Transcriber, audio};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [model, audio_path] = args.as_slice() else {
        eprintln!("usage: transcribe MODEL AUDIO");
        std::process::exit(2);
    };
    if let Err(e) = run(model, audio_path) {
        eprintln!("transcribe: {e}");
        std::process::exit(e.kind().exit_code());
    }
}

fn run(model: &str, audio_path: &str) -> npu_whisper::Result<()> {
    let model = Model::fetch(model, &Default::default())?;
    let mut decoding = DecodingOptions::default();
    decoding.word_timestamps = true;
    let transcriber = Transcriber::new(&model, TranscribeOptions::default().decoding(decoding))?;
    let audio = audio::load(
        &audio::AudioSource::File(audio_path.into()),
        &audio::AudioLimits::unlimited(),
    )?;
    let transcript = transcriber.transcribe(&audio.samples)?;
    println!(
        "language {} ({} segments, encoder {:.0} ms, decoder {:.0} ms)",
        transcript.language.as_deref().unwrap_or("-"),
        transcript.segments.len(),
        transcript.encoder_ms,
        transcript.decoder_ms
    );
    for segment in &transcript.segments {
        println!(
            "[{:6.2} -> {:6.2}]{}",
            segment.start, segment.end, segment.text
        );
        for word in segment.words.iter().flatten() {
            println!(
                "    {:6.2} {:6.2} {:.2} {}",
                word.start, word.end, word.probability, word.word
            );
        }
    }
    Ok(())
}
