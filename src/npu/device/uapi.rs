//! The amdxdna driver's user API (`include/uapi/drm/amdxdna_accel.h`, in the kernel since 6.14),
//! written out in Rust: the GET_INFO ioctl and the query structures doctor reads. Layouts are
//! `#[repr(C)]` and their sizes and offsets are tested against the header.

/// `DRM_IOWR(DRM_COMMAND_BASE + DRM_AMDXDNA_GET_INFO, struct amdxdna_drm_get_info)`:
/// direction read|write (3 << 30), size 16 << 16, type 'd' (0x64) << 8, number 0x40 + 7.
pub const DRM_IOCTL_AMDXDNA_GET_INFO: u64 = ioctl_iowr(0x40 + 7, std::mem::size_of::<GetInfo>());

/// The Linux `_IOWR('d', nr, size)` encoding.
pub const fn ioctl_iowr(nr: u64, size: usize) -> u64 {
    (3 << 30) | ((size as u64) << 16) | ((b'd' as u64) << 8) | nr
}

/// `enum amdxdna_drm_get_param`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
#[allow(dead_code)] // the driver's numbering, complete: not every query is asked
pub enum GetParam {
    AieStatus = 0,
    AieMetadata = 1,
    AieVersion = 2,
    ClockMetadata = 3,
    Sensors = 4,
    HwContexts = 5,
    FirmwareVersion = 8,
    PowerMode = 9,
}

/// `struct amdxdna_drm_get_info`.
#[derive(Debug, Clone, Copy, Default)]
#[repr(C)]
pub struct GetInfo {
    pub param: u32,
    pub buffer_size: u32,
    pub buffer: u64,
}

/// `struct amdxdna_drm_query_aie_version`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[repr(C)]
pub struct AieVersion {
    pub major: u32,
    pub minor: u32,
}

/// `struct amdxdna_drm_query_aie_tile_metadata`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[repr(C)]
pub struct AieTileMetadata {
    pub row_count: u16,
    pub row_start: u16,
    pub dma_channel_count: u16,
    pub lock_count: u16,
    pub event_reg_count: u16,
    pub pad: [u16; 3],
}

/// `struct amdxdna_drm_query_aie_metadata`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[repr(C)]
pub struct AieMetadata {
    pub col_size: u32,
    pub cols: u16,
    pub rows: u16,
    pub version: AieVersion,
    pub core: AieTileMetadata,
    pub mem: AieTileMetadata,
    pub shim: AieTileMetadata,
}

/// `struct amdxdna_drm_query_clock`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[repr(C)]
pub struct Clock {
    pub name: [u8; 16],
    pub freq_mhz: u32,
    pub pad: u32,
}

impl Clock {
    pub fn name(&self) -> String {
        let end = self.name.iter().position(|&b| b == 0).unwrap_or(16);
        String::from_utf8_lossy(&self.name[..end]).into_owned()
    }
}

/// `struct amdxdna_drm_query_clock_metadata`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[repr(C)]
pub struct ClockMetadata {
    pub mp_npu_clock: Clock,
    pub h_clock: Clock,
}

/// `struct amdxdna_drm_query_hwctx`: one hardware context.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[repr(C)]
pub struct HwContext {
    pub context_id: u32,
    pub start_col: u32,
    pub num_col: u32,
    pub pad: u32,
    pub pid: i64,
    pub command_submissions: u64,
    pub command_completions: u64,
    pub migrations: u64,
    pub preemptions: u64,
    pub errors: u64,
}

/// `struct amdxdna_drm_query_firmware_version`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[repr(C)]
pub struct FirmwareVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
    pub build: u32,
}

/// `struct amdxdna_drm_get_power_mode`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[repr(C)]
pub struct PowerMode {
    pub power_mode: u8,
    pub pad: [u8; 7],
}

/// `enum amdxdna_power_mode_type`.
pub fn power_mode_name(mode: u8) -> &'static str {
    match mode {
        0 => "default",
        1 => "low",
        2 => "medium",
        3 => "high",
        4 => "turbo",
        _ => "unknown",
    }
}

/// Plain-old-data structures that may be filled from raw ioctl bytes.
///
/// # Safety
/// Implementors are `#[repr(C)]`, contain only integers and integer arrays, and every bit
/// pattern is a valid value.
pub unsafe trait Pod: Copy + Default {}
// SAFETY: all of these are repr(C) structs of integers (see their definitions above).
unsafe impl Pod for AieVersion {}
unsafe impl Pod for AieMetadata {}
unsafe impl Pod for ClockMetadata {}
unsafe impl Pod for HwContext {}
unsafe impl Pod for FirmwareVersion {}
unsafe impl Pod for PowerMode {}

/// Read a `T` from the start of `bytes` (zero-filled when short, as an old driver writing a
/// smaller structure would leave it).
pub fn from_bytes<T: Pod>(bytes: &[u8]) -> T {
    let mut value = T::default();
    let n = bytes.len().min(std::mem::size_of::<T>());
    // SAFETY: T is Pod (any bytes are a valid T) and we copy at most size_of::<T>() bytes into it.
    unsafe {
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), &mut value as *mut T as *mut u8, n);
    }
    value
}

/// The bytes of a `T`, for building test answers.
#[cfg_attr(not(test), allow(dead_code))]
pub fn to_bytes<T: Pod>(value: &T) -> Vec<u8> {
    let mut out = vec![0u8; std::mem::size_of::<T>()];
    // SAFETY: T is Pod; we read exactly its size from a valid reference.
    unsafe {
        std::ptr::copy_nonoverlapping(value as *const T as *const u8, out.as_mut_ptr(), out.len());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{offset_of, size_of};

    #[test]
    fn get_info_ioctl_number_matches_the_kernel() {
        assert_eq!(DRM_IOCTL_AMDXDNA_GET_INFO, 0xC010_6447);
        assert_eq!(size_of::<GetInfo>(), 16);
        assert_eq!(offset_of!(GetInfo, buffer_size), 4);
        assert_eq!(offset_of!(GetInfo, buffer), 8);
    }

    #[test]
    fn query_structures_have_the_header_layout() {
        assert_eq!(size_of::<AieVersion>(), 8);
        assert_eq!(size_of::<AieTileMetadata>(), 16);
        assert_eq!(size_of::<AieMetadata>(), 64);
        assert_eq!(offset_of!(AieMetadata, cols), 4);
        assert_eq!(offset_of!(AieMetadata, rows), 6);
        assert_eq!(offset_of!(AieMetadata, version), 8);
        assert_eq!(offset_of!(AieMetadata, core), 16);
        assert_eq!(offset_of!(AieMetadata, mem), 32);
        assert_eq!(offset_of!(AieMetadata, shim), 48);
        assert_eq!(size_of::<Clock>(), 24);
        assert_eq!(offset_of!(Clock, freq_mhz), 16);
        assert_eq!(size_of::<ClockMetadata>(), 48);
        assert_eq!(size_of::<HwContext>(), 64);
        assert_eq!(offset_of!(HwContext, pid), 16);
        assert_eq!(offset_of!(HwContext, errors), 56);
        assert_eq!(size_of::<FirmwareVersion>(), 16);
        assert_eq!(size_of::<PowerMode>(), 8);
    }

    #[test]
    fn bytes_round_trip_and_short_answers_zero_fill() {
        let v = FirmwareVersion {
            major: 1,
            minor: 5,
            patch: 2,
            build: 380,
        };
        assert_eq!(from_bytes::<FirmwareVersion>(&to_bytes(&v)), v);
        let short: FirmwareVersion = from_bytes(&to_bytes(&v)[..8]);
        assert_eq!((short.major, short.minor, short.patch), (1, 5, 0));
    }
}
