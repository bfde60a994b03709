//! WAV decoding through hound: 8/16/24/32-bit integer PCM and 32-bit float, any channel count.

use std::io::Cursor;
use std::path::Path;

use super::{Decoded, SourceFormat};
use crate::error::{Error, Result};

pub(super) fn decode(bytes: &[u8], path: &Path) -> Result<Decoded> {
    if bytes.starts_with(b"RIFX") {
        return Err(Error::audio(path, "big-endian WAV (RIFX) is not supported"));
    }
    if bytes.starts_with(b"RF64") {
        return Err(Error::audio(path, "RF64 WAV is not supported"));
    }
    // Name a compressed or exotic codec, and impossible header fields, before hound rejects the
    // file for a less telling reason (such as an inconsistent byte rate).
    if let Some(fmt) = fmt_fields(bytes) {
        if !matches!(fmt.tag, 0x0001 | 0x0003) {
            return Err(wav_error(hound::Error::Unsupported, bytes, path));
        }
        if fmt.channels == 0 {
            return Err(Error::audio(path, "header says the file has 0 channels"));
        }
        if fmt.sample_rate == 0 {
            return Err(Error::audio(path, "header says the sample rate is 0 Hz"));
        }
        let supported = match fmt.tag {
            0x0003 => fmt.bits == 32,
            _ => matches!(fmt.bits, 8 | 16 | 24 | 32),
        };
        if !supported {
            let kind = if fmt.tag == 0x0003 {
                "float"
            } else {
                "integer PCM"
            };
            return Err(Error::audio(
                path,
                format!(
                    "unsupported WAV sample format: {}-bit {kind} (supported: 8/16/24/32-bit integer PCM, 32-bit float)",
                    fmt.bits
                ),
            ));
        }
    }
    let reader =
        hound::WavReader::new(Cursor::new(bytes)).map_err(|e| wav_error(e, bytes, path))?;
    let spec = reader.spec();
    if spec.channels == 0 {
        return Err(Error::audio(path, "header says the file has 0 channels"));
    }
    if spec.sample_rate == 0 {
        return Err(Error::audio(path, "header says the sample rate is 0 Hz"));
    }
    // The declared sample count comes from the file: check it against the bytes we hold before
    // anything is allocated for it, so a hostile header cannot ask for gigabytes.
    let declared = reader.len() as u64;
    let bytes_per_sample = u64::from(spec.bits_per_sample).div_ceil(8).max(1);
    let available = bytes.len() as u64 / bytes_per_sample;
    if declared > available {
        return Err(Error::audio(
            path,
            format!(
                "truncated: the data chunk declares {declared} samples but the file holds at most {available}"
            ),
        ));
    }
    if !declared.is_multiple_of(u64::from(spec.channels)) {
        return Err(Error::audio(
            path,
            format!(
                "the data chunk holds {declared} samples, not a whole number of {}-channel frames",
                spec.channels
            ),
        ));
    }
    let codec;
    let interleaved: Vec<f32> = match (spec.sample_format, spec.bits_per_sample) {
        (hound::SampleFormat::Float, 32) => {
            codec = "pcm f32".to_string();
            reader
                .into_samples::<f32>()
                .collect::<Result<_, _>>()
                .map_err(|e| wav_error(e, bytes, path))?
        }
        (hound::SampleFormat::Int, bits @ (8 | 16 | 24 | 32)) => {
            codec = format!("pcm s{bits}");
            // Full scale is 2^(bits-1), as ffmpeg's conversion to float does.
            let scale = 1.0 / (1u64 << (bits - 1)) as f64;
            reader
                .into_samples::<i32>()
                .map(|s| s.map(|v| (v as f64 * scale) as f32))
                .collect::<Result<_, _>>()
                .map_err(|e| wav_error(e, bytes, path))?
        }
        (format, bits) => {
            return Err(Error::audio(
                path,
                format!("unsupported WAV sample format: {bits}-bit {format:?}"),
            ));
        }
    };
    Ok(Decoded {
        interleaved,
        format: SourceFormat {
            container: "wav",
            codec,
            sample_rate: spec.sample_rate,
            channels: spec.channels,
        },
    })
}

fn wav_error(error: hound::Error, bytes: &[u8], path: &Path) -> Error {
    let reason = match error {
        hound::Error::Unsupported => match fmt_tag(bytes) {
            Some(tag) => format!(
                "unsupported WAV codec {} (format tag 0x{tag:04x}); only PCM and IEEE float WAV are supported",
                codec_name(tag)
            ),
            None => "unsupported WAV codec".to_string(),
        },
        hound::Error::FormatError(what) => format!("invalid WAV file: {what}"),
        hound::Error::IoError(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            "truncated WAV file: it ends inside a header or sample".to_string()
        }
        hound::Error::IoError(e) => format!("truncated or unreadable WAV file: {e}"),
        other => format!("invalid WAV file: {other}"),
    };
    Error::audio(path, reason)
}

/// The fields of the `fmt ` chunk doctor-style checks need.
struct FmtFields {
    tag: u16,
    channels: u16,
    sample_rate: u32,
    bits: u16,
}

fn fmt_fields(bytes: &[u8]) -> Option<FmtFields> {
    let tag = fmt_tag(bytes)?;
    let at = fmt_chunk(bytes)?;
    let u16_at = |i: usize| {
        bytes
            .get(i..i + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
    };
    Some(FmtFields {
        tag,
        channels: u16_at(at + 10)?,
        sample_rate: u32::from_le_bytes(bytes.get(at + 12..at + 16)?.try_into().ok()?),
        bits: u16_at(at + 22)?,
    })
}

/// Byte offset of the `fmt ` chunk header.
fn fmt_chunk(bytes: &[u8]) -> Option<usize> {
    let mut at = 12usize;
    while at.checked_add(8)? <= bytes.len() {
        let len = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().ok()?) as usize;
        if &bytes[at..at + 4] == b"fmt " {
            return Some(at);
        }
        at = at.checked_add(8)?.checked_add(len.checked_add(len & 1)?)?;
    }
    None
}

/// The format tag of the `fmt ` chunk (the sub-format's for WAVE_FORMAT_EXTENSIBLE).
fn fmt_tag(bytes: &[u8]) -> Option<u16> {
    let mut at = 12usize;
    while at.checked_add(8)? <= bytes.len() {
        let id = &bytes[at..at + 4];
        let len = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().ok()?) as usize;
        if id == b"fmt " {
            let tag = u16::from_le_bytes(bytes.get(at + 8..at + 10)?.try_into().ok()?);
            if tag == 0xFFFE {
                // WAVE_FORMAT_EXTENSIBLE: the real tag is the first two bytes of the sub-format GUID.
                return Some(u16::from_le_bytes(
                    bytes.get(at + 32..at + 34)?.try_into().ok()?,
                ));
            }
            return Some(tag);
        }
        at = at.checked_add(8)?.checked_add(len + (len & 1))?;
    }
    None
}

fn codec_name(tag: u16) -> &'static str {
    match tag {
        0x0001 => "PCM",
        0x0002 => "Microsoft ADPCM",
        0x0003 => "IEEE float",
        0x0006 => "A-law",
        0x0007 => "mu-law",
        0x0011 => "IMA ADPCM",
        0x0031 => "GSM 6.10",
        0x0055 => "MPEG layer 3",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wav_bytes(
        spec: hound::WavSpec,
        write: impl Fn(&mut hound::WavWriter<&mut Cursor<Vec<u8>>>),
    ) -> Vec<u8> {
        let mut cursor = Cursor::new(Vec::new());
        {
            let mut writer = hound::WavWriter::new(&mut cursor, spec).unwrap();
            write(&mut writer);
            writer.finalize().unwrap();
        }
        cursor.into_inner()
    }

    fn spec(channels: u16, bits: u16, format: hound::SampleFormat) -> hound::WavSpec {
        hound::WavSpec {
            channels,
            sample_rate: 16_000,
            bits_per_sample: bits,
            sample_format: format,
        }
    }

    #[test]
    fn every_integer_width_scales_full_scale_to_minus_one() {
        for bits in [8u16, 16, 24, 32] {
            let min = -(1i64 << (bits - 1)) as i32;
            let bytes = wav_bytes(spec(1, bits, hound::SampleFormat::Int), |w| {
                if bits == 8 {
                    w.write_sample(min as i8).unwrap();
                } else if bits == 16 {
                    w.write_sample(min as i16).unwrap();
                } else {
                    w.write_sample(min).unwrap();
                }
            });
            let decoded = decode(&bytes, Path::new("x.wav")).unwrap();
            assert_eq!(decoded.interleaved, vec![-1.0], "{bits}-bit");
            assert_eq!(decoded.format.codec, format!("pcm s{bits}"));
        }
    }

    #[test]
    fn float_wav_is_read_as_is() {
        let bytes = wav_bytes(spec(2, 32, hound::SampleFormat::Float), |w| {
            w.write_sample(0.25f32).unwrap();
            w.write_sample(-0.5f32).unwrap();
        });
        let decoded = decode(&bytes, Path::new("x.wav")).unwrap();
        assert_eq!(decoded.interleaved, vec![0.25, -0.5]);
        assert_eq!(decoded.format.channels, 2);
    }

    #[test]
    fn truncated_data_is_an_error_not_a_short_read() {
        let mut bytes = wav_bytes(spec(1, 16, hound::SampleFormat::Int), |w| {
            for i in 0..100 {
                w.write_sample(i as i16).unwrap();
            }
        });
        bytes.truncate(bytes.len() - 50);
        let err = decode(&bytes, Path::new("t.wav")).unwrap_err().to_string();
        assert!(err.contains("truncated"), "{err}");
    }

    #[test]
    fn names_unsupported_codec() {
        let mut bytes = wav_bytes(spec(1, 16, hound::SampleFormat::Int), |w| {
            w.write_sample(0i16).unwrap();
        });
        // Rewrite the format tag (fmt chunk data starts at byte 20) to mu-law.
        bytes[20] = 0x07;
        let err = decode(&bytes, Path::new("u.wav")).unwrap_err().to_string();
        assert!(err.contains("mu-law"), "{err}");
    }
}
