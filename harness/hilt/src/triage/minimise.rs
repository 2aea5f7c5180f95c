//! Protocol-aware minimisation: the smallest input that still fails with
//! the same signature.
//!
//! It shrinks whole steps first (frames, bursts, resets), then the fields
//! of each frame (trailing bytes, data bytes with the byte count that
//! covers them, 16-bit fields towards 0), then single bytes. A frame keeps
//! its correct CRC through every change, because it is a
//! [`Step::Frame`] whose CRC is computed when it is sent; a raw burst that
//! ends in a good CRC is made such a frame first. Every candidate is
//! replayed, and kept only if `keeps` says it fails the same way, so the
//! result never drifts to another bug.

use hilt_modbus::fuzzing::{Step, Steps};
use hilt_modbus::model::byte_count_at;
use hilt_modbus::wire::crc_ok;

/// `body` (unit id and PDU) without its byte at `at`; the byte count is
/// lowered with it when it covered the data exactly.
fn without_byte(body: &[u8], at: usize) -> Vec<u8> {
    let mut out = body.to_vec();
    out.remove(at);
    // `body` is a frame without its CRC: its byte count is where it is in
    // a frame.
    if let Some(count_at) = body.get(1).and_then(|&f| byte_count_at(f)) {
        let covered = body
            .get(count_at)
            .is_some_and(|&n| usize::from(n) == body.len() - count_at - 1);
        if covered && at > count_at {
            out[count_at] -= 1;
        }
    }
    out
}

/// Minimises `steps`, spending at most `budget` replays; returns the
/// smallest input found and the replays spent.
pub fn minimise(
    steps: &Steps,
    budget: usize,
    mut keeps: impl FnMut(&Steps) -> bool,
) -> (Steps, usize) {
    let mut best = steps.clone();
    let spent = std::cell::Cell::new(0);
    let mut attempt = |candidate: &Steps, best: &mut Steps| -> bool {
        if spent.get() >= budget || candidate == best {
            return false;
        }
        spent.set(spent.get() + 1);
        if keeps(candidate) {
            *best = candidate.clone();
            true
        } else {
            false
        }
    };
    // Raw bursts that are whole frames become frames, so that the field
    // changes below keep their CRC right.
    for i in 0..best.0.len() {
        if let Step::Raw(bytes) = &best.0[i] {
            if bytes.len() >= 4 && crc_ok(bytes) {
                let mut candidate = best.clone();
                candidate.0[i] = Step::Frame(bytes[..bytes.len() - 2].to_vec());
                // The same bytes on the line: no replay needed.
                best = candidate;
            }
        }
    }
    loop {
        let before = best.clone();
        // Whole steps, in chunks from half the input down to one.
        let mut chunk = best.0.len().div_ceil(2).max(1);
        loop {
            let mut start = best.0.len().saturating_sub(chunk);
            loop {
                if start < best.0.len() {
                    let mut candidate = best.clone();
                    let end = (start + chunk).min(candidate.0.len());
                    candidate.0.drain(start..end);
                    attempt(&candidate, &mut best);
                }
                if start == 0 {
                    break;
                }
                start = start.saturating_sub(chunk);
            }
            if chunk == 1 {
                break;
            }
            chunk /= 2;
        }
        // Within each raw burst: runs of bytes out, halves first (a burst
        // may hold a whole frame the failure does not need).
        for i in 0..best.0.len() {
            if !matches!(best.0.get(i), Some(Step::Raw(_))) {
                continue;
            }
            let mut chunk = step_len(&best.0[i]).div_ceil(2).max(1);
            while chunk > 1 {
                let mut start = 0;
                while start < step_len(&best.0[i]) {
                    let candidate = with_step(&best, i, |body, _| {
                        let mut b = body.to_vec();
                        b.drain(start..(start + chunk).min(b.len()));
                        b
                    });
                    if !attempt(&candidate, &mut best) {
                        start += chunk;
                    }
                }
                chunk /= 2;
            }
        }
        // Within each step: bytes out (from the end), then fields and
        // bytes towards zero.
        for i in 0..best.0.len() {
            let first = match best.0.get(i) {
                Some(Step::Frame(_)) => 2,
                Some(Step::Raw(_)) => 0,
                _ => continue,
            };
            let mut at = step_len(&best.0[i]);
            while at > first {
                at -= 1;
                if at >= step_len(&best.0[i]) {
                    continue;
                }
                let candidate = with_step(&best, i, |body, frame| {
                    if frame {
                        without_byte(body, at)
                    } else {
                        let mut b = body.to_vec();
                        b.remove(at);
                        b
                    }
                });
                attempt(&candidate, &mut best);
            }
            let frame = matches!(best.0.get(i), Some(Step::Frame(_)));
            // 16-bit fields of the PDU (after the function code).
            let mut at = 2;
            while frame && at + 1 < step_len(&best.0[i]) {
                for value in [0u16, 1] {
                    let candidate = with_step(&best, i, |body, _| {
                        let mut b = body.to_vec();
                        b[at..at + 2].copy_from_slice(&value.to_be_bytes());
                        b
                    });
                    if attempt(&candidate, &mut best) {
                        break;
                    }
                }
                at += 2;
            }
            for at in first..step_len(&best.0[i]) {
                let candidate = with_step(&best, i, |body, _| {
                    let mut b = body.to_vec();
                    b[at] = 0;
                    b
                });
                attempt(&candidate, &mut best);
            }
        }
        if best == before || spent.get() >= budget {
            break;
        }
    }
    // Bursts emptied by the byte passes put nothing on the line (and would
    // read back from a file as resets).
    best.0
        .retain(|s| !matches!(s, Step::Raw(b) if b.is_empty()));
    (best, spent.get())
}

fn step_len(step: &Step) -> usize {
    match step {
        Step::Frame(b) | Step::Raw(b) => b.len(),
        Step::Reset => 0,
    }
}

/// `steps` with step `i`'s bytes changed by `change` (given the bytes and
/// whether they are a frame's body).
fn with_step(steps: &Steps, i: usize, change: impl FnOnce(&[u8], bool) -> Vec<u8>) -> Steps {
    let mut out = steps.clone();
    out.0[i] = match &steps.0[i] {
        Step::Frame(b) => Step::Frame(change(b, true)),
        Step::Raw(b) => Step::Raw(change(b, false)),
        Step::Reset => Step::Reset,
    };
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in for a bug: fails when some frame is a 0x10 whose byte
    /// count covers its data exactly and holds more than 2 bytes.
    fn fails(steps: &Steps) -> bool {
        steps.0.iter().any(|s| match s {
            Step::Frame(b) => {
                b.len() > 7 && b[1] == 0x10 && usize::from(b[6]) == b.len() - 7 && b[6] > 2
            }
            _ => false,
        })
    }

    #[test]
    fn frames_go_first_then_fields_and_the_byte_count_follows() {
        let big = Step::Frame(vec![
            0x01, 0x10, 0x12, 0x34, 0x00, 0x04, 0x08, 1, 2, 3, 4, 5, 6, 7, 8,
        ]);
        let noise = Step::Frame(vec![0x01, 0x03, 0x00, 0x00, 0x00, 0x01]);
        let input = Steps(vec![
            noise.clone(),
            Step::Reset,
            big,
            noise.clone(),
            Step::Raw(vec![0xFF; 9]),
        ]);
        assert!(fails(&input));
        let (small, spent) = minimise(&input, 10_000, fails);
        assert!(fails(&small));
        assert!(spent > 0);
        assert_eq!(
            small,
            Steps(vec![Step::Frame(vec![
                0x01, 0x10, 0x00, 0x00, 0x00, 0x00, 0x03, 0, 0, 0
            ])]),
            "one frame, start and quantity to zero, 3 data bytes with their count"
        );
    }

    #[test]
    fn a_raw_frame_keeps_a_good_crc_as_it_shrinks() {
        let mut raw = vec![0x01, 0x10, 0x00, 0x00, 0x00, 0x02, 0x04, 9, 9, 9, 9];
        hilt_modbus::wire::append_crc(&mut raw);
        let input = Steps(vec![Step::Raw(raw)]);
        let (small, _) = minimise(&input, 10_000, fails);
        assert_eq!(
            small,
            Steps(vec![Step::Frame(vec![
                0x01, 0x10, 0x00, 0x00, 0x00, 0x00, 0x03, 0, 0, 0
            ])])
        );
    }

    #[test]
    fn a_burst_loses_the_frame_it_does_not_need() {
        let mut good = vec![0x01, 0x03, 0x00, 0x00, 0x00, 0x01];
        hilt_modbus::wire::append_crc(&mut good);
        let mut burst = good.clone();
        burst.extend_from_slice(&[0x01, 0x10, 0x00, 0x00, 0x00, 0x02, 0x04, 9, 9, 9, 9]);
        // Fails when a burst holds a 0x10 with a 4-byte count.
        let fails = |s: &Steps| {
            s.0.iter().any(|s| match s {
                Step::Raw(b) => b.windows(7).any(|w| w[1] == 0x10 && w[6] == 4),
                _ => false,
            })
        };
        let (small, _) = minimise(&Steps(vec![Step::Raw(burst)]), 10_000, fails);
        assert_eq!(small, Steps(vec![Step::Raw(vec![0, 0x10, 0, 0, 0, 0, 4])]));
    }

    #[test]
    fn the_budget_is_kept() {
        let input = Steps(vec![Step::Raw(vec![7; 40]); 10]);
        let mut calls = 0;
        // Keeps almost everything: many candidates to try.
        let (_, spent) = minimise(&input, 25, |s| {
            calls += 1;
            crate::triage::input::size(s) >= 395
        });
        assert_eq!((spent, calls), (25, 25));
    }
}
