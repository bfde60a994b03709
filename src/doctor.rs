//! `doctor`: ordered checks of everything the NPU path needs, each with a status, what was found
//! and the exact fix. It uses the device layer (`npu::device`), never the executor.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::npu::device::probe::{self, FixtureDevice, Identity, InfoSource, NpuPci};
use crate::npu::device::uapi::{self, GetParam};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
/// How a check came out.
pub enum Status {
    /// Fine.
    Ok,
    /// Works, but not as it should (the fix says what to do).
    Warn,
    /// Blocks the NPU path.
    Fail,
    /// Not checked: an earlier check failed.
    Skipped,
}

impl Status {
    /// `ok`, `warn`, `FAIL` or `skipped`, as `doctor` prints it.
    pub fn label(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
            Status::Skipped => "skipped",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
/// One of `doctor`'s checks.
pub struct Check {
    /// A stable identifier: "cpu", "kernel", "pci", "driver", "firmware", "node", "access",
    /// "device_info", "contexts", "memlock", "xrt", "kernels", "models".
    pub id: &'static str,
    /// What was checked, in a few words.
    pub title: &'static str,
    /// How it came out.
    pub status: Status,
    /// What was found.
    pub found: String,
    /// What to do about it (empty when nothing is needed).
    pub fix: String,
}

/// Everything doctor looks at, injectable for tests.
pub struct Environment<'a> {
    /// The filesystem root: `/` normally, a fixture tree in tests.
    pub root: PathBuf,
    pub identity: Identity,
    pub device: &'a dyn InfoSource,
    /// Where kernels are looked for, in order (`npu::xclbin_search_dirs`).
    pub xclbin_dirs: Vec<PathBuf>,
    /// Whisper models in the caches (`hub::list`).
    pub models: Vec<crate::hub::CachedModel>,
    /// The XRT runtime as this build sees it (`npu::xrt_runtime()`): what loaded, or why not.
    pub xrt: Result<String, String>,
}

/// Bytes the NPU plan pins: resident bf16 weights of whisper-base plus per-call buffers,
/// rounded up (the driver also maps a 64 MiB heap).
pub const MEMLOCK_NEEDED: u64 = 256 << 20;

/// The report: checks in order and the verdict.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Every check, in order.
    pub checks: Vec<Check>,
    /// Whether the NPU path is usable (every check passed or only warned).
    pub npu_usable: bool,
}

fn check(
    id: &'static str,
    title: &'static str,
    status: Status,
    found: impl Into<String>,
    fix: impl Into<String>,
) -> Check {
    Check {
        id,
        title,
        status,
        found: found.into(),
        fix: fix.into(),
    }
}

/// Run every check in order.
pub fn run(env: &Environment) -> Report {
    let mut checks = Vec::new();
    checks.push(cpu_check(&env.root));
    let kernel = probe::kernel_release(&env.root);
    checks.push(match &kernel {
        Some((major, minor, text)) if (*major, *minor) >= (6, 14) => {
            check("kernel", "Linux kernel", Status::Ok, format!("{text} (amdxdna is in-tree since 6.14)"), "")
        }
        Some((_, _, text)) => check(
            "kernel",
            "Linux kernel",
            Status::Warn,
            format!("{text}: older than 6.14, which brought the in-tree amdxdna driver"),
            "upgrade to Linux 6.14 or newer, or build AMD's out-of-tree xdna-driver (amdxdna DKMS) for this kernel",
        ),
        None => check("kernel", "Linux kernel", Status::Warn, "kernel release unreadable", ""),
    });

    let npus = probe::scan_pci(&env.root);
    let Some(npu) = npus.first().cloned() else {
        checks.push(check(
            "pci",
            "AMD NPU on the PCI bus",
            Status::Fail,
            "no AMD NPU (vendor 0x1022, device 0x1502 or 0x17f0) in /sys/bus/pci/devices",
            "this machine has no Ryzen AI NPU: use the CPU path (`--device cpu`, which `auto` picks); if it should have one, enable the NPU (IPU) in the BIOS/UEFI setup",
        ));
        for (id, title) in [
            ("driver", "amdxdna driver bound"),
            ("firmware", "NPU firmware"),
            ("node", "/dev/accel node"),
            ("device_info", "device query (GET_INFO)"),
        ] {
            checks.push(check(id, title, Status::Skipped, "no NPU", ""));
        }
        checks.push(memlock_check(&env.identity, false));
        checks.push(xrt_check(env));
        checks.push(kernels_check(&env.xclbin_dirs));
        checks.push(models_check(&env.models));
        return verdict(checks);
    };
    checks.push(check(
        "pci",
        "AMD NPU on the PCI bus",
        Status::Ok,
        format!(
            "{} at {} (device 0x{:04x} rev 0x{:02x})",
            npu.generation, npu.address, npu.device, npu.revision
        ),
        "",
    ));
    checks.push(driver_check(&env.root, &npu));
    checks.push(firmware_check(&env.root, &npu));
    let node = node_checks(env, &mut checks);
    if let Some(node) = node {
        device_info_checks(env, &npu, &node, &mut checks);
    }
    checks.push(memlock_check(&env.identity, true));
    checks.push(xrt_check(env));
    checks.push(kernels_check(&env.xclbin_dirs));
    checks.push(models_check(&env.models));
    verdict(checks)
}

fn verdict(checks: Vec<Check>) -> Report {
    // Every check but the informational ones must pass for the NPU path to be usable.
    let blocking = |c: &Check| !matches!(c.id, "cpu" | "kernel" | "models");
    let npu_usable = checks
        .iter()
        .filter(|c| blocking(c))
        .all(|c| matches!(c.status, Status::Ok | Status::Warn));
    Report { checks, npu_usable }
}

fn cpu_check(root: &Path) -> Check {
    let cpuinfo = std::fs::read_to_string(root.join("proc/cpuinfo")).unwrap_or_default();
    let flags: Vec<&str> = cpuinfo
        .lines()
        .find(|l| l.starts_with("flags"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, f)| f.split_whitespace().collect())
        .unwrap_or_default();
    let has = |f: &str| flags.contains(&f);
    let model = crate::cpu_features::model_name(&cpuinfo).unwrap_or_else(|| "unknown CPU".into());
    let threads = cpuinfo
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count();
    let features: Vec<&str> = ["avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni"]
        .into_iter()
        .filter(|f| has(f))
        .collect();
    let found = format!("{model}, {threads} threads, {}", features.join(" "));
    if has("avx512f") {
        check("cpu", "CPU features", Status::Ok, found, "")
    } else if has("avx2") && has("fma") {
        check(
            "cpu",
            "CPU features",
            Status::Ok,
            format!("{found} (AVX2 kernels; no AVX-512)"),
            "",
        )
    } else {
        check(
            "cpu",
            "CPU features",
            Status::Warn,
            format!("{found}: no AVX2/FMA"),
            "the CPU path runs, slowly, with baseline SIMD",
        )
    }
}

fn driver_check(root: &Path, npu: &NpuPci) -> Check {
    match npu.driver.as_deref() {
        Some("amdxdna") => check(
            "driver",
            "amdxdna driver bound",
            Status::Ok,
            format!("{} is bound to amdxdna", npu.address),
            "",
        ),
        Some(other) => check(
            "driver",
            "amdxdna driver bound",
            Status::Fail,
            format!("{} is bound to `{other}`", npu.address),
            "unbind it and load amdxdna: `sudo modprobe amdxdna`",
        ),
        None => {
            let loaded = root.join("sys/module/amdxdna").exists();
            check(
                "driver",
                "amdxdna driver bound",
                Status::Fail,
                format!(
                    "no driver bound to {} (module amdxdna {})",
                    npu.address,
                    if loaded { "loaded" } else { "not loaded" }
                ),
                if loaded {
                    "the module is loaded but did not bind: check `sudo dmesg | grep -i amdxdna` (firmware load error -2 means missing firmware; \"Invalid mbox magic\" or \"firmware is not alive\" a firmware/driver mismatch; \"SVA bind device failed\" means IOMMU/PASID is off)"
                } else {
                    "`sudo modprobe amdxdna` (Linux >= 6.14, or AMD's xdna-driver DKMS package on older kernels)"
                },
            )
        }
    }
}

fn firmware_check(root: &Path, npu: &NpuPci) -> Check {
    let dir_name = format!("{:04x}_{:02x}", npu.device, npu.revision);
    let dir = root.join("lib/firmware/amdnpu").join(&dir_name);
    let names = ["npu.dev.sbin", "npu_7.sbin", "npu.sbin"];
    let found: Vec<String> = names
        .iter()
        .flat_map(|n| [n.to_string(), format!("{n}.zst"), format!("{n}.xz")])
        .filter(|n| dir.join(n).exists())
        .collect();
    if found.is_empty() {
        check(
            "firmware",
            "NPU firmware",
            Status::Fail,
            format!(
                "nothing in /lib/firmware/amdnpu/{dir_name}/ (looked for {})",
                names.join(", ")
            ),
            "install a linux-firmware release with amdnpu firmware (2025 or newer) or copy AMD's npu firmware into /lib/firmware/amdnpu/, then reload amdxdna",
        )
    } else {
        check(
            "firmware",
            "NPU firmware",
            Status::Ok,
            format!("/lib/firmware/amdnpu/{dir_name}/{}", found.join(", ")),
            "",
        )
    }
}

/// The node check and the access check; the node path when it opens.
fn node_checks(env: &Environment, checks: &mut Vec<Check>) -> Option<PathBuf> {
    use std::os::unix::fs::MetadataExt;
    let nodes = probe::accel_nodes(&env.root);
    let Some(node) = nodes.first().cloned() else {
        checks.push(check(
            "node",
            "/dev/accel node",
            Status::Fail,
            "no /dev/accel/accel* (the node people call /dev/accel0 is /dev/accel/accel0)",
            "the driver did not create its node: see the driver and firmware checks and `sudo dmesg | grep -i amdxdna`",
        ));
        checks.push(check(
            "access",
            "access to the node",
            Status::Skipped,
            "no node",
            "",
        ));
        return None;
    };
    let shown = Path::new("/").join(node.strip_prefix(&env.root).unwrap_or(&node));
    let meta = std::fs::metadata(&node).ok();
    let (mode, gid) = meta.map(|m| (m.mode() & 0o777, m.gid())).unwrap_or((0, 0));
    let group = group_name(&env.root, gid).unwrap_or_else(|| gid.to_string());
    checks.push(check(
        "node",
        "/dev/accel node",
        Status::Ok,
        format!("{} (mode {mode:o}, group {group})", shown.display()),
        "",
    ));
    let in_group =
        env.identity.uid == 0 || env.identity.gids.contains(&gid) || mode & 0o006 == 0o006;
    if !in_group {
        checks.push(check(
            "access",
            "access to the node",
            Status::Fail,
            format!(
                "you are not in group `{group}`, which owns {} (mode {mode:o})",
                shown.display()
            ),
            format!("`sudo usermod -aG {group} $USER`, then log out and back in"),
        ));
        return None;
    }
    match env.device.open(&node) {
        Ok(()) => {
            checks.push(check(
                "access",
                "access to the node",
                Status::Ok,
                format!("{} opens", shown.display()),
                "",
            ));
            Some(node)
        }
        Err(errno) => {
            checks.push(check(
                "access",
                "access to the node",
                Status::Fail,
                format!(
                    "opening {} failed: {}",
                    shown.display(),
                    probe::open_errno_cause(errno)
                ),
                if errno == libc::EACCES || errno == libc::EPERM {
                    format!("`sudo usermod -aG {group} $USER`, then log out and back in")
                } else {
                    "see `sudo dmesg | grep -i amdxdna`".to_string()
                },
            ));
            None
        }
    }
}

fn group_name(root: &Path, gid: u32) -> Option<String> {
    let text = std::fs::read_to_string(root.join("etc/group")).ok()?;
    text.lines().find_map(|l| {
        let mut f = l.split(':');
        let name = f.next()?;
        f.next();
        (f.next()?.parse::<u32>().ok()? == gid).then(|| name.to_string())
    })
}

fn device_info_checks(env: &Environment, npu: &NpuPci, node: &Path, checks: &mut Vec<Check>) {
    checks.push(device_query_check(env, node));
    checks.push(contexts_check(env, npu, node));
}

/// What a GET_INFO answer says, for the five queries `doctor` shows.
type Describe = fn(&[u8]) -> String;

/// GET_INFO's device queries: a driver too old for some is a warning, any other error a failure.
fn device_query_check(env: &Environment, node: &Path) -> Check {
    let queries: [(&str, GetParam, usize, Describe); 5] = [
        ("AIE version", GetParam::AieVersion, 8, |b| {
            let v: uapi::AieVersion = uapi::from_bytes(b);
            format!("AIE {}.{}", v.major, v.minor)
        }),
        (
            "AIE metadata",
            GetParam::AieMetadata,
            std::mem::size_of::<uapi::AieMetadata>(),
            |b| {
                let m: uapi::AieMetadata = uapi::from_bytes(b);
                format!("{} columns x {} rows", m.cols, m.rows)
            },
        ),
        ("firmware version", GetParam::FirmwareVersion, 16, |b| {
            let f: uapi::FirmwareVersion = uapi::from_bytes(b);
            format!("firmware {}.{}.{}.{}", f.major, f.minor, f.patch, f.build)
        }),
        ("clocks", GetParam::ClockMetadata, 48, |b| {
            let c: uapi::ClockMetadata = uapi::from_bytes(b);
            format!(
                "clocks {} {} MHz, {} {} MHz",
                c.mp_npu_clock.name(),
                c.mp_npu_clock.freq_mhz,
                c.h_clock.name(),
                c.h_clock.freq_mhz
            )
        }),
        ("power mode", GetParam::PowerMode, 8, |b| {
            let p: uapi::PowerMode = uapi::from_bytes(b);
            format!("power mode {}", uapi::power_mode_name(p.power_mode))
        }),
    ];
    let mut parts = Vec::new();
    let mut old_driver = Vec::new();
    let mut hard_error = None;
    for (what, param, size, describe) in queries {
        match env.device.get_info(node, param, size) {
            Ok(bytes) => parts.push(describe(&bytes)),
            Err(errno) if errno == libc::EINVAL || errno == libc::EOPNOTSUPP => {
                old_driver.push(what)
            }
            Err(errno) => {
                hard_error = Some(format!(
                    "{what}: {}",
                    std::io::Error::from_raw_os_error(errno)
                ))
            }
        }
    }
    let status = if hard_error.is_some() {
        Status::Fail
    } else if old_driver.is_empty() {
        Status::Ok
    } else {
        Status::Warn
    };
    let mut found = parts.join(", ");
    if !old_driver.is_empty() {
        found.push_str(&format!(
            "; not answered by this driver (EINVAL/EOPNOTSUPP): {}",
            old_driver.join(", ")
        ));
    }
    if let Some(e) = &hard_error {
        found.push_str(&format!("; {e}"));
    }
    let fix = match status {
        Status::Warn => {
            "an older amdxdna driver: fine for running, but update (Linux >= 6.14 or the current xdna-driver) for full diagnostics"
        }
        Status::Fail => {
            "see `sudo dmesg | grep -i amdxdna`; firmware/driver mismatches show as \"Invalid mbox magic\" or \"firmware is not alive\""
        }
        _ => "",
    };
    check("device_info", "device query (GET_INFO)", status, found, fix)
}

/// Hardware contexts in use: a new one needs a free slot (NPU1 allows 6).
fn contexts_check(env: &Environment, npu: &NpuPci, node: &Path) -> Check {
    let limit = probe::max_hw_contexts(npu.device);
    let size = limit * std::mem::size_of::<uapi::HwContext>();
    let (name, title) = ("contexts", "hardware contexts free");
    match env.device.get_info(node, GetParam::HwContexts, size) {
        Ok(b) => {
            let n = b.len() / std::mem::size_of::<uapi::HwContext>();
            let pids: Vec<String> = (0..n)
                .map(|i| {
                    uapi::from_bytes::<uapi::HwContext>(&b[i * 64..])
                        .pid
                        .to_string()
                })
                .collect();
            if n >= limit {
                check(
                    name,
                    title,
                    Status::Fail,
                    format!(
                        "{n} of {limit} hardware contexts in use (PIDs {}): a new one fails with CREATE_HWCTX err -22",
                        pids.join(", ")
                    ),
                    "close other NPU programs (the PIDs above) and retry",
                )
            } else {
                check(
                    name,
                    title,
                    Status::Ok,
                    format!("{n} of {limit} in use"),
                    "",
                )
            }
        }
        Err(e) if e == libc::EINVAL || e == libc::EOPNOTSUPP => check(
            name,
            title,
            Status::Warn,
            "this driver does not report hardware contexts",
            "",
        ),
        Err(e) => check(
            name,
            title,
            Status::Warn,
            format!("query failed: {}", std::io::Error::from_raw_os_error(e)),
            "",
        ),
    }
}

fn memlock_check(identity: &Identity, have_npu: bool) -> Check {
    let fix = "add `* - memlock unlimited` to /etc/security/limits.d/99-amdxdna.conf (or `LimitMEMLOCK=infinity` for a systemd service) and log in again";
    match identity.memlock {
        None => check(
            "memlock",
            "locked-memory limit",
            Status::Ok,
            "unlimited",
            "",
        ),
        Some(limit) if limit >= MEMLOCK_NEEDED => check(
            "memlock",
            "locked-memory limit",
            Status::Ok,
            format!(
                "{} MiB (the plan needs about {} MiB)",
                limit >> 20,
                MEMLOCK_NEEDED >> 20
            ),
            "",
        ),
        Some(limit) => check(
            "memlock",
            "locked-memory limit",
            if have_npu { Status::Fail } else { Status::Warn },
            format!(
                "{} MiB, below the {} MiB the plan pins (the driver's 64 MiB heap mmap fails with err -11)",
                limit >> 20,
                MEMLOCK_NEEDED >> 20
            ),
            fix,
        ),
    }
}

fn xrt_check(env: &Environment) -> Check {
    let candidates = [
        "opt/xilinx/xrt/lib/libxrt_coreutil.so",
        "usr/lib/x86_64-linux-gnu/libxrt_coreutil.so.2",
        "usr/lib/x86_64-linux-gnu/libxrt_coreutil.so",
    ];
    let installed = candidates
        .iter()
        .map(|c| env.root.join(c))
        .find(|p| p.exists())
        .map(|p| {
            format!(
                "; libxrt_coreutil installed at /{}",
                p.strip_prefix(&env.root).unwrap_or(&p).display()
            )
        })
        .unwrap_or_else(|| "; libxrt_coreutil not installed".to_string());
    match &env.xrt {
        Ok(found) => check("xrt", "XRT runtime", Status::Ok, found.clone(), ""),
        Err(why) => check(
            "xrt",
            "XRT runtime",
            Status::Fail,
            format!("{why}{installed}"),
            "install XRT >= 2.19 (AMD's packages under /opt/xilinx/xrt, or Debian's libxrt2 + libxrt-npu2) and use a build with `--features xrt` (XRT_ROOT=/opt/xilinx/xrt or /usr)",
        ),
    }
}

fn kernels_check(dirs: &[PathBuf]) -> Check {
    let xclbins = |dir: &Path| -> Vec<PathBuf> {
        std::fs::read_dir(dir)
            .map(|d| {
                d.flatten()
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|e| e == "xclbin"))
                    .collect()
            })
            .unwrap_or_default()
    };
    let Some(files) = dirs.iter().map(|d| xclbins(d)).find(|f| !f.is_empty()) else {
        let searched: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
        return check(
            "kernels",
            "NPU kernels (xclbin)",
            Status::Fail,
            format!("no .xclbin in {}", searched.join(", ")),
            format!(
                "put the kernels (whisper_bf16.xclbin and its .insts files, built by \
                 scripts/build-xclbin in a source checkout of npu-whisper: docs/npu.md) \
                 in {}, or point NPU_WHISPER_XCLBIN_DIR at the directory that holds them",
                searched.join(" or ")
            ),
        );
    };
    let manifest = crate::npu::manifest::manifest();
    let mut found = Vec::new();
    let mut bad = Vec::new();
    for f in &files {
        let name = f
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        match std::fs::read(f)
            .map_err(|e| e.to_string())
            .and_then(|b| crate::npu::xclbin::parse(&b).map_err(|e| e.0))
        {
            Ok(x) => {
                let listed = manifest.xclbins.contains_key(&name);
                found.push(format!(
                    "{name}: uuid {}, kernels [{}]{}",
                    x.uuid,
                    x.kernels.join(", "),
                    if listed { "" } else { " (not in the manifest)" }
                ));
            }
            Err(e) => bad.push(format!("{name}: {e}")),
        }
    }
    if bad.is_empty() {
        check(
            "kernels",
            "NPU kernels (xclbin)",
            Status::Ok,
            found.join("; "),
            "",
        )
    } else {
        check(
            "kernels",
            "NPU kernels (xclbin)",
            Status::Fail,
            bad.join("; "),
            "rebuild with `scripts/build-xclbin`",
        )
    }
}

fn models_check(models: &[crate::hub::CachedModel]) -> Check {
    let whisper: Vec<String> = models
        .iter()
        .filter(|m| m.dims.is_some())
        .map(|m| format!("{} ({})", m.name, m.source))
        .collect();
    if whisper.is_empty() {
        check(
            "models",
            "models in the cache",
            Status::Warn,
            "none (npu-whisper's model directory and the Hugging Face cache are empty)",
            "`npu-whisper model fetch base` (or any size: `model fetch large-v3`)",
        )
    } else {
        check(
            "models",
            "models in the cache",
            Status::Ok,
            whisper.join(", "),
            "",
        )
    }
}

/// The environment of this machine, honouring `NPU_WHISPER_DOCTOR_ROOT` (a fixture tree whose
/// `device.json` answers the ioctls) for tests of the binary.
pub fn fixture_device_from(root: &Path) -> Option<FixtureDevice> {
    let text = std::fs::read_to_string(root.join("device.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    let mut d = FixtureDevice {
        open_errno: v["open_errno"].as_i64().map(|e| e as i32),
        ..FixtureDevice::default()
    };
    if let Some(params) = v["params"].as_object() {
        for (k, a) in params {
            let Ok(p) = k.parse::<u32>() else { continue };
            let answer = match (a["errno"].as_i64(), a["hex"].as_str()) {
                (Some(e), _) => Err(e as i32),
                (None, Some(h)) => Ok((0..h.len() / 2)
                    .filter_map(|i| u8::from_str_radix(&h[2 * i..2 * i + 2], 16).ok())
                    .collect()),
                _ => continue,
            };
            d.answers.insert(p, answer);
        }
    }
    Some(d)
}
