//! Transcript output formats: plain text, SubRip, WebVTT (the `json` format is serde's).

use super::Transcript;

impl Transcript {
    /// Each segment's text on its own line, trimmed (`-f txt`).
    pub fn to_txt(&self) -> String {
        txt(self)
    }

    /// SubRip subtitles (`-f srt`), cues laid out as `layout` says.
    pub fn to_srt(&self, layout: &CueLayout) -> String {
        srt(self, layout)
    }

    /// WebVTT subtitles (`-f vtt`), cues laid out as `layout` says.
    pub fn to_vtt(&self, layout: &CueLayout) -> String {
        vtt(self, layout)
    }
}

/// `-f txt`: each segment's text on its own line, trimmed, nothing else.
pub fn txt(t: &Transcript) -> String {
    t.segments
        .iter()
        .map(|s| format!("{}\n", s.text.trim()))
        .collect()
}

/// How subtitle cues are laid out from word timestamps (OpenAI's `--max_line_width`,
/// `--max_line_count`, `--max_words_per_line`, `--highlight_words`). Without words, each
/// segment is one cue.
#[derive(Debug, Clone, Copy, Default)]
pub struct CueLayout {
    /// Characters per line before a line break.
    pub max_line_width: Option<usize>,
    /// Lines per cue (with `max_line_width`): cues no longer follow segments.
    pub max_line_count: Option<usize>,
    /// Words per line (without `max_line_width`).
    pub max_words_per_line: Option<usize>,
    /// One cue per word, the word underlined (`<u>...</u>`) in its cue's text.
    pub highlight_words: bool,
}

/// `-f srt`: numbered cues, `HH:MM:SS,mmm --> HH:MM:SS,mmm`.
pub fn srt(t: &Transcript, layout: &CueLayout) -> String {
    cues(t, layout)
        .iter()
        .enumerate()
        .map(|(i, (start, end, text))| {
            format!(
                "{}\n{} --> {}\n{text}\n\n",
                i + 1,
                clock(*start, ','),
                clock(*end, ',')
            )
        })
        .collect()
}

/// `-f vtt`: a WebVTT file, `HH:MM:SS.mmm --> HH:MM:SS.mmm` cues.
pub fn vtt(t: &Transcript, layout: &CueLayout) -> String {
    let mut out = String::from("WEBVTT\n\n");
    for (start, end, text) in cues(t, layout) {
        out.push_str(&format!(
            "{} --> {}\n{text}\n\n",
            clock(start, '.'),
            clock(end, '.')
        ));
    }
    out
}

/// A word placed in a cue: its text (with a leading line break when it starts a new line).
struct Placed {
    word: String,
    start: f64,
    end: f64,
}

/// The subtitle cues `(start, end, text)`, as OpenAI's `SubtitlesWriter.iterate_result`.
fn cues(t: &Transcript, layout: &CueLayout) -> Vec<(f64, f64, String)> {
    let has_words = t.segments.first().is_some_and(|s| s.words.is_some());
    if !has_words {
        return t
            .segments
            .iter()
            .map(|s| (s.start, s.end, s.text.trim().replace("-->", "->")))
            .collect();
    }
    let mut out = Vec::new();
    for subtitle in subtitles(t, layout) {
        let (first, last) = (&subtitle[0], &subtitle[subtitle.len() - 1]);
        let text: String = subtitle.iter().map(|w| w.word.as_str()).collect();
        if !layout.highlight_words {
            out.push((first.start, last.end, text));
            continue;
        }
        // Clocks are compared as printed (whole milliseconds), as OpenAI compares strings.
        let ms = |s: f64| (s.max(0.0) * 1000.0).round() as u64;
        let mut last_end = first.start;
        for (i, word) in subtitle.iter().enumerate() {
            if ms(last_end) != ms(word.start) {
                out.push((last_end, word.start, text.clone()));
            }
            let highlighted: String = subtitle
                .iter()
                .enumerate()
                .map(|(j, w)| {
                    if j == i {
                        underline(&w.word)
                    } else {
                        w.word.clone()
                    }
                })
                .collect();
            out.push((word.start, word.end, highlighted));
            last_end = word.end;
        }
    }
    out
}

/// `word` with its text (not its leading whitespace) in `<u>...</u>`.
fn underline(word: &str) -> String {
    let body = word.trim_start();
    format!("{}<u>{body}</u>", &word[..word.len() - body.len()])
}

/// Words grouped into cues and lines, as OpenAI's `iterate_subtitles`.
fn subtitles(t: &Transcript, layout: &CueLayout) -> Vec<Vec<Placed>> {
    let preserve_segments = layout.max_line_count.is_none() || layout.max_line_width.is_none();
    let max_line_width = layout.max_line_width.unwrap_or(1000);
    let max_words_per_line = layout.max_words_per_line.unwrap_or(1000).max(1);
    let chars = |s: &str| s.chars().count();
    let mut out = Vec::new();
    let mut subtitle: Vec<Placed> = Vec::new();
    let (mut line_len, mut line_count) = (0usize, 1usize);
    let mut last = t
        .segments
        .iter()
        .find_map(|s| s.words.as_ref()?.first().map(|w| w.start))
        .unwrap_or(0.0);
    for segment in &t.segments {
        let words = segment.words.as_deref().unwrap_or(&[]);
        for chunk in words.chunks(max_words_per_line) {
            for (i, w) in chunk.iter().enumerate() {
                let mut word = w.word.clone();
                let long_pause = !preserve_segments && w.start - last > 3.0;
                let has_room = line_len + chars(&word) <= max_line_width;
                let segment_break = i == 0 && !subtitle.is_empty() && preserve_segments;
                if line_len > 0 && has_room && !long_pause && !segment_break {
                    line_len += chars(&word);
                } else {
                    word = word.trim().to_string();
                    let full = layout
                        .max_line_count
                        .is_some_and(|max| long_pause || line_count >= max);
                    if (!subtitle.is_empty() && full) || segment_break {
                        out.push(std::mem::take(&mut subtitle));
                        line_count = 1;
                    } else if line_len > 0 {
                        line_count += 1;
                        word = format!("\n{word}");
                    }
                    line_len = chars(word.trim());
                }
                subtitle.push(Placed {
                    word,
                    start: w.start,
                    end: w.end,
                });
                last = w.start;
            }
        }
    }
    if !subtitle.is_empty() {
        out.push(subtitle);
    }
    out
}

/// Seconds as `HH:MM:SS<sep>mmm`, rounded to the millisecond.
fn clock(seconds: f64, separator: char) -> String {
    let ms = (seconds.max(0.0) * 1000.0).round() as u64;
    format!(
        "{:02}:{:02}:{:02}{separator}{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transcribe::Segment;

    fn transcript() -> Transcript {
        let segment = |id, start, end, text: &str| Segment {
            id,
            seek: 0,
            start,
            end,
            text: text.into(),
            tokens: vec![],
            temperature: 0.0,
            avg_logprob: -0.2,
            compression_ratio: 1.2,
            no_speech_prob: 0.01,
            words: None,
        };
        Transcript {
            language: Some("en".into()),
            language_probability: None,
            segments: vec![
                segment(0, 0.0, 2.5, " Hello there."),
                segment(1, 3725.12, 3727.0, " Bye."),
            ],
            windows: 1,
            encoder_ms: 1.0,
            decoder_ms: 1.0,
            decoder_tokens: 10,
            ..Transcript::default()
        }
    }

    #[test]
    fn subtitle_formats_have_their_clocks_and_layout() {
        let t = transcript();
        assert_eq!(txt(&t), "Hello there.\nBye.\n");
        let plain = CueLayout::default();
        assert_eq!(
            srt(&t, &plain),
            "1\n00:00:00,000 --> 00:00:02,500\nHello there.\n\n2\n01:02:05,120 --> 01:02:07,000\nBye.\n\n"
        );
        assert!(
            vtt(&t, &plain)
                .starts_with("WEBVTT\n\n00:00:00.000 --> 00:00:02.500\nHello there.\n\n")
        );
        assert_eq!(t.text(), " Hello there. Bye.");
    }

    /// Two segments with words: "Hello there, friend." and "Bye now."
    fn with_words() -> Transcript {
        let mut t = transcript();
        let word = |w: &str, start: f64, end: f64| crate::transcribe::Word {
            word: w.into(),
            start,
            end,
            probability: 0.9,
        };
        t.segments[0].words = Some(vec![
            word(" Hello", 0.0, 0.5),
            word(" there,", 0.5, 1.0),
            word(" friend.", 1.2, 2.5),
        ]);
        t.segments[1].start = 2.6;
        t.segments[1].end = 3.5;
        t.segments[1].words = Some(vec![word(" Bye", 2.6, 3.0), word(" now.", 3.0, 3.5)]);
        t
    }

    #[test]
    fn words_make_cues_lines_and_highlights_as_openai_lays_them_out() {
        let t = with_words();
        // Cues follow segments; the first word loses its space.
        let plain = srt(&t, &CueLayout::default());
        assert!(
            plain.starts_with("1\n00:00:00,000 --> 00:00:02,500\nHello there, friend.\n\n2\n"),
            "{plain}"
        );
        // 14 characters a line, 2 lines a cue: segments no longer bound cues.
        let narrow = CueLayout {
            max_line_width: Some(14),
            max_line_count: Some(2),
            ..CueLayout::default()
        };
        let got: Vec<String> = cues(&t, &narrow).into_iter().map(|c| c.2).collect();
        assert_eq!(got, ["Hello there,\nfriend. Bye", "now."]);
        // Highlighting: one cue per word, plus the gap before "friend." with no underline.
        let highlight = CueLayout {
            highlight_words: true,
            ..CueLayout::default()
        };
        let got = cues(&t, &highlight);
        assert_eq!(got[0].2, "<u>Hello</u> there, friend.");
        assert_eq!(got[1].2, "Hello <u>there,</u> friend.");
        assert_eq!(
            (got[2].0, got[2].1, got[2].2.as_str()),
            (1.0, 1.2, "Hello there, friend.")
        );
        assert_eq!(got.len(), 6);
    }

    #[test]
    fn an_arrow_in_the_text_cannot_break_a_cue() {
        let mut t = transcript();
        t.segments[0].text = " a --> b".into();
        assert!(srt(&t, &CueLayout::default()).contains("\na -> b\n"));
    }
}
