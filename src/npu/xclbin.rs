//! A reader for the xclbin (axlf) container: header, UUID, section table, the kernels of the
//! IP_LAYOUT section and a summary of AIE_PARTITION. Every offset and count comes from the file,
//! so every access is bounds-checked: hostile input gives an error, never a panic or an
//! allocation of unbounded size.
//!
//! Layout (XRT `xclbin.h`, amdxdna `amdxdna_axlf.h`): magic `xclbin2\0` (8 bytes), 296 reserved
//! bytes (signature length, key block, unique id), then the 152-byte `axlf_header` at 304 (length
//! u64 at +0, version patch/major/minor at +24..+28, UUID at +112, section count u32 at +144),
//! then 40-byte section headers from 456: kind u32, name [16], 4 bytes padding, offset u64 at
//! +24, size u64 at +32.

use std::fmt;

pub const MAGIC: &[u8; 8] = b"xclbin2\0";
const HEADER_AT: usize = 304;
const SECTIONS_AT: usize = HEADER_AT + 152;
const SECTION_HEADER: usize = 40;
/// The driver's own cap on sections (XCLBIN_MAX_NUM_SECTION).
const MAX_SECTIONS: u32 = 0x10000;

#[allow(dead_code)] // the section kinds of the format, for reference
pub const EMBEDDED_METADATA: u32 = 2;
pub const IP_LAYOUT: u32 = 8;
#[allow(dead_code)]
pub const AIE_METADATA: u32 = 25;
pub const AIE_PARTITION: u32 = 32;
/// `IP_TYPE` value of a kernel in IP_LAYOUT.
const IP_KERNEL: u32 = 1;
const IP_DATA_SIZE: usize = 80;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XclbinError(pub String);

impl fmt::Display for XclbinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn err<T>(msg: impl Into<String>) -> Result<T, XclbinError> {
    Err(XclbinError(msg.into()))
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Section {
    pub kind: u32,
    pub name: String,
    pub offset: u64,
    pub size: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Xclbin {
    pub uuid: String,
    pub version: (u8, u8, u16),
    pub sections: Vec<Section>,
    /// Kernel names from IP_LAYOUT (e.g. "MLIR_AIE").
    pub kernels: Vec<String>,
    /// AIE_PARTITION: the partition width in columns, if the section is present.
    pub partition_columns: Option<u16>,
}

fn read<const N: usize>(bytes: &[u8], at: usize, what: &str) -> Result<[u8; N], XclbinError> {
    match at.checked_add(N).and_then(|end| bytes.get(at..end)) {
        Some(s) => Ok(s.try_into().expect("slice of N bytes")),
        None => err(format!(
            "truncated: {what} at byte {at} is past the end ({} bytes)",
            bytes.len()
        )),
    }
}

fn u32_at(bytes: &[u8], at: usize, what: &str) -> Result<u32, XclbinError> {
    Ok(u32::from_le_bytes(read::<4>(bytes, at, what)?))
}

fn u64_at(bytes: &[u8], at: usize, what: &str) -> Result<u64, XclbinError> {
    Ok(u64::from_le_bytes(read::<8>(bytes, at, what)?))
}

fn c_string(raw: &[u8]) -> String {
    let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
    String::from_utf8_lossy(&raw[..end]).into_owned()
}

fn uuid_text(raw: &[u8; 16]) -> String {
    let h: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Parse an xclbin held in memory.
pub fn parse(bytes: &[u8]) -> Result<Xclbin, XclbinError> {
    if read::<8>(bytes, 0, "the magic")? != *MAGIC {
        return err("not an xclbin (no `xclbin2` magic)");
    }
    let length = u64_at(bytes, HEADER_AT, "the length")?;
    if length > bytes.len() as u64 {
        return err(format!(
            "truncated: the header says {length} bytes, the file has {}",
            bytes.len()
        ));
    }
    let patch = u16::from_le_bytes(read::<2>(bytes, HEADER_AT + 24, "the version")?);
    let major = read::<1>(bytes, HEADER_AT + 26, "the version")?[0];
    let minor = read::<1>(bytes, HEADER_AT + 27, "the version")?[0];
    let uuid = uuid_text(&read::<16>(bytes, HEADER_AT + 112, "the UUID")?);
    let count = u32_at(bytes, HEADER_AT + 144, "the section count")?;
    if count > MAX_SECTIONS {
        return err(format!("{count} sections is more than the format allows"));
    }
    let mut sections = Vec::new();
    for i in 0..count as usize {
        let at = SECTIONS_AT + i * SECTION_HEADER;
        let what = format!("section header {i}");
        let kind = u32_at(bytes, at, &what)?;
        let name = c_string(&read::<16>(bytes, at + 4, &what)?);
        let offset = u64_at(bytes, at + 24, &what)?;
        let size = u64_at(bytes, at + 32, &what)?;
        if offset
            .checked_add(size)
            .is_none_or(|end| end > bytes.len() as u64)
        {
            return err(format!(
                "section {i} ({name}) spans bytes {offset}+{size}, past the end ({} bytes)",
                bytes.len()
            ));
        }
        sections.push(Section {
            kind,
            name,
            offset,
            size,
        });
    }
    let body = |s: &Section| &bytes[s.offset as usize..(s.offset + s.size) as usize];
    let mut kernels = Vec::new();
    if let Some(ip) = sections.iter().find(|s| s.kind == IP_LAYOUT) {
        let data = body(ip);
        let n = u32_at(data, 0, "the IP_LAYOUT count")? as usize;
        // Each entry is 80 bytes from offset 8: the count cannot exceed what the section holds.
        if n > data.len().saturating_sub(8) / IP_DATA_SIZE {
            return err(format!(
                "IP_LAYOUT claims {n} entries in {} bytes",
                data.len()
            ));
        }
        for k in 0..n {
            let at = 8 + k * IP_DATA_SIZE;
            if u32_at(data, at, "an IP_LAYOUT entry")? == IP_KERNEL {
                kernels.push(c_string(&read::<64>(data, at + 16, "an IP name")?));
            }
        }
    }
    let partition_columns = match sections.iter().find(|s| s.kind == AIE_PARTITION) {
        Some(p) => Some(u16::from_le_bytes(read::<2>(
            body(p),
            32,
            "the partition width",
        )?)),
        None => None,
    };
    Ok(Xclbin {
        uuid,
        version: (major, minor, patch),
        sections,
        kernels,
        partition_columns,
    })
}

/// Build an xclbin with the given UUID, kernels and partition width (for tests and fixtures).
#[cfg_attr(not(test), allow(dead_code))]
pub fn build(uuid: [u8; 16], kernels: &[&str], partition_columns: Option<u16>) -> Vec<u8> {
    let mut ip = vec![0u8; 8 + IP_DATA_SIZE * kernels.len()];
    ip[..4].copy_from_slice(&(kernels.len() as u32).to_le_bytes());
    for (k, name) in kernels.iter().enumerate() {
        let at = 8 + k * IP_DATA_SIZE;
        ip[at..at + 4].copy_from_slice(&IP_KERNEL.to_le_bytes());
        let n = name.len().min(63);
        ip[at + 16..at + 16 + n].copy_from_slice(&name.as_bytes()[..n]);
    }
    let mut bodies: Vec<(u32, &str, Vec<u8>)> = vec![(IP_LAYOUT, "ip_layout", ip)];
    if let Some(cols) = partition_columns {
        let mut part = vec![0u8; 64];
        part[32..34].copy_from_slice(&cols.to_le_bytes());
        bodies.push((AIE_PARTITION, "aie_partition", part));
    }
    let mut out = vec![0u8; SECTIONS_AT + SECTION_HEADER * bodies.len()];
    out[..8].copy_from_slice(MAGIC);
    out[HEADER_AT + 26] = 2; // version 2.x
    out[HEADER_AT + 112..HEADER_AT + 128].copy_from_slice(&uuid);
    out[HEADER_AT + 144..HEADER_AT + 148].copy_from_slice(&(bodies.len() as u32).to_le_bytes());
    for (i, (kind, name, body)) in bodies.into_iter().enumerate() {
        let at = SECTIONS_AT + i * SECTION_HEADER;
        let offset = out.len() as u64;
        out[at..at + 4].copy_from_slice(&kind.to_le_bytes());
        out[at + 4..at + 4 + name.len()].copy_from_slice(name.as_bytes());
        out[at + 24..at + 32].copy_from_slice(&offset.to_le_bytes());
        out[at + 32..at + 40].copy_from_slice(&(body.len() as u64).to_le_bytes());
        out.extend_from_slice(&body);
    }
    let len = out.len() as u64;
    out[HEADER_AT..HEADER_AT + 8].copy_from_slice(&len.to_le_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const UUID: [u8; 16] = [
        0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 1, 2, 3, 4, 5, 6, 7, 8,
    ];

    #[test]
    fn a_synthetic_xclbin_round_trips() {
        let bytes = build(UUID, &["MLIR_AIE", "gemm_bias"], Some(4));
        let x = parse(&bytes).unwrap();
        assert_eq!(x.uuid, "12345678-9abc-def0-0102-030405060708");
        assert_eq!(x.kernels, vec!["MLIR_AIE", "gemm_bias"]);
        assert_eq!(x.partition_columns, Some(4));
        assert_eq!(x.version.0, 2);
        assert_eq!(x.sections.len(), 2);
    }

    #[test]
    fn random_and_mutated_bytes_never_panic() {
        // A property run: every truncation, and thousands of single and multi-byte mutations of
        // a valid file, plus random garbage, parse to Ok or Err without panicking.
        let valid = build(UUID, &["MLIR_AIE"], Some(1));
        for cut in 0..valid.len() {
            let _ = parse(&valid[..cut]);
        }
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..20_000 {
            let mut m = valid.clone();
            for _ in 0..1 + next() % 4 {
                let i = (next() % m.len() as u64) as usize;
                m[i] = next() as u8;
            }
            // Also aim at the fields that steer parsing: counts, offsets, sizes.
            let field = [
                HEADER_AT + 144,
                SECTIONS_AT + 24,
                SECTIONS_AT + 32,
                valid.len() - 8 - 80,
            ][(next() % 4) as usize];
            if next() % 2 == 0 && field + 8 <= m.len() {
                m[field..field + 8].copy_from_slice(&next().to_le_bytes());
            }
            let _ = parse(&m);
        }
        for len in [0usize, 1, 8, 100, 456, 1000] {
            let garbage: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            let _ = parse(&garbage);
            let mut with_magic = garbage.clone();
            if with_magic.len() >= 8 {
                with_magic[..8].copy_from_slice(MAGIC);
                let _ = parse(&with_magic);
            }
        }
    }

    #[test]
    fn hostile_counts_and_offsets_are_errors() {
        let mut b = build(UUID, &["MLIR_AIE"], None);
        b[HEADER_AT + 144..HEADER_AT + 148].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(parse(&b).unwrap_err().0.contains("sections"));
        let mut b = build(UUID, &["MLIR_AIE"], None);
        b[SECTIONS_AT + 24..SECTIONS_AT + 32].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(parse(&b).unwrap_err().0.contains("past the end"));
        let b = build(UUID, &["MLIR_AIE"], None);
        let ip_at =
            u64::from_le_bytes(b[SECTIONS_AT + 24..SECTIONS_AT + 32].try_into().unwrap()) as usize;
        let mut c = b.clone();
        c[ip_at..ip_at + 4].copy_from_slice(&1_000_000u32.to_le_bytes());
        assert!(parse(&c).unwrap_err().0.contains("IP_LAYOUT"));
        assert!(parse(b"hello world").unwrap_err().0.contains("magic"));
    }
}
