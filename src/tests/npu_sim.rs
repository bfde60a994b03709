//! The NPU path through the simulator: accuracy of a whole base window against CTranslate2,
//! placement, per-op fallback, --require-npu and --verify.

use super::common;

use crate::encoder::OpKind;
use crate::exec::npu_adapter::{Fault, FaultKind};
use crate::exec::{Device, ExecOptions, Executor, OpDevice};
use crate::model::{self, EncoderModel};
use common::{cosine, fixture, large_fixture, read_npy_gz};

fn sim_options() -> ExecOptions {
    ExecOptions {
        device: Device::NpuSim,
        ..ExecOptions::default()
    }
}

fn tiny() -> EncoderModel {
    EncoderModel::load(&fixture("models/tiny-random-hf"), None).unwrap()
}

fn speech_mel() -> Vec<f32> {
    read_npy_gz(&fixture("mel/speech_espeak_16k.n80.npy.gz")).1
}

#[test]
#[ignore = "needs the cached base model: run scripts/test"]
fn whisper_base_on_the_simulated_npu_matches_ctranslate2() {
    let Some(reference) = large_fixture("encoder/base_jfk.ct2.npy.gz") else {
        return;
    };
    let dir = model::cache_dir().join("base");
    assert!(
        dir.exists(),
        "run scripts/fetch-model base (scripts/test does)"
    );
    let model = EncoderModel::load(&dir, None).unwrap();
    let mut executor = Executor::new(&model, sim_options()).unwrap();
    let (_, mel) = read_npy_gz(&fixture("mel/jfk.n80.npy.gz"));
    let got = executor.encode_window(&mel).unwrap().to_vec();
    let (_, want) = read_npy_gz(&reference);
    let cos = cosine(&got, &want);
    eprintln!("base npu-sim vs CTranslate2 float32: cosine {cos:.6}");
    assert!(cos >= 0.9995, "cosine {cos}");
    assert!(
        executor
            .ledger()
            .iter()
            .all(|e| e.device == OpDevice::NpuSim && e.fallback.is_none())
    );
    // 4 + 9 per layer: the residual adds are calls of their own.
    assert_eq!(executor.calls().len(), 58, "calls per window");
    let device_calls: u64 = executor.ledger().iter().map(|e| e.calls).sum();
    assert_eq!(device_calls, 58);
}

#[test]
fn cpu_ops_move_exactly_those_kinds_to_the_cpu() {
    let model = tiny();
    let mut options = sim_options();
    options.cpu_ops = [OpKind::Attention, OpKind::Gelu].into_iter().collect();
    let mut executor = Executor::new(&model, options).unwrap();
    executor.encode_window(&speech_mel()).unwrap();
    for e in executor.ledger() {
        let want = if matches!(e.op, OpKind::Attention | OpKind::Gelu) {
            OpDevice::Cpu
        } else {
            OpDevice::NpuSim
        };
        assert_eq!(e.device, want, "{} layer {:?}", e.name, e.layer);
    }
}

#[test]
fn a_faulty_npu_op_falls_back_alone_and_the_result_stays_right() {
    let model = tiny();
    let mel = speech_mel();
    let cpu = Executor::cpu(&model)
        .unwrap()
        .encode_window(&mel)
        .unwrap()
        .to_vec();
    for kind in [FaultKind::Zeros, FaultKind::Error, FaultKind::Nan] {
        let mut options = sim_options();
        options.fault = Some(Fault {
            op: "attention".into(),
            layer: Some(1),
            kind,
        });
        let mut executor = Executor::new(&model, options).unwrap();
        let got = executor.encode_window(&mel).unwrap().to_vec();
        let fell_back: Vec<_> = executor
            .ledger()
            .iter()
            .filter(|e| e.fallback.is_some())
            .map(|e| (e.name, e.layer, e.device))
            .collect();
        assert_eq!(
            fell_back,
            vec![("attention", Some(1), OpDevice::Cpu)],
            "{kind:?}"
        );
        let distance = 1.0 - cosine(&got, &cpu);
        assert!(
            distance < 1e-3,
            "{kind:?}: cosine distance to the CPU run {distance}"
        );
    }
}

#[test]
fn require_npu_turns_a_fallback_into_exit_code_4() {
    let mut options = sim_options();
    options.require_npu = true;
    options.fault = Some(Fault::parse("fc1@0=error").unwrap());
    let mut executor = Executor::new(&tiny(), options).unwrap();
    let err = executor.encode_window(&speech_mel()).unwrap_err();
    assert_eq!(err.exit_code(), 4);
    assert!(err.to_string().contains("fc1 (layer 0)"), "{err}");
}

#[test]
fn the_real_npu_is_unavailable_here_and_says_why() {
    let options = ExecOptions {
        device: Device::Npu,
        require_npu: true,
        ..ExecOptions::default()
    };
    let err = match Executor::new(&tiny(), options) {
        Ok(_) => panic!("an NPU executor was built on a machine without an NPU"),
        Err(e) => e,
    };
    assert_eq!(err.exit_code(), 4);
    assert!(err.to_string().contains("/dev/accel/accel0"), "{err}");
    // Without --require-npu, auto and npu run on the CPU and say why.
    for device in [Device::Auto, Device::Npu] {
        let executor = Executor::new(
            &tiny(),
            ExecOptions {
                device,
                ..ExecOptions::default()
            },
        )
        .unwrap();
        assert!(
            executor
                .device_note()
                .unwrap()
                .contains("running on the CPU")
        );
        assert!(executor.calls().is_empty());
    }
}

#[test]
fn verify_reports_every_npu_op_against_the_cpu() {
    let mut options = sim_options();
    options.verify = true;
    let mut executor = Executor::new(&tiny(), options).unwrap();
    executor.encode_window(&speech_mel()).unwrap();
    for e in executor.ledger() {
        let v = e
            .verify
            .unwrap_or_else(|| panic!("{} has no verify figures", e.name));
        assert!(
            v.cosine > 0.999,
            "{} layer {:?}: cosine {}",
            e.name,
            e.layer,
            v.cosine
        );
    }
}

#[test]
fn fault_specs_parse_and_bad_ones_are_refused() {
    assert_eq!(
        Fault::parse("attention@2=zeros").unwrap(),
        Fault {
            op: "attention".into(),
            layer: Some(2),
            kind: FaultKind::Zeros
        }
    );
    assert_eq!(Fault::parse("conv1=nan").unwrap().layer, None);
    for bad in ["attention", "x@y=zeros", "fc1=explode"] {
        assert!(Fault::parse(bad).is_err(), "{bad}");
    }
}
