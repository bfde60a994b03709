//! Write a random-weight Whisper model of a published size (real shapes and vocabulary, random
//! values) for benchmarks: `cargo run --release --example random_model -- SIZE DIR
//! [ENCODER_LAYERS [DECODER_LAYERS]]`. SIZE is a catalogue name (tiny ... large-v3-turbo,
//! distil-*); the vocabulary comes from the cached base (multilingual) or tiny.en (English-only)
//! model, fetched first with `npu-whisper model fetch base tiny.en`. See `model::random`.

use std::path::PathBuf;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 2 {
        eprintln!("usage: random_model SIZE DIR [ENCODER_LAYERS [DECODER_LAYERS]]");
        std::process::exit(2);
    }
    let entry = npu_whisper::hub::catalogue::lookup(&args[0])
        .filter(|e| e.dims.is_some())
        .unwrap_or_else(|| {
            eprintln!("random_model: `{}` is not a Whisper size", args[0]);
            std::process::exit(2);
        });
    let mut config = entry.dims.expect("filtered").config();
    let layers = |i: usize| args.get(i).and_then(|n| n.parse::<usize>().ok());
    if let Some(n) = layers(2) {
        config.encoder_layers = n;
    }
    if let Some(n) = layers(3) {
        config.decoder_layers = n;
    }
    let template = npu_whisper::model::cache_dir().join(if config.vocab_size == 51864 {
        "tiny.en"
    } else {
        "base"
    });
    let dir = PathBuf::from(&args[1]);
    match npu_whisper::model::random::write(&dir, &config, &template, 1) {
        Ok(w) => println!(
            "{}: {} of {} encoder and {} of {} decoder layers, {} bytes ({} of them the encoder's) in {}",
            entry.name,
            config.encoder_layers,
            entry.dims.map_or(0, |d| d.encoder_layers),
            config.decoder_layers,
            entry.dims.map_or(0, |d| d.decoder_layers),
            w.file_bytes,
            w.encoder_bytes,
            dir.display()
        ),
        Err(e) => {
            eprintln!("random_model: {e}");
            std::process::exit(e.exit_code());
        }
    }
}
