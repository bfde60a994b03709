//! WAV decoding through hound: 8/16/24/32-bit integer PCM and 32-bit float, 1 to 32 channels,
//! streamed: the header's sample count is checked against the file's size and the caller's
//! limit before any sample is read, and samples go to the converter a block at a time.

use std::io::{BufReader, Read};
use std::path::Path;

use super::convert::ToMono16k;
use super::{Audio, AudioLimits, SourceFormat};
use crate::error::{Error, Result};

/// Frames handed to the converter at once.
const BLOCK_FRAMES: usize = 4096;

/// Decode the WAV file `input` (`len` bytes; `head` its first bytes, for the header checks).
///
/// Kept whole: the header checks and the block loop share the format read once; each check names
/// the field it refuses.
pub(super) fn decode<R: Read>(
    input: R,
    head: &[u8],
    len: u64,
    path: &Path,
    limits: &AudioLimits,
) -> Result<Audio> {
    // Name a compressed or exotic codec, and impossible header fields, before hound rejects the
    // file for a less telling reason (such as an inconsistent byte rate).
    if let Some(fmt) = fmt_fields(head) {
        if !matches!(fmt.tag, 0x0001 | 0x0003) {
            return Err(wav_error(hound::Error::Unsupported, head, path));
        }
        super::convert::check_format(path, fmt.sample_rate.into(), fmt.channels.into())?;
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
        hound::WavReader::new(BufReader::new(input)).map_err(|e| wav_error(e, head, path))?;
    let spec = reader.spec();
    super::convert::check_format(path, spec.sample_rate.into(), spec.channels.into())?;
    // The declared sample count comes from the file: check it against the bytes it has before
    // anything is sized by it, so a hostile header cannot ask for gigabytes.
    let declared = u64::from(reader.len());
    let bytes_per_sample = u64::from(spec.bits_per_sample).div_ceil(8).max(1);
    let available = len / bytes_per_sample;
    if declared > available {
        return Err(Error::audio(
            path,
            format!(
                "truncated: the data chunk declares {declared} samples but the file holds at most {available}"
            ),
        ));
    }
    let channels = u64::from(spec.channels);
    if !declared.is_multiple_of(channels) {
        return Err(Error::audio(
            path,
            format!(
                "the data chunk holds {declared} samples, not a whole number of {channels}-channel frames"
            ),
        ));
    }
    let mut to = ToMono16k::new(
        path,
        spec.sample_rate,
        spec.channels,
        Some(declared / channels),
        limits,
    )?;
    let codec = match (spec.sample_format, spec.bits_per_sample) {
        (hound::SampleFormat::Float, 32) => {
            let samples = reader.into_samples::<f32>();
            convert_all(
                samples.map(|s| s.map_err(|e| wav_error(e, head, path))),
                &mut to,
            )?;
            "pcm f32".to_string()
        }
        (hound::SampleFormat::Int, bits @ (8 | 16 | 24 | 32)) => {
            // Full scale is 2^(bits-1), as ffmpeg's conversion to float does.
            let scale = 1.0 / (1u64 << (bits - 1)) as f64;
            let samples = reader.into_samples::<i32>().map(|s| {
                s.map(|v| (v as f64 * scale) as f32)
                    .map_err(|e| wav_error(e, head, path))
            });
            convert_all(samples, &mut to)?;
            format!("pcm s{bits}")
        }
        (format, bits) => {
            return Err(Error::audio(
                path,
                format!("unsupported WAV sample format: {bits}-bit {format:?}"),
            ));
        }
    };
    let (sample_rate, channels) = to.format();
    Ok(Audio {
        samples: to.finish()?,
        source: SourceFormat {
            container: "wav",
            codec,
            sample_rate,
            channels,
        },
    })
}

/// Feed every sample to the converter, a block of frames at a time.
fn convert_all(samples: impl Iterator<Item = Result<f32>>, to: &mut ToMono16k) -> Result<()> {
    let block_len = BLOCK_FRAMES * usize::from(to.format().1);
    let mut block = Vec::with_capacity(block_len);
    for sample in samples {
        block.push(sample?);
        if block.len() == block_len {
            to.push(&block)?;
            block.clear();
        }
    }
    if !block.is_empty() {
        to.push(&block)?;
    }
    Ok(())
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
    use std::io::Cursor;

    fn decode_all(bytes: &[u8], path: &Path) -> Result<Audio> {
        decode(
            Cursor::new(bytes.to_vec()),
            &bytes[..bytes.len().min(4096)],
            bytes.len() as u64,
            path,
            &AudioLimits::default(),
        )
    }

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
            let decoded = decode_all(&bytes, Path::new("x.wav")).unwrap();
            assert_eq!(decoded.samples, vec![-1.0], "{bits}-bit");
            assert_eq!(decoded.source.codec, format!("pcm s{bits}"));
        }
    }

    #[test]
    fn float_wav_is_read_as_is() {
        let bytes = wav_bytes(spec(2, 32, hound::SampleFormat::Float), |w| {
            w.write_sample(0.25f32).unwrap();
            w.write_sample(-0.5f32).unwrap();
        });
        let decoded = decode_all(&bytes, Path::new("x.wav")).unwrap();
        // One stereo frame, averaged.
        assert_eq!(decoded.samples, vec![-0.125]);
        assert_eq!(decoded.source.channels, 2);
    }

    #[test]
    fn truncated_data_is_an_error_not_a_short_read() {
        let mut bytes = wav_bytes(spec(1, 16, hound::SampleFormat::Int), |w| {
            for i in 0..100 {
                w.write_sample(i as i16).unwrap();
            }
        });
        bytes.truncate(bytes.len() - 50);
        let err = decode_all(&bytes, Path::new("t.wav"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("truncated"), "{err}");
    }

    #[test]
    fn names_unsupported_codec() {
        let mut bytes = wav_bytes(spec(1, 16, hound::SampleFormat::Int), |w| {
            w.write_sample(0i16).unwrap();
        });
        // Rewrite the format tag (fmt chunk data starts at byte 20) to mu-law.
        bytes[20] = 0x07;
        let err = decode_all(&bytes, Path::new("u.wav"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("mu-law"), "{err}");
    }
}
