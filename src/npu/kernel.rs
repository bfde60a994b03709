//! Our NPU kernels as a type: the call plan, the simulator, the adapter and the XRT session match
//! on `Kernel`, never on its name. The name is what `xclbin/manifest.json`, the xclbin and the
//! instruction-stream directories use (a test keeps the two lists equal).

use super::layout::Dtype;
use super::manifest::{KernelSpec, manifest};

/// One kernel of `xclbin/manifest.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kernel {
    /// `C = bf16(A·B + bias)`.
    GemmBias,
    /// `C = bf16(gelu(A·B + bias))`.
    GemmBiasGelu,
    /// `C = gelu(A·B + bias)`, f32.
    GemmBiasGeluF32,
    /// `C = A·B + bias`, f32 (followed by `Add` for a residual).
    GemmBiasF32,
    /// softmax(Q K^T / 8) V for every head.
    Attention,
    /// LayerNorm, bf16 out (feeds a GEMM).
    LayerNorm,
    /// LayerNorm, f32 out (the encoder's last op).
    LayerNormF32,
    /// GELU, bf16 in and out.
    Gelu,
    /// `a += b`, f32.
    Add,
}

impl Kernel {
    // Every kernel, for the tests that go through them all.
    #[cfg_attr(not(test), allow(dead_code))]
    pub const ALL: [Kernel; 9] = [
        Kernel::GemmBias,
        Kernel::GemmBiasGelu,
        Kernel::GemmBiasGeluF32,
        Kernel::GemmBiasF32,
        Kernel::Attention,
        Kernel::LayerNorm,
        Kernel::LayerNormF32,
        Kernel::Gelu,
        Kernel::Add,
    ];

    /// The manifest's (and the xclbin's) name.
    pub fn name(self) -> &'static str {
        match self {
            Kernel::GemmBias => "gemm_bias",
            Kernel::GemmBiasGelu => "gemm_bias_gelu",
            Kernel::GemmBiasGeluF32 => "gemm_bias_gelu_f32",
            Kernel::GemmBiasF32 => "gemm_bias_f32",
            Kernel::Attention => "attention",
            Kernel::LayerNorm => "layernorm",
            Kernel::LayerNormF32 => "layernorm_f32",
            Kernel::Gelu => "gelu",
            Kernel::Add => "add",
        }
    }

    #[cfg_attr(not(test), allow(dead_code))] // the tests name kernels by their manifest name
    pub fn from_name(name: &str) -> Option<Kernel> {
        Kernel::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The dtype of the buffer the kernel writes.
    pub fn output_dtype(self) -> Dtype {
        match self {
            Kernel::GemmBias
            | Kernel::GemmBiasGelu
            | Kernel::Attention
            | Kernel::LayerNorm
            | Kernel::Gelu => Dtype::Bf16,
            Kernel::GemmBiasGeluF32 | Kernel::GemmBiasF32 | Kernel::LayerNormF32 | Kernel::Add => {
                Dtype::F32
            }
        }
    }

    pub fn is_gemm(self) -> bool {
        matches!(
            self,
            Kernel::GemmBias | Kernel::GemmBiasGelu | Kernel::GemmBiasGeluF32 | Kernel::GemmBiasF32
        )
    }

    /// Whether the GEMM epilogue applies GELU.
    pub fn gelu_epilogue(self) -> bool {
        matches!(self, Kernel::GemmBiasGelu | Kernel::GemmBiasGeluF32)
    }

    /// Its manifest entry.
    pub fn spec(self) -> &'static KernelSpec {
        manifest()
            .kernels
            .get(self.name())
            .unwrap_or_else(|| panic!("kernel `{}` is not in xclbin/manifest.json", self.name()))
    }
}

impl serde::Serialize for Kernel {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl std::fmt::Display for Kernel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::npu::manifest::ArgKind;

    #[test]
    fn the_enum_and_the_manifest_list_the_same_kernels_with_the_same_output_dtype() {
        let manifest: Vec<&str> = manifest().kernels.keys().map(String::as_str).collect();
        let mut ours: Vec<&str> = Kernel::ALL.iter().map(|k| k.name()).collect();
        ours.sort();
        assert_eq!(ours, manifest);
        for k in Kernel::ALL {
            assert_eq!(Kernel::from_name(k.name()), Some(k));
            let written: Vec<_> = k
                .spec()
                .data_args()
                .filter(|a| a.kind != ArgKind::Input)
                .collect();
            assert_eq!(written.len(), 1, "{k}: one output");
            assert_eq!(written[0].dtype, Some(k.output_dtype()), "{k}");
        }
        assert_eq!(Kernel::from_name("gemm_bias_residual"), None);
    }
}
