//! Cross-attention of one decoder query row over a window's encoder frames, with the window's
//! keys and values computed once and laid out for it. Every decoding step reads all of them
//! (18 MB as f16 for base), so their size is time: under `--precision f32` they stay f32 (the
//! exact decoder); otherwise f16 (11 significant bits; 4.2 -> 3.6 ms per token here, no
//! transcript of the test clips changed).

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use half::slice::{HalfBitsSliceExt, HalfFloatSliceExt};
use rayon::prelude::*;

/// Frames per key tile: 64 scores, four zmm registers, computed together.
const TILE: usize = 64;

/// How the keys and values are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KvStorage {
    /// f32: the exact path.
    F32,
    /// f16 bit patterns: half the memory and bandwidth (the default with the bf16 encoder).
    F16,
}

#[derive(Debug, Clone)]
enum Store {
    F32(Vec<f32>),
    /// f16 bit patterns.
    F16(Vec<u16>),
}

/// One layer's cross-attention keys and values for a window, laid out so that each head's
/// attention reads one contiguous stretch of memory: keys in tiles of 64 frames,
/// `[head][frame tile][channel][64 frames]` (frames zero-padded to a whole tile), values
/// `[head][frame][channel]`. (Row-major keys made each head read 64 strided streams.)
#[derive(Debug, Clone)]
pub struct CrossKv {
    heads: usize,
    head_dim: usize,
    frames: usize,
    tiles: usize,
    keys: Store,
    values: Store,
}

impl CrossKv {
    /// From `[frames][2d]` rows holding each frame's key (`[..d]`) then its value (`[d..]`).
    pub fn new(keys_values: &[f32], frames: usize, heads: usize, storage: KvStorage) -> Self {
        let row = keys_values.len() / frames.max(1);
        let head_dim = row / 2 / heads;
        let tiles = frames.div_ceil(TILE);
        let mut keys = vec![0.0f32; heads * tiles * head_dim * TILE];
        let mut values = vec![0.0f32; heads * frames * head_dim];
        // Heads in parallel; each gathers its keys tile by tile, transposed.
        keys.par_chunks_mut(tiles * head_dim * TILE)
            .zip(values.par_chunks_mut(frames * head_dim))
            .enumerate()
            .for_each(|(h, (head_keys, head_values))| {
                for (tile, block) in head_keys.chunks_exact_mut(head_dim * TILE).enumerate() {
                    for f in 0..TILE.min(frames - tile * TILE) {
                        let from = &keys_values[(tile * TILE + f) * row + h * head_dim..];
                        for (c, &k) in from[..head_dim].iter().enumerate() {
                            block[c * TILE + f] = k;
                        }
                    }
                }
                for (t, out) in head_values.chunks_exact_mut(head_dim).enumerate() {
                    let from = t * row + row / 2 + h * head_dim;
                    out.copy_from_slice(&keys_values[from..from + head_dim]);
                }
            });
        let store = |x: Vec<f32>| match storage {
            KvStorage::F32 => Store::F32(x),
            KvStorage::F16 => {
                let mut bits = vec![0u16; x.len()];
                // Vectorised (F16C where the CPU has it).
                bits.reinterpret_cast_mut::<half::f16>()
                    .convert_from_f32_slice(&x);
                Store::F16(bits)
            }
        };
        CrossKv {
            heads,
            head_dim,
            frames,
            tiles,
            keys: store(keys),
            values: store(values),
        }
    }
}

impl CrossKv {
    /// Encoder frames in the window.
    pub fn frames(&self) -> usize {
        self.frames
    }

    /// Head `head`'s scaled query-key scores of query row `q` (all heads, `d` values) over the
    /// frames, before the softmax: what word alignment reads from the alignment heads.
    pub fn scores(&self, q: &[f32], head: usize) -> Vec<f32> {
        let hd = self.head_dim;
        let scale = 1.0 / (hd as f32).sqrt();
        let q: Vec<f32> = q[head * hd..(head + 1) * hd]
            .iter()
            .map(|&x| x * scale)
            .collect();
        let base = head * self.tiles * hd * TILE;
        let mut out = vec![0.0f32; self.tiles * TILE];
        let mut lanes = [0.0f32; TILE];
        // Tile by tile: each channel's 64 frames are contiguous, so the inner loop vectorises.
        for (tile, acc) in out.chunks_exact_mut(TILE).enumerate() {
            for (c, &qc) in q.iter().enumerate() {
                let at = base + (tile * hd + c) * TILE;
                let keys: &[f32] = match &self.keys {
                    Store::F32(k) => &k[at..at + TILE],
                    Store::F16(k) => {
                        k[at..at + TILE]
                            .reinterpret_cast::<half::f16>()
                            .convert_to_f32_slice(&mut lanes);
                        &lanes
                    }
                };
                for (a, &k) in acc.iter_mut().zip(keys) {
                    *a += qc * k;
                }
            }
        }
        out.truncate(self.frames);
        out
    }
}

/// Query rows `q` (`[rows][d]`, one per hypothesis) against the window's encoder frames, heads
/// in parallel; each head's keys and values are read once for all the rows.
pub fn attend_cross(out: &mut [f32], q: &[f32], kv: &CrossKv) {
    let hd = kv.head_dim;
    let d = kv.heads * hd;
    assert_eq!(q.len() % d, 0);
    assert_eq!(out.len(), q.len());
    let rows = q.len() / d;
    let contexts: Vec<Vec<f32>> = (0..kv.heads)
        .into_par_iter()
        .map(|h| {
            let qh: Vec<f32> = q
                .chunks_exact(d)
                .flat_map(|row| row[h * hd..(h + 1) * hd].iter().copied())
                .collect();
            let mut context = vec![0.0f32; rows * hd];
            let mut scores = vec![0.0f32; rows * kv.tiles * TILE];
            let (key_size, value_size) = (kv.tiles * hd * TILE, kv.frames * hd);
            let keys = h * key_size..(h + 1) * key_size;
            let values = h * value_size..(h + 1) * value_size;
            match (&kv.keys, &kv.values) {
                (Store::F32(k), Store::F32(v)) => {
                    head(&mut context, &qh, &k[keys], &v[values], kv, &mut scores)
                }
                (Store::F16(k), Store::F16(v)) => {
                    head(&mut context, &qh, &k[keys], &v[values], kv, &mut scores)
                }
                _ => unreachable!("keys and values are stored alike"),
            }
            context
        })
        .collect();
    for (h, context) in contexts.iter().enumerate() {
        for (r, c) in context.chunks_exact(hd).enumerate() {
            out[r * d + h * hd..r * d + (h + 1) * hd].copy_from_slice(c);
        }
    }
}

/// A stored value: loaded 16 at a time as f32 (the AVX-512 kernel) or one at a time.
trait Element: Copy {
    /// Whether this is f16 bits (converted with `vcvtph2ps`) rather than f32.
    const HALF: bool;
    fn to_f32(self) -> f32;
}

impl Element for f32 {
    const HALF: bool = false;
    fn to_f32(self) -> f32 {
        self
    }
}

impl Element for u16 {
    const HALF: bool = true;
    fn to_f32(self) -> f32 {
        half::f16::from_bits(self).to_f32()
    }
}

/// Query rows the AVX-512 kernel takes at once (4 accumulators each, in registers).
const GROUP: usize = 4;

/// One head for every query row (`q` and `context` are `[rows][hd]`, `scores` `rows` blocks of
/// `tiles * 64`): the AVX-512 kernel for 64-wide heads, in groups of up to four rows, else the
/// portable loops.
fn head<T: Element>(
    context: &mut [f32],
    q: &[f32],
    keys: &[T],
    values: &[T],
    kv: &CrossKv,
    scores: &mut [f32],
) {
    let hd = kv.head_dim;
    let span = kv.tiles * TILE;
    #[cfg(target_arch = "x86_64")]
    if crate::cpu_features::has_avx512() && hd == 64 {
        assert!(keys.len() == kv.tiles * 64 * TILE && values.len() == kv.frames * 64);
        for ((q, context), scores) in q
            .chunks(GROUP * 64)
            .zip(context.chunks_mut(GROUP * 64))
            .zip(scores.chunks_mut(GROUP * span))
        {
            // SAFETY: the CPU has the features the functions are compiled for; the slices hold
            // one head's tiles of keys and frames of values (asserted), and `group` rows of
            // queries, contexts and score blocks.
            unsafe {
                match q.len() / 64 {
                    1 => head_avx512::<T, 1>(context, q, keys, values, kv, scores),
                    2 => head_avx512::<T, 2>(context, q, keys, values, kv, scores),
                    3 => head_avx512::<T, 3>(context, q, keys, values, kv, scores),
                    _ => head_avx512::<T, 4>(context, q, keys, values, kv, scores),
                }
            }
        }
        return;
    }
    for ((q, context), scores) in q
        .chunks_exact(hd)
        .zip(context.chunks_exact_mut(hd))
        .zip(scores.chunks_exact_mut(span))
    {
        head_portable(context, q, keys, values, kv, scores);
    }
}

/// Sixteen stored values at `p` as f32.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn load16<T: Element>(p: *const T) -> __m512 {
    // SAFETY (callers): p points at 16 readable values; the CPU has AVX-512F (which includes
    // the 512-bit f16 conversion).
    unsafe {
        if T::HALF {
            _mm512_cvtph_ps(_mm256_loadu_si256(p as *const __m256i))
        } else {
            _mm512_loadu_ps(p as *const f32)
        }
    }
}

/// 64-wide heads for `G` query rows: a tile's 64 scores of every row and the contexts held in
/// registers, so each key and value is loaded once for all of them.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl,avx2,fma,f16c")]
unsafe fn head_avx512<T: Element, const G: usize>(
    context: &mut [f32],
    q: &[f32],
    keys: &[T],
    values: &[T],
    kv: &CrossKv,
    scores: &mut [f32],
) {
    let scale = 1.0 / (64f32).sqrt();
    let span = kv.tiles * TILE;
    assert!(context.len() == G * 64 && q.len() == G * 64 && scores.len() == G * span);
    // SAFETY: tile `tile` occupies keys[tile * 64 * 64..][..64 * 64] (keys holds tiles of
    // 64 x 64, checked by the caller), scores holds G blocks of tiles * 64 values, values holds
    // frames rows of 64, context G rows of 64: every load and store stays inside those bounds.
    unsafe {
        for tile in 0..kv.tiles {
            let block = keys.as_ptr().add(tile * 64 * TILE);
            let mut acc = [[_mm512_setzero_ps(); 4]; G];
            for c in 0..64 {
                let row = block.add(c * TILE);
                let k = [
                    load16(row),
                    load16(row.add(16)),
                    load16(row.add(32)),
                    load16(row.add(48)),
                ];
                for (g, acc) in acc.iter_mut().enumerate() {
                    let qv = _mm512_set1_ps(q[g * 64 + c] * scale);
                    for (a, &kv) in acc.iter_mut().zip(&k) {
                        *a = _mm512_fmadd_ps(qv, kv, *a);
                    }
                }
            }
            for (g, acc) in acc.iter().enumerate() {
                for (i, a) in acc.iter().enumerate() {
                    _mm512_storeu_ps(scores.as_mut_ptr().add(g * span + tile * TILE + 16 * i), *a);
                }
            }
        }
        for g in 0..G {
            crate::kernels::attention::softmax(&mut scores[g * span..g * span + kv.frames]);
        }
        let mut acc = [[_mm512_setzero_ps(); 4]; G];
        for t in 0..kv.frames {
            let v = values.as_ptr().add(t * 64);
            let vv = [
                load16(v),
                load16(v.add(16)),
                load16(v.add(32)),
                load16(v.add(48)),
            ];
            for (g, acc) in acc.iter_mut().enumerate() {
                let pv = _mm512_set1_ps(scores[g * span + t]);
                for (a, &v) in acc.iter_mut().zip(&vv) {
                    *a = _mm512_fmadd_ps(pv, v, *a);
                }
            }
        }
        for (g, acc) in acc.iter().enumerate() {
            for (i, a) in acc.iter().enumerate() {
                _mm512_storeu_ps(context.as_mut_ptr().add(g * 64 + 16 * i), *a);
            }
        }
    }
}

/// Scores tile by tile, softmax, context.
fn head_portable<T: Element>(
    context: &mut [f32],
    q: &[f32],
    keys: &[T],
    values: &[T],
    kv: &CrossKv,
    scores: &mut [f32],
) {
    let hd = kv.head_dim;
    let scale = 1.0 / (hd as f32).sqrt();
    scores.fill(0.0);
    for (tile, tile_scores) in scores.chunks_exact_mut(TILE).enumerate() {
        for (c, &qc) in q.iter().enumerate() {
            let row = &keys[(tile * hd + c) * TILE..(tile * hd + c + 1) * TILE];
            for (s, &k) in tile_scores.iter_mut().zip(row) {
                *s += qc * scale * k.to_f32();
            }
        }
    }
    let scores = &mut scores[..kv.frames];
    crate::kernels::attention::softmax(scores);
    context.fill(0.0);
    for (&p, v) in scores.iter().zip(values.chunks_exact(hd)) {
        for (o, &v) in context.iter_mut().zip(v) {
            *o += p * v.to_f32();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::half::attend;

    #[test]
    fn both_storages_match_the_row_major_kernel_on_the_values_they_store() {
        // 64-wide heads (the register-blocked AVX-512 path) and 48-wide ones (the portable
        // loops), over 150 frames: two 64-frame tiles and a 22-frame tail.
        for head_dim in [64, 48] {
            let (frames, heads) = (150, 2);
            let d = heads * head_dim;
            let q: Vec<f32> = (0..d).map(|i| i as f32 / 32.0 - 2.0).collect();
            let keys: Vec<f32> = (0..frames * d)
                .map(|i| (i % 11) as f32 / 11.0 - 0.5)
                .collect();
            let values: Vec<f32> = (0..frames * d).map(|i| (i % 7) as f32 * 0.3).collect();
            let rows: Vec<f32> = keys
                .chunks_exact(d)
                .zip(values.chunks_exact(d))
                .flat_map(|(k, v)| k.iter().chain(v).copied())
                .collect();
            let f16 = |x: &[f32]| -> Vec<f32> {
                x.iter().map(|&v| half::f16::from_f32(v).to_f32()).collect()
            };
            for (storage, k, v) in [
                (KvStorage::F32, keys.clone(), values.clone()),
                (KvStorage::F16, f16(&keys), f16(&values)),
            ] {
                let mut want = vec![0.0; d];
                attend(&mut want, &q, &k, &v, frames, heads, &mut Vec::new());
                let mut got = vec![0.0; d];
                attend_cross(&mut got, &q, &CrossKv::new(&rows, frames, heads, storage));
                for (a, b) in want.iter().zip(&got) {
                    assert!(
                        (a - b).abs() < 1e-4,
                        "{storage:?} {head_dim}: {want:?} vs {got:?}"
                    );
                }
            }
        }
    }
}
