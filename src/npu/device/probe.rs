//! What the machine offers the NPU path, read from sysfs, /dev, /proc and the amdxdna GET_INFO
//! ioctl. The filesystem root, the user's identity and limits, and the ioctl are injectable so
//! tests can reproduce real failure states from fixture trees.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::uapi::{self, GetParam};

/// PCI vendor id of AMD.
pub const AMD_VENDOR: u16 = 0x1022;

/// The NPU generation of a PCI device and revision (REFERENCES.md).
pub fn npu_generation(device: u16, revision: u8) -> Option<&'static str> {
    match (device, revision) {
        (0x1502, _) => Some("NPU1 (Phoenix/Hawk Point)"),
        (0x17f0, 0x00) => Some("NPU2"),
        (0x17f0, 0x10) => Some("NPU4 (Strix)"),
        (0x17f0, 0x11) => Some("NPU5 (Strix Halo)"),
        (0x17f0, 0x20) => Some("NPU6 (Krackan)"),
        _ => None,
    }
}

/// How many hardware contexts a generation allows at once.
pub fn max_hw_contexts(device: u16) -> usize {
    if device == 0x1502 { 6 } else { 16 }
}

/// The ioctl side of the device, so tests can answer it.
pub trait InfoSource {
    /// Open the node (to test access); an errno on failure.
    fn open(&self, node: &Path) -> Result<(), i32>;
    /// GET_INFO for `param` with a buffer of `size` bytes; the filled buffer or an errno.
    fn get_info(&self, node: &Path, param: GetParam, size: usize) -> Result<Vec<u8>, i32>;
}

/// The real device through libc.
pub struct RealDevice;

impl InfoSource for RealDevice {
    fn open(&self, node: &Path) -> Result<(), i32> {
        let fd = open_node(node)?;
        // SAFETY: fd is a descriptor we just opened.
        unsafe { libc::close(fd) };
        Ok(())
    }

    fn get_info(&self, node: &Path, param: GetParam, size: usize) -> Result<Vec<u8>, i32> {
        let fd = open_node(node)?;
        let mut buffer = vec![0u8; size];
        let mut request = uapi::GetInfo {
            param: param as u32,
            buffer_size: size as u32,
            buffer: buffer.as_mut_ptr() as u64,
        };
        // SAFETY: the request points at a live buffer of `size` bytes that the kernel may fill;
        // the ioctl number and struct layout are the driver's (tested in uapi).
        let rc = unsafe { libc::ioctl(fd, uapi::DRM_IOCTL_AMDXDNA_GET_INFO as _, &mut request) };
        let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
        // SAFETY: fd is ours.
        unsafe { libc::close(fd) };
        if rc != 0 {
            return Err(errno);
        }
        buffer.truncate((request.buffer_size as usize).min(size));
        Ok(buffer)
    }
}

fn open_node(node: &Path) -> Result<i32, i32> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(node.as_os_str().as_bytes()).map_err(|_| libc::EINVAL)?;
    // SAFETY: a valid NUL-terminated path; the result is checked.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
    if fd < 0 {
        Err(std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO))
    } else {
        Ok(fd)
    }
}

/// Answers read from a fixture file: `{"open_errno": 13?, "params": {"8": {"errno": 22} |
/// {"hex": "..."}}}`.
#[derive(Debug, Default, Clone)]
pub struct FixtureDevice {
    pub open_errno: Option<i32>,
    pub answers: HashMap<u32, Result<Vec<u8>, i32>>,
}

// Builders for the tests' fixture devices.
#[cfg_attr(not(test), allow(dead_code))]
impl FixtureDevice {
    pub fn answer<T: uapi::Pod>(mut self, param: GetParam, value: &T) -> Self {
        self.answers.insert(param as u32, Ok(uapi::to_bytes(value)));
        self
    }

    pub fn fail(mut self, param: GetParam, errno: i32) -> Self {
        self.answers.insert(param as u32, Err(errno));
        self
    }

    pub fn raw(mut self, param: GetParam, bytes: Vec<u8>) -> Self {
        self.answers.insert(param as u32, Ok(bytes));
        self
    }
}

impl InfoSource for FixtureDevice {
    fn open(&self, _node: &Path) -> Result<(), i32> {
        self.open_errno.map_or(Ok(()), Err)
    }

    fn get_info(&self, _node: &Path, param: GetParam, size: usize) -> Result<Vec<u8>, i32> {
        match self.answers.get(&(param as u32)) {
            Some(Ok(bytes)) => Ok(bytes[..bytes.len().min(size)].to_vec()),
            Some(Err(errno)) => Err(*errno),
            None => Err(libc::EINVAL),
        }
    }
}

/// Who is asking, and with which limits.
#[derive(Debug, Clone)]
pub struct Identity {
    pub uid: u32,
    pub gids: Vec<u32>,
    /// RLIMIT_MEMLOCK soft limit in bytes; `None` = unlimited.
    pub memlock: Option<u64>,
}

impl Identity {
    pub fn current() -> Self {
        // SAFETY: plain libc queries into buffers we own.
        unsafe {
            let mut gids = vec![0 as libc::gid_t; 256];
            let n = libc::getgroups(gids.len() as i32, gids.as_mut_ptr());
            gids.truncate(n.max(0) as usize);
            gids.push(libc::getegid());
            let mut limit = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            let memlock = if libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut limit) == 0 {
                (limit.rlim_cur != libc::RLIM_INFINITY).then_some(limit.rlim_cur)
            } else {
                Some(0)
            };
            Identity {
                uid: libc::geteuid(),
                gids,
                memlock,
            }
        }
    }
}

/// A PCI function that is an AMD NPU.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NpuPci {
    pub address: String,
    pub device: u16,
    pub revision: u8,
    pub generation: &'static str,
    pub driver: Option<String>,
}

fn read_hex(path: &Path) -> Option<u32> {
    let text = std::fs::read_to_string(path).ok()?;
    u32::from_str_radix(text.trim().trim_start_matches("0x"), 16).ok()
}

/// AMD NPUs on the PCI bus under `root`.
pub fn scan_pci(root: &Path) -> Vec<NpuPci> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(root.join("sys/bus/pci/devices")) else {
        return found;
    };
    let mut entries: Vec<_> = entries.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let dir = entry.path();
        let vendor = read_hex(&dir.join("vendor"));
        let device = read_hex(&dir.join("device"));
        let revision = read_hex(&dir.join("revision")).unwrap_or(0);
        if vendor != Some(AMD_VENDOR as u32) {
            continue;
        }
        let Some(device) = device else { continue };
        let Some(generation) = npu_generation(device as u16, revision as u8) else {
            continue;
        };
        let driver = std::fs::read_link(dir.join("driver"))
            .ok()
            .and_then(|t| t.file_name().map(|n| n.to_string_lossy().into_owned()));
        found.push(NpuPci {
            address: entry.file_name().to_string_lossy().into_owned(),
            device: device as u16,
            revision: revision as u8,
            generation,
            driver,
        });
    }
    found
}

/// `/dev/accel/accel*` nodes under `root`.
pub fn accel_nodes(root: &Path) -> Vec<PathBuf> {
    let mut nodes: Vec<PathBuf> = std::fs::read_dir(root.join("dev/accel"))
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with("accel"))
                })
                .collect()
        })
        .unwrap_or_default();
    nodes.sort();
    nodes
}

/// The kernel release under `root` (`/proc/sys/kernel/osrelease`) as (major, minor, text).
pub fn kernel_release(root: &Path) -> Option<(u32, u32, String)> {
    let text = std::fs::read_to_string(root.join("proc/sys/kernel/osrelease")).ok()?;
    let text = text.trim().to_string();
    let mut parts = text.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor, text))
}

/// Human cause of an errno from opening the accel node.
pub fn open_errno_cause(errno: i32) -> String {
    match errno {
        libc::EACCES | libc::EPERM => "permission denied (not in the node's group?)".into(),
        libc::ENOENT => "the node disappeared".into(),
        libc::ENODEV | libc::ENXIO => {
            "no device behind the node (driver failed to initialise?)".into()
        }
        libc::EBUSY => "device busy".into(),
        other => format!(
            "errno {other} ({})",
            std::io::Error::from_raw_os_error(other)
        ),
    }
}
