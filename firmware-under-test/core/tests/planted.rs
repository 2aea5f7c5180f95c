//! Every planted bug's witness, on the shipped build and on the planted one.
//!
//! Run twice by `ci/test`: without features (the shipped build), where every
//! witness gets MODBUS-NODE.md's answers, and with `--features
//! planted-bugs`, where each witness, with only its own bug active, fires
//! the way the catalogue says. So the shipped build has none of the bugs,
//! and each bug is real and reachable.

use mbnode_core::frame::{crc16, MAX_ADU};
use mbnode_core::node::{Lock, Node, NodeConfig};
use mbnode_core::planted::{self, Bug, Planted, BUGS};
use mbnode_core::rtu::Received;

/// What a witness does: the answer to each frame, and the node's state
/// after the last one.
#[derive(Debug, PartialEq)]
struct Run {
    answers: Vec<Option<Vec<u8>>>,
    node: Node,
}

fn frame(bug: Bug, body: &[u8]) -> Vec<u8> {
    let crc = crc16(body);
    let mut frame = body.to_vec();
    frame.extend_from_slice(&match bug {
        Bug::CrcByteOrder => crc.to_be_bytes(),
        _ => crc.to_le_bytes(),
    });
    frame
}

fn run(p: &Planted) -> Run {
    let mut node = Node::new(NodeConfig { model_name: "test" });
    let mut answers = Vec::new();
    for body in p.witness {
        let mut out = [0u8; MAX_ADU];
        let answer = node.handle(Received::Frame(&frame(p.bug, body)), 0, &mut out);
        answers.push(answer.map(|n| out[..n].to_vec()));
    }
    Run { answers, node }
}

fn pdu(answer: &Option<Vec<u8>>) -> Option<&[u8]> {
    answer.as_deref().map(|a| &a[1..a.len() - 2])
}

/// MODBUS-NODE.md's answers to each witness.
fn assert_as_specified(p: &Planted, run: &Run) {
    let exception = |code: u8| Some(vec![p.witness[0][1] | 0x80, code]);
    let last = run.answers.last().unwrap();
    let want: Option<Vec<u8>> = match p.bug {
        Bug::RwWriteRange => exception(0x02),
        Bug::ExceptionStatusOverread => Some(vec![0x07, 0x00]),
        Bug::FileRecordWalk | Bug::RegisterCountOverflow | Bug::ZeroLengthLoop => exception(0x03),
        Bug::CoilsTrailingBytes => exception(0x03),
        // Echoed; the lock stays locked.
        Bug::LockBypass | Bug::MaskWriteNoEcho => Some(p.witness[0][1..].to_vec()),
        Bug::UnitIdZero => Some(vec![0x86, 0x03]),
        // A CRC in the wrong byte order is a communication error.
        Bug::CrcByteOrder => None,
    };
    assert_eq!(pdu(last), want.as_deref(), "{} on the shipped build", p.id);
    assert_eq!(
        run.node.lock(),
        match p.bug {
            Bug::UnitIdZero => Lock::Unlocked,
            _ => Lock::Locked,
        }
    );
    assert_eq!(run.node.unit_id(), 1);
}

#[cfg(not(feature = "planted-bugs"))]
#[test]
fn the_shipped_build_has_none_of_the_planted_bugs() {
    for p in &BUGS {
        assert!(!planted::on(p.bug), "{} is active", p.id);
        let run = run(p);
        assert_as_specified(p, &run);
    }
}

#[cfg(feature = "planted-bugs")]
#[test]
fn each_planted_bug_fires_on_its_witness_as_documented() {
    use std::panic;
    use std::sync::mpsc;
    use std::time::Duration;

    // The selection is global: one test walks every bug in turn.
    // Expected panics are caught quietly; any other keeps its message.
    let quietly = |f: &dyn Fn()| {
        let hook = panic::take_hook();
        panic::set_hook(Box::new(|_| {}));
        let caught = panic::catch_unwind(panic::AssertUnwindSafe(f));
        panic::set_hook(hook);
        caught
    };
    for p in &BUGS {
        planted::select(&[p.bug]);
        use planted::Symptom;
        match p.symptom {
            Symptom::Panic => {
                let message = quietly(&|| {
                    run(p);
                })
                .expect_err(p.id);
                let message = message
                    .downcast_ref::<String>()
                    .cloned()
                    .unwrap_or_default();
                assert!(
                    message.starts_with(&format!("planted bug {} ", p.id)),
                    "{}: {message}",
                    p.id
                );
            }
            Symptom::Hang => {
                let (done, finished) = mpsc::channel();
                std::thread::spawn(move || {
                    let _ = done.send(run(p));
                });
                assert!(
                    finished.recv_timeout(Duration::from_secs(1)).is_err(),
                    "{} did not hang",
                    p.id
                );
                // Deselecting the bug lets the spinning walk end.
                planted::select(&[]);
                finished.recv_timeout(Duration::from_secs(5)).unwrap();
            }
            Symptom::WrongAnswer => {
                let run = run(p);
                let caught = quietly(&|| assert_as_specified(p, &run));
                assert!(caught.is_err(), "{} gave the specified answers", p.id);
            }
        }
        // And with every other bug active, its own witness is harmless.
        let others: Vec<Bug> = BUGS.iter().map(|q| q.bug).filter(|b| *b != p.bug).collect();
        planted::select(&others);
        assert_as_specified(p, &run(p));
    }
}
