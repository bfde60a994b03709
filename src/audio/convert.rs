//! Decoded frames to 16 kHz mono, as they arrive: the checks every decoder shares (rate and
//! channels in range, the length within the caller's limit, every sample finite), the downmix
//! and the resampler. The memory it holds is the 16 kHz output the limit allows plus one
//! resampler chunk: never the decoded file at its own rate and width, never what a header
//! claims.

use std::path::{Path, PathBuf};

use super::resample::To16k;
use super::{AudioLimits, MAX_CHANNELS, MAX_SAMPLE_RATE, MIN_SAMPLE_RATE, SAMPLE_RATE};
use crate::error::{Error, Result};

/// Refuse a sample rate or channel count outside what any decoder here accepts.
pub(super) fn check_format(path: &Path, rate: u64, channels: u64) -> Result<()> {
    if !(u64::from(MIN_SAMPLE_RATE)..=u64::from(MAX_SAMPLE_RATE)).contains(&rate) {
        return Err(Error::audio(
            path,
            format!(
                "the sample rate is {rate} Hz; supported: {MIN_SAMPLE_RATE} to {MAX_SAMPLE_RATE} Hz"
            ),
        ));
    }
    if !(1..=u64::from(MAX_CHANNELS)).contains(&channels) {
        return Err(Error::audio(
            path,
            format!("the audio has {channels} channels; supported: 1 to {MAX_CHANNELS}"),
        ));
    }
    Ok(())
}

/// Interleaved frames in, 16 kHz mono out.
pub(super) struct ToMono16k {
    path: PathBuf,
    rate: u32,
    channels: usize,
    /// Input frames the limit allows, if there is one.
    max_frames: Option<u64>,
    limit_s: Option<f64>,
    frames: u64,
    resampler: Option<To16k>,
    /// Mono frames of the current piece (reused).
    mono: Vec<f32>,
    out: Vec<f32>,
}

impl ToMono16k {
    /// A converter for audio at `rate` Hz with `channels` channels (checked here), of which the
    /// container claims `claimed_frames` when it says: a claim over the limit is refused before
    /// anything is decoded.
    pub(super) fn new(
        path: &Path,
        rate: u32,
        channels: u16,
        claimed_frames: Option<u64>,
        limits: &AudioLimits,
    ) -> Result<ToMono16k> {
        check_format(path, rate.into(), channels.into())?;
        let limit_s = limits.max_seconds();
        let max_frames = limit_s.map(|s| (s * f64::from(rate)).floor() as u64);
        if let (Some(claimed), Some(max)) = (claimed_frames, max_frames)
            && claimed > max
        {
            return Err(Error::AudioTooLong {
                path: path.to_path_buf(),
                seconds: Some(claimed as f64 / f64::from(rate)),
                limit_s: limit_s.unwrap_or_default(),
            });
        }
        let resampler = if rate == SAMPLE_RATE {
            None
        } else {
            Some(
                To16k::new(rate)
                    .map_err(|why| Error::audio(path, format!("cannot resample: {why}")))?,
            )
        };
        // Room for what will come, when both the container and the caller bound it.
        let expected = claimed_frames
            .zip(max_frames)
            .map(|(claimed, max)| claimed.min(max) * u64::from(SAMPLE_RATE) / u64::from(rate));
        Ok(ToMono16k {
            path: path.to_path_buf(),
            rate,
            channels: channels.into(),
            max_frames,
            limit_s,
            frames: 0,
            resampler,
            mono: Vec::new(),
            out: Vec::with_capacity(expected.unwrap_or(0) as usize),
        })
    }

    /// The format being converted.
    pub(super) fn format(&self) -> (u32, u16) {
        (self.rate, self.channels as u16)
    }

    /// The next frames, interleaved; an error past the limit or at a sample that is not a
    /// number.
    pub(super) fn push(&mut self, interleaved: &[f32]) -> Result<()> {
        if let Some(bad) = interleaved.iter().position(|s| !s.is_finite()) {
            let index = self.frames * self.channels as u64 + bad as u64;
            return Err(Error::audio(
                &self.path,
                format!(
                    "sample {index} is not a finite number ({}); the file is corrupt",
                    interleaved[bad]
                ),
            ));
        }
        let frames = (interleaved.len() / self.channels) as u64;
        if let Some(max) = self.max_frames
            && self.frames + frames > max
        {
            return Err(Error::AudioTooLong {
                path: self.path.clone(),
                seconds: None,
                limit_s: self.limit_s.unwrap_or_default(),
            });
        }
        self.frames += frames;
        // Average the channels (what OpenAI's ffmpeg call `-ac 1` does); mono is passed on
        // as it is.
        let mono: &[f32] = if self.channels == 1 {
            interleaved
        } else {
            self.mono.clear();
            self.mono
                .extend(interleaved.chunks_exact(self.channels).map(|frame| {
                    (frame.iter().map(|&s| f64::from(s)).sum::<f64>() / self.channels as f64) as f32
                }));
            &self.mono
        };
        match &mut self.resampler {
            None => self.out.extend_from_slice(mono),
            Some(resampler) => resampler
                .push(mono, &mut self.out)
                .map_err(|why| Error::audio(&self.path, format!("cannot resample: {why}")))?,
        }
        Ok(())
    }

    /// The 16 kHz mono samples; an error when there were none.
    pub(super) fn finish(mut self) -> Result<Vec<f32>> {
        if self.frames == 0 {
            return Err(Error::audio(&self.path, "contains no audio samples"));
        }
        if let Some(resampler) = self.resampler.take() {
            resampler
                .finish(&mut self.out)
                .map_err(|why| Error::audio(&self.path, format!("cannot resample: {why}")))?;
        }
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn convert(
        rate: u32,
        channels: u16,
        limit: Option<f64>,
        pieces: &[&[f32]],
    ) -> Result<Vec<f32>> {
        let limits = limit.map_or_else(AudioLimits::default, AudioLimits::max_seconds_of);
        let mut to = ToMono16k::new(Path::new("x.wav"), rate, channels, None, &limits)?;
        for piece in pieces {
            to.push(piece)?;
        }
        to.finish()
    }

    #[test]
    fn channels_are_averaged_and_identical_channels_stay_exact() {
        let stereo = [0.5f32, 0.25, -1.0, 1.0, 0.1, 0.1];
        assert_eq!(
            convert(16_000, 2, None, &[&stereo]).unwrap(),
            vec![0.375, 0.0, 0.1]
        );
    }

    #[test]
    fn rates_and_channels_outside_the_range_are_refused_by_value() {
        for (rate, channels, says) in [
            (999, 1, "999 Hz"),
            (384_001, 1, "384001 Hz"),
            (0, 1, "0 Hz"),
            (16_000, 0, "0 channels"),
            (16_000, 33, "33 channels"),
        ] {
            let e = ToMono16k::new(
                Path::new("x.wav"),
                rate,
                channels,
                None,
                &AudioLimits::default(),
            )
            .err()
            .unwrap();
            assert!(e.to_string().contains(says), "{e}");
        }
        assert!(ToMono16k::new(Path::new("x"), 1_000, 32, None, &AudioLimits::default()).is_ok());
        assert!(ToMono16k::new(Path::new("x"), 384_000, 1, None, &AudioLimits::default()).is_ok());
    }

    #[test]
    fn the_limit_refuses_a_claim_before_decoding_and_stops_a_stream_at_it() {
        let limits = AudioLimits::max_seconds_of(1.0);
        let claim = ToMono16k::new(Path::new("x"), 16_000, 1, Some(16_001), &limits).err();
        assert!(
            matches!(claim, Some(Error::AudioTooLong { seconds: Some(s), .. }) if s > 1.0),
            "{claim:?}"
        );
        let second = vec![0.0f32; 16_000];
        assert_eq!(
            convert(16_000, 1, Some(1.0), &[&second]).unwrap().len(),
            16_000
        );
        let over = convert(16_000, 1, Some(1.0), &[&second, &[0.0]]);
        assert!(
            matches!(over, Err(Error::AudioTooLong { seconds: None, .. })),
            "{over:?}"
        );
        let nan = convert(16_000, 1, None, &[&[0.0, f32::NAN]]).unwrap_err();
        assert!(
            nan.to_string().contains("sample 1 is not a finite number"),
            "{nan}"
        );
        let empty = convert(16_000, 1, None, &[]).unwrap_err();
        assert!(empty.to_string().contains("no audio samples"), "{empty}");
    }
}
