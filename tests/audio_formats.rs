//! Every PCM layout a user may hand in decodes to the same 16 kHz mono samples, and so to the same
//! log-mel, as the 16-bit original.

mod common;

use std::path::Path;

use common::{abs_diff, fixture, sample};
use npu_whisper::audio::{self, AudioSource};
use npu_whisper::mel::LogMel;

fn load(path: &Path) -> audio::Audio {
    audio::load(&AudioSource::File(path.to_path_buf()), &Default::default()).unwrap()
}

fn write_wav(path: &Path, channels: u16, bits: u16, float: bool, frames: &[f32]) {
    let spec = hound::WavSpec {
        channels,
        sample_rate: 16_000,
        bits_per_sample: bits,
        sample_format: if float {
            hound::SampleFormat::Float
        } else {
            hound::SampleFormat::Int
        },
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for &s in frames {
        for _ in 0..channels {
            match (float, bits) {
                (true, _) => w.write_sample(s).unwrap(),
                (false, 8) => w
                    .write_sample((s * 128.0).round().clamp(-128.0, 127.0) as i8)
                    .unwrap(),
                (false, 16) => w.write_sample((s * 32768.0) as i16).unwrap(),
                (false, 24) => w.write_sample((s * 32768.0) as i32 * 256).unwrap(),
                (false, 32) => w.write_sample((s * 32768.0) as i32 * 65536).unwrap(),
                _ => unreachable!(),
            }
        }
    }
    w.finalize().unwrap();
}

#[test]
fn wider_integer_float_and_multichannel_wav_decode_exactly_like_16_bit() {
    let original = load(&fixture("audio/speech_espeak_16k.wav"));
    let dir = tempfile::tempdir().unwrap();
    for (channels, bits, float) in [
        (1, 24, false),
        (1, 32, false),
        (1, 32, true),
        (2, 16, false),
        (6, 24, false),
    ] {
        let path = dir.path().join(format!("{channels}ch_{bits}_{float}.wav"));
        write_wav(&path, channels, bits, float, &original.samples);
        let decoded = load(&path);
        assert_eq!(decoded.source.channels, channels);
        assert_eq!(
            decoded.samples, original.samples,
            "{channels} ch, {bits}-bit, float {float}"
        );
    }
}

#[test]
fn eight_bit_wav_is_a_coarser_copy_of_the_same_speech() {
    let original = load(&fixture("audio/speech_espeak_16k.wav"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("u8.wav");
    write_wav(&path, 1, 8, false, &original.samples);
    let decoded = load(&path);
    let (max, _) = abs_diff(&decoded.samples, &original.samples);
    assert!(max <= 1.0 / 128.0, "8-bit quantisation error {max}");
}

#[test]
fn real_mp3_decodes_to_the_same_speech_as_the_wav() {
    let wav = load(&sample("jfk.wav"));
    let mp3 = load(&sample("jfk.mp3"));
    assert_eq!(mp3.source.container, "mp3");
    let seconds = mp3.duration_secs();
    assert!((seconds - 11.0).abs() < 0.2, "mp3 duration {seconds}");
    // Same speech: the log-mels agree closely on average (mp3 is lossy and may shift by its
    // encoder delay, so this is a sanity bound, not an exactness one).
    let front_end = LogMel::new(80);
    let (_, mean) = abs_diff(
        &front_end.windows(&mp3.samples),
        &front_end.windows(&wav.samples),
    );
    eprintln!("jfk.mp3 vs jfk.wav: mean |mel diff| {mean:.4}");
    assert!(mean < 0.05, "mean |mel diff| {mean}");
}

#[test]
fn a_44k_stereo_file_becomes_16k_mono_of_the_right_length() {
    let audio = load(&fixture("audio/speech_espeak_44k_stereo.wav"));
    assert_eq!(audio.source.sample_rate, 44_100);
    assert_eq!(audio.source.channels, 2);
    let reader = hound::WavReader::open(fixture("audio/speech_espeak_44k_stereo.wav")).unwrap();
    let frames = reader.duration() as usize;
    assert_eq!(audio.samples.len(), (frames * 16_000).div_ceil(44_100));
}
