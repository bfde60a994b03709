//! Transcript output formats: plain text, SubRip, WebVTT (the `json` format is serde's).

use super::Transcript;

/// `-f txt`: each segment's text on its own line, trimmed, nothing else.
pub fn txt(t: &Transcript) -> String {
    t.segments
        .iter()
        .map(|s| format!("{}\n", s.text.trim()))
        .collect()
}

/// `-f srt`: numbered cues, `HH:MM:SS,mmm --> HH:MM:SS,mmm`.
pub fn srt(t: &Transcript) -> String {
    t.segments
        .iter()
        .enumerate()
        .map(|(i, s)| {
            format!(
                "{}\n{} --> {}\n{}\n\n",
                i + 1,
                clock(s.start, ','),
                clock(s.end, ','),
                s.text.trim()
            )
        })
        .collect()
}

/// `-f vtt`: a WebVTT file, `HH:MM:SS.mmm --> HH:MM:SS.mmm` cues.
pub fn vtt(t: &Transcript) -> String {
    let mut out = String::from("WEBVTT\n\n");
    for s in &t.segments {
        out.push_str(&format!(
            "{} --> {}\n{}\n\n",
            clock(s.start, '.'),
            clock(s.end, '.'),
            s.text.trim()
        ));
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
        };
        Transcript {
            language: Some("en".into()),
            language_probability: None,
            segments: vec![
                segment(0, 0.0, 2.5, " Hello there."),
                segment(1, 3725.12, 3727.0, " Bye."),
            ],
            windows: 1,
            windows_silent: 0,
            windows_reread: 0,
            fallbacks: 0,
            encoder_ms: 1.0,
            decoder_ms: 1.0,
            decoder_tokens: 10,
        }
    }

    #[test]
    fn subtitle_formats_have_their_clocks_and_layout() {
        let t = transcript();
        assert_eq!(txt(&t), "Hello there.\nBye.\n");
        assert_eq!(
            srt(&t),
            "1\n00:00:00,000 --> 00:00:02,500\nHello there.\n\n2\n01:02:05,120 --> 01:02:07,000\nBye.\n\n"
        );
        assert!(vtt(&t).starts_with("WEBVTT\n\n00:00:00.000 --> 00:00:02.500\nHello there.\n\n"));
        assert_eq!(t.text(), " Hello there. Bye.");
    }
}
