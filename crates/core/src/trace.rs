//! The human-readable explanation of a decision, step by step.

use serde::Serialize;
use std::fmt;

/// The pipeline stage a trace line belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    Map,
    Rules,
    Hooks,
    Groups,
    Match,
    Policy,
    Username,
    Grants,
    Attributes,
    Assign,
    Decision,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Step::Map => "map",
            Step::Rules => "rules",
            Step::Hooks => "hooks",
            Step::Groups => "groups",
            Step::Match => "match",
            Step::Policy => "policy",
            Step::Username => "username",
            Step::Grants => "grants",
            Step::Attributes => "attributes",
            Step::Assign => "assign",
            Step::Decision => "decision",
        })
    }
}

/// One line of explanation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TraceLine {
    pub step: Step,
    pub message: String,
}

/// `step: message`, as printed for people and kept in audit events.
impl fmt::Display for TraceLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.step, self.message)
    }
}

/// Every step the engine took, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Trace(Vec<TraceLine>);

impl Trace {
    /// Room for `lines` lines.
    pub fn with_capacity(lines: usize) -> Self {
        Trace(Vec::with_capacity(lines))
    }

    pub fn note(&mut self, step: Step, message: impl Into<String>) {
        self.0.push(TraceLine {
            step,
            message: message.into(),
        });
    }

    /// A line made of `parts` end to end: one allocation of the exact size, where
    /// `format!` grows its string as it goes (every login writes a score of lines).
    pub fn note_parts(&mut self, step: Step, parts: &[&str]) {
        self.note(step, parts.concat());
    }

    pub fn lines(&self) -> &[TraceLine] {
        &self.0
    }

    /// `step: message` per line, as printed for people.
    pub fn to_strings(&self) -> Vec<String> {
        self.0.iter().map(ToString::to_string).collect()
    }
}
