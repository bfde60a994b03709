//! `Tensor`: where one weight's values are, not the values. A stored tensor stays in the
//! memory-mapped model file in its own dtype (f32, f16 or bf16) until a kernel's arrangement
//! reads it, row by row or whole, and is then released from memory: a large-v3 encoder is
//! 1.3 GB of f16, and a whole-model f32 copy beside the arranged weights would triple that.

use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::Arc;

use super::float::{FloatFormat, to_f32_into};
use crate::error::{Error, Result};

/// One weight tensor.
#[derive(Debug, Clone)]
pub enum Tensor {
    /// In a mapped model file.
    Stored(StoredTensor),
    /// Deterministic values made on demand (benchmark models of any size).
    Generated(Generated),
}

/// A tensor's bytes in a mapped model file.
#[derive(Debug, Clone)]
pub struct StoredTensor {
    pub(crate) name: String,
    /// The file, for error messages.
    pub(crate) path: PathBuf,
    pub(crate) map: Arc<memmap2::Mmap>,
    /// Byte offset of the first value in the mapping.
    pub(crate) start: usize,
    pub(crate) len: usize,
    pub(crate) format: FloatFormat,
}

/// Synthetic values: a constant, or uniform in `[-scale/2, scale/2)` from a counter-based hash
/// of (seed, index), so any row can be made without the ones before it.
#[derive(Debug, Clone, Copy)]
pub enum Generated {
    Constant { value: f32, len: usize },
    Uniform { seed: u64, scale: f32, len: usize },
}

impl Generated {
    fn len(&self) -> usize {
        match *self {
            Generated::Constant { len, .. } | Generated::Uniform { len, .. } => len,
        }
    }

    fn fill(&self, first: usize, out: &mut [f32]) {
        match *self {
            Generated::Constant { value, .. } => out.fill(value),
            Generated::Uniform { seed, scale, .. } => {
                for (i, v) in out.iter_mut().enumerate() {
                    let bits = splitmix64(seed ^ (first + i) as u64);
                    *v = ((bits >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * scale;
                }
            }
        }
    }
}

/// SplitMix64's output function: a well-mixed 64-bit hash of a counter.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Tensor {
    /// Number of values.
    #[allow(clippy::len_without_is_empty)] // a weight is never empty
    pub fn len(&self) -> usize {
        match self {
            Tensor::Stored(s) => s.len,
            Tensor::Generated(g) => g.len(),
        }
    }

    /// All values as f32, checked to be finite.
    pub fn to_f32(&self) -> Result<Cow<'_, [f32]>> {
        let mut out = vec![0.0; self.len()];
        self.read_into(0, &mut out)?;
        Ok(Cow::Owned(out))
    }

    /// Values `first .. first + out.len()` as f32 into `out`, checked to be finite (a
    /// non-finite value is an error naming the tensor and the element).
    pub fn read_into(&self, first: usize, out: &mut [f32]) -> Result<()> {
        assert!(
            first + out.len() <= self.len(),
            "range past the tensor's end"
        );
        match self {
            Tensor::Generated(g) => g.fill(first, out),
            Tensor::Stored(s) => {
                let width = s.format.bytes();
                let at = s.start + first * width;
                to_f32_into(&s.map[at..at + out.len() * width], s.format, out);
                // Whole-slice test first (vectorises); the position only on failure.
                if !out.iter().fold(true, |ok, v| ok & v.is_finite()) {
                    let i = out.iter().position(|v| !v.is_finite()).unwrap_or(0);
                    return Err(Error::model(
                        &s.path,
                        format!(
                            "tensor `{}`: element {} is {} (not finite)",
                            s.name,
                            first + i,
                            out[i]
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Row `row` of a row-major matrix with rows of `row_len` values.
    pub fn read_row(&self, row: usize, row_len: usize, out: &mut [f32]) -> Result<()> {
        debug_assert_eq!(out.len(), row_len);
        self.read_into(row * row_len, out)
    }

    /// Give the memory of a stored tensor's pages back once its values have been arranged:
    /// its file-backed pages leave this process's resident set (they are re-read from the page
    /// cache if ever touched again). No effect on other kinds.
    pub fn release(&self) {
        if let Tensor::Stored(s) = self {
            let bytes = s.len * s.format.bytes();
            // SAFETY: MADV_DONTNEED on a read-only private file mapping drops only clean pages,
            // whose contents the kernel re-reads from the file on the next access: every
            // borrow of the mapping (including the decoder's f16 views of neighbouring
            // tensors) still reads the same bytes. The range lies inside the mapping (checked
            // when the header was read).
            let advised = unsafe {
                s.map
                    .unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, s.start, bytes)
            };
            if let Err(e) = advised {
                tracing::debug!("madvise(DONTNEED) on `{}` failed: {e}", s.name);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_rows_equal_the_whole_tensor_read_at_once() {
        let t = Tensor::Generated(Generated::Uniform {
            seed: 7,
            scale: 2.0,
            len: 60,
        });
        let whole = t.to_f32().unwrap().into_owned();
        assert!(whole.iter().all(|v| (-1.0..1.0).contains(v)));
        let mut row = vec![0.0; 12];
        for r in 0..5 {
            t.read_row(r, 12, &mut row).unwrap();
            assert_eq!(row, whole[r * 12..(r + 1) * 12]);
        }
        // A different seed gives different values.
        let other = Tensor::Generated(Generated::Uniform {
            seed: 8,
            scale: 2.0,
            len: 60,
        });
        assert_ne!(other.to_f32().unwrap().into_owned(), whole);
    }
}
