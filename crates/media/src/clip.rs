//! Audio clips (prompts, music on hold), decoded once and pre-encoded in
//! every codec as 20 ms frames, so playing costs a copy per packet.

use crate::codec::{Codec, FRAME_SAMPLES};
use crate::g711;

/// A clip ready to play.
#[derive(Clone, Debug)]
pub struct Clip {
    ulaw: Vec<u8>,
    alaw: Vec<u8>,
    frames: usize,
}

impl Clip {
    /// From 8 kHz 16-bit linear samples; the last frame is padded with silence.
    pub fn from_linear(samples: &[i16]) -> Clip {
        let frames = samples.len().div_ceil(FRAME_SAMPLES).max(1);
        let mut ulaw = Vec::with_capacity(frames * FRAME_SAMPLES);
        let mut alaw = Vec::with_capacity(frames * FRAME_SAMPLES);
        for i in 0..frames * FRAME_SAMPLES {
            let s = samples.get(i).copied().unwrap_or(0);
            ulaw.push(g711::linear_to_ulaw(s));
            alaw.push(g711::linear_to_alaw(s));
        }
        Clip { ulaw, alaw, frames }
    }

    /// From raw 8 kHz µ-law bytes (the format the shipped prompts use).
    pub fn from_ulaw(bytes: &[u8]) -> Clip {
        let linear: Vec<i16> = bytes.iter().map(|&b| g711::ulaw_to_linear(b)).collect();
        Clip::from_linear(&linear)
    }

    /// Number of 20 ms frames.
    pub fn frames(&self) -> usize {
        self.frames
    }

    /// Frame `i` (modulo the length) in `codec`.
    pub fn frame(&self, codec: Codec, i: usize) -> &[u8] {
        let at = (i % self.frames) * FRAME_SAMPLES;
        let data = match codec {
            Codec::Pcmu => &self.ulaw,
            Codec::Pcma => &self.alaw,
        };
        &data[at..at + FRAME_SAMPLES]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_and_padding() {
        let c = Clip::from_linear(&vec![1000i16; 200]);
        assert_eq!(c.frames(), 2);
        assert_eq!(c.frame(Codec::Pcmu, 0)[0], g711::linear_to_ulaw(1000));
        assert_eq!(c.frame(Codec::Pcma, 1)[100], g711::linear_to_alaw(0));
        assert_eq!(c.frame(Codec::Pcmu, 2), c.frame(Codec::Pcmu, 0), "loops");
    }
}
