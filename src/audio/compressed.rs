//! mp3, flac and ogg/vorbis decoding through symphonia.

use std::path::Path;

use symphonia::core::codecs::audio::{AudioDecoder, AudioDecoderOptions};
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, FormatReader, TrackType};
use symphonia::core::io::{MediaSource, MediaSourceStream};
use symphonia::core::meta::MetadataOptions;

use super::convert::ToMono16k;
use super::{Audio, AudioLimits, Container, SourceFormat};
use crate::error::{Error, Result};

/// A container's audio track and a decoder for it.
struct Opened {
    format: Box<dyn FormatReader>,
    decoder: Box<dyn AudioDecoder>,
    track_id: u32,
    /// Frames the header claims, if it says.
    claimed_frames: Option<u64>,
}

/// Probe the container, find its audio track and make its decoder, after checking the rate and
/// channels the header claims: the decoder sizes its buffers from them.
fn open(source: Box<dyn MediaSource>, container: &str, path: &Path) -> Result<Opened> {
    let failed = |what: &str, e: SymphoniaError| Error::audio(path, format!("{what}: {e}"));
    let mut hint = Hint::new();
    hint.with_extension(container);
    let stream = MediaSourceStream::new(source, Default::default());
    let format = symphonia::default::get_probe()
        .probe(
            &hint,
            stream,
            FormatOptions::default(),
            MetadataOptions::default(),
        )
        .map_err(|e| failed(&format!("cannot read the {container} container"), e))?;
    let track = format
        .default_track(TrackType::Audio)
        .ok_or_else(|| Error::audio(path, format!("the {container} file has no audio track")))?;
    let params = track
        .codec_params
        .as_ref()
        .and_then(|p| p.audio())
        .ok_or_else(|| Error::audio(path, "the audio track has no codec parameters"))?;
    let header_rate = params.sample_rate;
    let header_channels = params.channels.as_ref().map(|c| c.count() as u16);
    if let (Some(rate), Some(channels)) = (header_rate, header_channels) {
        super::convert::check_format(path, rate.into(), channels.into())?;
    }
    let decoder = symphonia::default::get_codecs()
        .make_audio_decoder(params, &AudioDecoderOptions::default())
        .map_err(|e| failed("unsupported codec", e))?;
    Ok(Opened {
        track_id: track.id,
        claimed_frames: track.num_frames,
        decoder,
        format,
    })
}

/// The converter for a stream of `this` (rate, channels): made for the first packet, and the
/// same format required of every later one.
fn converter<'a>(
    to: &'a mut Option<ToMono16k>,
    this: (u32, u16),
    path: &Path,
    claimed_frames: Option<u64>,
    limits: &AudioLimits,
) -> Result<&'a mut ToMono16k> {
    match to {
        Some(to) if to.format() != this => {
            let first = to.format();
            Err(Error::audio(
                path,
                format!(
                    "the stream changes from {} Hz/{} ch to {} Hz/{} ch mid-file",
                    first.0, first.1, this.0, this.1
                ),
            ))
        }
        Some(to) => Ok(to),
        None => Ok(to.insert(ToMono16k::new(
            path,
            this.0,
            this.1,
            claimed_frames,
            limits,
        )?)),
    }
}

/// Decode an mp3, flac or ogg/vorbis stream, converting each packet as it is decoded.
pub(super) fn decode(
    source: Box<dyn MediaSource>,
    container: Container,
    path: &Path,
    limits: &AudioLimits,
) -> Result<Audio> {
    let container = match container {
        Container::Flac => "flac",
        Container::Ogg => "ogg",
        Container::Mp3 => "mp3",
        Container::Wav => unreachable!("WAV goes through hound"),
    };
    let failed = |what: &str, e: SymphoniaError| Error::audio(path, format!("{what}: {e}"));
    let Opened {
        mut format,
        mut decoder,
        track_id,
        claimed_frames,
    } = open(source, container, path)?;
    let mut to: Option<ToMono16k> = None;
    let mut frame = Vec::new();
    let mut bad_packets = 0usize;
    let mut packets = 0usize;
    loop {
        let packet = match format.next_packet() {
            Ok(Some(packet)) => packet,
            Ok(None) => break,
            // A stream cut short ends the audio where it was cut; that is reported below.
            Err(SymphoniaError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                tracing::warn!("{}: the stream ends mid-packet", path.display());
                break;
            }
            Err(e) => return Err(failed("cannot read the stream", e)),
        };
        if packet.track_id != track_id {
            continue;
        }
        packets += 1;
        match decoder.decode(&packet) {
            Ok(buffer) => {
                let this = (
                    buffer.spec().rate(),
                    buffer.spec().channels().count() as u16,
                );
                let to = converter(&mut to, this, path, claimed_frames, limits)?;
                buffer.copy_to_vec_interleaved(&mut frame);
                to.push(&frame)?;
            }
            // A damaged packet is skipped, as every player does, and counted in a warning.
            Err(SymphoniaError::DecodeError(_)) => bad_packets += 1,
            Err(e) => return Err(failed("cannot decode", e)),
        }
    }
    report_damage(path, bad_packets, packets)?;
    let Some(to) = to else {
        return Err(Error::audio(path, "contains no audio samples"));
    };
    let (sample_rate, channels) = to.format();
    let codec = match container {
        "ogg" => "vorbis",
        other => other,
    };
    Ok(Audio {
        samples: to.finish()?,
        source: SourceFormat {
            container,
            codec: codec.to_string(),
            sample_rate,
            channels,
        },
    })
}

/// Damaged packets are skipped, as every player does, and counted in a warning; a file of
/// nothing else is corrupt.
fn report_damage(path: &Path, bad_packets: usize, packets: usize) -> Result<()> {
    if bad_packets > 0 && bad_packets == packets {
        return Err(Error::audio(
            path,
            format!("none of its {packets} packets could be decoded; the file is corrupt"),
        ));
    }
    if bad_packets > 0 {
        tracing::warn!(
            "{}: skipped {bad_packets} of {packets} damaged packets",
            path.display()
        );
    }
    Ok(())
}
