//! Sound at the end of a window the model called silent. OpenAI's `transcribe` (and
//! faster-whisper) skip such a window whole: speech that starts in its last seconds, after a
//! long silence, is then cut in two and its first words are lost (seen: "The football match
//! was" after 35 s of silence). We re-read from just before that sound instead.

/// Above the window's quiet level by this much (normalised log-mel, 0.25 = a decade of power)
/// a frame counts as sound.
const SOUND_ABOVE_QUIET: f32 = 0.3;
/// Pauses shorter than this (frames) inside the trailing sound are part of it.
const MAX_PAUSE: usize = 50;
/// The sound must reach this close (frames) to the window's end to be cut by it.
const END_REACH: usize = 100;
/// The trailing sound must have at least this many loud frames (0.5 s): a click or a short
/// burst of noise at the end of a silent window is not worth a re-read, and re-reading one
/// only gives the model a chance to hallucinate ("you" on 0.3 s of noise).
const MIN_SOUND: usize = 50;
/// Re-read from this many frames before the sound's onset.
const MARGIN: usize = 50;
/// The least advance of a re-read (frames): each one moves on, so the loop ends.
const MIN_ADVANCE: usize = 100;

/// Where to re-read from, if the window `seek..seek + len` (called silent) ends in sound that
/// began at least `MIN_ADVANCE + MARGIN` frames into it; `level(t)` is frame `t`'s loudness.
pub fn reread_from(level: impl Fn(usize) -> f32, seek: usize, len: usize) -> Option<usize> {
    if len < MIN_ADVANCE + MARGIN {
        return None;
    }
    let levels: Vec<f32> = (seek..seek + len).map(level).collect();
    let mut sorted = levels.clone();
    sorted.sort_by(f32::total_cmp);
    let quiet = sorted[sorted.len() / 10];
    let loud = |i: usize| levels[i] > quiet + SOUND_ABOVE_QUIET;
    let last = (0..len).rev().find(|&i| loud(i))?;
    if last + END_REACH < len {
        return None;
    }
    // Walk back over the trailing sound, bridging short pauses.
    let (mut onset, mut sound) = (last, 1);
    let mut gap = 0;
    for i in (0..last).rev() {
        if loud(i) {
            onset = i;
            sound += 1;
            gap = 0;
        } else {
            gap += 1;
            if gap > MAX_PAUSE {
                break;
            }
        }
    }
    let from = seek + onset.saturating_sub(MARGIN);
    (sound >= MIN_SOUND && from >= seek + MIN_ADVANCE).then_some(from)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Silence at -0.62 with sound (0.3) over the `loud` frame ranges `(from, to)`.
    fn levels(len: usize, loud: &[(usize, usize)]) -> Vec<f32> {
        (0..len)
            .map(|t| {
                if loud.iter().any(|&(from, to)| (from..to).contains(&t)) {
                    0.3
                } else {
                    -0.62
                }
            })
            .collect()
    }

    #[test]
    fn speech_in_the_last_seconds_of_a_silent_window_is_re_read_from_its_onset() {
        // Silence, then words from 28.7 s with a 0.2 s pause, to the window's end.
        let l = levels(3000, &[(2870, 2920), (2940, 3000)]);
        assert_eq!(
            reread_from(|t| l[t - 6000], 6000, 3000),
            Some(6000 + 2870 - MARGIN)
        );
    }

    #[test]
    fn sound_that_ends_before_the_window_does_or_fills_it_is_left_to_the_model() {
        // A cough in the middle: the model heard it and called the window silent.
        let l = levels(3000, &[(1200, 1250)]);
        assert_eq!(reread_from(|t| l[t], 0, 3000), None);
        // Sound from the very start (a re-read window, or noise throughout): no progress to make.
        let l = levels(3000, &[(30, 3000)]);
        assert_eq!(reread_from(|t| l[t], 0, 3000), None);
        // A click, and 0.3 s of noise, at the very end.
        let l = levels(3000, &[(2990, 2995)]);
        assert_eq!(reread_from(|t| l[t], 0, 3000), None);
        let l = levels(3000, &[(2970, 3000)]);
        assert_eq!(reread_from(|t| l[t], 0, 3000), None);
        // Digital silence.
        let l = levels(3000, &[]);
        assert_eq!(reread_from(|t| l[t], 0, 3000), None);
    }

    #[test]
    fn a_short_last_window_is_judged_by_its_own_frames() {
        // The recording's last 8 s, sound in its final second.
        let l = levels(800, &[(720, 800)]);
        assert_eq!(
            reread_from(|t| l[t - 100], 100, 800),
            Some(100 + 720 - MARGIN)
        );
        assert_eq!(reread_from(|t| l[t], 0, 120), None);
    }
}
