//! Audio input: decode any supported file (or stdin) to 16 kHz mono f32 in [-1, 1].
//!
//! WAV goes through hound (every integer PCM width and 32-bit float); mp3, flac and ogg/vorbis go
//! through symphonia. The container is recognised from the bytes, never from the file name, so a
//! text file renamed `.wav` is reported as what it is. Channels are averaged to mono and other
//! sample rates are resampled with rubato's FFT resampler.
//!
//! Every entry takes [`AudioLimits`]: the sample rate and channel count are checked against
//! fixed ranges and the length against the caller's limit before anything is decoded (from the
//! header, where the format has one), and decoding stops at the limit where it has not. Decoded
//! audio is converted piece by piece as it arrives, so the memory a recording costs is its 16 kHz
//! output (bounded by the limit), never what a header claims.

mod compressed;
mod convert;
mod resample;
mod wav;

use std::io::{Read, SeekFrom};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The sample rate every Whisper model expects.
pub const SAMPLE_RATE: u32 = 16_000;

/// The lowest sample rate accepted (telephone audio is 8 kHz; below 1 kHz is not speech).
pub const MIN_SAMPLE_RATE: u32 = 1_000;

/// The highest sample rate accepted (the highest in common use, 384 kHz).
pub const MAX_SAMPLE_RATE: u32 = 384_000;

/// The most channels accepted (WAV's and the Wyoming converters' practical ceiling).
pub const MAX_CHANNELS: u16 = 32;

/// The largest file we accept before decoding anything (4 GiB, the WAV format's own limit).
const MAX_INPUT_BYTES: u64 = 4 << 30;

/// Bytes read ahead to recognise the container and inspect a WAV header.
const HEAD_BYTES: u64 = 64 * 1024;

/// What the caller allows one recording to cost. The default allows any length (a command line
/// decoding a file its user chose); a service passes its limit, and decoding stops there.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct AudioLimits {
    max_seconds: Option<f64>,
}

impl AudioLimits {
    /// No limit on the length.
    pub fn unlimited() -> AudioLimits {
        AudioLimits::default()
    }

    /// At most `seconds` of audio (at its own rate, before resampling): a longer recording is
    /// [`Error::AudioTooLong`], refused from its header where it has one, else as soon as
    /// decoding passes the limit.
    pub fn max_seconds_of(seconds: f64) -> AudioLimits {
        AudioLimits {
            max_seconds: Some(seconds),
        }
    }

    /// The length limit in seconds, if any.
    pub fn max_seconds(&self) -> Option<f64> {
        self.max_seconds
    }
}

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
    /// "wav", "mp3", "flac", "ogg" or "pcm".
    pub container: &'static str,
    /// A short codec description, e.g. "pcm s16" or "vorbis".
    pub codec: String,
    /// Sample rate of the file (Hz).
    pub sample_rate: u32,
    /// Channels of the file.
    pub channels: u16,
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

/// Raw PCM's layout (as the Wyoming protocol streams it): little-endian integer samples of
/// `width` bytes (1: unsigned 8-bit; 2, 3, 4: signed), `channels` interleaved, at `rate` Hz.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PcmFormat {
    /// Frames per second.
    pub rate: u32,
    /// Bytes per sample, 1 to 4.
    pub width: u16,
    /// Interleaved channels.
    pub channels: u16,
}

impl PcmFormat {
    /// Check the layout against the accepted ranges (rate, channels, width 1 to 4 bytes);
    /// `what` names the source in the error.
    pub fn check(&self, what: &str) -> Result<()> {
        let path = Path::new(what);
        if !(1..=4).contains(&self.width) {
            return Err(Error::audio(
                path,
                format!("sample width {} bytes (1 to 4 allowed)", self.width),
            ));
        }
        convert::check_format(path, self.rate.into(), self.channels.into())
    }

    /// Bytes of one frame (a sample of every channel).
    pub fn frame_bytes(&self) -> usize {
        usize::from(self.width) * usize::from(self.channels)
    }
}

/// Decode, downmix and resample an input to 16 kHz mono, within `limits`.
pub fn load(source: &AudioSource, limits: &AudioLimits) -> Result<Audio> {
    let path = source.display_path();
    let read_error = |source| Error::ReadInput {
        path: path.clone(),
        source,
    };
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
            decode(file, meta.len(), &path, limits)
        }
        AudioSource::Stdin => {
            // Standard input cannot seek, which probing a container needs: it is read first
            // (at most 4 GiB, what a file may hold).
            let mut bytes = Vec::new();
            std::io::stdin()
                .lock()
                .take(MAX_INPUT_BYTES + 1)
                .read_to_end(&mut bytes)
                .map_err(read_error)?;
            if bytes.len() as u64 > MAX_INPUT_BYTES {
                return Err(Error::audio(&path, "is larger than 4 GiB"));
            }
            decode_bytes(bytes, &path, limits)
        }
    }
}

/// Decode an in-memory file within `limits`; `path` is only used in messages.
pub fn decode_bytes(bytes: Vec<u8>, path: &Path, limits: &AudioLimits) -> Result<Audio> {
    let len = bytes.len() as u64;
    decode(std::io::Cursor::new(bytes), len, path, limits)
}

/// Raw PCM of `format` (checked), downmixed and resampled as files are, within `limits`. `what`
/// names the source in messages.
pub fn from_pcm(
    bytes: &[u8],
    format: PcmFormat,
    what: &str,
    limits: &AudioLimits,
) -> Result<Audio> {
    let path = Path::new(what);
    format.check(what)?;
    let frame = format.frame_bytes();
    if !bytes.len().is_multiple_of(frame) {
        return Err(Error::audio(
            path,
            format!(
                "{} bytes is not a whole number of {frame}-byte frames",
                bytes.len()
            ),
        ));
    }
    let width = usize::from(format.width);
    let scale = 1.0 / (1u64 << (8 * width as u32 - 1)) as f32;
    let sample = |bytes: &[u8]| -> f32 {
        match bytes {
            [b] => (*b as i32 - 128) as f32 * scale,
            _ => {
                // Sign-extend from the top byte: shift the little-endian bytes into the top of
                // an i32, then back down.
                let mut word = [0u8; 4];
                word[4 - bytes.len()..].copy_from_slice(bytes);
                (i32::from_le_bytes(word) >> (8 * (4 - bytes.len()))) as f32 * scale
            }
        }
    };
    let frames = (bytes.len() / frame) as u64;
    let mut to = convert::ToMono16k::new(path, format.rate, format.channels, Some(frames), limits)?;
    // A second of frames at a time: the converter's input buffer stays small.
    let mut piece = Vec::new();
    for block in bytes.chunks(frame * format.rate as usize) {
        piece.clear();
        piece.extend(block.chunks_exact(width).map(sample));
        to.push(&piece)?;
    }
    Ok(Audio {
        samples: to.finish()?,
        source: SourceFormat {
            container: "pcm",
            codec: format!("pcm s{}", 8 * width),
            sample_rate: format.rate,
            channels: format.channels,
        },
    })
}

/// The containers recognised from their first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Container {
    Wav,
    Flac,
    Ogg,
    Mp3,
}

fn sniff(head: &[u8], path: &Path) -> Result<Container> {
    if head.is_empty() {
        return Err(Error::audio(path, "is empty (0 bytes)"));
    }
    if head.starts_with(b"RIFX") {
        return Err(Error::audio(path, "big-endian WAV (RIFX) is not supported"));
    }
    if head.starts_with(b"RF64") {
        return Err(Error::audio(path, "RF64 WAV is not supported"));
    }
    if head.starts_with(b"RIFF") {
        Ok(Container::Wav)
    } else if head.starts_with(b"fLaC") {
        Ok(Container::Flac)
    } else if head.starts_with(b"OggS") {
        Ok(Container::Ogg)
    } else if head.starts_with(b"ID3")
        || (head.len() >= 2 && head[0] == 0xFF && head[1] & 0xE0 == 0xE0)
    {
        Ok(Container::Mp3)
    } else {
        Err(Error::audio(
            path,
            "not a recognised audio file (expected WAV, MP3, FLAC or Ogg Vorbis data)",
        ))
    }
}

/// Decode `input` (`len` bytes, read from its start) by its container.
fn decode<R>(mut input: R, len: u64, path: &Path, limits: &AudioLimits) -> Result<Audio>
where
    R: symphonia::core::io::MediaSource + 'static,
{
    let read_error = |source| Error::ReadInput {
        path: path.to_path_buf(),
        source,
    };
    let mut head = Vec::new();
    (&mut input)
        .take(HEAD_BYTES.min(len))
        .read_to_end(&mut head)
        .map_err(read_error)?;
    input.seek(SeekFrom::Start(0)).map_err(read_error)?;
    match sniff(&head, path)? {
        Container::Wav => wav::decode(input, &head, len, path, limits),
        container => compressed::decode(Box::new(input), container, path, limits),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pcm(bytes: &[u8], rate: u32, width: u16, channels: u16) -> Result<Audio> {
        let format = PcmFormat {
            rate,
            width,
            channels,
        };
        from_pcm(bytes, format, "chunk", &AudioLimits::default())
    }

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
            let audio = pcm(&bytes, 16_000, width, 1).unwrap();
            assert_eq!(audio.samples, vec![-1.0, 0.5], "width {width}");
        }
        // Stereo averages its channels; 8 kHz doubles in length.
        let stereo = [1000i16, 3000, -1000, -3000].map(i16::to_le_bytes).concat();
        let mono = pcm(&stereo, 16_000, 2, 2).unwrap();
        assert_eq!(mono.samples, vec![2000.0 / 32768.0, -2000.0 / 32768.0]);
        let slow = pcm(&vec![0u8; 1600], 8_000, 2, 1).unwrap();
        assert_eq!(slow.samples.len(), 1600);
        for (bytes, width, channels, why) in [
            (vec![0u8; 3], 2, 1, "whole number"),
            (vec![0u8; 4], 5, 1, "sample width 5"),
            (vec![], 2, 1, "no audio"),
            (vec![0u8; 4], 2, 33, "33 channels"),
        ] {
            let e = pcm(&bytes, 16_000, width, channels).unwrap_err();
            assert!(e.to_string().contains(why), "{e}");
        }
        let long = from_pcm(
            &vec![0u8; 32_002],
            PcmFormat {
                rate: 16_000,
                width: 2,
                channels: 1,
            },
            "chunk",
            &AudioLimits::max_seconds_of(1.0),
        );
        assert!(
            matches!(
                long,
                Err(Error::AudioTooLong {
                    seconds: Some(_),
                    ..
                })
            ),
            "{long:?}"
        );
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
