//! Feedback without touching the firmware: an input is kept when the
//! device does something new, as AFLNet does for network servers. What
//! counts as new is behind [`Feedback`], so device-side coverage (from a
//! probe or QEMU) can plug in later.

use std::collections::HashSet;
use std::time::Duration;

/// An answer's shape: function code, exception code (0 for a normal
/// answer), length class; `None` for silence.
pub type Shape = Option<(u8, u8, u8)>;
/// The node's (lock, listen-only) state, as the reference model follows it.
pub type State = (u8, bool);

/// What one step of an input made the device do, as seen from outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Observation {
    /// The answer's shape: function code, exception code (0 for a normal
    /// answer), and length class (log2 of its length); `None` for silence.
    pub shape: Shape,
    /// The outcome class (answered, exception, missing, ...).
    pub class: &'static str,
    /// A state transition of the node, as the reference model follows it:
    /// (lock, listen-only) before and after, when it changed.
    pub transition: Option<(State, State)>,
    /// The answer's latency class: log2 of its time in units of 100 µs.
    pub timing: u8,
}

/// Decides which inputs are worth keeping.
pub trait Feedback: Send {
    /// Records what a step did; true if it was new.
    fn observe(&mut self, observation: &Observation) -> bool;
    /// How many distinct behaviours were seen.
    fn seen(&self) -> usize;
}

/// Log2 bucket of a length: 0, 1, 2-3, 4-7, ...
pub fn length_class(len: usize) -> u8 {
    (usize::BITS - len.leading_zeros()) as u8
}

/// Log2 bucket of a latency in units of 100 µs.
pub fn timing_class(elapsed: Duration) -> u8 {
    let units = (elapsed.as_micros() / 100) as usize;
    length_class(units)
}

/// New response shapes, outcome classes, state transitions and timing
/// classes (per shape) are new behaviour.
#[derive(Debug, Default)]
pub struct ShapeFeedback {
    shapes: HashSet<(Shape, &'static str)>,
    transitions: HashSet<(State, State)>,
    timings: HashSet<(Shape, u8)>,
}

impl Feedback for ShapeFeedback {
    fn observe(&mut self, o: &Observation) -> bool {
        let mut new = self.shapes.insert((o.shape, o.class));
        if let Some(t) = o.transition {
            new |= self.transitions.insert(t);
        }
        new |= self.timings.insert((o.shape, o.timing));
        new
    }

    fn seen(&self) -> usize {
        self.shapes.len() + self.transitions.len() + self.timings.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_shapes_transitions_and_timings_count_once() {
        let mut f = ShapeFeedback::default();
        let o = Observation {
            shape: Some((0x03, 0, length_class(7))),
            class: "answered",
            transition: None,
            timing: timing_class(Duration::from_micros(250)),
        };
        assert!(f.observe(&o));
        assert!(!f.observe(&o));
        assert!(f.observe(&Observation { timing: 9, ..o }));
        assert!(f.observe(&Observation {
            transition: Some(((0, false), (1, false))),
            ..o
        }));
        assert_eq!(f.seen(), 4);
        assert_eq!(
            (
                length_class(0),
                length_class(1),
                length_class(5),
                length_class(256)
            ),
            (0, 1, 3, 9)
        );
    }
}
