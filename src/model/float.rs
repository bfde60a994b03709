//! Little-endian float tensor bytes (f32, f16, bf16) to f32, shared by the safetensors and
//! CTranslate2 readers.

/// Float formats stored in model files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FloatFormat {
    F32,
    F16,
    BF16,
}

/// Decode `bytes` (a whole number of elements) to f32.
pub fn to_f32(bytes: &[u8], format: FloatFormat) -> Vec<f32> {
    match format {
        FloatFormat::F32 => bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        FloatFormat::F16 => bytes
            .chunks_exact(2)
            .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        FloatFormat::BF16 => bytes
            .chunks_exact(2)
            .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
    }
}
