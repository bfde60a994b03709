//! The XRT host path against a stand-in shim (tests/mock_xrt/mock_shim.c, same C interface):
//! buffers are allocated in the memory group of their own argument, instructions go in the
//! group of argument 1 as cacheable, a scalar-slot group is refused, a timeout is reported, data
//! makes the round trip, and independent calls go as one runlist - or one by one, saying why,
//! when the runtime has no runlists. Runs in scripts/test-xrt (feature `xrt`).
#![cfg(feature = "xrt")]

use std::borrow::Cow;
use std::path::Path;

use crate::encoder::Plan;
use crate::model::Config;
use crate::npu::calls::plan_calls;
use crate::npu::dispatch::Submission;
use crate::npu::kernel::Kernel;
use crate::npu::validate::{submit_together, validate_all};
use crate::npu::xrt::{SHIM_ENV, XCLBIN_NAME, XrtDevice, XrtSession, XrtShim};
use crate::npu::{insts, xclbin};

fn build_mock(dir: &Path) -> std::path::PathBuf {
    let out = dir.join("libmock_xrt.so");
    let status = std::process::Command::new("cc")
        .args(["-shared", "-fPIC", "-O1", "-o"])
        .arg(&out)
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/mock_xrt/mock_shim.c"
        ))
        .status()
        .expect("a C compiler");
    assert!(status.success());
    out
}

#[test]
fn the_host_path_binds_buffers_to_their_own_argument_groups() {
    let dir = tempfile::tempdir().unwrap();
    let shim = build_mock(dir.path());
    // Our xclbin; the instruction stream (patching buffer arguments 0 and 1) comes later.
    std::fs::write(
        dir.path().join(XCLBIN_NAME),
        xclbin::build([1; 16], &["MLIR_AIE"], Some(4)),
    )
    .unwrap();
    let stream = insts::build(&[
        insts::Op::DdrPatch {
            register: 0x1d004,
            arg: 0,
            offset: 0,
        },
        insts::Op::DdrPatch {
            register: 0x1d024,
            arg: 1,
            offset: 0,
        },
        insts::Op::Sync { bytes: 16 },
    ]);
    let log = dir.path().join("xrt.log");
    // SAFETY: scripts/test-xrt runs this test alone (`--lib tests::xrt_mock`), so nothing reads the
    // environment concurrently.
    unsafe {
        std::env::set_var(SHIM_ENV, &shim);
        std::env::set_var("MOCK_XRT_LOG", &log);
    }
    let session = XrtSession::open(XrtShim::load().unwrap(), dir.path()).unwrap();

    // The positional-embedding add of a small plan: a += b over 1500 x 64 f32.
    let plan = Plan::new(&Config::standard(80, 64, 1), 1);
    let mut on_npu = vec![false; plan.ops.len()];
    let index = plan.ops.iter().position(|o| o.name == "positions").unwrap();
    on_npu[index] = true;
    let call = plan_calls(&plan, &on_npu).remove(0);
    assert_eq!(call.kernel, Kernel::Add);
    assert_eq!(call.args.instructions, "add/n96000.insts");
    let mut buffers = vec![
        Cow::Owned(vec![0u8; 96000 * 4]),
        Cow::Owned(vec![0u8; 96000 * 4]),
    ];
    // Without the stream for this shape the run is an error naming the fix.
    let err = session.run(&call, &mut buffers, 1000).unwrap_err();
    assert!(
        err.contains("no instruction stream for add at shape n96000")
            && err.contains("scripts/build-xclbin"),
        "{err}"
    );
    let write_stream = |bytes: &[u8]| {
        let path = dir.path().join(&call.args.instructions);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    };
    write_stream(&stream);
    let n = 1500 * 64;
    let a: Vec<u8> = (0..n).flat_map(|i| (i as f32).to_le_bytes()).collect();
    let b: Vec<u8> = (0..n).flat_map(|_| 0.5f32.to_le_bytes()).collect();
    std::fs::write(&log, "").unwrap();
    let mut buffers = vec![Cow::Owned(a), Cow::Borrowed(&b[..])];
    session.run(&call, &mut buffers, 1000).unwrap();
    let out: Vec<f32> = buffers[0]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(out[10], 10.5);
    assert_eq!(out[n - 1], (n - 1) as f32 + 0.5);

    let text = std::fs::read_to_string(&log).unwrap();
    let allocs: Vec<&str> = text.lines().filter(|l| l.starts_with("alloc")).collect();
    assert_eq!(
        allocs,
        [
            // The instruction stream, on first use: cacheable, in the group of argument 1.
            "alloc bytes=96 flags=1 group=101".to_string(),
            format!("alloc bytes={} flags=2 group=103", n * 4),
            format!("alloc bytes={} flags=2 group=104", n * 4)
        ],
        "{text}"
    );
    assert!(text.contains("run opcode=3 words="), "{text}");
    assert!(text.contains("wait timeout_ms=1000"), "{text}");
    assert!(!text.contains("group=131071"), "{text}");
    // The instructions and the inout buffer went to the device, the inout buffer came back, the
    // input only went.
    assert_eq!(text.matches("sync to_device=1").count(), 3, "{text}");
    assert_eq!(text.matches("sync to_device=0").count(), 1, "{text}");

    // An xclbin whose argument 4 is a scalar slot is refused, naming the argument.
    unsafe { std::env::set_var("MOCK_XRT_SCALAR_ARG", "4") };
    let err = session.run(&call, &mut buffers, 1000).unwrap_err();
    assert!(
        err.contains("argument 4") && err.contains("scalar slot"),
        "{err}"
    );
    unsafe { std::env::remove_var("MOCK_XRT_SCALAR_ARG") };

    // A run that does not finish in time is an error the executor can fall back on.
    unsafe { std::env::set_var("MOCK_XRT_WAIT_STATE", "8") };
    let err = session.run(&call, &mut buffers, 250).unwrap_err();
    assert!(err.contains("timed out after 250 ms"), "{err}");
    unsafe { std::env::remove_var("MOCK_XRT_WAIT_STATE") };

    // An instruction stream that patches a buffer the call does not have is refused.
    let bad = insts::build(&[insts::Op::DdrPatch {
        register: 0,
        arg: 5,
        offset: 0,
    }]);
    write_stream(&bad);
    let session = XrtSession::open(XrtShim::load().unwrap(), dir.path()).unwrap();
    let err = session.run(&call, &mut buffers, 1000).unwrap_err();
    assert!(err.contains("buffer argument 5"), "{err}");

    // The validator drives the same path: the stand-in shim executes `add` as the kernel would
    // (so it validates), and leaves other kernels' outputs untouched (so they are reported).
    write_stream(&stream);
    let device = XrtDevice::new(XrtSession::open(XrtShim::load().unwrap(), dir.path()).unwrap());
    let layernorm = plan_calls(&plan, &vec![true; plan.ops.len()])
        .into_iter()
        .find(|c| c.kernel == Kernel::LayerNorm)
        .unwrap();
    let path = dir.path().join(&layernorm.args.instructions);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, &stream).unwrap();
    let both = [call.clone(), layernorm];
    let check = |reports: &[crate::npu::validate::KernelReport]| {
        assert!(reports[0].passed(), "{:?}", reports[0]);
        assert_eq!(reports[0].elements, n);
        let m = reports[1]
            .first_mismatch
            .as_ref()
            .expect("layernorm is not executed by the stand-in");
        assert_eq!(m.buffer, "y");
    };
    check(&validate_all(&both, &device));

    // Both calls as one runlist: created once, both runs added, executed and waited for together,
    // the outputs compared as before.
    std::fs::write(&log, "").unwrap();
    let (submission, _, reports) = submit_together(&both, &device);
    assert_eq!(submission, Ok(Submission::Runlist { runs: 2 }));
    check(&reports);
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(text.matches("runlist create").count(), 1, "{text}");
    assert!(text.contains("runlist add 2"), "{text}");
    assert!(text.contains("runlist execute runs=2"), "{text}");
    assert!(text.contains("runlist wait timeout_ms=5000"), "{text}");
    assert!(
        !text.lines().any(|l| l.starts_with("wait ")),
        "no single waits: {text}"
    );

    // A runtime without runlists: the same calls one by one, and the answer says why.
    unsafe { std::env::set_var("MOCK_XRT_NO_RUNLIST", "1") };
    std::fs::write(&log, "").unwrap();
    let (submission, _, reports) = submit_together(&both, &device);
    unsafe { std::env::remove_var("MOCK_XRT_NO_RUNLIST") };
    match submission {
        Ok(Submission::Single { runs: 2, why }) => assert!(why.contains("runlist"), "{why}"),
        other => panic!("expected single runs, got {other:?}"),
    }
    check(&reports);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains("runlist add"), "{text}");
    assert_eq!(
        text.lines().filter(|l| l.starts_with("wait ")).count(),
        2,
        "{text}"
    );

    // A runlist that does not finish in time is an error for every run in it.
    unsafe { std::env::set_var("MOCK_XRT_WAIT_STATE", "8") };
    let (submission, _, reports) = submit_together(&both, &device);
    unsafe { std::env::remove_var("MOCK_XRT_WAIT_STATE") };
    assert!(submission.unwrap_err().contains("runlist timed out"));
    assert!(reports.iter().all(|r| r.error.is_some()));
}
