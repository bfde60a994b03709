//! Audio input: decode any supported file (or stdin) to 16 kHz mono f32 in [-1, 1].
//!
//! WAV goes through hound (every integer PCM width and 32-bit float); mp3, flac and ogg/vorbis go
//! through symphonia. The container is recognised from the bytes, never from the file name, so a
//! text file renamed `.wav` is reported as what it is. Channels are averaged to mono and other
//! sample rates are resampled with rubato's FFT resampler.

mod compressed;
mod resample;
mod wav;

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The sample rate every Whisper model expects.
pub const SAMPLE_RATE: u32 = 16_000;

/// The largest file we accept before decoding anything (4 GiB, the WAV format's own limit).
const MAX_INPUT_BYTES: u64 = 4 << 30;

/// Where audio comes from: a file, or standard input when the path is `-`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AudioSource {
    /// A file path.
    File(PathBuf),
    /// Standard input (`-`).
    Stdin,
}

impl AudioSource {
    /// `-` means standard input, anything else a file path.
    pub fn from_arg(arg: &Path) -> Self {
        if arg == Path::new("-") {
            AudioSource::Stdin
        } else {
            AudioSource::File(arg.to_path_buf())
        }
    }

    /// The name used in messages: the path, or `<stdin>`.
    pub fn display_path(&self) -> PathBuf {
        match self {
            AudioSource::File(path) => path.clone(),
            AudioSource::Stdin => PathBuf::from("<stdin>"),
        }
    }
}

/// What the input file held before conversion to 16 kHz mono.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SourceFormat {
    /// "wav", "mp3", "flac" or "ogg".
    pub container: &'static str,
    /// A short codec description, e.g. "pcm s16" or "vorbis".
    pub codec: String,
    /// Sample rate of the file (Hz).
    pub sample_rate: u32,
    /// Channels of the file.
    pub channels: u16,
}

/// Decoded audio, interleaved, at its original rate and channel count.
#[derive(Debug)]
struct Decoded {
    interleaved: Vec<f32>,
    format: SourceFormat,
}

/// Audio ready for the front end: 16 kHz mono f32.
#[derive(Debug, Clone)]
pub struct Audio {
    /// 16 kHz mono samples in [-1, 1].
    pub samples: Vec<f32>,
    /// What the input was.
    pub source: SourceFormat,
}

impl Audio {
    /// Duration in seconds at 16 kHz.
    pub fn duration_secs(&self) -> f64 {
        self.samples.len() as f64 / SAMPLE_RATE as f64
    }
}

/// Decode, downmix and resample an input to 16 kHz mono.
pub fn load(source: &AudioSource) -> Result<Audio> {
    let path = source.display_path();
    let bytes = read_all(source)?;
    decode_bytes(bytes, &path)
}

/// Decode an in-memory file; `path` is only used in messages.
pub fn decode_bytes(bytes: Vec<u8>, path: &Path) -> Result<Audio> {
    let decoded = decode(bytes, path)?;
    let format = decoded.format;
    validate_format(&format, path)?;
    if decoded.interleaved.is_empty() {
        return Err(Error::audio(path, "contains no audio samples"));
    }
    if let Some(index) = decoded.interleaved.iter().position(|s| !s.is_finite()) {
        return Err(Error::audio(
            path,
            format!(
                "sample {index} is not a finite number ({}); the file is corrupt",
                decoded.interleaved[index]
            ),
        ));
    }
    let mono = downmix(decoded.interleaved, format.channels as usize);
    let samples = if format.sample_rate == SAMPLE_RATE {
        mono
    } else {
        resample::to_16k(&mono, format.sample_rate)
            .map_err(|reason| Error::audio(path, format!("cannot resample: {reason}")))?
    };
    Ok(Audio {
        samples,
        source: format,
    })
}

/// Raw PCM (as the Wyoming protocol streams it): little-endian integer samples of `width`
/// bytes (1: unsigned 8-bit; 2, 3, 4: signed), `channels` interleaved, at `rate` Hz; downmixed
/// and resampled as files are. `what` names the source in messages.
pub fn from_pcm(bytes: &[u8], rate: u32, width: u16, channels: u16, what: &str) -> Result<Audio> {
    let path = Path::new(what);
    if !(1..=4).contains(&width) {
        return Err(Error::audio(
            path,
            format!("sample width {width} bytes (1 to 4 allowed)"),
        ));
    }
    if channels == 0 || rate == 0 {
        return Err(Error::audio(path, "0 channels or a rate of 0 Hz"));
    }
    let frame = width as usize * channels as usize;
    if !bytes.len().is_multiple_of(frame) {
        return Err(Error::audio(
            path,
            format!(
                "{} bytes is not a whole number of {frame}-byte frames",
                bytes.len()
            ),
        ));
    }
    if bytes.is_empty() {
        return Err(Error::audio(path, "contains no audio samples"));
    }
    let scale = 1.0 / (1u64 << (8 * width as u32 - 1)) as f32;
    let interleaved: Vec<f32> = bytes
        .chunks_exact(width as usize)
        .map(|sample| match sample {
            [b] => (*b as i32 - 128) as f32 * scale,
            _ => {
                // Sign-extend from the top byte: shift the little-endian bytes into the top of
                // an i32, then back down.
                let mut word = [0u8; 4];
                word[4 - sample.len()..].copy_from_slice(sample);
                (i32::from_le_bytes(word) >> (8 * (4 - sample.len()))) as f32 * scale
            }
        })
        .collect();
    let mono = downmix(interleaved, channels as usize);
    let samples = if rate == SAMPLE_RATE {
        mono
    } else {
        resample::to_16k(&mono, rate)
            .map_err(|reason| Error::audio(path, format!("cannot resample: {reason}")))?
    };
    Ok(Audio {
        samples,
        source: SourceFormat {
            container: "pcm",
            codec: format!("pcm s{}", 8 * width),
            sample_rate: rate,
            channels,
        },
    })
}

fn read_all(source: &AudioSource) -> Result<Vec<u8>> {
    let path = source.display_path();
    let read_error = |source| Error::ReadInput {
        path: path.clone(),
        source,
    };
    let mut bytes = Vec::new();
    match source {
        AudioSource::File(file_path) => {
            let file = std::fs::File::open(file_path).map_err(read_error)?;
            let meta = file.metadata().map_err(read_error)?;
            if meta.is_dir() {
                return Err(Error::audio(&path, "is a directory, not an audio file"));
            }
            if meta.len() > MAX_INPUT_BYTES {
                return Err(Error::audio(&path, "is larger than 4 GiB"));
            }
            file.take(MAX_INPUT_BYTES + 1)
                .read_to_end(&mut bytes)
                .map_err(read_error)?;
        }
        AudioSource::Stdin => {
            std::io::stdin()
                .lock()
                .take(MAX_INPUT_BYTES + 1)
                .read_to_end(&mut bytes)
                .map_err(read_error)?;
            if bytes.len() as u64 > MAX_INPUT_BYTES {
                return Err(Error::audio(&path, "is larger than 4 GiB"));
            }
        }
    }
    Ok(bytes)
}

fn decode(bytes: Vec<u8>, path: &Path) -> Result<Decoded> {
    if bytes.is_empty() {
        return Err(Error::audio(path, "is empty (0 bytes)"));
    }
    if bytes.starts_with(b"RIFF") || bytes.starts_with(b"RIFX") || bytes.starts_with(b"RF64") {
        return wav::decode(&bytes, path);
    }
    compressed::decode(bytes, path)
}

fn validate_format(format: &SourceFormat, path: &Path) -> Result<()> {
    if format.sample_rate == 0 {
        return Err(Error::audio(path, "header says the sample rate is 0 Hz"));
    }
    if format.channels == 0 {
        return Err(Error::audio(path, "header says the file has 0 channels"));
    }
    Ok(())
}

/// Average the channels of interleaved audio (what OpenAI's ffmpeg call `-ac 1` does).
/// Average the channels of interleaved frames; mono is passed through without a copy (a
/// 2-hour file is 460 MB of samples).
fn downmix(interleaved: Vec<f32>, channels: usize) -> Vec<f32> {
    if channels == 1 {
        return interleaved;
    }
    interleaved
        .chunks_exact(channels)
        .map(|frame| (frame.iter().map(|&s| s as f64).sum::<f64>() / channels as f64) as f32)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pcm_of_every_width_reads_as_the_same_signal() {
        // One frame pair: full-scale negative, then half-scale positive, in each width.
        let cases: [(u16, Vec<u8>); 4] = [
            (1, vec![0, 192]),
            (2, [i16::MIN.to_le_bytes(), 16384i16.to_le_bytes()].concat()),
            (3, vec![0, 0, 0x80, 0, 0, 0x40]),
            (
                4,
                [i32::MIN.to_le_bytes(), (1i32 << 30).to_le_bytes()].concat(),
            ),
        ];
        for (width, bytes) in cases {
            let audio = from_pcm(&bytes, 16_000, width, 1, "chunk").unwrap();
            assert_eq!(audio.samples, vec![-1.0, 0.5], "width {width}");
        }
        // Stereo averages its channels; 8 kHz doubles in length.
        let stereo = [1000i16, 3000, -1000, -3000].map(i16::to_le_bytes).concat();
        let mono = from_pcm(&stereo, 16_000, 2, 2, "chunk").unwrap();
        assert_eq!(mono.samples, vec![2000.0 / 32768.0, -2000.0 / 32768.0]);
        let slow = from_pcm(&vec![0u8; 1600], 8_000, 2, 1, "chunk").unwrap();
        assert_eq!(slow.samples.len(), 1600);
        for (bytes, width, channels, why) in [
            (vec![0u8; 3], 2, 1, "whole number"),
            (vec![0u8; 4], 5, 1, "sample width 5"),
            (vec![], 2, 1, "no audio"),
        ] {
            let e = from_pcm(&bytes, 16_000, width, channels, "chunk").unwrap_err();
            assert!(e.to_string().contains(why), "{e}");
        }
    }

    #[test]
    fn downmix_averages_channels_and_keeps_identical_channels_exact() {
        let stereo = [0.5f32, 0.25, -1.0, 1.0, 0.1, 0.1];
        assert_eq!(downmix(stereo.to_vec(), 2), vec![0.375, 0.0, 0.1]);
    }

    #[test]
    fn dash_means_stdin() {
        assert_eq!(AudioSource::from_arg(Path::new("-")), AudioSource::Stdin);
        assert_eq!(
            AudioSource::from_arg(Path::new("a.wav")),
            AudioSource::File(PathBuf::from("a.wav"))
        );
    }
}
