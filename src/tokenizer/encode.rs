//! Text to token ids: GPT-2's byte-level BPE as Whisper's `tokenizer.json` describes it (the
//! `ByteLevel` pre-tokenizer with its regex, no prefix space; the BPE model's merges applied in
//! rank order within each piece).

use std::collections::HashMap;

/// GPT-2's pre-tokenizer: contractions, letters, digits, other symbols, each with at most one
/// leading space, and runs of white space (the last one left to the next piece).
const PIECES: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

#[derive(Debug)]
pub struct Encoder {
    pieces: fancy_regex::Regex,
    /// Byte -> the character standing for it in the vocabulary.
    byte_char: [char; 256],
    /// Token text (byte-level characters) -> id.
    ids: HashMap<String, u32>,
    /// (left, right) -> rank of the merge (lower merges first).
    ranks: HashMap<(String, String), usize>,
}

impl Encoder {
    /// From the text of `tokenizer.json` and the vocabulary's bytes by id.
    pub fn from_json(json: &str, bytes: &[Vec<u8>]) -> Result<Self, String> {
        #[derive(serde::Deserialize)]
        struct File {
            model: Model,
        }
        #[derive(serde::Deserialize)]
        struct Model {
            #[serde(default)]
            merges: Vec<Merge>,
        }
        /// `"a b"` in older files, `["a", "b"]` in newer ones.
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum Merge {
            Joined(String),
            Pair(String, String),
        }
        let file: File =
            serde_json::from_str(json).map_err(|e| format!("tokenizer.json merges: {e}"))?;
        let mut ranks = HashMap::new();
        for (rank, merge) in file.model.merges.into_iter().enumerate() {
            let (left, right) = match merge {
                Merge::Pair(l, r) => (l, r),
                Merge::Joined(text) => {
                    let (l, r) = text
                        .split_once(' ')
                        .ok_or_else(|| format!("merge {text:?} is not a pair"))?;
                    (l.to_string(), r.to_string())
                }
            };
            ranks.entry((left, right)).or_insert(rank);
        }
        let byte_char = byte_chars();
        let ids = bytes
            .iter()
            .enumerate()
            .filter(|(_, b)| !b.is_empty())
            .map(|(id, b)| {
                (
                    b.iter().map(|&x| byte_char[x as usize]).collect(),
                    id as u32,
                )
            })
            .collect();
        Ok(Encoder {
            pieces: fancy_regex::Regex::new(PIECES).expect("a valid pattern"),
            byte_char,
            ids,
            ranks,
        })
    }

    pub fn encode(&self, text: &str) -> Vec<u32> {
        let mut out = Vec::new();
        for piece in self.pieces.find_iter(text).filter_map(|m| m.ok()) {
            let chars: String = piece
                .as_str()
                .bytes()
                .map(|b| self.byte_char[b as usize])
                .collect();
            for symbol in self.merge(&chars) {
                match self.ids.get(&symbol) {
                    Some(&id) => out.push(id),
                    // Every single byte is a token, so a symbol without an id never happens
                    // with a real vocabulary; fall back to its characters.
                    None => out.extend(
                        symbol
                            .chars()
                            .filter_map(|c| self.ids.get(&c.to_string()).copied()),
                    ),
                }
            }
        }
        out
    }

    /// The symbols of one piece after applying the merges, lowest rank first.
    fn merge(&self, piece: &str) -> Vec<String> {
        let mut symbols: Vec<String> = piece.chars().map(String::from).collect();
        loop {
            let best = symbols
                .windows(2)
                .enumerate()
                .filter_map(|(i, pair)| {
                    self.ranks
                        .get(&(pair[0].clone(), pair[1].clone()))
                        .map(|&rank| (rank, i))
                })
                .min();
            let Some((rank, _)) = best else {
                return symbols;
            };
            // Merge every occurrence of the best pair, left to right.
            let mut merged = Vec::with_capacity(symbols.len());
            let mut i = 0;
            while i < symbols.len() {
                if i + 1 < symbols.len()
                    && self
                        .ranks
                        .get(&(symbols[i].clone(), symbols[i + 1].clone()))
                        == Some(&rank)
                {
                    merged.push(format!("{}{}", symbols[i], symbols[i + 1]));
                    i += 2;
                } else {
                    merged.push(std::mem::take(&mut symbols[i]));
                    i += 1;
                }
            }
            symbols = merged;
        }
    }
}

/// GPT-2's byte-level alphabet: printable Latin-1 bytes stand for themselves, the other 68 map
/// to U+0100 onwards in order.
pub fn byte_chars() -> [char; 256] {
    let printable = |b: u8| (b'!'..=b'~').contains(&b) || (0xA1..=0xAC).contains(&b) || b >= 0xAE;
    let mut chars = ['\0'; 256];
    let mut next = 0u32;
    for b in 0..=255u8 {
        chars[b as usize] = if printable(b) {
            char::from(b)
        } else {
            next += 1;
            char::from_u32(0x100 + next - 1).expect("below U+0200")
        };
    }
    chars
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_split_as_gpt2_does() {
        let re = fancy_regex::Regex::new(PIECES).unwrap();
        let pieces: Vec<&str> = re
            .find_iter("Hello world's  2024 tests!!  ")
            .map(|m| m.unwrap().as_str())
            .collect();
        assert_eq!(
            pieces,
            ["Hello", " world", "'s", " ", " 2024", " tests", "!!", "  "]
        );
    }
}
