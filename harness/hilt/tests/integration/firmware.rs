//! Firmware builds: test-only code is told apart from the shipped build.

use hilt::firmware::{self, LM3S6965EVB, TEST_ONLY_MARKERS};

#[test]
fn the_shipped_image_carries_no_test_only_code_and_the_planted_one_does() {
    let shipped = firmware::build(&LM3S6965EVB).expect("the shipped build");
    for text in TEST_ONLY_MARKERS {
        assert!(
            !firmware::image_contains(&shipped, text.as_bytes()).unwrap(),
            "the shipped image contains {text:?}"
        );
    }
    let planted =
        firmware::build_variant(&LM3S6965EVB, &["planted-bugs"]).expect("the planted build");
    assert!(firmware::image_contains(&planted, b"exception-status-overread").unwrap());
    assert!(firmware::image_contains(&planted, b"planted bug").unwrap());
}
