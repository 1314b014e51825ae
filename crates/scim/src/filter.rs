//! Filters (RFC 7644 3.4.2.2) and attribute paths: parsed once, evaluated over a
//! resource's JSON. Attribute names are case-insensitive; string comparisons are too,
//! except for `id`, `externalId` and `members.value` (identifiers, case-exact). A
//! complex attribute compared as a whole compares its `value` (Entra's
//! `members eq "id"`). `and` binds tighter than `or`.

use crate::{ScimError, get_ci, strip_urn};
use serde_json::Value;

/// `attr`, `attr.sub`, `attr[filter]` or `attr[filter].sub`; `attr` may carry a schema
/// URN (`urn:…:User:userName`, or an extension's `urn:…:enterprise:2.0:User:department`).
#[derive(Debug, Clone, PartialEq)]
pub struct Path {
    /// For an extension attribute, the extension's URN; else `None`.
    pub extension: Option<String>,
    pub attr: String,
    pub filter: Option<Box<Filter>>,
    pub sub: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Present(Path),
    Compare(Path, Op, Value),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Str(String),
    Open,
    Close,
    LBracket,
    RBracket,
}

fn lex(s: &str) -> Result<Vec<Tok>, ScimError> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' | ')' | '[' | ']' => {
                chars.next();
                out.push(match c {
                    '(' => Tok::Open,
                    ')' => Tok::Close,
                    '[' => Tok::LBracket,
                    _ => Tok::RBracket,
                });
            }
            '"' => {
                chars.next();
                let mut v = String::new();
                loop {
                    match chars.next() {
                        None => {
                            return Err(ScimError::invalid_filter("a string is not closed (\")"));
                        }
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some('n') => v.push('\n'),
                            Some('t') => v.push('\t'),
                            Some(other) => v.push(other),
                            None => {
                                return Err(ScimError::invalid_filter("a string ends in \\"));
                            }
                        },
                        Some(c) => v.push(c),
                    }
                }
                out.push(Tok::Str(v));
            }
            _ => {
                let mut w = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() || matches!(c, '(' | ')' | '[' | ']' | '"') {
                        break;
                    }
                    w.push(c);
                    chars.next();
                }
                out.push(Tok::Word(w));
            }
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Tok>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.at)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.at).cloned();
        self.at += 1;
        t
    }
    fn keyword(&self, k: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(k))
    }

    fn or(&mut self) -> Result<Filter, ScimError> {
        let mut left = self.and()?;
        while self.keyword("or") {
            self.at += 1;
            left = Filter::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Filter, ScimError> {
        let mut left = self.unary()?;
        while self.keyword("and") {
            self.at += 1;
            left = Filter::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Filter, ScimError> {
        if self.keyword("not") {
            self.at += 1;
            if self.next() != Some(Tok::Open) {
                return Err(ScimError::invalid_filter("`not` must be followed by ( … )"));
            }
            let f = self.or()?;
            self.close(Tok::Close, ")")?;
            return Ok(Filter::Not(Box::new(f)));
        }
        if self.peek() == Some(&Tok::Open) {
            self.at += 1;
            let f = self.or()?;
            self.close(Tok::Close, ")")?;
            return Ok(f);
        }
        let path = self.path()?;
        if let (Some(_), None) = (&path.filter, &path.sub) {
            // A value path on its own, `emails[type eq "work"]`: some element matches.
            if !matches!(self.peek(), Some(Tok::Word(w)) if op(w).is_some() || w.eq_ignore_ascii_case("pr"))
            {
                return Ok(Filter::Present(path));
            }
        }
        match self.next() {
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("pr") => Ok(Filter::Present(path)),
            Some(Tok::Word(w)) => {
                let o = op(&w).ok_or_else(|| {
                    ScimError::invalid_filter(format!(
                        "`{w}` is not an operator (eq, ne, co, sw, ew, gt, ge, lt, le, pr)"
                    ))
                })?;
                let value = match self.next() {
                    Some(Tok::Str(s)) => Value::String(s),
                    Some(Tok::Word(w)) => literal(&w)?,
                    _ => return Err(ScimError::invalid_filter("a comparison needs a value")),
                };
                Ok(Filter::Compare(path, o, value))
            }
            _ => Err(ScimError::invalid_filter(
                "an attribute must be followed by an operator",
            )),
        }
    }

    fn close(&mut self, want: Tok, what: &str) -> Result<(), ScimError> {
        if self.next() == Some(want) {
            Ok(())
        } else {
            Err(ScimError::invalid_filter(format!("expected {what}")))
        }
    }

    fn path(&mut self) -> Result<Path, ScimError> {
        let Some(Tok::Word(w)) = self.next() else {
            return Err(ScimError::invalid_filter("expected an attribute name"));
        };
        let mut p = parse_attr(&w).map_err(|e| ScimError::invalid_filter(e.detail))?;
        if self.peek() == Some(&Tok::LBracket) {
            if p.sub.is_some() {
                return Err(ScimError::invalid_filter(format!(
                    "`{w}[…]`: a filter goes after the attribute, before any sub-attribute"
                )));
            }
            self.at += 1;
            let inner = self.or()?;
            self.close(Tok::RBracket, "]")?;
            p.filter = Some(Box::new(inner));
            // `emails[type eq "work"].value`: the sub-attribute is its own word.
            if let Some(Tok::Word(rest)) = self.peek()
                && let Some(sub) = rest.strip_prefix('.')
            {
                p.sub = Some(sub.to_owned());
                self.at += 1;
            }
        }
        Ok(p)
    }
}

fn op(w: &str) -> Option<Op> {
    Some(match w.to_ascii_lowercase().as_str() {
        "eq" => Op::Eq,
        "ne" => Op::Ne,
        "co" => Op::Co,
        "sw" => Op::Sw,
        "ew" => Op::Ew,
        "gt" => Op::Gt,
        "ge" => Op::Ge,
        "lt" => Op::Lt,
        "le" => Op::Le,
        _ => return None,
    })
}

fn literal(w: &str) -> Result<Value, ScimError> {
    match w.to_ascii_lowercase().as_str() {
        "true" => return Ok(Value::Bool(true)),
        "false" => return Ok(Value::Bool(false)),
        "null" => return Ok(Value::Null),
        _ => {}
    }
    serde_json::from_str::<serde_json::Number>(w)
        .map(Value::Number)
        .map_err(|_| {
            ScimError::invalid_filter(format!(
                "`{w}` is not a value: quote strings (\"…\"), or use true, false, null or a number"
            ))
        })
}

/// `userName`, `name.givenName`, `urn:…:User:emails.value`, `urn:…:enterprise:2.0:User:manager.value`.
fn parse_attr(w: &str) -> Result<Path, ScimError> {
    let stripped = strip_urn(w);
    let (extension, rest) = if stripped.to_ascii_lowercase().starts_with("urn:") {
        // An extension: the URN runs to the last `:`.
        match stripped.rsplit_once(':') {
            Some((urn, attr)) => (Some(urn.to_owned()), attr),
            None => (None, stripped),
        }
    } else {
        (None, stripped)
    };
    let (attr, sub) = match rest.split_once('.') {
        Some((a, s)) => (a, Some(s.to_owned())),
        None => (rest, None),
    };
    let ok = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '$')
    };
    if !ok(attr) || sub.as_deref().is_some_and(|s| !ok(s)) {
        return Err(ScimError::invalid_path(format!(
            "`{w}` is not an attribute path"
        )));
    }
    Ok(Path {
        extension,
        attr: attr.to_owned(),
        filter: None,
        sub,
    })
}

/// Parses a filter.
pub fn parse(s: &str) -> Result<Filter, ScimError> {
    let mut p = Parser {
        toks: lex(s)?,
        at: 0,
    };
    let f = p.or()?;
    if p.at < p.toks.len() {
        return Err(ScimError::invalid_filter(
            "the filter goes on after a complete expression (quote strings, join with and/or)",
        ));
    }
    Ok(f)
}

/// Parses a PATCH `path`: an attribute path, possibly with a value filter.
pub fn parse_path(s: &str) -> Result<Path, ScimError> {
    let mut p = Parser {
        toks: lex(s).map_err(|e| ScimError::invalid_path(e.detail))?,
        at: 0,
    };
    let path = p.path().map_err(|e| ScimError::invalid_path(e.detail))?;
    if p.at < p.toks.len() {
        return Err(ScimError::invalid_path(format!("`{s}` is not a path")));
    }
    Ok(path)
}

impl Path {
    /// The object holding this path's attribute: the resource, or its extension.
    pub(crate) fn holder<'a>(&self, resource: &'a Value) -> Option<&'a Value> {
        match &self.extension {
            None => Some(resource),
            Some(urn) => get_ci(resource, urn),
        }
    }

    fn exact(&self) -> bool {
        let a = self.attr.to_ascii_lowercase();
        match self.sub.as_deref().map(str::to_ascii_lowercase).as_deref() {
            None => a == "id" || a == "externalid",
            Some("value") => a == "members",
            Some(_) => false,
        }
    }
}

/// Whether `resource` matches `f`.
pub fn matches(f: &Filter, resource: &Value) -> bool {
    match f {
        Filter::And(a, b) => matches(a, resource) && matches(b, resource),
        Filter::Or(a, b) => matches(a, resource) || matches(b, resource),
        Filter::Not(a) => !matches(a, resource),
        Filter::Present(p) => values(p, resource).iter().any(|v| match v {
            Value::Null => false,
            Value::String(s) => !s.is_empty(),
            Value::Array(a) => !a.is_empty(),
            Value::Object(o) => !o.is_empty(),
            _ => true,
        }),
        // Not equal: no value equals (an absent attribute is not equal to anything).
        Filter::Compare(p, Op::Ne, want) => {
            let exact = p.exact();
            !values(p, resource)
                .iter()
                .any(|have| compare(have, Op::Eq, want, exact))
        }
        Filter::Compare(p, op, want) => {
            let exact = p.exact();
            values(p, resource)
                .iter()
                .any(|have| compare(have, *op, want, exact))
        }
    }
}

/// The values at `p` in `resource` (every element of a multi-valued attribute, each
/// element's sub-attribute), filtered by the path's own filter.
fn values<'a>(p: &Path, resource: &'a Value) -> Vec<&'a Value> {
    let Some(top) = p.holder(resource).and_then(|h| get_ci(h, &p.attr)) else {
        return Vec::new();
    };
    let items: Vec<&Value> = match top {
        Value::Array(a) => a.iter().collect(),
        v => vec![v],
    };
    let items = items
        .into_iter()
        .filter(|i| p.filter.as_ref().is_none_or(|f| matches(f, i)));
    match &p.sub {
        None => items.collect(),
        Some(s) => items.filter_map(|i| get_ci(i, s)).collect(),
    }
}

fn compare(have: &Value, op: Op, want: &Value, exact: bool) -> bool {
    // A complex value compared as a whole: its `value`.
    let have = match have {
        Value::Object(_) => match get_ci(have, "value") {
            Some(v) => v,
            None => return false,
        },
        v => v,
    };
    match (have, want) {
        (Value::String(h), Value::String(w)) => {
            let (h, w) = if exact {
                (h.clone(), w.clone())
            } else {
                (h.to_lowercase(), w.to_lowercase())
            };
            match op {
                Op::Eq => h == w,
                Op::Ne => h != w,
                Op::Co => h.contains(&w),
                Op::Sw => h.starts_with(&w),
                Op::Ew => h.ends_with(&w),
                Op::Gt => h > w,
                Op::Ge => h >= w,
                Op::Lt => h < w,
                Op::Le => h <= w,
            }
        }
        (Value::Number(h), Value::Number(w)) => {
            let (Some(h), Some(w)) = (h.as_f64(), w.as_f64()) else {
                return false;
            };
            match op {
                Op::Eq => h == w,
                Op::Ne => h != w,
                Op::Gt => h > w,
                Op::Ge => h >= w,
                Op::Lt => h < w,
                Op::Le => h <= w,
                _ => false,
            }
        }
        (Value::Bool(h), Value::Bool(w)) => match op {
            Op::Eq => h == w,
            Op::Ne => h != w,
            _ => false,
        },
        (h, Value::Null) => match op {
            Op::Eq => h.is_null(),
            Op::Ne => !h.is_null(),
            _ => false,
        },
        _ => op == Op::Ne,
    }
}

/// When a filter asks for exactly one `attr eq "value"` (what clients look up an
/// existing resource by), that pair: the server can then look it up instead of
/// scanning.
pub fn equality(f: &Filter) -> Option<(&str, &str)> {
    match f {
        Filter::Compare(p, Op::Eq, Value::String(v))
            if p.extension.is_none() && p.filter.is_none() && p.sub.is_none() =>
        {
            Some((p.attr.as_str(), v.as_str()))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn user() -> Value {
        json!({"id": "42", "userName": "Ada@Example.org", "externalId": "abc", "active": true,
            "emails": [{"value": "ada@example.org", "type": "work", "primary": true},
                       {"value": "ada@home.example", "type": "home"}],
            "meta": {"lastModified": "2026-11-30T10:00:00Z"},
            "groups": [{"value": "7", "display": "Readers"}],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "R&D"}})
    }

    fn yes(f: &str) -> bool {
        matches(&parse(f).unwrap_or_else(|e| panic!("{f}: {e}")), &user())
    }

    #[test]
    fn what_identity_providers_send_matches() {
        assert!(yes(r#"userName eq "ada@example.org""#));
        assert!(yes(
            r#"urn:ietf:params:scim:schemas:core:2.0:User:userName eq "ADA@EXAMPLE.ORG""#
        ));
        assert!(yes(r#"externalId eq "abc""#));
        assert!(!yes(r#"externalId eq "ABC""#), "identifiers are case-exact");
        assert!(yes(r#"emails[type eq "work" and value co "@example"]"#));
        assert!(yes(r#"emails[type eq "work"].value eq "ada@example.org""#));
        assert!(yes(r#"emails.value sw "ada@home""#));
        assert!(yes(r#"groups eq "7""#));
        assert!(yes(r#"active eq true and not (userName eq "bob")"#));
        assert!(yes(
            r#"userName eq "x" or (externalId pr and meta.lastModified gt "2026-01-01T00:00:00Z")"#
        ));
        assert!(yes(
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "r&d""#
        ));
        assert!(!yes(r#"title pr"#));
        assert!(!yes(r#"emails[type eq "other"]"#));
        assert!(yes(r#"displayName ne "x""#), "absent is not equal");
    }

    #[test]
    fn and_binds_tighter_than_or() {
        assert!(yes(
            r#"userName eq "nobody" and active eq false or externalId eq "abc""#
        ));
        assert!(!yes(
            r#"userName eq "nobody" and (active eq false or externalId eq "abc")"#
        ));
    }

    #[test]
    fn bad_filters_are_invalid_filter_errors() {
        for bad in [
            r#"userName eq"#,
            r#"userName eq ada"#,
            r#"userName is "ada""#,
            r#"(userName eq "a""#,
            r#"userName eq "a" extra"#,
            r#"userName eq "unclosed"#,
            r#"emails[type eq "work""#,
        ] {
            let e = parse(bad).unwrap_err();
            assert_eq!(
                (e.status, e.scim_type),
                (400, Some("invalidFilter")),
                "{bad}"
            );
        }
    }

    #[test]
    fn lookups_by_one_equality_are_recognised() {
        assert_eq!(
            equality(&parse(r#"userName eq "ada""#).unwrap()),
            Some(("userName", "ada"))
        );
        assert_eq!(equality(&parse(r#"userName co "ada""#).unwrap()), None);
    }
}
