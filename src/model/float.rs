//! Little-endian float tensor bytes (f32, f16, bf16) to f32, shared by the safetensors and
//! CTranslate2 readers.

/// Float formats stored in model files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FloatFormat {
    F32,
    F16,
    BF16,
}

impl FloatFormat {
    /// Bytes per value.
    pub fn bytes(self) -> usize {
        match self {
            FloatFormat::F32 => 4,
            FloatFormat::F16 | FloatFormat::BF16 => 2,
        }
    }
}

/// Decode `bytes` (a whole number of elements) to f32.
pub fn to_f32(bytes: &[u8], format: FloatFormat) -> Vec<f32> {
    let mut out = vec![0.0f32; bytes.len() / format.bytes()];
    to_f32_into(bytes, format, &mut out);
    out
}

/// Decode `bytes` into `out` (exactly `out.len()` values).
pub fn to_f32_into(bytes: &[u8], format: FloatFormat, out: &mut [f32]) {
    assert_eq!(bytes.len(), out.len() * format.bytes());
    match format {
        FloatFormat::F32 => {
            for (o, c) in out.iter_mut().zip(bytes.chunks_exact(4)) {
                *o = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
            }
        }
        FloatFormat::F16 => {
            use half::slice::HalfFloatSliceExt;
            if cfg!(target_endian = "little") && bytes.as_ptr().align_offset(2) == 0 {
                // SAFETY: aligned for u16 (checked), every bit pattern is an f16, and the length
                // is the whole number of f16 values in bytes.
                let halves = unsafe {
                    std::slice::from_raw_parts(bytes.as_ptr() as *const half::f16, out.len())
                };
                // Vectorised (F16C where the CPU has it): the per-value conversion checked the
                // CPU's features for every value.
                halves.convert_to_f32_slice(out);
            } else {
                for (o, c) in out.iter_mut().zip(bytes.chunks_exact(2)) {
                    *o = half::f16::from_le_bytes([c[0], c[1]]).to_f32();
                }
            }
        }
        FloatFormat::BF16 => {
            for (o, c) in out.iter_mut().zip(bytes.chunks_exact(2)) {
                *o = f32::from_bits((u16::from_le_bytes([c[0], c[1]]) as u32) << 16);
            }
        }
    }
}
