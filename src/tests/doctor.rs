//! doctor against fixture trees that reproduce real machines: each state asserts the status and
//! the fix of the check that matters.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::doctor::{self, Environment, Report, Status};
use crate::npu::device::probe::{FixtureDevice, Identity};
use crate::npu::device::uapi::{self, GetParam};

struct Machine {
    dir: tempfile::TempDir,
    device: u16,
    revision: u8,
}

impl Machine {
    fn root(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    /// An AMD laptop with an NPU of `device`/`revision`, driver bound, firmware installed.
    fn with_npu(device: u16, revision: u8) -> Self {
        let m = Machine {
            dir: tempfile::tempdir().unwrap(),
            device,
            revision,
        };
        let r = m.root();
        let write = |rel: &str, text: &str| {
            let p = r.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        };
        write("proc/sys/kernel/osrelease", "6.14.2-arch1\n");
        write(
            "proc/cpuinfo",
            "processor\t: 0\nmodel name\t: AMD Ryzen 7 8845HS\nflags\t\t: fpu avx2 fma avx512f avx512_bf16\n",
        );
        let pci = "sys/bus/pci/devices/0000:c4:00.1";
        write(&format!("{pci}/vendor"), "0x1022\n");
        write(&format!("{pci}/device"), &format!("0x{device:04x}\n"));
        write(&format!("{pci}/revision"), &format!("0x{revision:02x}\n"));
        std::fs::create_dir_all(r.join("sys/bus/pci/drivers/amdxdna")).unwrap();
        std::os::unix::fs::symlink(
            "../../../bus/pci/drivers/amdxdna",
            r.join(pci).join("driver"),
        )
        .unwrap();
        std::fs::create_dir_all(r.join("sys/module/amdxdna")).unwrap();
        write(
            &format!("lib/firmware/amdnpu/{device:04x}_{revision:02x}/npu.sbin.zst"),
            "fw",
        );
        write("dev/accel/accel0", "");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            r.join("dev/accel/accel0"),
            std::fs::Permissions::from_mode(0o660),
        )
        .unwrap();
        // The node's group is whatever gid the test process creates files with; call it render.
        let gid = std::fs::metadata(r.join("dev/accel/accel0")).unwrap().gid();
        write("etc/group", &format!("render:x:{gid}:\n"));
        m
    }

    fn node_gid(&self) -> u32 {
        std::fs::metadata(self.root().join("dev/accel/accel0"))
            .unwrap()
            .gid()
    }
}

fn healthy_device(contexts: usize) -> FixtureDevice {
    let metadata = uapi::AieMetadata {
        cols: 4,
        rows: 6,
        ..Default::default()
    };
    let mut clocks = uapi::ClockMetadata::default();
    clocks.mp_npu_clock.name[..6].copy_from_slice(b"MP-NPU");
    clocks.mp_npu_clock.freq_mhz = 1267;
    clocks.h_clock.name[..1].copy_from_slice(b"H");
    clocks.h_clock.freq_mhz = 1800;
    let ctx: Vec<u8> = (0..contexts)
        .flat_map(|i| {
            uapi::to_bytes(&uapi::HwContext {
                context_id: i as u32,
                pid: 4000 + i as i64,
                ..Default::default()
            })
        })
        .collect();
    FixtureDevice::default()
        .answer(
            GetParam::AieVersion,
            &uapi::AieVersion { major: 1, minor: 1 },
        )
        .answer(GetParam::AieMetadata, &metadata)
        .answer(
            GetParam::FirmwareVersion,
            &uapi::FirmwareVersion {
                major: 1,
                minor: 5,
                patch: 4,
                build: 380,
            },
        )
        .answer(GetParam::ClockMetadata, &clocks)
        .answer(
            GetParam::PowerMode,
            &uapi::PowerMode {
                power_mode: 0,
                pad: [0; 7],
            },
        )
        .raw(GetParam::HwContexts, ctx)
}

fn run(machine_root: &Path, identity: Identity, device: &FixtureDevice) -> Report {
    let empty = tempfile::tempdir().unwrap();
    doctor::run(&Environment {
        root: machine_root.to_path_buf(),
        identity,
        device,
        xclbin_dirs: vec![empty.path().to_path_buf()],
        models: Vec::new(),
        xrt: Ok("XRT 2.25.00 through a test shim".into()),
    })
}

fn member(m: &Machine) -> Identity {
    Identity {
        uid: 1000,
        gids: vec![1000, m.node_gid()],
        memlock: None,
    }
}

fn get<'a>(report: &'a Report, id: &str) -> &'a doctor::Check {
    report
        .checks
        .iter()
        .find(|c| c.id == id)
        .unwrap_or_else(|| panic!("no check {id}"))
}

#[test]
fn healthy_npu1_and_npu4_pass_every_device_check() {
    for (device, revision, generation) in [(0x1502, 0x00, "NPU1"), (0x17f0, 0x10, "NPU4")] {
        let m = Machine::with_npu(device, revision);
        let r = run(&m.root(), member(&m), &healthy_device(1));
        for id in [
            "pci",
            "driver",
            "firmware",
            "node",
            "access",
            "device_info",
            "contexts",
            "memlock",
        ] {
            assert_eq!(
                get(&r, id).status,
                Status::Ok,
                "{generation} {id}: {:?}",
                get(&r, id)
            );
        }
        assert!(get(&r, "pci").found.contains(generation));
        let info = &get(&r, "device_info").found;
        assert!(
            info.contains("AIE 1.1")
                && info.contains("4 columns x 6 rows")
                && info.contains("firmware 1.5.4.380"),
            "{info}"
        );
        assert!(info.contains("MP-NPU 1267 MHz"), "{info}");
        // Without kernels the NPU path is still not usable, and doctor says which check failed
        // and where kernels are looked for (the places an installed binary uses).
        let kernels = get(&r, "kernels");
        assert_eq!(kernels.status, Status::Fail);
        assert!(
            kernels.found.starts_with("no .xclbin in ")
                && kernels.fix.contains("NPU_WHISPER_XCLBIN_DIR"),
            "{kernels:?}"
        );
        assert!(!r.npu_usable);
        let _ = m.device + m.revision as u16;
    }
}

#[test]
fn kernels_are_found_in_the_first_searched_directory_that_holds_them_and_missing_ones_name_every_place()
 {
    let places: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let dirs: Vec<std::path::PathBuf> = places.iter().map(|d| d.path().to_path_buf()).collect();
    let device = FixtureDevice::default();
    let check = |dirs: &[std::path::PathBuf]| {
        let r = doctor::run(&Environment {
            root: places[0].path().to_path_buf(),
            identity: Identity {
                uid: 1000,
                gids: Vec::new(),
                memlock: None,
            },
            device: &device,
            xclbin_dirs: dirs.to_vec(),
            models: Vec::new(),
            xrt: Ok("XRT 2.25.00 through a test shim".into()),
        });
        get(&r, "kernels").clone()
    };
    let missing = check(&dirs);
    assert_eq!(missing.status, Status::Fail);
    for dir in &dirs {
        assert!(missing.found.contains(dir.to_str().unwrap()), "{missing:?}");
        assert!(missing.fix.contains(dir.to_str().unwrap()), "{missing:?}");
    }
    // An xclbin in the second place is found there (a broken one: it is reported, not ignored).
    std::fs::write(dirs[1].join("whisper_bf16.xclbin"), b"not an xclbin").unwrap();
    let found = check(&dirs);
    assert!(!found.found.starts_with("no .xclbin"), "{found:?}");
}

#[test]
fn no_device_names_the_cpu_path() {
    let dir = tempfile::tempdir().unwrap();
    let r = run(
        dir.path(),
        Identity {
            uid: 1000,
            gids: vec![1000],
            memlock: None,
        },
        &FixtureDevice::default(),
    );
    let pci = get(&r, "pci");
    assert_eq!(pci.status, Status::Fail);
    assert!(pci.fix.contains("--device cpu"), "{}", pci.fix);
    assert_eq!(get(&r, "node").status, Status::Skipped);
    assert!(!r.npu_usable);
}

#[test]
fn wrong_group_tells_the_user_to_join_it() {
    let m = Machine::with_npu(0x1502, 0);
    let r = run(
        &m.root(),
        Identity {
            uid: 1000,
            gids: vec![12345],
            memlock: None,
        },
        &healthy_device(0),
    );
    let access = get(&r, "access");
    assert_eq!(access.status, Status::Fail);
    assert!(
        access.found.contains("not in group `render`"),
        "{}",
        access.found
    );
    assert_eq!(
        access.fix,
        "`sudo usermod -aG render $USER`, then log out and back in"
    );
}

#[test]
fn missing_firmware_points_at_linux_firmware() {
    let m = Machine::with_npu(0x1502, 0);
    std::fs::remove_dir_all(m.root().join("lib/firmware/amdnpu")).unwrap();
    let r = run(&m.root(), member(&m), &healthy_device(0));
    let fw = get(&r, "firmware");
    assert_eq!(fw.status, Status::Fail);
    assert!(
        fw.found.contains("/lib/firmware/amdnpu/1502_00/"),
        "{}",
        fw.found
    );
    assert!(fw.fix.contains("linux-firmware"), "{}", fw.fix);
}

#[test]
fn an_old_driver_is_a_warning_not_a_failure() {
    let m = Machine::with_npu(0x1502, 0);
    std::fs::write(m.root().join("proc/sys/kernel/osrelease"), "6.10.0\n").unwrap();
    let device = FixtureDevice::default()
        .answer(
            GetParam::AieVersion,
            &uapi::AieVersion { major: 1, minor: 1 },
        )
        .fail(GetParam::FirmwareVersion, libc::EINVAL)
        .fail(GetParam::PowerMode, libc::EOPNOTSUPP)
        .fail(GetParam::HwContexts, libc::EINVAL);
    let r = run(&m.root(), member(&m), &device);
    assert_eq!(get(&r, "kernel").status, Status::Warn);
    assert!(get(&r, "kernel").fix.contains("6.14"));
    let info = get(&r, "device_info");
    assert_eq!(info.status, Status::Warn, "{info:?}");
    assert!(
        info.found.contains("firmware version") && info.fix.contains("older amdxdna driver"),
        "{info:?}"
    );
    assert_eq!(get(&r, "contexts").status, Status::Warn);
}

#[test]
fn memlock_of_8_mib_gives_the_limits_d_line() {
    let m = Machine::with_npu(0x17f0, 0x10);
    let mut id = member(&m);
    id.memlock = Some(8 << 20);
    let r = run(&m.root(), id, &healthy_device(0));
    let memlock = get(&r, "memlock");
    assert_eq!(memlock.status, Status::Fail);
    assert!(memlock.found.starts_with("8 MiB"), "{}", memlock.found);
    assert!(
        memlock.fix.contains("* - memlock unlimited")
            && memlock.fix.contains("/etc/security/limits.d/"),
        "{}",
        memlock.fix
    );
}

#[test]
fn six_busy_contexts_on_npu1_name_the_pids() {
    let m = Machine::with_npu(0x1502, 0);
    let r = run(&m.root(), member(&m), &healthy_device(6));
    let ctx = get(&r, "contexts");
    assert_eq!(ctx.status, Status::Fail);
    assert!(
        ctx.found.contains("6 of 6") && ctx.found.contains("4005") && ctx.found.contains("err -22"),
        "{}",
        ctx.found
    );
    // NPU4 allows 16: six is fine there.
    let m4 = Machine::with_npu(0x17f0, 0x10);
    assert_eq!(
        get(
            &run(&m4.root(), member(&m4), &healthy_device(6)),
            "contexts"
        )
        .status,
        Status::Ok
    );
}

#[test]
fn a_permission_error_on_open_is_mapped_to_its_cause() {
    let m = Machine::with_npu(0x1502, 0);
    let mut device = healthy_device(0);
    device.open_errno = Some(libc::EACCES);
    let r = run(&m.root(), member(&m), &device);
    let access = get(&r, "access");
    assert_eq!(access.status, Status::Fail);
    assert!(
        access.found.contains("permission denied"),
        "{}",
        access.found
    );
}
