//! The f32 encoder's per-layer loop allocates nothing of its own: every buffer and scratch is
//! planned once when the executor is built. The one exception is inside the `gemm` crate, which
//! allocates its packing buffers on every call (gemm-common's `gemm_basic_generic`); the test
//! counts those by calling the same kernels alone and allows exactly them. Counted with a global
//! allocator, so this test is its own binary.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use npu_whisper::internals::exec::{Arithmetic, ExecOptions, Executor};
use npu_whisper::internals::kernels::{attention, gemm};
use npu_whisper::internals::model::{Config, EncoderModel};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator, only counting calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const D: usize = 384;
const FRAMES: usize = 1500;

/// Allocations while `work` runs (its third run: the first ones may grow caches).
fn allocations_of(mut work: impl FnMut()) -> usize {
    work();
    work();
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    work();
    ALLOCATIONS.load(Ordering::Relaxed) - before
}

/// Allocations during the third window of an encoder with `layers` layers.
fn allocations_per_window(layers: usize, precision: Arithmetic) -> usize {
    let config = Config::standard(80, D, layers);
    let model = EncoderModel::synthetic(&config, layers);
    let options = ExecOptions {
        precision,
        ..ExecOptions::default()
    };
    let mut executor = Executor::new(&model, options).expect("CPU executor");
    let mel = vec![0.25f32; 80 * 3000];
    allocations_of(|| {
        executor.encode_window(&mel).expect("encode");
    })
}

/// What the `gemm` crate allocates for one layer's GEMMs (QKV, attention, out, fc1, fc2) when
/// the kernels run alone.
fn gemm_allocations_per_layer() -> usize {
    let gemm = |k: usize, n: usize| {
        let (a, w, b) = (
            vec![0.1f32; FRAMES * k],
            vec![0.1f32; k * n],
            vec![0.0f32; n],
        );
        let mut out = vec![0.0f32; FRAMES * n];
        allocations_of(|| gemm::matmul_bias_par(&mut out, &a, &w, &b, FRAMES, k, n))
    };
    let qkv = vec![0.1f32; FRAMES * 3 * D];
    let mut context = vec![0.0f32; FRAMES * D];
    let scratch = attention::ThreadScratch::for_attention(FRAMES);
    let attention = allocations_of(|| {
        attention::attention_par(&mut context, &qkv, D / 64, FRAMES, D, &scratch)
    });
    gemm(D, 3 * D) + attention + gemm(D, D) + gemm(D, 4 * D) + gemm(4 * D, D)
}

/// The counter is process-wide (rayon workers included): one test measures at a time.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

#[test]
fn the_f32_layer_loop_allocates_nothing_beyond_the_gemm_crates_packing() {
    let _serial = serial();
    let one = allocations_per_window(1, Arithmetic::F32);
    let three = allocations_per_window(3, Arithmetic::F32);
    let per_layer = (three - one) / 2;
    let gemm = gemm_allocations_per_layer();
    assert!(
        gemm > 0,
        "the gemm crate no longer allocates: tighten this test to 0"
    );
    assert!(
        per_layer <= gemm,
        "{per_layer} allocations per layer, {gemm} of them the gemm crate's"
    );
}

#[test]
fn the_bf16_encoder_allocates_nothing_per_window() {
    if !npu_whisper::internals::cpu_features::has_avx512_bf16() {
        eprintln!("no AVX512_BF16 here: the bf16 path is not selectable");
        return;
    }
    let _serial = serial();
    // Our own kernels throughout (no gemm crate). What remains is rayon's: its work-stealing
    // deques resize now and then (0-4 per window measured, not growing with depth); before the
    // attention scratch was planned, three layers made about 400.
    let allocations = allocations_per_window(3, Arithmetic::Bf16);
    assert!(
        allocations <= 8,
        "{allocations} allocations in a 3-layer bf16 window"
    );
}
