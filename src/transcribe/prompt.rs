//! Each window's prompt, as faster-whisper's `get_prompt` builds it:
//! `[<|startofprev|>, hotwords..., previous text...]` when there is previous text or hotwords,
//! then the start-of-transcript sequence (start, language, task), then `<|notimestamps|>` when
//! decoding without timestamps. The previous text is the initial prompt and, with
//! `condition_on_previous_text`, the tokens of the segments emitted since the last reset, at
//! most the last 223.

use super::Decoding;
use crate::error::{Error, Result};

/// The parts of every window's prompt that do not change during a transcription.
pub struct Prompts {
    /// Start, language and task tokens.
    sot_sequence: Vec<u32>,
    /// `" " + initial_prompt`, encoded: the previous text before the first window.
    pub initial: Vec<u32>,
    /// `" " + hotwords`, encoded and cut to fit.
    hotwords: Option<Vec<u32>>,
    sot_prev: u32,
    /// `<|notimestamps|>` when decoding without timestamps.
    no_timestamps: Option<u32>,
    /// Half the decoder's context: the previous text keeps at most this minus one token.
    half_context: usize,
}

impl Prompts {
    pub fn new(t: &Decoding, sot_sequence: &[u32]) -> Result<Self> {
        let o = &t.options;
        let encode = |text: &str| {
            t.tokenizer
                .encode(&format!(" {}", text.trim()))
                .map_err(|why| Error::model("tokenizer.json", why))
        };
        let half_context = t.decoder.max_positions / 2;
        let initial = match &o.initial_prompt {
            Some(text) => encode(text)?,
            None => Vec::new(),
        };
        let hotwords = match &o.hotwords {
            Some(text) => {
                let mut tokens = encode(text)?;
                if tokens.len() >= half_context {
                    tokens.truncate(half_context - 1);
                }
                Some(tokens)
            }
            None => None,
        };
        Ok(Prompts {
            sot_sequence: sot_sequence.to_vec(),
            initial,
            hotwords,
            sot_prev: t.tokenizer.specials.sot_prev,
            no_timestamps: o
                .without_timestamps
                .then_some(t.tokenizer.specials.no_timestamps),
            half_context,
        })
    }

    /// The prompt of a window conditioned on `previous` tokens.
    pub fn for_window(&self, previous: &[u32]) -> Vec<u32> {
        let mut prompt = Vec::new();
        if !previous.is_empty() || self.hotwords.is_some() {
            prompt.push(self.sot_prev);
            if let Some(hotwords) = &self.hotwords {
                prompt.extend_from_slice(hotwords);
            }
            let keep = self.half_context - 1;
            prompt.extend_from_slice(&previous[previous.len().saturating_sub(keep)..]);
        }
        prompt.extend_from_slice(&self.sot_sequence);
        prompt.extend(self.no_timestamps);
        prompt
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prompts(hotwords: Option<Vec<u32>>, no_timestamps: Option<u32>) -> Prompts {
        Prompts {
            sot_sequence: vec![100, 101, 102],
            initial: Vec::new(),
            hotwords,
            sot_prev: 99,
            no_timestamps,
            half_context: 5,
        }
    }

    #[test]
    fn prompts_are_faster_whispers() {
        assert_eq!(prompts(None, None).for_window(&[]), [100, 101, 102]);
        assert_eq!(prompts(None, Some(7)).for_window(&[]), [100, 101, 102, 7]);
        // The previous text keeps its last half_context - 1 tokens.
        assert_eq!(
            prompts(None, None).for_window(&[1, 2, 3, 4, 5, 6]),
            [99, 3, 4, 5, 6, 100, 101, 102]
        );
        assert_eq!(
            prompts(Some(vec![8, 9]), None).for_window(&[1]),
            [99, 8, 9, 1, 100, 101, 102]
        );
        assert_eq!(
            prompts(Some(vec![8]), None).for_window(&[]),
            [99, 8, 100, 101, 102]
        );
    }
}
