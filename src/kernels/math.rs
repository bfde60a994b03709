//! Vectorisable f32 elementary functions: `exp` and `erf` written as straight-line polynomial
//! code so loops over slices compile to SIMD. Both are checked against libm in the tests.

/// e^x for f32, relative error about 2 ulp; inputs below -87 flush to 0.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // ln 2 split in two so n * LN2_HI is exact for |n| < 2^9 (Cody-Waite reduction).
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let x = x.clamp(-87.0, 88.0);
    // Round to nearest by adding and removing 1.5 * 2^23: no call to roundf, which baseline
    // x86-64 (no SSE4.1) cannot inline and which would keep the loop scalar.
    const ROUND: f32 = 12_582_912.0;
    let n = (x * LOG2E + ROUND) - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    // Taylor/minimax polynomial of e^r on |r| <= ln2/2 (Cephes expf coefficients).
    let p = 1.987_569_1e-4_f32;
    let p = p * r + 1.398_199_9e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 1.666_666_5e-1;
    let p = p * r + 5.0e-1;
    let p = p * r * r + r + 1.0;
    // Scale by 2^n through the exponent bits; n is in [-126, 127] after the clamp.
    let scale = f32::from_bits(((n as i32 + 127) as u32) << 23);
    p * scale
}

/// erf(x) for f32 as a rational approximation on [-4, 4] (Eigen's `generic_fast_erf_float`),
/// absolute error below 1e-6; erf is +-1 to f32 precision beyond.
#[inline(always)]
pub fn erf(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let p = -2.726_142_3e-10_f32;
    let p = p * x2 + 2.770_681_4e-8;
    let p = p * x2 + -2.101_024e-6;
    let p = p * x2 + -5.692_506_4e-5;
    let p = p * x2 + -7.349_906_3e-4;
    let p = p * x2 + -2.954_600_6e-3;
    let p = p * x2 + -1.609_603_4e-2;
    let p = p * x;
    let q = -1.456_607_2e-5_f32;
    let q = q * x2 + -2.133_740_6e-4;
    let q = q * x2 + -1.682_827e-3;
    let q = q * x2 + -7.373_329_5e-3;
    let q = q * x2 + -1.426_474e-2;
    p / q
}

/// Exact-erf GELU, `x * 0.5 * (1 + erf(x / sqrt(2)))`, as PyTorch's `F.gelu` (approximate="none").
#[inline(always)]
pub fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

/// e^x on 16 lanes: `math::exp`'s Cody-Waite reduction and polynomial.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
pub(crate) fn exp16(x: std::arch::x86_64::__m512) -> std::arch::x86_64::__m512 {
    use std::arch::x86_64::*;
    let x = _mm512_min_ps(
        _mm512_max_ps(x, _mm512_set1_ps(-87.0)),
        _mm512_set1_ps(88.0),
    );
    let n = _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(
        _mm512_mul_ps(x, _mm512_set1_ps(std::f32::consts::LOG2_E)),
    );
    let r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693_359_4), x);
    let r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.121_944_4e-4), r);
    let mut p = _mm512_set1_ps(1.987_569_1e-4);
    for c in [
        1.398_199_9e-3,
        8.333_452e-3,
        4.166_579_6e-2,
        1.666_666_5e-1,
        5.0e-1,
    ] {
        p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(c));
    }
    let r2 = _mm512_mul_ps(r, r);
    let p = _mm512_add_ps(_mm512_fmadd_ps(p, r2, r), _mm512_set1_ps(1.0));
    _mm512_scalef_ps(p, n)
}

/// The largest value; `-inf` for an empty slice.
pub fn max(values: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if crate::cpu_features::has_avx512() {
        // SAFETY: the CPU has AVX-512F.
        return unsafe { max_avx512(values) };
    }
    values.iter().copied().fold(f32::NEG_INFINITY, f32::max)
}

/// `max` in AVX-512 (also softmax's first pass).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
pub(crate) unsafe fn max_avx512(values: &[f32]) -> f32 {
    use std::arch::x86_64::*;
    let mut chunks = values.chunks_exact(16);
    let mut vmax = _mm512_set1_ps(f32::NEG_INFINITY);
    for c in &mut chunks {
        // SAFETY: a chunk holds 16 values.
        vmax = _mm512_max_ps(vmax, unsafe { _mm512_loadu_ps(c.as_ptr()) });
    }
    let tail = chunks.remainder().iter().copied();
    tail.fold(_mm512_reduce_max_ps(vmax), f32::max)
}

/// `log(sum(exp(values)))`, stable (shifted by the maximum): each 16-value chunk summed in
/// f32, the chunks in f64. `-inf` for an empty or all-forbidden (`-inf`) row. Beam search
/// takes it over every hypothesis' 51,865 logits at every step, hence the vector form.
pub fn log_sum_exp(values: &[f32]) -> f32 {
    let max = max(values);
    if max == f32::NEG_INFINITY {
        return max;
    }
    #[cfg(target_arch = "x86_64")]
    if crate::cpu_features::has_avx512() {
        // SAFETY: the CPU has AVX-512F.
        return max + unsafe { sum_exp_shifted_avx512(values, max) }.ln() as f32;
    }
    let sum: f64 = values
        .chunks(16)
        .map(|c| c.iter().map(|&v| exp(v - max)).sum::<f32>() as f64)
        .sum();
    max + sum.ln() as f32
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn sum_exp_shifted_avx512(values: &[f32], max: f32) -> f64 {
    use std::arch::x86_64::*;
    let vmax = _mm512_set1_ps(max);
    let mut chunks = values.chunks_exact(16);
    let mut sum = 0.0f64;
    for c in &mut chunks {
        // SAFETY: a chunk holds 16 values.
        let e = exp16(_mm512_sub_ps(unsafe { _mm512_loadu_ps(c.as_ptr()) }, vmax));
        sum += _mm512_reduce_add_ps(e) as f64;
    }
    let tail = chunks.remainder();
    sum + tail.iter().map(|&v| exp(v - max)).sum::<f32>() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_within_a_few_ulp_of_libm() {
        let mut worst = 0.0f64;
        let mut x = -87.0f32;
        while x < 88.0 {
            let want = libm::exp(x as f64);
            let got = exp(x) as f64;
            worst = worst.max(((got - want) / want).abs());
            x += 0.001_3;
        }
        assert!(worst < 3e-7, "max relative error {worst}");
        assert_eq!(exp(-200.0), exp(-87.0));
        assert!(exp(-87.0) > 0.0 && exp(-87.0) < 2e-38);
    }

    #[test]
    fn log_sum_exp_matches_f64_over_vector_body_and_tail() {
        for len in [0, 1, 15, 16, 37, 51_865] {
            let values: Vec<f32> = (0..len)
                .map(|i| ((i * 7919 % 1000) as f32 - 700.0) / 40.0)
                .collect();
            let max = values
                .iter()
                .copied()
                .fold(f64::NEG_INFINITY, |m, v| m.max(v as f64));
            let want = max
                + values
                    .iter()
                    .map(|&v| (v as f64 - max).exp())
                    .sum::<f64>()
                    .ln();
            let got = log_sum_exp(&values) as f64;
            if len == 0 {
                assert_eq!(got, f64::NEG_INFINITY);
            } else {
                assert!(
                    (got - want).abs() < 1e-5 * (1.0 + want.abs()),
                    "{len}: {got} vs {want}"
                );
                assert_eq!(super::max(&values) as f64, max);
            }
        }
        assert_eq!(log_sum_exp(&[f32::NEG_INFINITY; 20]), f32::NEG_INFINITY);
    }

    #[test]
    fn erf_is_within_1e_6_of_libm() {
        let mut worst = 0.0f64;
        let mut x = -6.0f32;
        while x < 6.0 {
            worst = worst.max((erf(x) as f64 - libm::erf(x as f64)).abs());
            x += 0.000_7;
        }
        assert!(worst < 1e-6, "max abs error {worst}");
    }

    #[test]
    fn gelu_matches_the_exact_formula() {
        for &x in &[-8.0f32, -3.0, -1.0, -0.1, 0.0, 0.1, 1.0, 3.0, 8.0] {
            let want = 0.5 * x as f64 * (1.0 + libm::erf(x as f64 / std::f64::consts::SQRT_2));
            assert!(
                (gelu(x) as f64 - want).abs() < 1e-6 * (1.0 + want.abs()),
                "{x}"
            );
        }
    }
}
