//! New inputs from old ones: structure-aware mutations of steps (frames
//! keep a correct CRC around their mutated bodies), deliberately malformed
//! frames (bad CRC, truncated, over-long) to exercise resynchronisation,
//! splices between corpus entries, dictionary tokens, and byte-level
//! mutations of the encoded input.

use fastrand::Rng;
use hilt_modbus::fuzzing::{Step, Steps};

/// The most steps an input grows to.
pub const MAX_STEPS: usize = 24;
/// The longest frame body a mutation makes.
const MAX_BODY: usize = 300;

/// Reads a libFuzzer dictionary: one `"token"` a line (an optional
/// `name=` before it), `\xNN`, `\\` and `\"` escapes, `#` comments.
pub fn parse_dictionary(text: &str) -> Result<Vec<Vec<u8>>, String> {
    let mut tokens = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let quoted = line
            .find('"')
            .map(|start| &line[start..])
            .filter(|q| q.len() >= 2 && q.ends_with('"'))
            .ok_or_else(|| format!("line {}: expected a \"quoted\" token", n + 1))?;
        let inner = &quoted[1..quoted.len() - 1];
        let mut bytes = Vec::new();
        let mut chars = inner.bytes();
        while let Some(b) = chars.next() {
            if b != b'\\' {
                bytes.push(b);
                continue;
            }
            match chars.next() {
                Some(b'x') => {
                    let hex: Vec<u8> = chars.by_ref().take(2).collect();
                    let value = std::str::from_utf8(&hex)
                        .ok()
                        .and_then(|h| u8::from_str_radix(h, 16).ok())
                        .ok_or_else(|| format!("line {}: bad \\x escape", n + 1))?;
                    bytes.push(value);
                }
                Some(other) => bytes.push(other),
                None => return Err(format!("line {}: a lone backslash", n + 1)),
            }
        }
        tokens.push(bytes);
    }
    Ok(tokens)
}

fn pick<'a, T>(rng: &mut Rng, items: &'a [T]) -> Option<&'a T> {
    (!items.is_empty()).then(|| &items[rng.usize(..items.len())])
}

/// One mutated copy of `base`. `other` is another corpus entry to splice
/// from.
pub fn mutate(rng: &mut Rng, base: &Steps, other: &Steps, dictionary: &[Vec<u8>]) -> Steps {
    let mut steps = base.0.clone();
    let rounds = 1 + rng.usize(..3);
    for _ in 0..rounds {
        mutate_once(rng, &mut steps, other, dictionary);
    }
    steps.retain(|s| !matches!(s, Step::Raw(b) if b.is_empty()));
    steps.truncate(MAX_STEPS);
    if steps.is_empty() {
        steps.push(Step::Frame(vec![1, 0x03, 0, 0, 0, 1]));
    }
    Steps(steps)
}

fn frame_indices(steps: &[Step]) -> Vec<usize> {
    (0..steps.len())
        .filter(|&i| matches!(steps[i], Step::Frame(_)))
        .collect()
}

fn mutate_once(rng: &mut Rng, steps: &mut Vec<Step>, other: &Steps, dictionary: &[Vec<u8>]) {
    let frames = frame_indices(steps);
    match rng.u8(..12) {
        // A byte of a frame's body (its CRC stays right).
        0..=2 => {
            if let Some(&i) = pick(rng, &frames) {
                if let Step::Frame(body) = &mut steps[i] {
                    let at = rng.usize(..body.len());
                    body[at] = match rng.u8(..4) {
                        0 => body[at] ^ (1 << rng.u8(..8)),
                        1 => body[at].wrapping_add(1),
                        2 => body[at].wrapping_sub(1),
                        _ => rng.u8(..),
                    };
                }
            }
        }
        // A dictionary token into a frame's body.
        3 => {
            if let (Some(&i), Some(token)) = (pick(rng, &frames), pick(rng, dictionary)) {
                if let Step::Frame(body) = &mut steps[i] {
                    let at = rng.usize(..=body.len());
                    if rng.bool() && at + token.len() <= body.len() {
                        body[at..at + token.len()].copy_from_slice(token);
                    } else if body.len() + token.len() <= MAX_BODY {
                        body.splice(at..at, token.iter().copied());
                    }
                }
            }
        }
        // Bytes in or out of a frame's body.
        4 => {
            if let Some(&i) = pick(rng, &frames) {
                if let Step::Frame(body) = &mut steps[i] {
                    if rng.bool() && body.len() > 2 {
                        body.remove(rng.usize(1..body.len()));
                    } else if body.len() < MAX_BODY {
                        body.insert(rng.usize(1..=body.len()), rng.u8(..));
                    }
                }
            }
        }
        // A step from another input.
        5 => {
            if let Some(step) = pick(rng, &other.0) {
                let at = rng.usize(..=steps.len());
                steps.insert(at, step.clone());
            }
        }
        // A step dropped or repeated.
        6 => {
            if !steps.is_empty() {
                let i = rng.usize(..steps.len());
                if rng.bool() && steps.len() > 1 {
                    steps.remove(i);
                } else {
                    steps.insert(i, steps[i].clone());
                }
            }
        }
        // Malformed: a bad CRC, a frame cut short, or garbage after it.
        7 | 8 => {
            if let Some(&i) = pick(rng, &frames) {
                let mut wire = steps[i].wire();
                match rng.u8(..3) {
                    0 => {
                        let last = wire.len() - 1 - rng.usize(..2);
                        wire[last] ^= 1 + rng.u8(..255);
                    }
                    1 => {
                        let keep = rng.usize(1..wire.len());
                        wire.truncate(keep);
                    }
                    _ => {
                        let extra = 1 + rng.usize(..8);
                        wire.extend((0..extra).map(|_| rng.u8(..)));
                    }
                }
                steps[i] = Step::Raw(wire);
            }
        }
        // A fresh frame for this unit, or a broadcast, around a dictionary token.
        9 => {
            let unit = if rng.u8(..8) == 0 { 0 } else { 1 };
            let mut body = vec![unit];
            match pick(rng, dictionary) {
                Some(token) => body.extend_from_slice(token),
                None => body.push(rng.u8(..)),
            }
            body.extend((0..rng.usize(..6)).map(|_| rng.u8(..)));
            if body.len() >= 2 {
                let at = rng.usize(..=steps.len());
                steps.insert(at, Step::Frame(body));
            }
        }
        // A reset in the middle.
        10 => {
            if rng.u8(..4) == 0 {
                let at = rng.usize(..=steps.len());
                steps.insert(at, Step::Reset);
            }
        }
        // Byte-level, on the encoded input.
        _ => {
            let mut bytes = Steps(std::mem::take(steps)).encode();
            if !bytes.is_empty() {
                let at = rng.usize(..bytes.len());
                bytes[at] = rng.u8(..);
            }
            *steps = Steps::from_bytes(&bytes).0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_project_dictionary_parses() {
        let root = crate::firmware::source_root().unwrap();
        let text = std::fs::read_to_string(root.join("fuzz/modbus.dict")).unwrap();
        let tokens = parse_dictionary(&text).unwrap();
        assert!(tokens.contains(&vec![0x5A, 0xA5]), "{tokens:?}");
        assert!(tokens.len() > 30);
        assert_eq!(
            parse_dictionary("a=\"\\x01\\\\\\\"z\"\n").unwrap(),
            [vec![1, b'\\', b'"', b'z']]
        );
        assert!(parse_dictionary("nope\n")
            .unwrap_err()
            .starts_with("line 1"));
    }

    #[test]
    fn mutations_stay_bounded_and_frames_keep_their_crc() {
        let mut rng = Rng::with_seed(7);
        let base = Steps(vec![
            Step::Frame(vec![1, 3, 0, 0, 0, 1]),
            Step::Raw(vec![0x55]),
        ]);
        let other = Steps(vec![Step::Frame(vec![1, 6, 1, 0x10, 0xA5, 0x5A])]);
        let dictionary = vec![vec![0x5A, 0xA5]];
        let mut current = base.clone();
        let mut changed = 0;
        for _ in 0..2000 {
            let next = mutate(&mut rng, &current, &other, &dictionary);
            assert!(!next.0.is_empty() && next.0.len() <= MAX_STEPS);
            for step in &next.0 {
                if let Step::Frame(body) = step {
                    assert!(body.len() >= 2);
                    assert!(hilt_modbus::wire::crc_ok(&step.wire()));
                }
            }
            changed += usize::from(next != current);
            current = if rng.u8(..10) == 0 {
                base.clone()
            } else {
                next
            };
        }
        assert!(changed > 1500, "{changed}");
    }
}
