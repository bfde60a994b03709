//! Embed every audio file of a folder into one safetensors file, one tensor per file
//! (`frames x d_model`, the frames that hold audio), on several threads sharing one loaded
//! encoder: `cargo run --release --example embed_dir -- MODEL DIR OUT.safetensors [THREADS]`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use npu_whisper::{Encoder, EncoderOptions, Model, audio};

/// One file's embeddings: shape and little-endian f32 bytes.
type Tensor = (Vec<usize>, Vec<u8>);

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 3 {
        eprintln!("usage: embed_dir MODEL DIR OUT.safetensors [THREADS]");
        std::process::exit(2);
    }
    let threads = args.get(3).and_then(|t| t.parse().ok()).unwrap_or(2);
    if let Err(e) = run(&args[0], Path::new(&args[1]), Path::new(&args[2]), threads) {
        eprintln!("embed_dir: {e}");
        std::process::exit(1);
    }
}

fn run(
    model: &str,
    dir: &Path,
    out: &Path,
    threads: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension().and_then(|e| e.to_str()).is_some_and(|e| {
                ["wav", "flac", "mp3", "ogg"].contains(&e.to_ascii_lowercase().as_str())
            })
        })
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(format!("{}: no audio files", dir.display()).into());
    }
    let model = Model::fetch(model, &Default::default())?;
    // One encoder, shared: each thread's `encode` has its own activations.
    let encoder = Encoder::new(&model, &EncoderOptions::default())?;
    let next = AtomicUsize::new(0);
    let done: Mutex<BTreeMap<String, Tensor>> = Mutex::new(BTreeMap::new());
    let started = std::time::Instant::now();
    std::thread::scope(|scope| -> Result<(), String> {
        let workers: Vec<_> = (0..threads.max(1))
            .map(|_| {
                scope.spawn(|| -> Result<(), String> {
                    while let Some(path) = files.get(next.fetch_add(1, Ordering::Relaxed)) {
                        let audio = audio::load(
                            &audio::AudioSource::File(path.clone()),
                            &audio::AudioLimits::unlimited(),
                        )
                        .map_err(|e| e.to_string())?;
                        let embeddings =
                            encoder.encode(&audio.samples).map_err(|e| e.to_string())?;
                        let trimmed = embeddings.trimmed();
                        let bytes: Vec<u8> = trimmed.iter().flat_map(|v| v.to_le_bytes()).collect();
                        let name = path
                            .file_stem()
                            .unwrap_or_default()
                            .to_string_lossy()
                            .into_owned();
                        done.lock()
                            .unwrap()
                            .insert(name, (trimmed.shape().to_vec(), bytes));
                    }
                    Ok(())
                })
            })
            .collect();
        for worker in workers {
            worker
                .join()
                .map_err(|_| "a worker panicked".to_string())??;
        }
        Ok(())
    })?;
    let done = done.into_inner()?;
    let views: Vec<(String, safetensors::tensor::TensorView)> = done
        .iter()
        .map(|(name, (shape, bytes))| {
            let view = safetensors::tensor::TensorView::new(
                safetensors::Dtype::F32,
                shape.clone(),
                bytes,
            )?;
            Ok((name.clone(), view))
        })
        .collect::<Result<_, safetensors::SafeTensorError>>()?;
    // Written beside the target and renamed: a failed run leaves no partial file.
    let partial = out.with_extension("safetensors.partial");
    safetensors::serialize_to_file(views, None, &partial)?;
    std::fs::rename(&partial, out)?;
    println!(
        "{} files -> {} ({} tensors, d_model {}) on {threads} threads in {:.1} s",
        files.len(),
        out.display(),
        done.len(),
        model.config().d_model,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
