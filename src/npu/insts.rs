//! Instruction streams (the `.insts` files MLIR-AIE writes next to an xclbin, argument 1 of every
//! run): a reader and a validator. The stream is the aie-rt transaction format, little-endian:
//! a 16-byte header (major, minor, device generation, rows, columns, memory-tile rows, padding,
//! u32 op count, u32 total size) followed by ops, each starting with its opcode byte:
//!
//! | opcode | op | bytes |
//! |---|---|---|
//! | 0 | write: register offset u64 at +8, value at +16, op size at +20 | 24 |
//! | 1 | block write: register offset u32 at +8, op size (with payload) at +12 | size |
//! | 3 | mask write: offset u64 at +8, value, mask, op size at +24 | 32 |
//! | 4, 7 | mask poll (busy): as mask write | 32 |
//! | 5 | no-op | 4 |
//! | 128 | TCT (sync) custom op: op size u32 at +4 | size |
//! | 129 | DDR patch custom op: op size at +4, then register address u64, argument index u64, offset u64 | 32 |
//!
//! A DDR patch writes a buffer's device address (plus an offset) into a DMA descriptor: its
//! argument index counts the runtime sequence's buffer arguments from 0, which are kernel
//! arguments 3, 4, ... The validator checks every patch against the call plan's buffers: the
//! index exists and the offset lies inside the planned buffer size.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub major: u8,
    pub minor: u8,
    pub device_generation: u8,
    pub rows: u8,
    pub columns: u8,
    pub mem_tile_rows: u8,
    pub ops: u32,
    pub size: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Write {
        register: u64,
        value: u32,
    },
    BlockWrite {
        register: u32,
        words: usize,
    },
    MaskWrite {
        register: u64,
        value: u32,
        mask: u32,
    },
    MaskPoll {
        register: u64,
        value: u32,
        mask: u32,
    },
    #[allow(clippy::enum_variant_names)] // the instruction set's own name
    NoOp,
    Sync {
        bytes: usize,
    },
    DdrPatch {
        register: u64,
        arg: u64,
        offset: u64,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stream {
    pub header: Header,
    pub ops: Vec<Op>,
}

fn at<const N: usize>(b: &[u8], i: usize) -> Result<[u8; N], String> {
    i.checked_add(N)
        .and_then(|e| b.get(i..e))
        .map(|s| s.try_into().expect("N bytes"))
        .ok_or_else(|| format!("truncated at byte {i} (stream of {} bytes)", b.len()))
}

fn u32_at(b: &[u8], i: usize) -> Result<u32, String> {
    Ok(u32::from_le_bytes(at::<4>(b, i)?))
}

fn u64_at(b: &[u8], i: usize) -> Result<u64, String> {
    Ok(u64::from_le_bytes(at::<8>(b, i)?))
}

/// Parse a stream of bytes (an `.insts` file as written, or words converted to bytes).
///
/// Kept whole: one pass over the header and the operations in file order, each field bounds-checked
/// where it is read.
pub fn parse(bytes: &[u8]) -> Result<Stream, String> {
    let h = at::<16>(bytes, 0)?;
    let header = Header {
        major: h[0],
        minor: h[1],
        device_generation: h[2],
        rows: h[3],
        columns: h[4],
        mem_tile_rows: h[5],
        ops: u32::from_le_bytes([h[8], h[9], h[10], h[11]]),
        size: u32::from_le_bytes([h[12], h[13], h[14], h[15]]),
    };
    if header.size as usize != bytes.len() {
        return Err(format!(
            "header says {} bytes, the stream has {}",
            header.size,
            bytes.len()
        ));
    }
    let mut ops = Vec::new();
    let mut i = 16usize;
    for n in 0..header.ops {
        let opcode = at::<1>(bytes, i)?[0];
        let (op, size) = match opcode {
            0 => (
                Op::Write {
                    register: u64_at(bytes, i + 8)?,
                    value: u32_at(bytes, i + 16)?,
                },
                u32_at(bytes, i + 20)? as usize,
            ),
            1 => {
                let size = u32_at(bytes, i + 12)? as usize;
                if size < 16 || !(size - 16).is_multiple_of(4) {
                    return Err(format!("op {n}: block write of {size} bytes"));
                }
                (
                    Op::BlockWrite {
                        register: u32_at(bytes, i + 8)?,
                        words: (size - 16) / 4,
                    },
                    size,
                )
            }
            3 | 4 | 7 => {
                let (register, value, mask) = (
                    u64_at(bytes, i + 8)?,
                    u32_at(bytes, i + 16)?,
                    u32_at(bytes, i + 20)?,
                );
                let op = if opcode == 3 {
                    Op::MaskWrite {
                        register,
                        value,
                        mask,
                    }
                } else {
                    Op::MaskPoll {
                        register,
                        value,
                        mask,
                    }
                };
                (op, u32_at(bytes, i + 24)? as usize)
            }
            5 => (Op::NoOp, 4),
            128 => {
                let size = u32_at(bytes, i + 4)? as usize;
                (Op::Sync { bytes: size }, size)
            }
            129 => (
                Op::DdrPatch {
                    register: u64_at(bytes, i + 8)?,
                    arg: u64_at(bytes, i + 16)?,
                    offset: u64_at(bytes, i + 24)?,
                },
                u32_at(bytes, i + 4)? as usize,
            ),
            other => return Err(format!("op {n} at byte {i}: unknown opcode {other}")),
        };
        if size < 4 || !size.is_multiple_of(4) {
            return Err(format!(
                "op {n} at byte {i}: size {size} is not a positive multiple of 4"
            ));
        }
        let end = i
            .checked_add(size)
            .filter(|&e| e <= bytes.len())
            .ok_or_else(|| {
                format!(
                    "op {n} at byte {i}: its {size} bytes run past the end ({} bytes)",
                    bytes.len()
                )
            })?;
        ops.push(op);
        i = end;
    }
    if i != bytes.len() {
        return Err(format!(
            "{} bytes left after the last of {} ops",
            bytes.len() - i,
            header.ops
        ));
    }
    Ok(Stream { header, ops })
}

/// Check every DDR patch against the planned data buffers (byte sizes of kernel arguments 3..).
pub fn validate(stream: &Stream, buffer_bytes: &[usize]) -> Result<(), String> {
    for (n, op) in stream.ops.iter().enumerate() {
        if let Op::DdrPatch { arg, offset, .. } = *op {
            let Some(&size) = buffer_bytes.get(arg as usize) else {
                return Err(format!(
                    "op {n}: patches buffer argument {arg} (kernel argument {}), but the call has {} data buffers",
                    arg + 3,
                    buffer_bytes.len()
                ));
            };
            if offset >= size as u64 {
                return Err(format!(
                    "op {n}: patch offset {offset} is outside buffer argument {arg} ({size} bytes)"
                ));
            }
        }
    }
    Ok(())
}

/// Serialise ops into a stream (the tests' fixtures; the real streams come from the designs).
#[cfg(test)]
pub fn build(ops: &[Op]) -> Vec<u8> {
    let mut body = Vec::new();
    for op in ops {
        let mut o = Vec::new();
        match *op {
            Op::Write { register, value } => {
                o.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0]);
                o.extend_from_slice(&register.to_le_bytes());
                o.extend_from_slice(&value.to_le_bytes());
                o.extend_from_slice(&24u32.to_le_bytes());
            }
            Op::BlockWrite { register, words } => {
                o.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0]);
                o.extend_from_slice(&register.to_le_bytes());
                o.extend_from_slice(&((16 + 4 * words) as u32).to_le_bytes());
                o.extend(std::iter::repeat_n(0u8, 4 * words));
            }
            Op::MaskWrite {
                register,
                value,
                mask,
            }
            | Op::MaskPoll {
                register,
                value,
                mask,
            } => {
                let code = if matches!(op, Op::MaskWrite { .. }) {
                    3
                } else {
                    4
                };
                o.extend_from_slice(&[code, 0, 0, 0, 0, 0, 0, 0]);
                o.extend_from_slice(&register.to_le_bytes());
                o.extend_from_slice(&value.to_le_bytes());
                o.extend_from_slice(&mask.to_le_bytes());
                o.extend_from_slice(&32u32.to_le_bytes());
                o.extend_from_slice(&[0; 4]);
            }
            Op::NoOp => o.extend_from_slice(&[5, 0, 0, 0]),
            Op::Sync { bytes } => {
                o.extend_from_slice(&[128, 0, 0, 0]);
                o.extend_from_slice(&(bytes as u32).to_le_bytes());
                o.extend(std::iter::repeat_n(0u8, bytes.saturating_sub(8)));
            }
            Op::DdrPatch {
                register,
                arg,
                offset,
            } => {
                o.extend_from_slice(&[129, 0, 0, 0]);
                o.extend_from_slice(&32u32.to_le_bytes());
                o.extend_from_slice(&register.to_le_bytes());
                o.extend_from_slice(&arg.to_le_bytes());
                o.extend_from_slice(&offset.to_le_bytes());
            }
        }
        body.extend_from_slice(&o);
    }
    let mut out = vec![1u8, 0, 3, 6, 4, 1, 0, 0];
    out.extend_from_slice(&(ops.len() as u32).to_le_bytes());
    out.extend_from_slice(&((16 + body.len()) as u32).to_le_bytes());
    out.extend_from_slice(&body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<Op> {
        vec![
            Op::Write {
                register: 0x1d004,
                value: 7,
            },
            Op::BlockWrite {
                register: 0x1d000,
                words: 8,
            },
            Op::DdrPatch {
                register: 0x1d004,
                arg: 0,
                offset: 0,
            },
            Op::DdrPatch {
                register: 0x1d024,
                arg: 2,
                offset: 4096,
            },
            Op::MaskWrite {
                register: 0x1d200,
                value: 1,
                mask: 1,
            },
            Op::Sync { bytes: 16 },
            Op::NoOp,
            Op::MaskPoll {
                register: 0x1d208,
                value: 0,
                mask: 0x80000,
            },
        ]
    }

    #[test]
    fn a_stream_round_trips_and_patches_validate_against_the_plan() {
        let bytes = build(&sample());
        let s = parse(&bytes).unwrap();
        assert_eq!(s.ops, sample());
        assert_eq!(s.header.columns, 4);
        assert!(validate(&s, &[1024, 1024, 8192, 64]).is_ok());
        let err = validate(&s, &[1024, 1024]).unwrap_err();
        assert!(
            err.contains("buffer argument 2 (kernel argument 5)"),
            "{err}"
        );
        let err = validate(&s, &[1024, 1024, 4096]).unwrap_err();
        assert!(err.contains("offset 4096 is outside"), "{err}");
    }

    #[test]
    fn truncations_and_mutations_never_panic() {
        let bytes = build(&sample());
        for cut in 0..bytes.len() {
            assert!(parse(&bytes[..cut]).is_err());
        }
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        for _ in 0..20_000 {
            let mut m = bytes.clone();
            for _ in 0..1 + seed % 3 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let i = (seed % m.len() as u64) as usize;
                m[i] = (seed >> 8) as u8;
            }
            if let Ok(s) = parse(&m) {
                let _ = validate(&s, &[16, 16, 16]);
            }
        }
    }
}
