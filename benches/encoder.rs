//! Encoder benchmarks: the GEMM shapes of a whisper-base window, attention, and the whole
//! encoder on synthetic base weights. Run: cargo bench --bench encoder

use npu_whisper::internals::exec::Executor;
use npu_whisper::internals::kernels::{attention, gemm};
use npu_whisper::internals::model::{Config, EncoderModel};

fn main() {
    divan::main();
}

fn values(n: usize, seed: u32) -> Vec<f32> {
    (0..n)
        .map(|i| {
            ((i as u32).wrapping_mul(2654435761).wrapping_add(seed) >> 8) as f32
                / (1u32 << 24) as f32
                - 0.5
        })
        .collect()
}

/// (rows, k, n) of every GEMM in a base window: QKV, out-projection, fc1, fc2, conv2, conv1.
const SHAPES: [(usize, usize, usize); 6] = [
    (1500, 512, 1536),
    (1500, 512, 512),
    (1500, 512, 2048),
    (1500, 2048, 512),
    (1500, 1536, 512),
    (3000, 240, 512),
];

#[divan::bench(args = SHAPES)]
fn gemm(bencher: divan::Bencher, (m, k, n): (usize, usize, usize)) {
    let (a, w, bias) = (values(m * k, 1), values(n * k, 2), values(n, 3));
    let mut out = vec![0.0f32; m * n];
    bencher
        .counter(divan::counter::ItemsCount::new(2 * m * k * n))
        .bench_local(|| gemm::matmul_bias_par(&mut out, divan::black_box(&a), &w, &bias, m, k, n));
}

#[divan::bench]
fn attention_8_heads(bencher: divan::Bencher) {
    let (frames, d) = (1500, 512);
    let qkv = values(frames * 3 * d, 4);
    let mut out = vec![0.0f32; frames * d];
    let scratch = attention::ThreadScratch::for_attention(frames);
    bencher.bench_local(|| {
        attention::attention_par(&mut out, divan::black_box(&qkv), 8, frames, d, &scratch)
    });
}

#[divan::bench(sample_count = 5)]
fn encoder_base_window(bencher: divan::Bencher) {
    let model = EncoderModel::synthetic(&Config::standard(80, 512, 6), 6);
    let mut executor = Executor::cpu(&model).unwrap();
    let mel = values(80 * 3000, 5);
    bencher.bench_local(|| {
        executor.encode_window(divan::black_box(&mel)).unwrap();
    });
}

#[divan::bench]
fn gemm_bf16_fc1(bencher: divan::Bencher) {
    use npu_whisper::internals::kernels::bf16;
    if !npu_whisper::internals::cpu_features::has_avx512_bf16() {
        return;
    }
    let (m, k, n) = (1500, 512, 2048);
    let (a, bias) = (values(m * k, 1), values(n, 3));
    let w = bf16::PackedWeight::new(&values(n * k, 2), n, k);
    let mut out = vec![0.0f32; m * n];
    bencher
        .counter(divan::counter::ItemsCount::new(2 * m * k * n))
        .bench_local(|| bf16::matmul_bias_par(&mut out, divan::black_box(&a), &w, &bias, m));
}
