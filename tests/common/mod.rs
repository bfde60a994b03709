//! Helpers shared by the integration tests (and the unit tests in src/tests/): fixture paths and a reader for the committed
//! gzip-compressed float32 `.npy` references.
#![allow(dead_code)]

pub mod hostile;

use std::io::Read;
use std::path::{Path, PathBuf};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A fixture the published `.crate` leaves out to stay small (Cargo.toml `exclude`: the
/// CTranslate2 encoder references). From an unpacked package (which has `Cargo.toml.orig`):
/// `None`, after saying so on stderr, and the caller skips. In a checkout a missing file is a
/// failure, never a skip.
pub fn large_fixture(rel: &str) -> Option<PathBuf> {
    let path = fixture(rel);
    if path.exists() {
        return Some(path);
    }
    assert!(
        root().join("Cargo.toml.orig").exists(),
        "{} is missing",
        path.display()
    );
    eprintln!(
        "skipped: tests/fixtures/{rel} is not in the published package (large fixtures are \
         excluded); run this test from a git checkout"
    );
    None
}

pub fn fixture(rel: &str) -> PathBuf {
    root().join("tests/fixtures").join(rel)
}

/// The committed vocabulary (tokenizer and generation config) a random model of `size` takes:
/// English-only for the `.en` sizes, multilingual otherwise (`tests/fixtures/vocabulary/`).
pub fn vocabulary(size: &str) -> PathBuf {
    fixture(if size.ends_with(".en") {
        "vocabulary/english"
    } else {
        "vocabulary/multilingual"
    })
}

/// A committed sample recording (`assets/samples/`: jfk.wav, jfk.mp3).
pub fn sample(name: &str) -> PathBuf {
    let path = root().join("assets/samples").join(name);
    assert!(path.exists(), "{} is missing", path.display());
    path
}

/// A float32 array read from `.npy` bytes: (shape, values).
pub fn parse_npy(bytes: &[u8]) -> (Vec<usize>, Vec<f32>) {
    assert_eq!(&bytes[..6], b"\x93NUMPY", "npy magic");
    let (header_len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        _ => (
            u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize,
            12,
        ),
    };
    let header = std::str::from_utf8(&bytes[start..start + header_len]).unwrap();
    assert!(header.contains("'descr': '<f4'"), "{header}");
    assert!(header.contains("'fortran_order': False"), "{header}");
    let shape_text = header
        .split("'shape': (")
        .nth(1)
        .unwrap()
        .split(')')
        .next()
        .unwrap();
    let shape: Vec<usize> = shape_text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    let values: Vec<f32> = bytes[start + header_len..]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(values.len(), shape.iter().product::<usize>(), "npy size");
    (shape, values)
}

pub fn read_npy_gz(path: &Path) -> (Vec<usize>, Vec<f32>) {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(file)
        .read_to_end(&mut bytes)
        .unwrap();
    parse_npy(&bytes)
}

/// (max abs difference, mean abs difference).
pub fn abs_diff(a: &[f32], b: &[f32]) -> (f32, f64) {
    assert_eq!(a.len(), b.len(), "lengths differ");
    let mut max = 0.0f32;
    let mut sum = 0.0f64;
    for (x, y) in a.iter().zip(b) {
        let d = (x - y).abs();
        max = max.max(d);
        sum += d as f64;
    }
    (max, sum / a.len() as f64)
}

/// Cosine similarity of two outputs, accumulated in f64.
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
    let na: f64 = a.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    dot / (na * nb)
}

/// Deterministic mutations of `seed` for parser fuzzing: random byte overwrites, little-endian
/// u32/u64 fields set to extreme values (the lengths and counts headers are made of),
/// truncations, insertions and repeated ranges. The same `count` always gives the same inputs.
#[allow(dead_code)]
pub fn mutations(seed: &[u8], count: usize) -> Vec<Vec<u8>> {
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..count)
        .map(|_| {
            let mut b = seed.to_vec();
            for _ in 0..1 + next() % 3 {
                let len = b.len().max(1);
                let at = (next() as usize) % len;
                match next() % 6 {
                    0 => {
                        for i in at..(at + 1 + (next() % 4) as usize).min(b.len()) {
                            b[i] = next() as u8;
                        }
                    }
                    1 if at + 4 <= b.len() => {
                        let v: u32 =
                            [0, 1, 0x7FFF_FFFF, 0xFFFF_FFFF, 0x8000_0000][(next() % 5) as usize];
                        b[at..at + 4].copy_from_slice(&v.to_le_bytes());
                    }
                    2 if at + 8 <= b.len() => {
                        let v: u64 = [0, u64::MAX, 1 << 40, 1 << 62][(next() % 4) as usize];
                        b[at..at + 8].copy_from_slice(&v.to_le_bytes());
                    }
                    3 => b.truncate(at),
                    4 => {
                        let junk: Vec<u8> = (0..1 + next() % 16).map(|_| next() as u8).collect();
                        b.splice(at..at, junk);
                    }
                    _ => {
                        let end = (at + 1 + (next() % 64) as usize).min(b.len());
                        let piece = b[at..end].to_vec();
                        b.splice(at..at, piece);
                    }
                }
            }
            b
        })
        .collect()
}
