//! Write a random-weight Whisper model of a published size (real shapes and vocabulary, random
//! values) for benchmarks: `cargo run --release --example random_model -- SIZE DIR
//! [ENCODER_LAYERS [DECODER_LAYERS]]`. SIZE is a catalogue name (tiny ... large-v3-turbo,
//! distil-*); the vocabulary comes from the cached base (multilingual) or tiny.en (English-only)
//! model, fetched first with `npu-whisper model fetch base tiny.en`.

use std::path::PathBuf;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 2 {
        eprintln!("usage: random_model SIZE DIR [ENCODER_LAYERS [DECODER_LAYERS]]");
        std::process::exit(2);
    }
    let layers = |i: usize| args.get(i).and_then(|n| n.parse::<usize>().ok());
    let dir = PathBuf::from(&args[1]);
    match npu_whisper::tools::write_random_model(&dir, &args[0], layers(2), layers(3), 1) {
        Ok(model) => println!(
            "{}: {} encoder and {} decoder layers, {} bytes ({} of them the encoder's) in {}",
            args[0],
            model.config.encoder_layers,
            model.config.decoder_layers,
            model.file_bytes,
            model.encoder_bytes,
            dir.display()
        ),
        Err(e) => {
            eprintln!("random_model: {e}");
            std::process::exit(e.kind().exit_code());
        }
    }
}
