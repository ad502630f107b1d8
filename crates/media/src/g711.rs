//! G.711 µ-law and A-law (ITU-T G.711), with 256-entry tables for decoding
//! and for direct µ-law ↔ A-law transcoding (in place, no allocation).

const ULAW_BIAS: i32 = 0x84;

/// Encodes one 16-bit linear sample as µ-law, as the ITU-T G.191 reference
/// does: 14-bit magnitude (one's complement for negative samples) plus 33.
pub fn linear_to_ulaw(sample: i16) -> u8 {
    let negative = sample < 0;
    let magnitude = if negative {
        i32::from(!sample)
    } else {
        i32::from(sample)
    };
    let absno = ((magnitude >> 2) + 33).min(0x1FFF);
    let segno = 32 - ((absno >> 6) as u32).leading_zeros() as i32 + 1;
    let high = 0x8 - segno;
    let low = 0xF - ((absno >> segno) & 0xF);
    let code = ((high << 4) | low) as u8;
    if negative {
        code
    } else {
        code | 0x80
    }
}

/// Decodes one µ-law byte to 16-bit linear.
pub fn ulaw_to_linear(code: u8) -> i16 {
    let u = !code;
    let exponent = i32::from((u >> 4) & 0x07);
    let mantissa = i32::from(u & 0x0F);
    let magnitude = (((mantissa << 3) + ULAW_BIAS) << exponent) - ULAW_BIAS;
    if u & 0x80 != 0 {
        -magnitude as i16
    } else {
        magnitude as i16
    }
}

/// Encodes one 16-bit linear sample as A-law (one's complement for negative
/// samples, as in ITU-T G.191).
pub fn linear_to_alaw(sample: i16) -> u8 {
    let mut s = i32::from(sample) >> 3; // 13-bit magnitude domain
    let mask = if s >= 0 {
        0xD5
    } else {
        s = -s - 1;
        0x55
    };
    const SEG_END: [i32; 8] = [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF];
    let Some(seg) = SEG_END.iter().position(|&end| s <= end) else {
        return 0x7F ^ mask;
    };
    let mantissa = if seg < 2 {
        (s >> 1) & 0x0F
    } else {
        (s >> seg) & 0x0F
    };
    (((seg as i32) << 4) | mantissa) as u8 ^ mask
}

/// Decodes one A-law byte to 16-bit linear.
pub fn alaw_to_linear(code: u8) -> i16 {
    let a = code ^ 0x55;
    let mut t = i32::from(a & 0x0F) << 4;
    let seg = (a & 0x70) >> 4;
    match seg {
        0 => t += 8,
        1 => t += 0x108,
        _ => t = (t + 0x108) << (seg - 1),
    }
    if a & 0x80 != 0 {
        t as i16
    } else {
        -t as i16
    }
}

/// Precomputed tables for the hot path.
pub struct Tables {
    /// µ-law → A-law.
    pub ulaw_to_alaw: [u8; 256],
    /// A-law → µ-law.
    pub alaw_to_ulaw: [u8; 256],
}

impl Tables {
    /// Builds the transcoding tables (decode, then re-encode).
    pub fn new() -> Tables {
        let mut t = Tables {
            ulaw_to_alaw: [0; 256],
            alaw_to_ulaw: [0; 256],
        };
        for code in 0..=255u8 {
            t.ulaw_to_alaw[code as usize] = linear_to_alaw(ulaw_to_linear(code));
            t.alaw_to_ulaw[code as usize] = linear_to_ulaw(alaw_to_linear(code));
        }
        t
    }

    /// Rewrites a payload in place from one law to the other.
    pub fn transcode(&self, payload: &mut [u8], table: &[u8; 256]) {
        for b in payload {
            *b = table[*b as usize];
        }
    }
}

impl Default for Tables {
    fn default() -> Self {
        Tables::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_points() {
        // Values from the ITU-T G.711 tables.
        assert_eq!(linear_to_ulaw(0), 0xFF);
        assert_eq!(ulaw_to_linear(0x00), -32124);
        assert_eq!(ulaw_to_linear(0x80), 32124);
        assert_eq!(ulaw_to_linear(0xFF), 0);
        assert_eq!(linear_to_alaw(0), 0xD5);
        assert_eq!(alaw_to_linear(0xD5), 8);
        assert_eq!(alaw_to_linear(0xAA), 32256);
        assert_eq!(alaw_to_linear(0x2A), -32256);
        assert_eq!(linear_to_ulaw(i16::MIN), 0x00);
        assert_eq!(linear_to_alaw(i16::MIN), 0x2A);
    }

    #[test]
    fn every_code_survives_decode_then_encode() {
        for code in 0..=255u8 {
            let back = linear_to_ulaw(ulaw_to_linear(code));
            // 0x7F is "negative zero": it decodes to 0, which encodes as 0xFF.
            if code != 0x7F {
                assert_eq!(back, code, "µ-law {code:#x}");
            }
            assert_eq!(
                linear_to_alaw(alaw_to_linear(code)),
                code,
                "A-law {code:#x}"
            );
        }
    }

    #[test]
    fn encoders_pick_a_level_bracketing_the_input() {
        // G.711 quantizes by interval (not by nearest level): the decoded
        // value of the chosen code is one of the two levels around the input.
        for (name, enc, dec) in [
            (
                "µ-law",
                linear_to_ulaw as fn(i16) -> u8,
                ulaw_to_linear as fn(u8) -> i16,
            ),
            ("A-law", linear_to_alaw, alaw_to_linear),
        ] {
            let mut levels: Vec<i32> = (0..=255u8).map(|c| i32::from(dec(c))).collect();
            levels.sort_unstable();
            levels.dedup();
            for x in i16::MIN..=i16::MAX {
                let x32 = i32::from(x);
                let got = i32::from(dec(enc(x)));
                let below = levels
                    .iter()
                    .rev()
                    .find(|&&l| l <= x32)
                    .copied()
                    .unwrap_or(levels[0]);
                let above = levels
                    .iter()
                    .find(|&&l| l >= x32)
                    .copied()
                    .unwrap_or(*levels.last().unwrap());
                assert!(
                    got == below || got == above,
                    "{name} at {x}: {got} not in [{below}, {above}]"
                );
            }
        }
    }

    #[test]
    fn monotonic() {
        let mut last = (i32::MIN, i32::MIN);
        for x in i16::MIN..=i16::MAX {
            let u = i32::from(ulaw_to_linear(linear_to_ulaw(x)));
            let a = i32::from(alaw_to_linear(linear_to_alaw(x)));
            assert!(u >= last.0 && a >= last.1, "not monotonic at {x}");
            last = (u, a);
        }
    }

    #[test]
    fn transcoding_tables_are_close_to_identity_in_linear() {
        let t = Tables::new();
        for code in 0..=255u8 {
            let a = t.ulaw_to_alaw[code as usize];
            let lin_u = ulaw_to_linear(code) as i32;
            let lin_a = alaw_to_linear(a) as i32;
            assert!(
                (lin_u - lin_a).abs() <= (lin_u.abs() / 16).max(16),
                "{code:#x}: {lin_u} vs {lin_a}"
            );
        }
    }
}
