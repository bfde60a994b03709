//! Whisper's tokenizer, read from a Hugging Face `tokenizer.json`: the byte-level BPE vocabulary
//! (ids to bytes; transcription only ever turns ids into text), the special tokens, and the
//! timestamp tokens that follow them (`<|0.00|>` ... `<|30.00|>`, 20 ms apart).

mod encode;

use std::collections::HashMap;
use std::path::Path;
use std::sync::OnceLock;

use crate::error::{Error, Result};

/// Seconds per timestamp token step.
pub const TIMESTAMP_SECONDS: f64 = 0.02;

/// Ids of the special tokens decoding needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Specials {
    pub eot: u32,
    pub sot: u32,
    pub sot_prev: u32,
    pub sot_lm: u32,
    pub transcribe: u32,
    pub translate: u32,
    /// `<|nocaptions|>` (called no_speech in OpenAI's code).
    pub no_speech: u32,
    pub no_timestamps: u32,
    /// The first timestamp token, `<|0.00|>`.
    pub timestamp_begin: u32,
}

/// Ids to text, and text to ids, for one model's vocabulary.
#[derive(Debug)]
pub struct Tokenizer {
    /// The bytes of every ordinary (BPE) token, by id.
    bytes: Vec<Vec<u8>>,
    /// Special tokens by content (`<|en|>` -> 50259).
    special_ids: HashMap<String, u32>,
    pub specials: Specials,
    /// `tokenizer.json` itself: its merges are read the first time text is encoded (prompts),
    /// not at every start (50,000 pairs).
    source: String,
    encoder: OnceLock<std::result::Result<encode::Encoder, String>>,
}

impl Tokenizer {
    /// Read `tokenizer.json`. Corrupt or unexpected files are an `Error::Model` naming the file.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::ReadInput {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_json(&text).map_err(|why| Error::model(path, why))
    }

    /// Parse the text of a `tokenizer.json`.
    ///
    /// Kept whole: one pass over `tokenizer.json` (vocabulary, added tokens, the timestamps placed
    /// after the last special token, where the ordinary tokens end), each part checked where it is
    /// read.
    pub fn from_json(text: &str) -> std::result::Result<Self, String> {
        // Typed, so that the 50,000 merges are skipped rather than built into values.
        #[derive(serde::Deserialize)]
        struct File {
            model: BpeModel,
            #[serde(default)]
            added_tokens: Vec<Added>,
        }
        #[derive(serde::Deserialize)]
        struct BpeModel {
            #[serde(rename = "type")]
            kind: String,
            #[serde(default)]
            vocab: HashMap<String, serde_json::Value>,
        }
        #[derive(serde::Deserialize)]
        struct Added {
            id: Option<u64>,
            content: Option<String>,
        }
        let file: File =
            serde_json::from_str(text).map_err(|e| format!("not a tokenizer.json: {e}"))?;
        if file.model.kind != "BPE" {
            return Err(format!(
                "tokenizer model type {:?}, expected BPE",
                file.model.kind
            ));
        }
        let unicode_to_byte = unicode_to_byte();
        let mut bytes: Vec<Vec<u8>> = Vec::new();
        for (token, id) in &file.model.vocab {
            let id = id.as_u64().filter(|&id| id < 1 << 20).ok_or_else(|| {
                format!("vocabulary entry {token:?} has id {id}, not a small integer")
            })? as usize;
            let token_bytes = token
                .chars()
                .map(|c| unicode_to_byte.get(&c).copied())
                .collect::<Option<Vec<u8>>>()
                .ok_or_else(|| format!("vocabulary entry {token:?} is not byte-level BPE"))?;
            if bytes.len() <= id {
                bytes.resize(id + 1, Vec::new());
            }
            bytes[id] = token_bytes;
        }
        let mut special_ids = HashMap::new();
        for added in file.added_tokens {
            let (Some(id), Some(content)) = (added.id, added.content) else {
                return Err("an added_tokens entry lacks id or content".into());
            };
            special_ids.insert(content, id as u32);
        }
        let find = |name: &str| {
            special_ids
                .get(name)
                .copied()
                .ok_or_else(|| format!("tokenizer.json lacks the special token {name}"))
        };
        let no_timestamps = find("<|notimestamps|>")?;
        let specials = Specials {
            eot: find("<|endoftext|>")?,
            sot: find("<|startoftranscript|>")?,
            sot_prev: find("<|startofprev|>")?,
            sot_lm: find("<|startoflm|>")?,
            transcribe: find("<|transcribe|>")?,
            translate: find("<|translate|>")?,
            no_speech: find("<|nocaptions|>").or_else(|_| find("<|nospeech|>"))?,
            no_timestamps,
            // Newer tokenizer.json files list the timestamps as added tokens; older ones do not,
            // and OpenAI's code puts them right after the last special token.
            timestamp_begin: find("<|0.00|>").unwrap_or(no_timestamps + 1),
        };
        // Ordinary tokens end where the special tokens begin.
        bytes.truncate(specials.eot as usize);
        Ok(Tokenizer {
            bytes,
            special_ids,
            specials,
            source: text.to_string(),
            encoder: OnceLock::new(),
        })
    }

    /// The id of a special token such as `<|en|>`.
    pub fn special(&self, content: &str) -> Option<u32> {
        self.special_ids.get(content).copied()
    }

    #[cfg(test)]
    /// True for the ordinary text tokens (not special, not timestamps).
    pub fn is_text(&self, id: u32) -> bool {
        id < self.specials.eot
    }

    #[cfg(test)]
    /// True for timestamp tokens.
    pub fn is_timestamp(&self, id: u32) -> bool {
        id >= self.specials.timestamp_begin
    }

    #[cfg(test)]
    /// Seconds of a timestamp token.
    pub fn timestamp_seconds(&self, id: u32) -> f64 {
        (id - self.specials.timestamp_begin) as f64 * TIMESTAMP_SECONDS
    }

    /// The ids of `text` as the model's byte-level BPE encodes it (GPT-2's pre-tokenizer,
    /// then the merges in rank order), with no special tokens added: faster-whisper's
    /// `tokenizer.encode(text)` for prompts and hotwords.
    pub fn encode(&self, text: &str) -> std::result::Result<Vec<u32>, String> {
        let encoder = self
            .encoder
            .get_or_init(|| encode::Encoder::from_json(&self.source, &self.bytes));
        encoder
            .as_ref()
            .map_err(Clone::clone)
            .map(|e| e.encode(text))
    }

    /// The text of the ordinary tokens among `ids` (special and timestamp tokens are skipped), as
    /// UTF-8; a character split across tokens is joined, an incomplete one is replaced by U+FFFD.
    pub fn decode(&self, ids: &[u32]) -> String {
        let mut out = Vec::new();
        for &id in ids {
            if let Some(b) = self.bytes.get(id as usize) {
                out.extend_from_slice(b);
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

/// GPT-2's byte-level alphabet inverted: the byte each vocabulary character stands for.
fn unicode_to_byte() -> HashMap<char, u8> {
    encode::byte_chars()
        .iter()
        .enumerate()
        .map(|(b, &c)| (c, b as u8))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny_tokenizer() -> Tokenizer {
        // Ids 0-3 ordinary ("Ġ" is the space byte, "Ã©" the two bytes of "é"), then specials.
        let json = r#"{
          "model": {"type": "BPE", "vocab": {"Hello": 0, "Ġworld": 1, "Ã": 2, "©": 3}, "merges": []},
          "added_tokens": [
            {"id": 4, "content": "<|endoftext|>"}, {"id": 5, "content": "<|startoftranscript|>"},
            {"id": 6, "content": "<|en|>"}, {"id": 7, "content": "<|translate|>"},
            {"id": 8, "content": "<|transcribe|>"}, {"id": 9, "content": "<|startoflm|>"},
            {"id": 10, "content": "<|startofprev|>"}, {"id": 11, "content": "<|nocaptions|>"},
            {"id": 12, "content": "<|notimestamps|>"}
          ]
        }"#;
        Tokenizer::from_json(json).unwrap()
    }

    #[test]
    fn decodes_byte_level_tokens_and_skips_special_and_timestamp_tokens() {
        let t = tiny_tokenizer();
        assert_eq!(t.decode(&[5, 6, 8, 13, 0, 1, 2, 3, 14, 4]), "Hello worldé");
        // Half of a two-byte character is replaced, not dropped silently.
        assert_eq!(t.decode(&[0, 2]), "Hello\u{FFFD}");
        assert_eq!(t.specials.timestamp_begin, 13);
        assert!(t.is_timestamp(13) && !t.is_text(13) && t.is_text(3));
        assert!((t.timestamp_seconds(13 + 150) - 3.0).abs() < 1e-12);
        assert_eq!(t.special("<|en|>"), Some(6));
    }

    #[test]
    fn the_byte_alphabet_is_a_bijection() {
        let map = unicode_to_byte();
        assert_eq!(map.len(), 256);
        let mut bytes: Vec<u8> = map.values().copied().collect();
        bytes.sort_unstable();
        bytes.dedup();
        assert_eq!(bytes.len(), 256);
        assert_eq!(map[&'Ġ'], b' ');
        assert_eq!(map[&'Ċ'], b'\n');
    }

    #[test]
    fn malformed_files_are_refused_with_the_reason() {
        for (json, why) in [
            ("{", "not a tokenizer.json"),
            (r#"{"model": {"type": "WordPiece"}}"#, "expected BPE"),
            (r#"{"added_tokens": []}"#, "not a tokenizer.json"),
            (
                r#"{"model": {"type": "BPE", "vocab": {"a": -1}}}"#,
                "not a small integer",
            ),
            (
                r#"{"model": {"type": "BPE", "vocab": {"a\u0001": 0}}}"#,
                "not byte-level",
            ),
            (
                r#"{"model": {"type": "BPE", "vocab": {}}}"#,
                "lacks the special token",
            ),
        ] {
            let err = Tokenizer::from_json(json).unwrap_err();
            assert!(err.contains(why), "{json}: {err}");
        }
    }
}
