//! Request scripts: one request per line in a protocol's readable language,
//! plus the directive `reset`. Blank lines and `#` comments are skipped.
//!
//! A whole script is parsed before anything is sent, so a typo on line 40
//! is reported before a target is even started.

use hilt_protocol::Protocol;

/// One step of a script.
#[derive(Debug, Clone)]
pub enum Step<R> {
    /// Send a request.
    Request(R),
    /// Reset the target.
    Reset,
}

/// A line that does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptError {
    /// Where the script came from (a file name, `argument`).
    pub origin: String,
    /// The 1-based line (or argument) number; 0 for the script as a whole.
    pub line: usize,
    /// The line's text.
    pub text: String,
    /// What is wrong with it.
    pub message: String,
}

impl ScriptError {
    /// An error about the script as a whole (it cannot be read, it is empty).
    pub fn whole(origin: impl Into<String>, message: impl Into<String>) -> Self {
        ScriptError {
            origin: origin.into(),
            line: 0,
            text: String::new(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for ScriptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.origin, self.message)
        } else {
            write!(
                f,
                "{}:{}: `{}`: {}",
                self.origin, self.line, self.text, self.message
            )
        }
    }
}

impl std::error::Error for ScriptError {}

/// Parses `lines` (numbered from 1) into steps.
pub fn parse<'a, P: Protocol>(
    protocol: &P,
    origin: &str,
    lines: impl IntoIterator<Item = &'a str>,
) -> Result<Vec<Step<P::Request>>, ScriptError> {
    let mut steps = Vec::new();
    for (i, raw) in lines.into_iter().enumerate() {
        let text = raw.split('#').next().unwrap_or_default().trim();
        if text.is_empty() {
            continue;
        }
        if text == "reset" {
            steps.push(Step::Reset);
            continue;
        }
        match protocol.parse_request(text) {
            Ok(request) => steps.push(Step::Request(request)),
            Err(e) => {
                return Err(ScriptError {
                    origin: origin.to_owned(),
                    line: i + 1,
                    text: text.to_owned(),
                    message: e.message,
                })
            }
        }
    }
    Ok(steps)
}
