//! Kernel validation: run every distinct call of a plan on a device and in the simulator on the
//! same pseudo-random inputs and compare the outputs bit for bit (`scripts/npu-validate`).
//!
//! The device is any `NpuDevice` (the XRT session on hardware, stand-ins in tests). Inputs are
//! finite values around the scale of encoder activations (GEMM biases in their chunked layout);
//! the padding rows of the attention input are zero, as the host lays them out, and only the
//! real frames of the attention output are compared (the padded query rows are never read).
//! Each call's single run is timed; `submit_together` then sends all calls as one submission
//! (a runlist where the device has one) and compares again.

use std::borrow::Cow;
use std::time::Instant;

use super::calls::{Call, CallShape, Direction};
use super::dispatch::{NpuDevice, Run, Submission};
use super::kernel::Kernel;
use super::layout::{Dtype, f32_bytes, pack_bias_chunks, to_bf16_bytes};
use super::sim;

/// The outcome for one kernel at one shape.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct KernelReport {
    pub kernel: Kernel,
    pub shape: String,
    /// Compared output elements.
    pub elements: usize,
    /// Of those, the elements NaN on both sides (equal as NaN, payload not compared).
    pub nan: usize,
    /// Wall time of the device run (host syncs included), when it ran.
    pub ms: Option<f64>,
    /// None when every compared element is bit-identical; otherwise the first difference.
    pub first_mismatch: Option<Mismatch>,
    /// The device run failed: its error.
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Mismatch {
    pub buffer: String,
    pub index: usize,
    pub device: String,
    pub simulator: String,
    pub mismatched: usize,
}

impl KernelReport {
    pub fn passed(&self) -> bool {
        self.error.is_none() && self.first_mismatch.is_none()
    }
}

/// The values a validation run feeds the kernels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Values {
    /// Finite values around the scale of encoder activations, in [-2, 2).
    Finite,
    /// The same, with about one element in 256 replaced by a hard case: NaN (quiet, signalling,
    /// negative), infinities, zeros of both signs, denormals, the smallest normal and magnitudes
    /// near the f32 and bf16 limits.
    Special,
}

/// Hard cases for [`Values::Special`], as f32 bit patterns.
const SPECIAL_BITS: [u32; 14] = [
    0x7fc0_0000, // quiet NaN
    0xffc0_0000, // negative quiet NaN
    0x7f80_0001, // signalling NaN
    0x7f80_0000, // +inf
    0xff80_0000, // -inf
    0x0000_0000, // +0
    0x8000_0000, // -0
    0x0000_0001, // the smallest denormal
    0x8040_0000, // a negative denormal
    0x0080_0000, // the smallest normal
    0x7f7f_0000, // the largest bf16
    0xff7f_0000, // its negative
    0x5f80_0000, // 2^64: its square overflows f32
    0x1f80_0000, // 2^-64: its square is denormal
];

/// Hard cases in an input buffer, placed so that most outputs stay finite and the comparison
/// keeps its power: one special value in every 64th line the kernel reduces over (a GEMM's A
/// rows and B columns, a LayerNorm row), in a few frames of attention's QKV (a special K or V
/// value reaches every query of its head), in every 64th element of element-wise inputs.
fn plant_specials(call: &Call, arg: &str, values: &mut [f32], next: &mut impl FnMut() -> u64) {
    let special = |next: &mut dyn FnMut() -> u64| {
        f32::from_bits(SPECIAL_BITS[(next() >> 8) as usize % SPECIAL_BITS.len()])
    };
    let (lines, line_len, stride, every): (usize, usize, usize, usize) = match (call.shape, arg) {
        (CallShape::Gemm(s), "a") => (s.mp, s.kp, 1, 64),
        // Columns of the k x n B: element (k, j) at k * n + j.
        (CallShape::Gemm(s), "b") => (s.np, s.kp, s.np, 64),
        (CallShape::Gemm(s), "bias") => {
            // One bias value (the first np values; the chunked layout is made from them after).
            let j = (next() as usize) % s.np;
            values[j] = special(next);
            return;
        }
        (
            CallShape::Attention {
                frames, d_model, ..
            },
            _,
        ) => (frames, 3 * d_model, 1, 256),
        (CallShape::Rows { rows, cols }, "x") => (rows, cols, 1, 64),
        (CallShape::Rows { cols, .. }, _) => {
            let j = (next() as usize) % (2 * cols);
            values[j] = special(next);
            return;
        }
        (CallShape::Elements { len }, _) => (len, 1, 1, 64),
        _ => return,
    };
    for line in 0..lines {
        if !next().is_multiple_of(every as u64) {
            continue;
        }
        let at = (next() as usize) % line_len;
        let index = if stride == 1 {
            line * line_len + at
        } else {
            at * stride + line
        };
        values[index] = special(next);
    }
}

/// Deterministic inputs for `call` (xorshift, seeded by the buffer's position).
pub fn inputs(call: &Call) -> Vec<Vec<u8>> {
    inputs_with(call, Values::Finite, 0)
}

/// Deterministic inputs for `call` of the given kind; `seed` picks another set.
pub fn inputs_with(call: &Call, kind: Values, seed: u64) -> Vec<Vec<u8>> {
    call.args
        .buffers
        .iter()
        .enumerate()
        .map(|(n, arg)| {
            let count = arg.bytes / arg.dtype.size();
            let mut state = 0x9E37_79B9_7F4A_7C15u64
                ^ ((n as u64 + 1) << 32)
                ^ seed.wrapping_mul(0xA24B_AED4_963E_E407);
            let mut next = move || {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state
            };
            let mut values: Vec<f32> = (0..count)
                .map(|_| ((next() >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 4.0)
                .collect();
            if kind == Values::Special && arg.direction != Direction::Output {
                plant_specials(call, &arg.name, &mut values, &mut next);
            }
            if let CallShape::Attention {
                frames, d_model, ..
            } = call.shape
                && arg.direction == Direction::Input
            {
                values[frames * 3 * d_model..].fill(0.0);
            }
            if let CallShape::Gemm(shape) = call.shape
                && arg.name == "bias"
            {
                // The chunked layout: the real values first in each chunk, zeros after.
                let bias = values[..shape.np].to_vec();
                values = pack_bias_chunks(&bias, shape.np);
            }
            match arg.dtype {
                Dtype::Bf16 => to_bf16_bytes(values),
                Dtype::F32 => f32_bytes(&values),
            }
        })
        .collect()
}

/// Validate one call with `device` against the simulator.
#[cfg_attr(not(test), allow(dead_code))] // the tool validates input sets (validate_call_sets)
pub fn validate_call(call: &Call, device: &dyn NpuDevice) -> KernelReport {
    validate_call_with(call, device, Values::Finite, 0)
}

/// Validate one call on `sets` input sets of the given kind (seeds 0..sets), stopping at the
/// first set that differs: its report, or the last one's with the elements of all sets counted.
pub fn validate_call_sets(
    call: &Call,
    device: &dyn NpuDevice,
    kind: Values,
    sets: u64,
) -> KernelReport {
    let (mut elements, mut nan) = (0, 0);
    let mut ms = 0.0;
    let mut last = None;
    for seed in 0..sets.max(1) {
        let report = validate_call_with(call, device, kind, seed);
        elements += report.elements;
        nan += report.nan;
        ms += report.ms.unwrap_or(0.0);
        let passed = report.passed();
        last = Some(report);
        if !passed {
            break;
        }
    }
    let mut report = last.expect("at least one set");
    if report.passed() {
        report.elements = elements;
        report.nan = nan;
        report.ms = Some(ms);
    }
    report
}

/// Validate one call with `device` against the simulator on one input set.
pub fn validate_call_with(
    call: &Call,
    device: &dyn NpuDevice,
    kind: Values,
    seed: u64,
) -> KernelReport {
    let data = inputs_with(call, kind, seed);
    let mut on_device: Vec<Cow<[u8]>> = data.iter().map(|b| Cow::Borrowed(&b[..])).collect();
    let started = Instant::now();
    let result = device.run(call, &mut on_device);
    let ms = started.elapsed().as_secs_f64() * 1e3;
    let mut report = compare(call, &data, result.map(|()| on_device));
    if report.error.is_none() {
        report.ms = Some(ms);
    }
    report
}

/// Compare a device's outputs for `call` (or its error) with the simulator's on `data`.
fn compare(call: &Call, data: &[Vec<u8>], device: Result<Vec<Cow<[u8]>>, String>) -> KernelReport {
    let mut simulated: Vec<Cow<[u8]>> = data.iter().map(|b| Cow::Borrowed(&b[..])).collect();
    let mut report = KernelReport {
        kernel: call.kernel,
        shape: call.shape.key(),
        elements: 0,
        nan: 0,
        ms: None,
        first_mismatch: None,
        error: None,
    };
    if let Err(e) = sim::run(call, &mut simulated) {
        report.error = Some(format!("simulator: {e}"));
        return report;
    }
    let on_device = match device {
        Ok(outputs) => outputs,
        Err(e) => {
            report.error = Some(e);
            return report;
        }
    };
    for ((arg, dev), sim) in call.args.buffers.iter().zip(&on_device).zip(&simulated) {
        if arg.direction == Direction::Input {
            continue;
        }
        let size = arg.dtype.size();
        let compared = match call.shape {
            CallShape::Attention {
                frames, d_model, ..
            } => frames * d_model,
            _ => arg.bytes / size,
        };
        let (dev, sim) = (&dev[..compared * size], &sim[..compared * size]);
        report.elements += compared;
        // One pass: the differing elements, and the NaNs both sides agree on.
        let mut differs = Vec::new();
        for i in 0..compared {
            let (d, s) = (
                &dev[i * size..(i + 1) * size],
                &sim[i * size..(i + 1) * size],
            );
            let both_nan = is_nan(d, arg.dtype) && is_nan(s, arg.dtype);
            if both_nan {
                report.nan += 1;
            } else if d != s {
                differs.push(i);
            }
        }
        if let Some(&index) = differs.first() {
            let show = |b: &[u8]| match arg.dtype {
                Dtype::Bf16 => {
                    let bits = u16::from_le_bytes([b[index * 2], b[index * 2 + 1]]);
                    format!("{:e} ({bits:#06x})", half::bf16::from_bits(bits).to_f32())
                }
                Dtype::F32 => {
                    let bits = u32::from_le_bytes(b[index * 4..index * 4 + 4].try_into().unwrap());
                    format!("{:e} ({bits:#010x})", f32::from_bits(bits))
                }
            };
            report.first_mismatch.get_or_insert(Mismatch {
                buffer: arg.name.clone(),
                index,
                device: show(dev),
                simulator: show(sim),
                mismatched: differs.len(),
            });
        }
    }
    report
}

/// Whether one element's bytes are a NaN. Bit equality holds for everything else: a NaN's sign
/// and payload are not compared, because neither IEEE 754 nor the compilers on either side
/// (LLVM for the simulator, g++ or Peano for the kernels) fix how they propagate.
fn is_nan(bytes: &[u8], dtype: Dtype) -> bool {
    match dtype {
        Dtype::Bf16 => half::bf16::from_le_bytes([bytes[0], bytes[1]]).is_nan(),
        Dtype::F32 => f32::from_le_bytes(bytes.try_into().expect("4 bytes")).is_nan(),
    }
}

/// Every kernel at the shapes of `config`'s encoder: the full plan (which fuses every GELU into
/// its GEMM), plus the plan with conv1 on the CPU, which adds the standalone GELU.
pub fn calls_for(config: &crate::model::Config) -> Vec<Call> {
    let plan = crate::encoder::Plan::new(config, 1);
    let mut calls = super::calls::plan_calls(&plan, &vec![true; plan.ops.len()]);
    let mut conv1_on_cpu = vec![true; plan.ops.len()];
    conv1_on_cpu[0] = false;
    calls.extend(super::calls::plan_calls(&plan, &conv1_on_cpu));
    calls
}

/// One line of the validation report (`validate-kernels` prints it; the tests read it).
#[cfg_attr(not(test), allow(dead_code))]
pub fn report_line(r: &KernelReport) -> String {
    let verdict = match (&r.error, &r.first_mismatch) {
        (Some(e), _) => format!("ERROR {e}"),
        (None, Some(m)) => format!(
            "MISMATCH {} of {} elements; first: {}[{}] device {} simulator {}",
            m.mismatched, r.elements, m.buffer, m.index, m.device, m.simulator
        ),
        (None, None) => format!("ok, {} elements bit-identical", r.elements),
    };
    format!("{:<20} {:<28} {verdict}", r.kernel, r.shape)
}

/// The distinct (kernel, shape) calls among `calls`, in order.
pub fn distinct(calls: &[Call]) -> Vec<&Call> {
    let mut seen = std::collections::BTreeSet::new();
    calls
        .iter()
        .filter(|c| seen.insert(c.args.instructions.clone()))
        .collect()
}

/// Validate every distinct (kernel, shape) among `calls`, one run each.
#[cfg_attr(not(test), allow(dead_code))]
pub fn validate_all(calls: &[Call], device: &dyn NpuDevice) -> Vec<KernelReport> {
    distinct(calls)
        .into_iter()
        .map(|c| validate_call(c, device))
        .collect()
}

/// Every distinct call of `calls` as one submission (`NpuDevice::run_all`: a runlist where the
/// device has one), each output compared with the simulator; the submission's wall time.
pub fn submit_together(
    calls: &[Call],
    device: &dyn NpuDevice,
) -> (Result<Submission, String>, f64, Vec<KernelReport>) {
    let calls = distinct(calls);
    let data: Vec<Vec<Vec<u8>>> = calls.iter().map(|c| inputs(c)).collect();
    let mut runs: Vec<Run> = calls
        .iter()
        .zip(&data)
        .map(|(call, d)| Run {
            call,
            buffers: d.iter().map(|b| Cow::Borrowed(&b[..])).collect(),
        })
        .collect();
    let started = Instant::now();
    let submission = device.run_all(&mut runs);
    let ms = started.elapsed().as_secs_f64() * 1e3;
    let reports = runs
        .into_iter()
        .zip(&data)
        .map(|(run, d)| match &submission {
            Ok(_) => compare(run.call, d, Ok(run.buffers)),
            Err(e) => compare(run.call, d, Err(e.clone())),
        })
        .collect();
    (submission, ms, reports)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Config;

    fn tiny_calls() -> Vec<Call> {
        calls_for(&Config::standard(80, 64, 1))
    }

    /// A stand-in device: the simulator, then `tamper` on the outputs.
    struct Tampered<F>(F);
    impl<F: Fn(&Call, &mut [Cow<'_, [u8]>]) -> Result<(), String> + Send + Sync> NpuDevice
        for Tampered<F>
    {
        fn placement(&self) -> crate::encoder::OpDevice {
            crate::encoder::OpDevice::Npu
        }
        fn run(&self, call: &Call, buffers: &mut [Cow<'_, [u8]>]) -> Result<(), String> {
            (self.0)(call, buffers)
        }
    }

    #[test]
    fn the_simulator_validates_against_itself_for_every_kernel() {
        let reports = validate_all(&tiny_calls(), &sim::Simulator);
        let kernels: std::collections::BTreeSet<_> = reports.iter().map(|r| r.kernel).collect();
        assert_eq!(
            kernels.len(),
            9,
            "every kernel of the manifest: {kernels:?}"
        );
        assert!(reports.iter().all(KernelReport::passed), "{reports:#?}");
        assert!(reports.iter().all(|r| r.elements > 0 && r.ms.is_some()));
        // All at once: the simulator has no runlist, and says so.
        let (submission, _, together) = submit_together(&tiny_calls(), &sim::Simulator);
        match submission {
            Ok(Submission::Single { runs, why }) => {
                assert_eq!(runs, reports.len());
                assert!(why.contains("one at a time"), "{why}");
            }
            other => panic!("{other:?}"),
        }
        assert!(together.iter().all(KernelReport::passed), "{together:#?}");
    }

    #[test]
    fn a_one_ulp_difference_is_reported_with_its_place() {
        let calls = tiny_calls();
        let call = calls
            .iter()
            .find(|c| c.kernel == Kernel::LayerNorm)
            .unwrap();
        let off_by_one_ulp = Tampered(|c: &Call, b: &mut [Cow<'_, [u8]>]| {
            sim::run(c, b)?;
            let out = b[2].to_mut();
            out[2 * 7] ^= 1; // lowest mantissa bit of bf16 element 7
            Ok(())
        });
        let report = validate_call(call, &off_by_one_ulp);
        assert!(report_line(&report).contains("MISMATCH 1 of"));
        let m = report.first_mismatch.expect("a mismatch");
        assert_eq!((m.buffer.as_str(), m.index, m.mismatched), ("y", 7, 1));
        let failing =
            Tampered(
                |_: &Call, _: &mut [Cow<'_, [u8]>]| Err("timed out after 5000 ms".to_string()),
            );
        let report = validate_call(call, &failing);
        assert_eq!(report.error.as_deref(), Some("timed out after 5000 ms"));
    }

    #[test]
    fn any_nan_equals_any_nan_and_nothing_else() {
        let calls = tiny_calls();
        let call = calls.iter().find(|c| c.kernel == Kernel::Add).unwrap();
        // Element 3: the simulator's value replaced by a NaN of another payload on both sides
        // passes; a NaN where the simulator has a number does not.
        let nan_payload = Tampered(|c: &Call, b: &mut [Cow<'_, [u8]>]| {
            b[0].to_mut()[12..16].copy_from_slice(&f32::NAN.to_le_bytes());
            b[1].to_mut()[12..16].copy_from_slice(&0.0f32.to_le_bytes());
            sim::run(c, b)?;
            b[0].to_mut()[12..16].copy_from_slice(&0xffc0_0001u32.to_le_bytes());
            Ok(())
        });
        let mut data = inputs(call);
        data[0][12..16].copy_from_slice(&f32::NAN.to_le_bytes());
        data[1][12..16].copy_from_slice(&0.0f32.to_le_bytes());
        let mut on_device: Vec<Cow<[u8]>> = data.iter().map(|b| Cow::Borrowed(&b[..])).collect();
        let result = nan_payload.run(call, &mut on_device);
        let report = compare(call, &data, result.map(|()| on_device));
        assert!(report.passed(), "{report:?}");
        assert_eq!(report.nan, 1);
        let nan_for_a_number = Tampered(|c: &Call, b: &mut [Cow<'_, [u8]>]| {
            sim::run(c, b)?;
            b[0].to_mut()[12..16].copy_from_slice(&f32::NAN.to_le_bytes());
            Ok(())
        });
        let report = validate_call(call, &nan_for_a_number);
        let m = report
            .first_mismatch
            .expect("a NaN for a number is a mismatch");
        assert_eq!((m.index, m.mismatched), (3, 1));
        assert!(m.device.contains("NaN (0x7fc00000)"), "{}", m.device);
    }

    #[test]
    fn special_inputs_plant_every_hard_case_and_leave_most_lines_finite() {
        let calls = tiny_calls();
        for call in distinct(&calls) {
            let data = inputs_with(call, Values::Special, 5);
            let finite = inputs_with(call, Values::Finite, 5);
            for ((arg, special), plain) in call.args.buffers.iter().zip(&data).zip(&finite) {
                let size = arg.dtype.size();
                let changed = (0..special.len() / size)
                    .filter(|&i| {
                        special[i * size..(i + 1) * size] != plain[i * size..(i + 1) * size]
                    })
                    .count();
                let elements = special.len() / size;
                if arg.direction == Direction::Output {
                    assert_eq!(changed, 0, "{} {}", call.kernel, arg.name);
                } else {
                    // Some, but at most one element in 60 (one per 64 reduced lines, or 1/64
                    // of element-wise inputs, plus one bias or gamma/beta value).
                    assert!(
                        changed >= 1,
                        "{} {}: no special value",
                        call.kernel,
                        arg.name
                    );
                    assert!(
                        changed * 60 <= elements.max(60),
                        "{} {}: {changed} of {elements}",
                        call.kernel,
                        arg.name
                    );
                }
            }
        }
        // Over a call's inputs, every kind of hard case appears.
        let call = calls.iter().find(|c| c.kernel == Kernel::Gelu).unwrap();
        let x = crate::npu::layout::bf16_bytes_to_f32(&inputs_with(call, Values::Special, 1)[0]);
        assert!(x.iter().any(|v| v.is_nan()));
        assert!(x.iter().any(|v| v.is_infinite() && *v > 0.0));
        assert!(x.iter().any(|v| v.is_infinite() && *v < 0.0));
        assert!(x.iter().any(|v| v.to_bits() == 0x8000_0000));
    }

    #[test]
    fn attention_padding_rows_are_not_compared() {
        let calls = tiny_calls();
        let call = calls
            .iter()
            .find(|c| c.kernel == Kernel::Attention)
            .unwrap();
        let garbage_in_padding = Tampered(|c: &Call, b: &mut [Cow<'_, [u8]>]| {
            sim::run(c, b)?;
            let out = b[1].to_mut();
            let n = out.len();
            out[n - 2..].copy_from_slice(&[0x80, 0x7f]); // last padded row: +inf
            Ok(())
        });
        assert!(validate_call(call, &garbage_in_padding).passed());
    }
}
