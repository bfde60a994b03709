//! mp3, flac and ogg/vorbis decoding through symphonia.

use std::io::Cursor;
use std::path::Path;

use symphonia::core::codecs::audio::AudioDecoderOptions;
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, TrackType};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;

use super::{Decoded, SourceFormat};
use crate::error::{Error, Result};

/// Recognise a compressed container from its first bytes.
fn sniff(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"fLaC") {
        Some("flac")
    } else if bytes.starts_with(b"OggS") {
        Some("ogg")
    } else if bytes.starts_with(b"ID3")
        || (bytes.len() >= 2 && bytes[0] == 0xFF && bytes[1] & 0xE0 == 0xE0)
    {
        Some("mp3")
    } else {
        None
    }
}

pub(super) fn decode(bytes: Vec<u8>, path: &Path) -> Result<Decoded> {
    let Some(container) = sniff(&bytes) else {
        return Err(Error::audio(
            path,
            "not a recognised audio file (expected WAV, MP3, FLAC or Ogg Vorbis data)",
        ));
    };
    let failed = |what: &str, e: SymphoniaError| Error::audio(path, format!("{what}: {e}"));
    let mut hint = Hint::new();
    hint.with_extension(container);
    let stream = MediaSourceStream::new(Box::new(Cursor::new(bytes)), Default::default());
    let mut format = symphonia::default::get_probe()
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
    let track_id = track.id;
    let params = track
        .codec_params
        .as_ref()
        .and_then(|p| p.audio())
        .ok_or_else(|| Error::audio(path, "the audio track has no codec parameters"))?;
    let mut decoder = symphonia::default::get_codecs()
        .make_audio_decoder(params, &AudioDecoderOptions::default())
        .map_err(|e| failed("unsupported codec", e))?;

    let mut interleaved = Vec::new();
    let mut frame = Vec::new();
    let mut spec: Option<(u32, u16)> = None;
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
                match spec {
                    None => spec = Some(this),
                    Some(first) if first != this => {
                        return Err(Error::audio(
                            path,
                            format!(
                                "the stream changes from {} Hz/{} ch to {} Hz/{} ch mid-file",
                                first.0, first.1, this.0, this.1
                            ),
                        ));
                    }
                    Some(_) => {}
                }
                buffer.copy_to_vec_interleaved(&mut frame);
                interleaved.extend_from_slice(&frame);
            }
            // A damaged packet is skipped, as every player does, and counted in a warning.
            Err(SymphoniaError::DecodeError(_)) => bad_packets += 1,
            Err(e) => return Err(failed("cannot decode", e)),
        }
    }
    if bad_packets > 0 {
        if bad_packets == packets {
            return Err(Error::audio(
                path,
                format!("none of its {packets} packets could be decoded; the file is corrupt"),
            ));
        }
        tracing::warn!(
            "{}: skipped {bad_packets} of {packets} damaged packets",
            path.display()
        );
    }
    let Some((sample_rate, channels)) = spec else {
        return Err(Error::audio(path, "contains no audio samples"));
    };
    let codec = match container {
        "ogg" => "vorbis",
        other => other,
    };
    Ok(Decoded {
        interleaved,
        format: SourceFormat {
            container,
            codec: codec.to_string(),
            sample_rate,
            channels,
        },
    })
}
