//! Front-end benchmarks: log-mel of one 30 s window, and WAV decoding of 30 s of audio.
//! Run: cargo bench --bench frontend

use npu_whisper::mel::{LogMel, WINDOW_SAMPLES};

fn main() {
    divan::main();
}

/// Deterministic speech-like test signal: a few harmonics with a slow amplitude envelope.
fn signal() -> Vec<f32> {
    (0..WINDOW_SAMPLES)
        .map(|i| {
            let t = i as f32 / 16_000.0;
            let envelope = 0.5 + 0.5 * (2.0 * std::f32::consts::PI * 3.0 * t).sin();
            envelope
                * (0.3 * (2.0 * std::f32::consts::PI * 220.0 * t).sin()
                    + 0.1 * (2.0 * std::f32::consts::PI * 1870.0 * t).sin())
        })
        .collect()
}

#[divan::bench(args = [80, 128])]
fn log_mel_30s_window(bencher: divan::Bencher, n_mels: usize) {
    let audio = signal();
    let front_end = LogMel::new(n_mels);
    let mut out = vec![0.0f32; front_end.window_len()];
    bencher.bench_local(|| front_end.window(divan::black_box(&audio), &mut out));
}

#[divan::bench]
fn decode_30s_wav(bencher: divan::Bencher) {
    let mut cursor = std::io::Cursor::new(Vec::new());
    {
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 16_000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::new(&mut cursor, spec).unwrap();
        for s in signal() {
            w.write_sample((s * 32767.0) as i16).unwrap();
        }
        w.finalize().unwrap();
    }
    let bytes = cursor.into_inner();
    bencher.bench_local(|| {
        npu_whisper::audio::decode_bytes(
            divan::black_box(bytes.clone()),
            "bench.wav".as_ref(),
            &Default::default(),
        )
        .unwrap()
    });
}
