//! Word timestamps as faster-whisper's `add_word_timestamps` makes them from a window's
//! alignment (`align`): tokens grouped into words (at spaces, or at character boundaries for
//! languages written without them), each word timed by the frames where its first token and
//! the next word's first token begin, punctuation merged into its neighbour, then the same
//! heuristics faster-whisper applies (over-long words at sentence ends and after pauses cut to
//! twice the median word length; a segment's start and end moved to its words').

use serde::Serialize;

use super::align::Alignment;
use crate::tokenizer::Tokenizer;

/// faster-whisper's `prepend_punctuations` default: merged into the following word.
pub const PREPEND_PUNCTUATIONS: &str = "\"'“¿([{-";
/// faster-whisper's `append_punctuations` default: merged into the preceding word.
pub const APPEND_PUNCTUATIONS: &str = "\"'.。,，!！?？:：”)]}、";
/// Python's `string.punctuation`.
const ASCII_PUNCTUATION: &str = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";
const SENTENCE_END_MARKS: &str = ".。!！?？";
/// Encoder frames per second (two mel frames of 10 ms each).
const FRAMES_PER_SECOND: f64 = 50.0;
/// Languages written without spaces between words: split at character boundaries instead.
const UNSPACED_LANGUAGES: [&str; 6] = ["zh", "ja", "th", "lo", "my", "yue"];

/// One word of a segment, in seconds on the recording's timeline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Word {
    /// The word as decoded, with its leading space and merged punctuation.
    pub word: String,
    /// Start (seconds).
    pub start: f64,
    /// End (seconds).
    pub end: f64,
    /// Mean probability of the word's tokens.
    pub probability: f64,
}

/// A piece of a window's decode being timed: its bounds (seconds, absolute), its tokens
/// (timestamps included) and, once timed, its words.
#[derive(Debug, Clone)]
pub struct Piece {
    pub start: f64,
    pub end: f64,
    pub tokens: Vec<u32>,
    pub words: Vec<Word>,
}

/// A word during timing, with its tokens and times relative to the window.
#[derive(Debug, Clone)]
struct Timing {
    word: String,
    tokens: Vec<u32>,
    start: f64,
    end: f64,
    probability: f64,
}

/// Python's `needle in haystack` for strings: substring containment (the empty string is in
/// every string), which faster-whisper's punctuation tests rely on.
fn is_within(needle: &str, haystack: &str) -> bool {
    haystack.contains(needle)
}

/// Python's `round(x, 2)` (correctly rounded, ties to even on the exact binary value, which is
/// what Rust's formatting does too).
pub(crate) fn round2(x: f64) -> f64 {
    format!("{x:.2}")
        .parse()
        .expect("a formatted number parses")
}

/// faster-whisper's `split_to_word_tokens`: the words of `tokens` (text tokens then
/// end-of-text) and each word's tokens.
fn split_to_word_tokens(
    tokenizer: &Tokenizer,
    tokens: &[u32],
    language: &str,
) -> (Vec<String>, Vec<Vec<u32>>) {
    let (subwords, subword_tokens) = split_on_unicode(tokenizer, tokens);
    if UNSPACED_LANGUAGES.contains(&language) {
        return (subwords, subword_tokens);
    }
    let eot = tokenizer.specials.eot;
    let mut words: Vec<String> = Vec::new();
    let mut word_tokens: Vec<Vec<u32>> = Vec::new();
    for (subword, tokens) in subwords.into_iter().zip(subword_tokens) {
        let special = tokens[0] >= eot;
        let with_space = subword.starts_with(' ');
        let punctuation = is_within(subword.trim(), ASCII_PUNCTUATION);
        if special || with_space || punctuation || words.is_empty() {
            words.push(subword);
            word_tokens.push(tokens);
        } else {
            words.last_mut().expect("not empty").push_str(&subword);
            word_tokens
                .last_mut()
                .expect("not empty")
                .extend_from_slice(&tokens);
        }
    }
    (words, word_tokens)
}

/// faster-whisper's `split_tokens_on_unicode`: tokens grouped so that each group decodes to
/// whole characters (a character's bytes may span tokens), except where the full text itself
/// holds a replacement character.
fn split_on_unicode(tokenizer: &Tokenizer, tokens: &[u32]) -> (Vec<String>, Vec<Vec<u32>>) {
    const REPLACEMENT: char = '\u{fffd}';
    let full: Vec<char> = tokenizer.decode(tokens).chars().collect();
    let mut words = Vec::new();
    let mut word_tokens = Vec::new();
    let mut current: Vec<u32> = Vec::new();
    let mut offset = 0;
    for &token in tokens {
        current.push(token);
        let decoded = tokenizer.decode(&current);
        let replacement_at = decoded.chars().position(|c| c == REPLACEMENT);
        let whole = match replacement_at {
            None => true,
            Some(at) => full.get(at + offset) == Some(&REPLACEMENT),
        };
        if whole {
            offset += decoded.chars().count();
            words.push(decoded);
            word_tokens.push(std::mem::take(&mut current));
        }
    }
    (words, word_tokens)
}

/// faster-whisper's `find_alignment` after CTranslate2's: each word's start and end (seconds in
/// the window) and mean token probability.
fn word_timings(
    tokenizer: &Tokenizer,
    language: &str,
    text_tokens: &[u32],
    alignment: &Alignment,
) -> Vec<Timing> {
    if text_tokens.is_empty() {
        return Vec::new();
    }
    let mut with_end = text_tokens.to_vec();
    with_end.push(tokenizer.specials.eot);
    let (words, word_tokens) = split_to_word_tokens(tokenizer, &with_end, language);
    if word_tokens.len() <= 1 {
        return Vec::new();
    }
    // Token index where each word begins, and where the last (end-of-text) begins.
    let mut boundaries = vec![0usize];
    for tokens in &word_tokens[..word_tokens.len() - 1] {
        boundaries.push(boundaries.last().expect("not empty") + tokens.len());
    }
    // The frame at which the path first reaches each token row.
    let mut jump_times = Vec::new();
    let mut previous = None;
    for &(row, frame) in &alignment.path {
        if previous != Some(row) {
            jump_times.push(frame as f64 / FRAMES_PER_SECOND);
        }
        previous = Some(row);
    }
    let probabilities = &alignment.token_probabilities;
    boundaries
        .windows(2)
        .zip(words)
        .zip(word_tokens)
        .filter_map(|((bounds, word), tokens)| {
            let (i, j) = (bounds[0], bounds[1]);
            let (&start, &end) = (jump_times.get(i)?, jump_times.get(j)?);
            let slice = probabilities.get(i..j).unwrap_or(&[]);
            let probability = if slice.is_empty() {
                f64::NAN
            } else {
                slice.iter().map(|&p| p as f64).sum::<f64>() / slice.len() as f64
            };
            Some(Timing {
                word,
                tokens,
                start,
                end,
                probability,
            })
        })
        .collect()
}

/// faster-whisper's `merge_punctuations`: opening marks join the following word, closing
/// marks the preceding one (the emptied entries stay, holding no tokens).
fn merge_punctuations(alignment: &mut [Timing], prepended: &str, appended: &str) {
    if alignment.len() >= 2 {
        let mut i = alignment.len() as isize - 2;
        let mut j = alignment.len() - 1;
        while i >= 0 {
            let iu = i as usize;
            let previous = &alignment[iu];
            if previous.word.starts_with(' ') && is_within(previous.word.trim(), prepended) {
                let (word, tokens) = (
                    std::mem::take(&mut alignment[iu].word),
                    std::mem::take(&mut alignment[iu].tokens),
                );
                let following = &mut alignment[j];
                following.word = word + &following.word;
                following.tokens = [tokens, std::mem::take(&mut following.tokens)].concat();
            } else {
                j = iu;
            }
            i -= 1;
        }
    }
    let (mut i, mut j) = (0, 1);
    while j < alignment.len() {
        if !alignment[i].word.ends_with(' ') && is_within(&alignment[j].word, appended) {
            let (word, tokens) = (
                std::mem::take(&mut alignment[j].word),
                std::mem::take(&mut alignment[j].tokens),
            );
            alignment[i].word.push_str(&word);
            alignment[i].tokens.extend(tokens);
        } else {
            i = j;
        }
        j += 1;
    }
}

/// numpy's median (the mean of the middle two for an even count).
fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// What timing one window's pieces needs besides the pieces.
pub struct WindowWords<'a> {
    pub tokenizer: &'a Tokenizer,
    /// The language code the window was decoded in.
    pub language: &'a str,
    pub alignment: &'a Alignment,
    /// The window's seek position, mel frames.
    pub seek: usize,
    /// Marks merged into the following and the preceding word.
    pub prepend_punctuations: &'a str,
    pub append_punctuations: &'a str,
}

/// faster-whisper's `add_word_timestamps` for one window: words for each piece, and the
/// pieces' bounds moved to their words' where those are more plausible. `last_speech` is the
/// end of the last speech before this window (seconds).
pub fn add_word_timestamps(pieces: &mut [Piece], window: &WindowWords, last_speech: f64) {
    let eot = window.tokenizer.specials.eot;
    let text_per_piece: Vec<Vec<u32>> = pieces
        .iter()
        .map(|p| p.tokens.iter().copied().filter(|&t| t < eot).collect())
        .collect();
    let text: Vec<u32> = text_per_piece.concat();
    let mut timings = word_timings(window.tokenizer, window.language, &text, window.alignment);

    let mut durations: Vec<f64> = timings
        .iter()
        .map(|t| t.end - t.start)
        .filter(|&d| d != 0.0)
        .collect();
    let median_duration = if durations.is_empty() {
        0.0
    } else {
        median(&mut durations).min(0.7)
    };
    let max_duration = median_duration * 2.0;
    if !durations.is_empty() {
        // Words at sentence boundaries no longer than twice the median word.
        for i in 1..timings.len() {
            if timings[i].end - timings[i].start > max_duration {
                if is_within(&timings[i].word, SENTENCE_END_MARKS) {
                    timings[i].end = timings[i].start + max_duration;
                } else if is_within(&timings[i - 1].word, SENTENCE_END_MARKS) {
                    timings[i].start = timings[i].end - max_duration;
                }
            }
        }
    }
    merge_punctuations(
        &mut timings,
        window.prepend_punctuations,
        window.append_punctuations,
    );

    let time_offset = window.seek as f64 / 100.0;
    let mut last_speech = last_speech;
    let mut next = 0;
    for (piece, text) in pieces.iter_mut().zip(&text_per_piece) {
        let mut saved_tokens = 0;
        let mut words: Vec<Word> = Vec::new();
        while next < timings.len() && saved_tokens < text.len() {
            let timing = &timings[next];
            if !timing.word.is_empty() {
                words.push(Word {
                    word: timing.word.clone(),
                    start: round2(time_offset + timing.start),
                    end: round2(time_offset + timing.end),
                    probability: timing.probability,
                });
            }
            saved_tokens += timing.tokens.len();
            next += 1;
        }
        if !words.is_empty() {
            adjust_after_pause(&mut words, last_speech, median_duration, max_duration);
            let first = &mut words[0];
            // Prefer the segment's own start if the first word is too long.
            if piece.start < first.end && piece.start - 0.5 > first.start {
                first.start = (first.end - median_duration).min(piece.start).max(0.0);
            } else {
                piece.start = first.start;
            }
            let last = words.last_mut().expect("not empty");
            // Prefer the segment's own end if the last word is too long.
            if piece.end > last.start && piece.end + 0.5 < last.end {
                last.end = (last.start + median_duration).max(piece.end);
            } else {
                piece.end = last.end;
            }
            last_speech = piece.end;
        }
        piece.words = words;
    }
}

/// The first and second words after a pause no longer than twice the median word.
fn adjust_after_pause(words: &mut [Word], last_speech: f64, median: f64, max_duration: f64) {
    let long_first = words[0].end - words[0].start > max_duration;
    let long_pair = words.len() > 1 && words[1].end - words[0].start > max_duration * 2.0;
    if words[0].end - last_speech > median * 4.0 && (long_first || long_pair) {
        if words.len() > 1 && words[1].end - words[1].start > max_duration {
            let boundary = (words[1].end / 2.0).max(words[1].end - max_duration);
            words[0].end = boundary;
            words[1].start = boundary;
        }
        words[0].start = (words[0].end - max_duration).max(0.0);
    }
}

/// faster-whisper's `get_end`: the end of the last word of the last piece that has words, else
/// the last piece's end.
pub fn last_end(pieces: &[Piece]) -> Option<f64> {
    pieces
        .iter()
        .rev()
        .find_map(|p| p.words.last().map(|w| w.end))
        .or_else(|| pieces.last().map(|p| p.end))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timing(word: &str, tokens: &[u32]) -> Timing {
        Timing {
            word: word.into(),
            tokens: tokens.to_vec(),
            start: 0.0,
            end: 0.0,
            probability: 1.0,
        }
    }

    #[test]
    fn punctuation_joins_its_neighbour_as_faster_whisper_merges_it() {
        let mut a = vec![
            timing(" \"", &[1]),
            timing(" Hello", &[2]),
            timing(",", &[3]),
            timing(" world", &[4]),
            timing(".\"", &[5]),
        ];
        merge_punctuations(&mut a, PREPEND_PUNCTUATIONS, APPEND_PUNCTUATIONS);
        let words: Vec<&str> = a.iter().map(|t| t.word.as_str()).collect();
        // `.\"` is not one of the appended marks (Python's `in` is a substring test, and
        // `.\"` is not a substring of the list), so it stays a word of its own.
        assert_eq!(words, ["", " \" Hello,", "", " world", ".\""]);
        assert_eq!(a[1].tokens, [1, 2, 3]);
    }

    #[test]
    fn python_rounding_and_median() {
        assert_eq!(round2(2.675), 2.67);
        assert_eq!(round2(0.125), 0.12);
        assert_eq!(round2(12.345), 12.35);
        assert_eq!(median(&mut [3.0, 1.0, 2.0, 10.0]), 2.5);
        assert_eq!(median(&mut [0.4]), 0.4);
    }

    #[test]
    fn the_first_word_after_a_long_pause_is_shortened() {
        let word = |start: f64, end: f64| Word {
            word: " w".into(),
            start,
            end,
            probability: 1.0,
        };
        // Median 0.3 s: max 0.6 s. The first word spans 2 s after 5 s of silence.
        let mut words = vec![word(10.0, 12.0), word(12.0, 12.3)];
        adjust_after_pause(&mut words, 5.0, 0.3, 0.6);
        assert_eq!((words[0].start, words[0].end), (11.4, 12.0));
    }
}
