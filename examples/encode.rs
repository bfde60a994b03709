//! Encode one audio file into Whisper encoder embeddings and say where every op ran:
//! `cargo run --release --example encode -- MODEL AUDIO` (MODEL: a directory, a cached name
//! such as `base`, or a Hub id).

use npu_whisper::{Encoder, EncoderOptions, Model, audio};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [model, audio_path] = args.as_slice() else {
        eprintln!("usage: encode MODEL AUDIO");
        std::process::exit(2);
    };
    if let Err(e) = run(model, audio_path) {
        eprintln!("encode: {e}");
        std::process::exit(e.kind().exit_code());
    }
}

fn run(model: &str, audio_path: &str) -> npu_whisper::Result<()> {
    let model = Model::fetch(model, &Default::default())?;
    let encoder = Encoder::new(&model, &EncoderOptions::default())?;
    let audio = audio::load(
        &audio::AudioSource::File(audio_path.into()),
        &audio::AudioLimits::unlimited(),
    )?;
    let embeddings = encoder.encode(&audio.samples)?;
    let view = embeddings.view();
    println!(
        "{}: {:.2} s of audio -> embeddings {:?} ({} frames hold audio), encoder precision {}",
        model.name(),
        audio.duration_secs(),
        view.shape(),
        embeddings.audio_frames(),
        encoder.precision().name()
    );
    println!(
        "first values {:?}",
        &view.as_slice().unwrap_or_default()[..4]
    );
    println!("placement {}", embeddings.placement());
    if let Some(note) = encoder.device_note() {
        println!("device {note}");
    }
    Ok(())
}
