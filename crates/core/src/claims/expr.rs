//! Claim expressions: a tiny language for reading values out of a claims document.
//!
//! ```text
//! expr    := join ( '|' join )*          first present, non-empty alternative
//! join    := path ( '+' path )*          present parts joined with one space
//! path    := segment ( '.' segment | '[' digits ']' )*
//! segment := bare | "quoted"             bare: no whitespace . | + " [ ] /
//! ```
//!
//! `+` binds tighter than `|`. A numeric segment indexes an array (`groups.0` or
//! `groups[0]`) and is an ordinary key on an object. Keys containing dots or slashes
//! (Auth0's `"https://example.com/roles"`) are quoted; `\"` and `\\` escape inside quotes.
//! This is hand-written because no maintained crate implements this exact syntax, which
//! is the union of the Nextcloud and BookStack conventions operators already use.

use serde_json::Value;
use std::borrow::Cow;
use std::fmt;

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// An object key (may also index an array when it is all digits).
    Key(String),
    /// `[n]`: an array index.
    Index(usize),
}

/// A dotted path into the claims document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path(pub Vec<Segment>);

/// A parsed claim expression: alternatives (`|`) of joins (`+`) of paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimExpr {
    alternatives: Vec<Vec<Path>>,
    /// The canonical text, written once: every sign-in's trace quotes it.
    text: Box<str>,
}

/// Why an expression could not be parsed; `column` is 1-based, in characters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid claim expression `{expression}` at column {column}: {message}")]
pub struct ExprError {
    pub expression: String,
    pub column: usize,
    pub message: String,
}

impl ExprError {
    /// The expression with a caret under the offending column, for terminals.
    pub fn pointer(&self) -> String {
        format!(
            "{}\n{}^",
            self.expression,
            " ".repeat(self.column.saturating_sub(1))
        )
    }
}

/// Longest expression accepted; keeps configuration mistakes (and fuzzers) bounded.
pub const MAX_EXPRESSION_LEN: usize = 1024;

struct Parser<'a> {
    src: &'a str,
    chars: Vec<char>,
    pos: usize,
}

fn is_bare(c: char) -> bool {
    !(c.is_whitespace() || matches!(c, '.' | '|' | '+' | '"' | '[' | ']' | '/'))
}

impl<'a> Parser<'a> {
    fn err(&self, column: usize, message: impl Into<String>) -> ExprError {
        ExprError {
            expression: self.src.to_owned(),
            column: column + 1,
            message: message.into(),
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn expr(&mut self) -> Result<ClaimExpr, ExprError> {
        let mut alternatives = vec![self.join()?];
        loop {
            self.skip_ws();
            match self.peek() {
                None => break,
                Some('|') => {
                    self.pos += 1;
                    alternatives.push(self.join()?);
                }
                Some(c) => {
                    return Err(self.err(
                        self.pos,
                        format!("unexpected `{c}`; expected `|`, `+` or the end"),
                    ));
                }
            }
        }
        Ok(ClaimExpr::from_alternatives(alternatives))
    }

    fn join(&mut self) -> Result<Vec<Path>, ExprError> {
        let mut parts = vec![self.path()?];
        loop {
            self.skip_ws();
            if self.peek() == Some('+') {
                self.pos += 1;
                parts.push(self.path()?);
            } else {
                return Ok(parts);
            }
        }
    }

    fn path(&mut self) -> Result<Path, ExprError> {
        self.skip_ws();
        let mut segments = vec![self.segment()?];
        loop {
            match self.peek() {
                Some('.') => {
                    self.pos += 1;
                    segments.push(self.segment()?);
                }
                Some('[') => {
                    let open = self.pos;
                    self.pos += 1;
                    let start = self.pos;
                    while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                        self.pos += 1;
                    }
                    let digits: String = self
                        .chars
                        .get(start..self.pos)
                        .unwrap_or(&[])
                        .iter()
                        .collect();
                    if digits.is_empty() || self.peek() != Some(']') {
                        return Err(self.err(
                            open,
                            "`[` must be followed by digits and `]`, as in `groups[0]`",
                        ));
                    }
                    let index = digits
                        .parse::<usize>()
                        .map_err(|_| self.err(start, "array index too large"))?;
                    self.pos += 1;
                    segments.push(Segment::Index(index));
                }
                _ => return Ok(Path(segments)),
            }
        }
    }

    fn segment(&mut self) -> Result<Segment, ExprError> {
        match self.peek() {
            None => Err(self.err(self.pos, "expected a claim name, found the end")),
            Some('"') => {
                let open = self.pos;
                self.pos += 1;
                let mut key = String::new();
                loop {
                    match self.peek() {
                        None => return Err(self.err(open, "unterminated quoted key")),
                        Some('"') => {
                            self.pos += 1;
                            break;
                        }
                        Some('\\') => {
                            self.pos += 1;
                            match self.peek() {
                                Some(c @ ('"' | '\\')) => {
                                    key.push(c);
                                    self.pos += 1;
                                }
                                _ => {
                                    return Err(self.err(
                                        self.pos,
                                        "only `\\\"` and `\\\\` may be escaped in a quoted key",
                                    ));
                                }
                            }
                        }
                        Some(c) => {
                            key.push(c);
                            self.pos += 1;
                        }
                    }
                }
                if key.is_empty() {
                    return Err(self.err(open, "empty quoted key"));
                }
                Ok(Segment::Key(key))
            }
            Some('/') => Err(self.err(
                self.pos,
                "a claim name containing `/` must be quoted, as in `\"https://example.com/roles\"`",
            )),
            Some(c) if is_bare(c) => {
                let start = self.pos;
                while self.peek().is_some_and(is_bare) {
                    self.pos += 1;
                }
                if self.peek() == Some('/') {
                    return Err(self.err(
                        start,
                        "a claim name containing `/` must be quoted, as in `\"https://example.com/roles\"`",
                    ));
                }
                Ok(Segment::Key(
                    self.chars
                        .get(start..self.pos)
                        .unwrap_or(&[])
                        .iter()
                        .collect(),
                ))
            }
            Some(c) => Err(self.err(self.pos, format!("expected a claim name, found `{c}`"))),
        }
    }
}

impl ClaimExpr {
    /// Parses an expression; errors name the 1-based column of the problem.
    pub fn parse(src: &str) -> Result<Self, ExprError> {
        if src.len() > MAX_EXPRESSION_LEN {
            return Err(ExprError {
                expression: src.chars().take(40).collect::<String>() + "…",
                column: MAX_EXPRESSION_LEN,
                message: format!("expression longer than {MAX_EXPRESSION_LEN} bytes"),
            });
        }
        let mut p = Parser {
            src,
            chars: src.chars().collect(),
            pos: 0,
        };
        p.skip_ws();
        if p.peek().is_none() {
            return Err(p.err(
                0,
                "empty expression; name at least one claim, as in `email`",
            ));
        }
        p.expr()
    }

    /// BookStack's `OIDC_DISPLAY_NAME_CLAIMS=given_name|family_name` means *join*, not
    /// fallback: every alternative becomes a part of one join.
    pub fn parse_bookstack_join(src: &str) -> Result<Self, ExprError> {
        let parsed = Self::parse(src)?;
        Ok(ClaimExpr::from_alternatives(vec![
            parsed.alternatives.into_iter().flatten().collect(),
        ]))
    }

    /// An expression reading a single top-level claim.
    pub fn claim(name: &str) -> Self {
        ClaimExpr::from_alternatives(vec![vec![Path(vec![Segment::Key(name.to_owned())])]])
    }

    fn from_alternatives(alternatives: Vec<Vec<Path>>) -> Self {
        let text = Canonical(&alternatives).to_string().into_boxed_str();
        ClaimExpr { alternatives, text }
    }

    /// The alternatives, each a list of joined paths.
    pub fn alternatives(&self) -> &[Vec<Path>] {
        &self.alternatives
    }

    /// Evaluates against a document: the first alternative that is present and non-empty.
    /// A single path yields the raw value (so an array stays an array); a join yields a
    /// string of the present scalar parts separated by one space.
    pub fn eval<'v>(&self, doc: &'v Value) -> Option<Cow<'v, Value>> {
        self.alternatives.iter().find_map(|alt| eval_join(alt, doc))
    }

    /// Evaluates to text: strings as they are, numbers and booleans printed, anything
    /// else (arrays, objects) absent. Trimmed; empty counts as absent.
    pub fn eval_string(&self, doc: &Value) -> Option<String> {
        self.alternatives.iter().find_map(|alt| {
            let v = eval_join(alt, doc)?;
            scalar_text(&v)
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
        })
    }
}

fn eval_join<'v>(parts: &[Path], doc: &'v Value) -> Option<Cow<'v, Value>> {
    match parts {
        [single] => single
            .lookup(doc)
            .filter(|v| !is_empty(v))
            .map(Cow::Borrowed),
        _ => {
            let joined = parts
                .iter()
                .filter_map(|p| p.lookup(doc))
                .filter_map(scalar_text)
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(" ");
            (!joined.is_empty()).then_some(Cow::Owned(Value::String(joined)))
        }
    }
}

/// `null`, blank strings, empty arrays and empty objects count as absent.
pub fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.trim().is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        Value::Bool(_) | Value::Number(_) => false,
    }
}

/// Text of a scalar claim value; arrays and objects have none.
pub fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

impl Path {
    /// Follows the path; `None` when any step is missing.
    pub fn lookup<'v>(&self, doc: &'v Value) -> Option<&'v Value> {
        self.0.iter().try_fold(doc, |cur, seg| match (seg, cur) {
            (Segment::Key(k), Value::Object(map)) => map.get(k),
            (Segment::Key(k), Value::Array(items)) => {
                k.parse::<usize>().ok().and_then(|i| items.get(i))
            }
            (Segment::Index(i), Value::Array(items)) => items.get(*i),
            _ => None,
        })
    }
}

impl fmt::Display for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Segment::Index(i) => write!(f, "[{i}]"),
            Segment::Key(k) if !k.is_empty() && k.chars().all(is_bare) => f.write_str(k),
            Segment::Key(k) => {
                f.write_str("\"")?;
                for c in k.chars() {
                    if matches!(c, '"' | '\\') {
                        f.write_str("\\")?;
                    }
                    write!(f, "{c}")?;
                }
                f.write_str("\"")
            }
        }
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            if i > 0 && matches!(seg, Segment::Key(_)) {
                f.write_str(".")?;
            }
            write!(f, "{seg}")?;
        }
        Ok(())
    }
}

impl ClaimExpr {
    /// The canonical text (what `Display` writes).
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for ClaimExpr {
    /// The canonical form: `parse(expr.to_string()) == expr`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Writes the canonical form of alternatives.
struct Canonical<'a>(&'a [Vec<Path>]);

impl fmt::Display for Canonical<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, alt) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" | ")?;
            }
            for (j, path) in alt.iter().enumerate() {
                if j > 0 {
                    f.write_str(" + ")?;
                }
                write!(f, "{path}")?;
            }
        }
        Ok(())
    }
}

impl std::str::FromStr for ClaimExpr {
    type Err = ExprError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl serde::Serialize for ClaimExpr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for ClaimExpr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc() -> Value {
        json!({
            "sub": "u1",
            "email": "ada@example.com",
            "given_name": "Ada",
            "family_name": "Lovelace",
            "blank": "  ",
            "custom": {"nickname": "ada", "empty": ""},
            "resource_access": {"ssogate": {"roles": ["Editor", "Admin"]}},
            "https://example.com/roles": ["writer"],
            "a.b": "dotted",
            "groups": ["g0", "g1"],
            "age": 36,
            "active": true,
            "nested": [{"name": "first"}, {"name": "second"}],
        })
    }

    fn eval(src: &str) -> Option<Value> {
        ClaimExpr::parse(src)
            .unwrap_or_else(|e| unreachable!("{e}"))
            .eval(&doc())
            .map(Cow::into_owned)
    }

    #[test]
    fn table() {
        let cases: &[(&str, Option<Value>)] = &[
            ("email", Some(json!("ada@example.com"))),
            ("custom.nickname", Some(json!("ada"))),
            ("custom.missing | custom.nickname", Some(json!("ada"))),
            (
                "custom.empty | blank | email",
                Some(json!("ada@example.com")),
            ),
            ("given_name + family_name", Some(json!("Ada Lovelace"))),
            ("missing + family_name", Some(json!("Lovelace"))),
            ("missing + other", None),
            (
                "name | given_name + family_name",
                Some(json!("Ada Lovelace")),
            ),
            (
                "given_name + family_name | email",
                Some(json!("Ada Lovelace")),
            ),
            (
                "resource_access.ssogate.roles",
                Some(json!(["Editor", "Admin"])),
            ),
            ("\"https://example.com/roles\"", Some(json!(["writer"]))),
            ("\"a.b\"", Some(json!("dotted"))),
            ("a.b", None),
            ("groups.1", Some(json!("g1"))),
            ("groups[0]", Some(json!("g0"))),
            ("groups[7] | sub", Some(json!("u1"))),
            ("nested[1].name", Some(json!("second"))),
            ("nested.0.name", Some(json!("first"))),
            ("age", Some(json!(36))),
            ("given_name + age + active", Some(json!("Ada 36 true"))),
            ("given_name + groups", Some(json!("Ada"))),
            ("email.sub", None),
        ];
        for (src, want) in cases {
            assert_eq!(&eval(src), want, "expression `{src}`");
        }
    }

    #[test]
    fn errors_point_at_the_column() {
        let cases: &[(&str, usize, &str)] = &[
            ("", 1, "empty expression"),
            ("email |", 8, "found the end"),
            ("a + | b", 5, "expected a claim name"),
            ("a..b", 3, "expected a claim name"),
            ("https://example.com/roles", 1, "must be quoted"),
            ("\"open", 1, "unterminated"),
            ("groups[x]", 7, "`[` must be followed by digits"),
            ("a b", 3, "unexpected `b`"),
            ("\"\"", 1, "empty quoted key"),
            ("\"a\\n\"", 4, "may be escaped"),
        ];
        for (src, column, needle) in cases {
            let e = ClaimExpr::parse(src)
                .err()
                .unwrap_or_else(|| unreachable!("`{src}` parsed"));
            assert_eq!(e.column, *column, "`{src}`: {e}");
            assert!(e.message.contains(needle), "`{src}`: {e}");
        }
        let e = ClaimExpr::parse("email | | name").err();
        assert!(e.is_some_and(|e| e.pointer().ends_with("        ^")));
    }

    #[test]
    fn display_round_trips() {
        for src in [
            "email",
            "a.b.c | \"https://x.y/z\".groups[2] + b",
            "\"quote\\\"d\" + \"back\\\\slash\"",
            "x.0 | y[3].z",
        ] {
            let e = ClaimExpr::parse(src).unwrap_or_else(|e| unreachable!("{e}"));
            let again = ClaimExpr::parse(&e.to_string()).unwrap_or_else(|e| unreachable!("{e}"));
            assert_eq!(e, again, "{src} -> {e}");
        }
    }

    #[test]
    fn bookstack_pipe_means_join() {
        let e = ClaimExpr::parse_bookstack_join("given_name|family_name")
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(e.eval_string(&doc()).as_deref(), Some("Ada Lovelace"));
        assert_eq!(e.to_string(), "given_name + family_name");
    }

    #[test]
    fn eval_string_handles_non_strings_deliberately() {
        let p = |s| ClaimExpr::parse(s).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(p("age").eval_string(&doc()).as_deref(), Some("36"));
        assert_eq!(p("active").eval_string(&doc()).as_deref(), Some("true"));
        assert_eq!(
            p("groups | email").eval_string(&doc()).as_deref(),
            Some("ada@example.com")
        );
        assert_eq!(p("groups").eval_string(&doc()), None);
    }
}
