//! The numbers the NPU kernels and the simulator share, read from `xclbin/constants.json` (the
//! kernels get the same file as the generated header `xclbin/kernels/npu_whisper_constants.h`),
//! so the two cannot drift apart.

use std::sync::OnceLock;

use serde::Deserialize;

/// The committed source of truth, compiled in.
pub const CONSTANTS_JSON: &str = include_str!("../../xclbin/constants.json");

#[derive(Debug, Clone, Deserialize)]
pub struct GemmTiles {
    pub microkernel_r: usize,
    pub microkernel_s: usize,
    #[cfg_attr(not(test), allow(dead_code))] // the C header's, checked by the tests
    pub microkernel_t: usize,
    #[cfg_attr(not(test), allow(dead_code))] // the C header's, checked by the tests
    pub tile_m: usize,
    pub tile_k: usize,
    pub tile_n: usize,
    /// Rows of A and C are padded to this (tile_m x the 4 core rows of the GEMM design).
    pub m_align: usize,
    /// Columns of B and C are padded to this (tile_n x 8 columns; NPU1's 4 columns divide it).
    pub n_align: usize,
}

#[derive(Debug, Clone, Deserialize)]
pub struct GeluPolynomial {
    pub lo: f32,
    pub hi: f32,
    pub segment_width: f32,
    #[cfg_attr(not(test), allow(dead_code))] // the C header's, checked by the tests
    pub degree: usize,
    pub coefficients: Vec<Vec<f32>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Exp2Polynomial {
    pub coefficients: Vec<f32>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LayerNormConstants {
    pub eps: f32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct KernelConstants {
    pub gemm: GemmTiles,
    pub gelu: GeluPolynomial,
    pub exp2: Exp2Polynomial,
    pub layernorm: LayerNormConstants,
}

/// The parsed constants (the JSON is part of the binary, so a parse failure is a build defect
/// caught by the tests, not a user error).
pub fn constants() -> &'static KernelConstants {
    static PARSED: OnceLock<KernelConstants> = OnceLock::new();
    PARSED.get_or_init(|| {
        serde_json::from_str(CONSTANTS_JSON).expect("xclbin/constants.json is valid (tested)")
    })
}

/// The C header for the AIE kernels, generated from the same constants (the tests hold the
/// committed header to it).
#[cfg_attr(not(test), allow(dead_code))]
pub fn kernel_header() -> String {
    let c = constants();
    let mut h = String::from(
        "// Generated from xclbin/constants.json by scripts/gen-kernel-header. Do not edit.\n\
         // The simulator (src/npu/sim.rs) reads the same file, so kernels and simulator agree.\n\
         #pragma once\n\n",
    );
    let g = &c.gemm;
    for (name, value) in [
        ("NW_MMUL_R", g.microkernel_r),
        ("NW_MMUL_S", g.microkernel_s),
        ("NW_MMUL_T", g.microkernel_t),
        ("NW_TILE_M", g.tile_m),
        ("NW_TILE_K", g.tile_k),
        ("NW_TILE_N", g.tile_n),
        ("NW_GELU_SEGMENTS", c.gelu.coefficients.len()),
        ("NW_GELU_TERMS", c.gelu.degree + 1),
        ("NW_EXP2_TERMS", c.exp2.coefficients.len()),
    ] {
        h.push_str(&format!("#define {name} {value}\n"));
    }
    h.push_str(&format!(
        "\nstatic const float NW_GELU_LO = {:?}f;\nstatic const float NW_GELU_HI = {:?}f;\nstatic const float NW_GELU_SEGMENT_WIDTH = {:?}f;\nstatic const float NW_LAYERNORM_EPS = {:e}f;\n\n",
        c.gelu.lo, c.gelu.hi, c.gelu.segment_width, c.layernorm.eps
    ));
    h.push_str("// Per segment, coefficients of (x - centre)^0 .. ^degree.\n");
    h.push_str("static const float NW_GELU_COEFFS[NW_GELU_SEGMENTS][NW_GELU_TERMS] = {\n");
    for seg in &c.gelu.coefficients {
        let terms: Vec<String> = seg.iter().map(|v| format!("{v:e}f")).collect();
        h.push_str(&format!("    {{{}}},\n", terms.join(", ")));
    }
    h.push_str("};\n\n// 2^f on [0, 1), coefficients of f^0 ..\n");
    let terms: Vec<String> = c
        .exp2
        .coefficients
        .iter()
        .map(|v| format!("{v:e}f"))
        .collect();
    h.push_str(&format!(
        "static const float NW_EXP2_COEFFS[NW_EXP2_TERMS] = {{{}}};\n",
        terms.join(", ")
    ));
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constants_parse_and_are_consistent() {
        let c = constants();
        assert_eq!(c.gelu.coefficients.len(), 24);
        assert!(
            c.gelu
                .coefficients
                .iter()
                .all(|s| s.len() == c.gelu.degree + 1)
        );
        let span = c.gelu.hi - c.gelu.lo;
        assert_eq!(
            span / c.gelu.segment_width,
            c.gelu.coefficients.len() as f32
        );
        assert_eq!(c.gemm.tile_k % c.gemm.microkernel_s, 0);
        assert_eq!(c.gemm.tile_m % c.gemm.microkernel_r, 0);
        // The whole-array design splits M over 4 core rows and N over 4 or 8 columns.
        assert_eq!(c.gemm.m_align % (4 * c.gemm.tile_m), 0);
        assert_eq!(c.gemm.n_align % (8 * c.gemm.tile_n), 0);
    }

    #[test]
    fn committed_kernel_header_is_generated_from_the_constants() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/xclbin/kernels/npu_whisper_constants.h"
        );
        if std::env::var_os("NPU_WHISPER_BLESS").is_some() {
            std::fs::write(path, kernel_header()).unwrap();
        }
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == kernel_header(),
            "xclbin/kernels/npu_whisper_constants.h is stale: run scripts/gen-kernel-header"
        );
    }
}
