//! `transcribe` against faster-whisper on the same original weights, from
//! `scripts/make-transcript-fixtures.py` (faster-whisper 1.2, CTranslate2 float32, no
//! conditioning on previous text): token and segment-time parity of the exact path (`--precision
//! f32`) greedy and with beam 5, word error rates of the default path, npu-sim against the CPU,
//! and the command's contract (stdout, formats, errors).

#[path = "../common/mod.rs"]
mod common;
mod contract;
mod fixtures;
mod parity;
mod vad;
mod words;
