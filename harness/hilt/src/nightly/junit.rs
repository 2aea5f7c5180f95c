//! The night as JUnit XML (`quick-junit`): one test suite per board, one
//! test case per property run, scenario, regression case and campaign, and
//! one for the board itself (an error when it could not be used).

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use super::{Nightly, Status};

/// The JUnit XML of a night.
pub fn junit(night: &Nightly) -> Result<String, String> {
    let mut report = Report::new("hilt nightly");
    for board in &night.boards {
        let mut suite = TestSuite::new(format!("hilt.{}", board.board));
        let status = match board.status {
            Status::Infrastructure => {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
                s.set_message(
                    board
                        .problem
                        .clone()
                        .unwrap_or_else(|| "infrastructure problem".into()),
                );
                s
            }
            Status::Failed => {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                s.set_message("a test failed or something new crashed");
                s
            }
            Status::Passed => TestCaseStatus::success(),
        };
        let mut case = TestCase::new("board", status);
        case.set_classname(format!("hilt.{}", board.board));
        case.set_time(std::time::Duration::from_secs_f64(board.seconds));
        suite.add_test_case(case);
        for c in &board.cases {
            let status = if c.passed {
                TestCaseStatus::success()
            } else {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                if let Some(m) = &c.message {
                    s.set_message(m.clone());
                }
                let mut text = String::new();
                for part in [&c.diff, &c.transcript].into_iter().flatten() {
                    text.push_str(part);
                    text.push('\n');
                }
                if !text.is_empty() {
                    s.set_description(text);
                }
                s
            };
            let mut case = TestCase::new(format!("{}::{}", c.suite, c.name), status);
            case.set_classname(format!("hilt.{}.{}", board.board, c.suite));
            case.set_time(std::time::Duration::from_secs_f64(c.seconds));
            suite.add_test_case(case);
        }
        report.add_test_suite(suite);
    }
    report.to_string().map_err(|e| e.to_string())
}
