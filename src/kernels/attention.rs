//! f32 multi-head self-attention over a whole window (heads and query blocks in parallel),
//! the per-thread scratch it plans once, and the vectorised row softmax.

use rayon::prelude::*;

use super::math;
/// A raw output pointer shared by attention tasks; each task writes its own head's columns.
#[derive(Clone, Copy)]
pub(crate) struct OutPtr(pub(crate) *mut f32);
// SAFETY: tasks write disjoint column blocks of the output, see `attention`.
unsafe impl Send for OutPtr {}
unsafe impl Sync for OutPtr {}

impl OutPtr {
    /// Through a method, so closures capture the whole (Send + Sync) wrapper, not its field.
    pub(crate) fn get(self) -> *mut f32 {
        self.0
    }
}

/// Multi-head self-attention from the fused `[frames][3d]` Q|K|V buffer into `[frames][d]`.
/// One task per (head, block of query rows): the block's scaled scores, a vectorised softmax
/// per row, and the context written straight into the head's columns of the output.
///
/// Kept whole: one kernel: tasks over (head, block of query rows), each with its thread's planned
/// scratch; one SAFETY argument covers the whole body.
pub fn attention_par(
    out: &mut [f32],
    qkv: &[f32],
    heads: usize,
    frames: usize,
    d: usize,
    scratch: &ThreadScratch,
) {
    assert_eq!(out.len(), frames * d);
    assert_eq!(qkv.len(), frames * 3 * d);
    let hd = d / heads;
    let scale = 1.0 / (hd as f32).sqrt();
    let out_ptr = OutPtr(out.as_mut_ptr());
    let stride = 3 * d as isize;
    let blocks = frames.div_ceil(ATTENTION_BLOCK_ROWS);
    // One task per (head, block of query rows), each with its thread's scores scratch
    // (ATTENTION_BLOCK_ROWS x frames, planned once with the buffers) instead of a 9 MB
    // frames x frames matrix per head.
    (0..heads * blocks).into_par_iter().for_each(|task| {
        let mut scores = scratch.for_this_thread();
        let needed = ATTENTION_BLOCK_ROWS.min(frames) * frames;
        if scores.len() < needed {
            // Only when the scratch was planned for fewer frames.
            scores.resize(needed, 0.0);
        }
        let (h, block) = (task / blocks, task % blocks);
        let row0 = block * ATTENTION_BLOCK_ROWS;
        let rows = ATTENTION_BLOCK_ROWS.min(frames - row0);
        let q = &qkv[row0 * 3 * d + h * hd..];
        let k = &qkv[d + h * hd..];
        let v = &qkv[2 * d + h * hd..];
        // SAFETY: q (rows x hd from row row0), k and v (frames x hd) are read with row
        // stride 3d from offsets inside qkv, staying inside it
        // (h*hd + 2d + (frames-1)*3d + hd <= frames*3d). The output block, rows
        // row0..row0+rows of columns h*hd..(h+1)*hd, belongs to this task alone, and out
        // holds frames x d values (asserted above).
        unsafe {
            gemm::gemm(
                rows,
                frames,
                hd,
                scores.as_mut_ptr(),
                1,
                frames as isize,
                false,
                q.as_ptr(),
                1,
                stride,
                k.as_ptr(),
                stride,
                1,
                0.0,
                scale,
                false,
                false,
                false,
                gemm::Parallelism::None,
            );
        }
        for row in scores[..rows * frames].chunks_exact_mut(frames) {
            softmax(row);
        }
        let base = out_ptr.get();
        unsafe {
            gemm::gemm(
                rows,
                hd,
                frames,
                base.add(row0 * d + h * hd),
                1,
                d as isize,
                false,
                scores.as_ptr(),
                1,
                frames as isize,
                v.as_ptr(),
                1,
                stride,
                0.0,
                1.0,
                false,
                false,
                false,
                gemm::Parallelism::None,
            );
        }
    });
}

/// Scratch with one slot per thread of the pool, made once (with the executor's buffers) and
/// reused by every call: the per-layer loop allocates nothing. Slots are indexed by pool thread,
/// so their locks are uncontended; holders must not run parallel work while holding one (a
/// stolen task on the same thread would wait on its own slot).
#[derive(Debug)]
pub struct PerThread<T> {
    slots: Vec<std::sync::Mutex<T>>,
}

impl<T> PerThread<T> {
    /// One slot per thread of the current rayon pool, each made by `make`.
    pub fn with(make: impl Fn() -> T) -> Self {
        PerThread {
            slots: (0..rayon::current_num_threads().max(1))
                .map(|_| std::sync::Mutex::new(make()))
                .collect(),
        }
    }

    /// The calling thread's slot.
    pub fn for_this_thread(&self) -> std::sync::MutexGuard<'_, T> {
        let i = rayon::current_thread_index().unwrap_or(0) % self.slots.len();
        self.slots[i].lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl<T: Default> Default for PerThread<T> {
    fn default() -> Self {
        PerThread::with(T::default)
    }
}

/// Per-thread f32 scratch of a fixed length (the f32 attention's score blocks).
#[derive(Debug)]
pub struct ThreadScratch {
    len: usize,
    slots: PerThread<Vec<f32>>,
}

impl ThreadScratch {
    /// `len` floats for each thread of the current rayon pool.
    pub fn new(len: usize) -> Self {
        ThreadScratch {
            len,
            slots: PerThread::with(|| vec![0.0; len]),
        }
    }

    /// Scratch for attention over `frames` frames.
    pub fn for_attention(frames: usize) -> Self {
        ThreadScratch::new(ATTENTION_BLOCK_ROWS.min(frames) * frames)
    }

    /// The calling thread's slot.
    pub fn for_this_thread(&self) -> std::sync::MutexGuard<'_, Vec<f32>> {
        self.slots.for_this_thread()
    }
}

impl Default for ThreadScratch {
    fn default() -> Self {
        ThreadScratch::new(0)
    }
}

impl Clone for ThreadScratch {
    /// Fresh slots of the same size (the contents are scratch).
    fn clone(&self) -> Self {
        ThreadScratch::new(self.len)
    }
}

/// Query rows per attention task: 3 blocks per head at 1500 frames (3 MiB of scores per thread).
/// Measured as fast as whole heads here (128-row blocks, which fit L2, were 10% slower: K and V
/// are re-packed for every block).
const ATTENTION_BLOCK_ROWS: usize = 512;

/// Numerically stable softmax of one row, compiled for the widest vector unit the CPU has.
pub fn softmax(row: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if crate::cpu_features::has_avx512() {
        // SAFETY: the CPU supports the features this function is compiled for.
        unsafe { softmax_avx512(row) };
        return;
    }
    softmax_portable(row);
}

/// AVX-512 softmax: max, then e^(x - max) with the sum in the same pass, then the scale; the
/// exp is `math::exp`'s reduction and polynomial, with 2^n applied by `vscalefps`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn softmax_avx512(row: &mut [f32]) {
    use std::arch::x86_64::*;
    let n = row.len();
    let body = n - n % 16;
    // SAFETY: this function runs only where AVX-512F is present.
    let max = unsafe { math::max_avx512(row) };
    let ptr = row.as_mut_ptr();
    let vmax = _mm512_set1_ps(max);
    let mut vsum = _mm512_setzero_ps();
    let mut i = 0;
    while i < body {
        // SAFETY (all loads/stores here): i + 16 <= body <= row.len().
        let e = math::exp16(_mm512_sub_ps(unsafe { _mm512_loadu_ps(ptr.add(i)) }, vmax));
        unsafe { _mm512_storeu_ps(ptr.add(i), e) };
        vsum = _mm512_add_ps(vsum, e);
        i += 16;
    }
    let mut sum = _mm512_reduce_add_ps(vsum);
    for x in &mut row[body..] {
        *x = math::exp(*x - max);
        sum += *x;
    }
    let inv = 1.0 / sum;
    let vinv = _mm512_set1_ps(inv);
    let mut i = 0;
    while i < body {
        unsafe { _mm512_storeu_ps(ptr.add(i), _mm512_mul_ps(_mm512_loadu_ps(ptr.add(i)), vinv)) };
        i += 16;
    }
    for x in &mut row[body..] {
        *x *= inv;
    }
}

/// The reductions keep 8 independent lanes so the compiler can vectorise them (a single running
/// sum is a serial dependency chain).
#[inline(always)]
fn softmax_portable(row: &mut [f32]) {
    const LANES: usize = 8;
    let mut lanes = [f32::NEG_INFINITY; LANES];
    let mut chunks = row.chunks_exact(LANES);
    for chunk in &mut chunks {
        for (m, &x) in lanes.iter_mut().zip(chunk) {
            *m = m.max(x);
        }
    }
    let max = chunks
        .remainder()
        .iter()
        .chain(lanes.iter())
        .copied()
        .fold(f32::NEG_INFINITY, f32::max);
    for x in row.iter_mut() {
        *x = math::exp(*x - max);
    }
    let mut sums = [0.0f32; LANES];
    let mut chunks = row.chunks_exact(LANES);
    for chunk in &mut chunks {
        for (s, &x) in sums.iter_mut().zip(chunk) {
            *s += x;
        }
    }
    let sum: f32 = sums.iter().sum::<f32>() + chunks.remainder().iter().sum::<f32>();
    let inv = 1.0 / sum;
    for x in row.iter_mut() {
        *x *= inv;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(len: usize, seed: f32) -> Vec<f32> {
        (0..len)
            .map(|i| (i as f32 * 0.37 + seed).sin() * 0.5)
            .collect()
    }

    #[test]
    fn attention_matches_a_direct_softmax() {
        let (frames, heads, d) = (7, 2, 8);
        let hd = d / heads;
        let qkv = ramp(frames * 3 * d, 0.4);
        let mut out = vec![0.0; frames * d];
        attention_par(&mut out, &qkv, heads, frames, d, &ThreadScratch::new(0));
        for h in 0..heads {
            for i in 0..frames {
                let q = |c: usize| qkv[i * 3 * d + h * hd + c] as f64;
                let scores: Vec<f64> = (0..frames)
                    .map(|j| {
                        (0..hd)
                            .map(|c| q(c) * qkv[j * 3 * d + d + h * hd + c] as f64)
                            .sum::<f64>()
                            / (hd as f64).sqrt()
                    })
                    .collect();
                let max = scores.iter().cloned().fold(f64::MIN, f64::max);
                let e: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
                let sum: f64 = e.iter().sum();
                for c in 0..hd {
                    let want: f64 = (0..frames)
                        .map(|j| e[j] / sum * qkv[j * 3 * d + 2 * d + h * hd + c] as f64)
                        .sum();
                    assert!((out[i * d + h * hd + c] as f64 - want).abs() < 1e-5);
                }
            }
        }
    }

    /// 37 values: two 16-lane blocks and a tail, so the AVX-512 body runs where the CPU has it.
    #[test]
    fn softmax_matches_f64_over_vector_body_and_tail() {
        let mut row: Vec<f32> = ramp(37, 0.9).iter().map(|x| x * 30.0).collect();
        let max = row.iter().cloned().fold(f32::MIN, f32::max) as f64;
        let e: Vec<f64> = row.iter().map(|&x| (x as f64 - max).exp()).collect();
        let sum: f64 = e.iter().sum();
        softmax(&mut row);
        for (got, e) in row.iter().zip(&e) {
            let want = e / sum;
            assert!(
                ((*got as f64) - want).abs() <= 1e-6 * want.max(1e-3),
                "{got} {want}"
            );
        }
    }
}
