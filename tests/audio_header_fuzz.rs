//! Structure-aware header fuzzing of the audio decoders, inside one process whose address space
//! is limited to 1 GiB (set first thing in `main`, before any other thread starts; this target
//! has its own harness, Cargo.toml `harness = false`, so the limit covers exactly it).
//!
//! For every numeric header field of WAV, FLAC, Ogg Vorbis and MP3 seeds (tests/common/hostile.rs
//! names them: sizes, rates, channels, sample widths, sample counts, block sizes, granule
//! positions, codebook dimensions, Xing and ID3 sizes), extreme values one field at a time (0, 1,
//! the field's maximum and its neighbours, its midpoint, the rate and channel edges), then random
//! combinations of several fields; checksums that would hide a change from the parser behind
//! them are recomputed. Every case is decoded with a 60 s limit and must end as `Ok` holding at
//! most 60 s of finite samples, or as an input-data error naming the file, within 10 s. A panic,
//! an abort, an allocation failure or a slow case fails the run.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::hostile::{self, Checksum, Field};
use npu_whisper::ErrorKind;
use npu_whisper::audio::{self, AudioLimits};

const ADDRESS_SPACE: u64 = 1 << 30;
const LIMIT_S: f64 = 60.0;
const CASE_TIME: Duration = Duration::from_secs(10);

fn main() {
    limit_address_space(ADDRESS_SPACE);
    let started = Instant::now();
    let mut run = Run::default();
    for seed in seeds() {
        fuzz(&seed, &mut run);
    }
    let peak_mib = peak_rss_kib() as f64 / 1024.0;
    println!(
        "audio header fuzz: {} cases under a {} MiB address-space limit, {} decoded, {} refused, \
         slowest {:.2} s ({}), peak RSS {peak_mib:.0} MiB, {:.1} s in all",
        run.cases,
        ADDRESS_SPACE >> 20,
        run.decoded,
        run.refused,
        run.slowest.as_secs_f64(),
        run.slowest_case,
        started.elapsed().as_secs_f64()
    );
    if !run.failures.is_empty() {
        for failure in &run.failures {
            eprintln!("FAILED {failure}");
        }
        std::process::exit(1);
    }
}

fn limit_address_space(bytes: u64) {
    let limit = libc::rlimit {
        rlim_cur: bytes,
        rlim_max: bytes,
    };
    // SAFETY: setrlimit reads the struct it is given and nothing else.
    let status = unsafe { libc::setrlimit(libc::RLIMIT_AS, &limit) };
    assert_eq!(status, 0, "setrlimit(RLIMIT_AS)");
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// A valid file and the header fields to vary in it.
struct Seed {
    name: &'static str,
    bytes: Vec<u8>,
    fields: Vec<(Field, Checksum)>,
}

fn seeds() -> Vec<Seed> {
    let fixtures = common::fixture("");
    let read = |name: &str| std::fs::read(fixtures.join("audio").join(name)).unwrap();
    let wav_stereo24 = hostile::wav(
        &hostile::WavHeader {
            bits: 24,
            ..hostile::WavHeader::pcm16(44_100, 2)
        },
        &vec![1u8; 44_100 * 6],
    );
    let wav_float = hostile::wav(
        &hostile::WavHeader {
            tag: 3,
            bits: 32,
            ..hostile::WavHeader::pcm16(8_000, 1)
        },
        &[0.25f32.to_le_bytes(); 8_000].concat(),
    );
    let flac = hostile::flac_silence(
        &hostile::FlacInfo {
            rate: 16_000,
            channels: 1,
            bits: 16,
            total_samples: 8 * 4096,
            block_size: 4096,
        },
        8,
    );
    let ogg = read("speech_espeak_16k.ogg");
    let ogg_fields = hostile::ogg_fields(&hostile::OggPages::parse(&ogg));
    let mp3 = read("speech_espeak_16k.mp3");
    let xing = hostile::mp3_with_xing(&mp3, 100);
    // The Xing tag's frame count: after the 4-byte header, 9 bytes of MPEG-2 mono side
    // information, "Xing" and its flags.
    let xing_frames = vec![(field_be("xing frames", 21 * 8, 32), Checksum::None)];
    let flac_speech = read("speech_espeak_16k.flac");
    // The speech FLAC's STREAMINFO (its frames come after other metadata blocks).
    let streaminfo: Vec<(Field, Checksum)> = hostile::flac_fields().into_iter().take(10).collect();
    vec![
        Seed {
            name: "pcm16_mono.wav",
            bytes: hostile::wav_tone(16_000, 2.0),
            fields: hostile::wav_fields(),
        },
        Seed {
            name: "pcm24_stereo.wav",
            bytes: wav_stereo24,
            fields: hostile::wav_fields(),
        },
        Seed {
            name: "float.wav",
            bytes: wav_float,
            fields: hostile::wav_fields(),
        },
        Seed {
            name: "silence.flac",
            bytes: flac,
            fields: hostile::flac_fields(),
        },
        Seed {
            name: "speech.flac",
            bytes: flac_speech,
            fields: streaminfo,
        },
        Seed {
            name: "speech.ogg",
            bytes: ogg,
            fields: ogg_fields,
        },
        Seed {
            name: "speech.mp3",
            bytes: mp3.clone(),
            fields: hostile::mp3_fields(),
        },
        Seed {
            name: "xing.mp3",
            bytes: xing,
            fields: xing_frames,
        },
        Seed {
            name: "id3.mp3",
            bytes: hostile::with_id3(&mp3),
            fields: hostile::id3_fields(),
        },
    ]
}

fn field_be(name: &str, bit: usize, width: u32) -> Field {
    Field {
        name: name.into(),
        bit,
        width,
        little_endian: false,
    }
}

/// The values tried in a field: its extremes and the edges the decoders care about.
fn extremes(field: &Field, random: &mut impl FnMut() -> u64) -> Vec<u64> {
    let max = field.max();
    let mut values = vec![0, 1, 2, 3, max, max - 1, max >> 1, (max >> 1) + 1];
    for edge in [
        7,
        8,
        24,
        32,
        33,
        64,
        255,
        256,
        999,
        1_000,
        8_000,
        16_000,
        65_535,
        65_536,
        384_000,
        384_001,
        655_350,
        99_999_989,
        0x7FFF_FFFF,
        0x8000_0000,
        4_294_967_291,
    ] {
        if edge <= max {
            values.push(edge);
        }
    }
    for _ in 0..4 {
        values.push(random() & max);
    }
    values.sort_unstable();
    values.dedup();
    values
}

#[derive(Default)]
struct Run {
    cases: usize,
    decoded: usize,
    refused: usize,
    slowest: Duration,
    slowest_case: String,
    failures: Vec<String>,
}

fn fuzz(seed: &Seed, run: &mut Run) {
    let mut state = 0x9E37_79B9_7F4A_7C15u64 ^ seed.bytes.len() as u64;
    let mut random = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let value_sets: Vec<Vec<u64>> = seed
        .fields
        .iter()
        .map(|(field, _)| extremes(field, &mut random))
        .collect();
    // One field at a time, every extreme.
    for ((field, checksum), values) in seed.fields.iter().zip(&value_sets) {
        for &value in values {
            let mut bytes = seed.bytes.clone();
            if field.set(&mut bytes, value) {
                checksum.fix(&mut bytes);
                let case = format!("{}: {} = {value}", seed.name, field.name);
                decode_case(bytes, seed.name, &case, run);
            }
        }
    }
    // Several fields at once.
    for _ in 0..300 {
        let mut bytes = seed.bytes.clone();
        let mut what = Vec::new();
        for _ in 0..2 + random() % 3 {
            let index = (random() as usize) % seed.fields.len();
            let (field, checksum) = &seed.fields[index];
            let values = &value_sets[index];
            let value = values[(random() as usize) % values.len()];
            if field.set(&mut bytes, value) {
                checksum.fix(&mut bytes);
                what.push(format!("{} = {value}", field.name));
            }
        }
        let case = format!("{}: {}", seed.name, what.join(", "));
        decode_case(bytes, seed.name, &case, run);
    }
}

fn decode_case(bytes: Vec<u8>, name: &str, case: &str, run: &mut Run) {
    run.cases += 1;
    let started = Instant::now();
    let outcome = std::panic::catch_unwind(|| {
        audio::decode_bytes(
            bytes,
            Path::new(name),
            &AudioLimits::max_seconds_of(LIMIT_S),
        )
    });
    let took = started.elapsed();
    if took > run.slowest {
        run.slowest = took;
        run.slowest_case = case.to_string();
    }
    if took > CASE_TIME {
        run.failures.push(format!("{case}: took {took:?}"));
    }
    match outcome {
        Err(_) => run.failures.push(format!("{case}: panicked")),
        Ok(Ok(audio)) => {
            run.decoded += 1;
            let most = (LIMIT_S * 16_000.0) as usize + 1;
            if audio.samples.len() > most {
                run.failures.push(format!(
                    "{case}: {} samples decoded past the limit",
                    audio.samples.len()
                ));
            }
            if audio.samples.iter().any(|s| !s.is_finite()) {
                run.failures.push(format!("{case}: a sample is not finite"));
            }
        }
        Ok(Err(e)) => {
            run.refused += 1;
            if e.kind() != ErrorKind::InvalidInput || !e.to_string().contains(name) {
                run.failures.push(format!("{case}: {:?}: {e}", e.kind()));
            }
            if e.to_string().contains('\n') {
                run.failures
                    .push(format!("{case}: a message of several lines: {e}"));
            }
        }
    }
}
