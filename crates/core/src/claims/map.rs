//! From the provider's documents to a [`Profile`].
//!
//! The ID token and the userinfo answer are kept apart until mapped, so that
//! `email_verified` is always read from the document that carried the email.
//! Merge rule for everything else: the ID token wins; userinfo fills top-level claims
//! the ID token lacks.

use super::expr::{ClaimExpr, is_empty};
use crate::names::Names;
use crate::policy::{ClaimMap, TrustEmail};
use crate::trace::{Step, Trace};
use base64::Engine as _;
use serde::Serialize;
use serde_json::{Map, Value};
use std::borrow::Cow;

/// The verified documents of one login.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimSources {
    pub id_token: Value,
    pub userinfo: Option<Value>,
}

impl ClaimSources {
    pub fn id_token(claims: Value) -> Self {
        ClaimSources {
            id_token: claims,
            userinfo: None,
        }
    }

    /// The ID token ∪ userinfo; ID token claims win.
    pub fn merged(&self) -> Cow<'_, Value> {
        match (&self.id_token, &self.userinfo) {
            (Value::Object(id), Some(Value::Object(info))) => {
                let mut merged: Map<String, Value> = info.clone();
                for (k, v) in id {
                    merged.insert(k.clone(), v.clone());
                }
                Cow::Owned(Value::Object(merged))
            }
            _ => Cow::Borrowed(&self.id_token),
        }
    }
}

/// Which document carried a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    IdToken,
    Userinfo,
}

/// What the engine works from: the provider's claims, mapped and checked.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Profile<'c> {
    pub subject: String,
    /// The username claim as sent (before sanitising).
    pub username: Option<String>,
    pub email: Option<String>,
    /// True only if the provider is trusted for it (see [`TrustEmail`]).
    pub email_verified: bool,
    pub email_origin: Option<Origin>,
    pub display_name: Option<String>,
    pub avatar: Option<String>,
    pub quota: Option<String>,
    /// `None`: the claim was absent (no sync); `Some` and empty: present and empty.
    pub groups: Option<Names>,
    /// `groups` after BookStack normalisation ([`crate::groups::normalise`]), same order;
    /// computed once for group sync and rules.
    #[serde(skip)]
    pub groups_normalised: Names,
    pub external_id: Option<String>,
    /// The merged document, for rules (borrowed when there is no userinfo).
    #[serde(skip)]
    pub claims: Cow<'c, Value>,
}

impl Profile<'_> {
    /// A profile that owns its claims (to keep it beyond the claim sources).
    pub fn into_owned(self) -> Profile<'static> {
        Profile {
            subject: self.subject,
            username: self.username,
            email: self.email,
            email_verified: self.email_verified,
            email_origin: self.email_origin,
            display_name: self.display_name,
            avatar: self.avatar,
            quota: self.quota,
            groups: self.groups,
            groups_normalised: self.groups_normalised,
            external_id: self.external_id,
            claims: Cow::Owned(self.claims.into_owned()),
        }
    }
}

/// Why claims could not be mapped at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MapError {
    #[error("the ID token has no `sub` claim (or it is not a non-empty string)")]
    MissingSubject,
    #[error("the userinfo `sub` ({userinfo}) differs from the ID token's ({id_token})")]
    SubjectMismatch { id_token: String, userinfo: String },
    #[error("the ID token claims are not a JSON object")]
    NotAnObject,
}

/// Upper bound on a data: avatar, decoded.
pub const MAX_AVATAR_BYTES: usize = 512 * 1024;

impl ClaimMap {
    /// Maps the documents to a profile, explaining every step in `trace`.
    pub fn map<'s>(
        &self,
        sources: &'s ClaimSources,
        trust: TrustEmail,
        groups_separator: Option<&str>,
        trace: &mut Trace,
    ) -> Result<Profile<'s>, MapError> {
        if !sources.id_token.is_object() {
            return Err(MapError::NotAnObject);
        }
        let subject = match sources.id_token.get("sub") {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            _ => return Err(MapError::MissingSubject),
        };
        if let Some(info) = &sources.userinfo {
            match info.get("sub") {
                Some(Value::String(s)) if *s == subject => {}
                other => {
                    return Err(MapError::SubjectMismatch {
                        id_token: subject,
                        userinfo: other
                            .map(|v| v.to_string())
                            .unwrap_or_else(|| "absent".into()),
                    });
                }
            }
        }
        let merged = sources.merged();
        let text = |name: &str, expr: &ClaimExpr, trace: &mut Trace| {
            let v = expr
                .eval_string(&merged)
                .and_then(|v| without_controls(name, v, trace));
            match &v {
                Some(s) => trace.note_parts(
                    Step::Map,
                    &[name, " from `", expr.as_str(), "`: \"", s, "\""],
                ),
                None => trace.note(Step::Map, format!("{name}: `{expr}` is absent or empty")),
            }
            v
        };
        let username = text("username claim", &self.username, trace);
        let display_name = text("display name", &self.display_name, trace);
        let external_id = self
            .external_id
            .as_ref()
            .and_then(|e| text("external id", e, trace));

        let (email, email_verified, email_origin) = self.map_email(sources, trust, trace);

        let avatar = self.avatar.as_ref().and_then(|e| {
            let raw = e.eval_string(&merged)?;
            match check_avatar(&raw) {
                Ok(note) => {
                    trace.note(Step::Map, format!("avatar from `{e}`: {note}"));
                    Some(raw)
                }
                Err(why) => {
                    trace.note(Step::Map, format!("avatar from `{e}` ignored: {why}"));
                    None
                }
            }
        });
        let quota = self.quota.as_ref().and_then(|e| {
            let raw = e.eval(&merged)?;
            match normalise_quota(&raw) {
                Some(q) => {
                    trace.note(Step::Map, format!("quota from `{e}`: {q}"));
                    Some(q)
                }
                None => {
                    trace.note(
                        Step::Map,
                        format!("quota from `{e}` ignored: {raw} is not a size like 5GB, a number of bytes, or none"),
                    );
                    None
                }
            }
        });
        let groups = self
            .groups
            .as_ref()
            .and_then(|e| map_groups(e, &merged, groups_separator, trace));

        let groups_normalised = groups.as_ref().map_or_else(Names::default, |groups| {
            let bytes = groups.iter().map(str::len).sum();
            let mut names = Names::with_capacity(groups.len(), bytes);
            for g in groups.iter() {
                names.push_with(|buf| crate::domain::normalise_group_name_into(g, buf));
            }
            names
        });
        Ok(Profile {
            groups_normalised,
            subject,
            username,
            email,
            email_verified,
            email_origin,
            display_name,
            avatar,
            quota,
            groups,
            external_id,
            claims: merged,
        })
    }

    fn map_email(
        &self,
        sources: &ClaimSources,
        trust: TrustEmail,
        trace: &mut Trace,
    ) -> (Option<String>, bool, Option<Origin>) {
        let docs = [
            (Origin::IdToken, Some(&sources.id_token)),
            (Origin::Userinfo, sources.userinfo.as_ref()),
        ];
        for (origin, doc) in docs {
            let Some(doc) = doc else { continue };
            let Some(email) = self.email.eval_string(doc) else {
                continue;
            };
            if !looks_like_email(&email) {
                trace.note(
                    Step::Map,
                    format!("email {email:?} ignored: not an address"),
                );
                return (None, false, None);
            }
            let claimed = self.email_verified.eval(doc);
            let verified = match trust {
                TrustEmail::Always => {
                    trace.note(
                        Step::Map,
                        format!("email \"{email}\" (trusted as verified: trust_email = always)"),
                    );
                    true
                }
                TrustEmail::Never => {
                    trace.note(
                        Step::Map,
                        format!(
                            "email \"{email}\" (never treated as verified: trust_email = never)"
                        ),
                    );
                    false
                }
                TrustEmail::VerifiedClaim => {
                    let (v, how) = match claimed.as_deref() {
                        Some(Value::Bool(b)) => (*b, format!("`{}` is {b}", self.email_verified)),
                        Some(Value::String(s)) if s.trim().eq_ignore_ascii_case("true") => (
                            true,
                            format!(
                                "`{}` is the string \"true\", read as true",
                                self.email_verified
                            ),
                        ),
                        Some(Value::String(s)) if s.trim().eq_ignore_ascii_case("false") => (
                            false,
                            format!(
                                "`{}` is the string \"false\", read as false",
                                self.email_verified
                            ),
                        ),
                        Some(other) => (
                            false,
                            format!(
                                "`{}` is {other}, which is not a boolean: unverified",
                                self.email_verified
                            ),
                        ),
                        None => (
                            false,
                            format!(
                                "`{}` is absent from the same document: unverified",
                                self.email_verified
                            ),
                        ),
                    };
                    let from = match origin {
                        Origin::IdToken => "ID token",
                        Origin::Userinfo => "userinfo",
                    };
                    trace.note(
                        Step::Map,
                        format!("email \"{email}\" from the {from}; {how}"),
                    );
                    v
                }
            };
            return (Some(email), verified, Some(origin));
        }
        trace.note(Step::Map, format!("email: `{}` is absent", self.email));
        (None, false, None)
    }
}

fn looks_like_email(s: &str) -> bool {
    match s.rsplit_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !s.chars().any(|c| c.is_whitespace() || is_unsafe_char(c))
        }
        None => false,
    }
}

fn map_groups(
    expr: &ClaimExpr,
    doc: &Value,
    separator: Option<&str>,
    trace: &mut Trace,
) -> Option<Names> {
    let Some(value) = expr.eval(doc) else {
        // An empty list is "member of nothing", which sync must see; absence is not.
        let empty_list = expr
            .alternatives()
            .iter()
            .flatten()
            .any(|p| matches!(p.lookup(doc), Some(Value::Array(a)) if a.is_empty()));
        if empty_list {
            trace.note(
                Step::Map,
                format!("groups from `{expr}`: [] (member of no group)"),
            );
            return Some(Names::default());
        }
        let distributed = doc
            .get("_claim_names")
            .and_then(|names| names.as_object())
            .is_some_and(|names| {
                expr.alternatives()
                    .iter()
                    .flatten()
                    .filter_map(|p| match p.0.first() {
                        Some(super::expr::Segment::Key(k)) => Some(k),
                        _ => None,
                    })
                    .any(|k| names.contains_key(k))
            });
        if distributed {
            trace.note(
                Step::Map,
                format!("groups: `{expr}` is a distributed claim (`_claim_names`, e.g. Azure AD group overage); ssogate does not fetch it, so groups are not synced. Ask the provider to emit groups in the token (for Azure: groups assigned to the application)."),
            );
        } else {
            trace.note(
                Step::Map,
                format!("groups: `{expr}` is absent; memberships are left as they are"),
            );
        }
        return None;
    };
    let mut items: Vec<Cow<'_, str>> = Vec::new();
    match value.as_ref() {
        Value::Array(list) => {
            items.reserve(list.len());
            for item in list {
                match item {
                    Value::String(s) => items.push(Cow::Borrowed(s.as_str())),
                    Value::Number(n) => items.push(Cow::Owned(n.to_string())),
                    other => trace.note(
                        Step::Map,
                        format!("groups: ignored {other} (only strings and numbers name a group)"),
                    ),
                }
            }
        }
        Value::String(s) => match separator {
            Some(sep) if !sep.is_empty() => items.extend(s.split(sep).map(Cow::Borrowed)),
            _ => items.push(Cow::Borrowed(s.as_str())),
        },
        Value::Number(n) => items.push(Cow::Owned(n.to_string())),
        other => trace.note(
            Step::Map,
            format!("groups: `{expr}` is {other}, not a list or a string; ignored"),
        ),
    }
    let mut seen = <foldhash::HashSet<&str> as foldhash::HashSetExt>::with_capacity(items.len());
    let bytes = items.iter().map(|i| i.len()).sum();
    let mut out = Names::with_capacity(items.len(), bytes);
    for item in &items {
        let t = item.trim();
        if t.chars().any(is_unsafe_char) {
            trace.note(
                Step::Map,
                format!(
                    "groups: ignored {:?} (control characters cannot be in a group name)",
                    t
                ),
            );
            continue;
        }
        if !t.is_empty() && seen.insert(t) {
            out.push(t);
        }
    }
    let count = out.len().to_string();
    let mut line = String::with_capacity(bytes + 2 * out.len() + 32);
    for part in ["groups from `", expr.as_str(), "` (", &count, "): "] {
        line.push_str(part);
    }
    for (i, g) in out.iter().enumerate() {
        if i > 0 {
            line.push_str(", ");
        }
        line.push_str(g);
    }
    trace.note(Step::Map, line);
    Some(out)
}

/// C0 and C1 control characters (CR, LF, ESC, BEL, DEL…) and the Unicode bidirectional
/// overrides: none belongs in a name, and each can forge a header line, a log line or
/// a terminal's output, or make a name read as another.
pub fn is_unsafe_char(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// A text claim with the characters of [`is_unsafe_char`] removed (said in the trace);
/// `None` when nothing is left.
fn without_controls(name: &str, v: String, trace: &mut Trace) -> Option<String> {
    if !v.chars().any(is_unsafe_char) {
        return Some(v);
    }
    let removed = v.chars().filter(|c| is_unsafe_char(*c)).count();
    let kept: String = v.chars().filter(|c| !is_unsafe_char(*c)).collect();
    let kept = kept.trim().to_owned();
    trace.note(
        Step::Map,
        format!("{name}: removed {removed} control character(s) from the claim"),
    );
    (!kept.is_empty()).then_some(kept)
}

/// Accepts `https://` URLs and `data:image/png|jpeg;base64,` images (Nextcloud).
fn check_avatar(raw: &str) -> Result<String, String> {
    if let Some(rest) = raw.strip_prefix("data:") {
        let (mime, b64) = rest
            .split_once(";base64,")
            .ok_or_else(|| "a data: avatar must be base64 (data:image/png;base64,…)".to_owned())?;
        if mime != "image/png" && mime != "image/jpeg" {
            return Err(format!("{mime} is not image/png or image/jpeg"));
        }
        if b64.len() > MAX_AVATAR_BYTES / 3 * 4 + 4 {
            return Err(format!("image larger than {} KiB", MAX_AVATAR_BYTES / 1024));
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .map_err(|e| format!("invalid base64 ({e})"))?;
        let is_png = bytes.starts_with(b"\x89PNG\r\n\x1a\n");
        let is_jpeg = bytes.starts_with(&[0xFF, 0xD8, 0xFF]);
        if (mime == "image/png" && !is_png) || (mime == "image/jpeg" && !is_jpeg) {
            return Err(format!("the bytes are not a {mime} image"));
        }
        if is_png {
            let dim = |r: std::ops::Range<usize>| {
                bytes
                    .get(r)
                    .and_then(|b| <[u8; 4]>::try_from(b).ok())
                    .map(u32::from_be_bytes)
            };
            if let (Some(w), Some(h)) = (dim(16..20), dim(20..24))
                && w != h
            {
                return Ok(format!(
                    "{mime} image, {w}×{h} (not square; apps may crop it)"
                ));
            }
        }
        return Ok(format!("{mime} image, {} bytes", bytes.len()));
    }
    if raw.starts_with("https://")
        && raw.len() > "https://".len()
        && !raw.chars().any(char::is_whitespace)
    {
        return Ok(format!("URL {raw}"));
    }
    Err("not an https:// URL or a data:image/png|jpeg;base64 image".into())
}

/// Quotas: a number of bytes, a size such as `5 GB` / `512MiB`, or `none`/`unlimited`/`default`.
fn normalise_quota(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) => n.as_u64().map(|b| format!("{b} B")),
        Value::String(s) => {
            let s = s.trim();
            let lower = s.to_ascii_lowercase();
            if matches!(lower.as_str(), "none" | "unlimited" | "default") {
                return Some(lower);
            }
            let split = s
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .unwrap_or(s.len());
            let (num, unit) = s.split_at(split);
            let unit = unit.trim();
            let num_ok =
                !num.is_empty() && num.parse::<f64>().is_ok_and(|f| f.is_finite() && f >= 0.0);
            let unit_ok = matches!(
                unit.to_ascii_lowercase().as_str(),
                "" | "b" | "kb" | "mb" | "gb" | "tb" | "kib" | "mib" | "gib" | "tib"
            );
            (num_ok && unit_ok).then(|| {
                if unit.is_empty() {
                    format!("{num} B")
                } else {
                    format!("{num} {unit}")
                }
            })
        }
        _ => None,
    }
    .filter(|s| !s.is_empty() && !is_empty(v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(
        id: Value,
        info: Option<Value>,
        trust: TrustEmail,
    ) -> Result<Profile<'static>, MapError> {
        ClaimMap::default()
            .map(
                &ClaimSources {
                    id_token: id,
                    userinfo: info,
                },
                trust,
                None,
                &mut Trace::default(),
            )
            .map(Profile::into_owned)
    }

    #[test]
    fn email_verified_comes_from_the_document_that_carried_the_email() {
        // Email in userinfo, verified flag only in the ID token: not verified.
        let p = map(
            json!({"sub": "s", "email_verified": true}),
            Some(json!({"sub": "s", "email": "a@x.io"})),
            TrustEmail::VerifiedClaim,
        )
        .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(p.email.as_deref(), Some("a@x.io"));
        assert!(!p.email_verified);
        assert_eq!(p.email_origin, Some(Origin::Userinfo));

        // Email and flag both in the ID token; userinfo says false: the ID token's pair wins.
        let p = map(
            json!({"sub": "s", "email": "a@x.io", "email_verified": true}),
            Some(json!({"sub": "s", "email": "b@x.io", "email_verified": false})),
            TrustEmail::VerifiedClaim,
        )
        .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(
            (p.email.as_deref(), p.email_verified),
            (Some("a@x.io"), true)
        );
    }

    #[test]
    fn email_verified_values_are_read_deliberately() {
        let cases = [
            (json!(true), true),
            (json!(false), false),
            (json!("true"), true),
            (json!(" TRUE "), true),
            (json!("false"), false),
            (json!("yes"), false),
            (json!(1), false),
            (json!(null), false),
        ];
        for (flag, want) in cases {
            let p = map(
                json!({"sub": "s", "email": "a@x.io", "email_verified": flag}),
                None,
                TrustEmail::VerifiedClaim,
            )
            .unwrap_or_else(|e| unreachable!("{e}"));
            assert_eq!(p.email_verified, want, "email_verified = {flag}");
        }
        let unverified = json!({"sub": "s", "email": "a@x.io", "email_verified": false});
        assert!(map(unverified.clone(), None, TrustEmail::Always).is_ok_and(|p| p.email_verified));
        let verified = json!({"sub": "s", "email": "a@x.io", "email_verified": true});
        assert!(map(verified, None, TrustEmail::Never).is_ok_and(|p| !p.email_verified));
    }

    #[test]
    fn subject_is_required_and_must_agree() {
        assert_eq!(
            map(json!({"email": "a@x.io"}), None, TrustEmail::VerifiedClaim),
            Err(MapError::MissingSubject)
        );
        assert_eq!(
            map(json!({"sub": 5}), None, TrustEmail::VerifiedClaim),
            Err(MapError::MissingSubject)
        );
        assert_eq!(
            map(json!([1]), None, TrustEmail::VerifiedClaim),
            Err(MapError::NotAnObject)
        );
        assert!(matches!(
            map(
                json!({"sub": "a"}),
                Some(json!({"sub": "b"})),
                TrustEmail::VerifiedClaim
            ),
            Err(MapError::SubjectMismatch { .. })
        ));
        assert!(matches!(
            map(
                json!({"sub": "a"}),
                Some(json!({})),
                TrustEmail::VerifiedClaim
            ),
            Err(MapError::SubjectMismatch { .. })
        ));
    }

    #[test]
    fn userinfo_fills_but_never_overrides() {
        let p = map(
            json!({"sub": "s", "name": "From Token"}),
            Some(json!({"sub": "s", "name": "From Userinfo", "preferred_username": "ui"})),
            TrustEmail::VerifiedClaim,
        )
        .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(p.display_name.as_deref(), Some("From Token"));
        assert_eq!(p.username.as_deref(), Some("ui"));
    }

    #[test]
    fn groups_string_array_numbers_and_separator() {
        let run = |groups: Value, sep: Option<&str>| {
            ClaimMap::default()
                .map(
                    &ClaimSources::id_token(json!({"sub": "s", "groups": groups})),
                    TrustEmail::VerifiedClaim,
                    sep,
                    &mut Trace::default(),
                )
                .map(|p| {
                    p.groups
                        .map(|g| g.iter().map(String::from).collect::<Vec<_>>())
                })
                .unwrap_or_else(|e| unreachable!("{e}"))
        };
        assert_eq!(run(json!("Team A"), None), Some(vec!["Team A".to_owned()]));
        assert_eq!(
            run(json!("a b  c"), Some(" ")),
            Some(vec!["a".into(), "b".into(), "c".into()])
        );
        assert_eq!(
            run(json!(["x", 7, true, {"k": 1}, "x", " "]), None),
            Some(vec!["x".into(), "7".into()])
        );
        assert_eq!(run(json!(true), None), Some(vec![]));
        assert_eq!(
            run(json!([]), None),
            Some(vec![]),
            "an empty list is a list"
        );
    }

    #[test]
    fn distributed_groups_are_explained() {
        let mut trace = Trace::default();
        let sources = ClaimSources::id_token(
            json!({"sub": "s", "_claim_names": {"groups": "src1"}, "_claim_sources": {"src1": {"endpoint": "https://graph"}}}),
        );
        let p = ClaimMap::default()
            .map(&sources, TrustEmail::VerifiedClaim, None, &mut trace)
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(p.groups, None);
        assert!(
            trace
                .to_strings()
                .iter()
                .any(|l| l.contains("distributed claim"))
        );
    }

    #[test]
    fn avatars_and_quotas() {
        let png_1x1 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";
        assert!(check_avatar(&format!("data:image/png;base64,{png_1x1}")).is_ok());
        assert!(check_avatar(&format!("data:image/jpeg;base64,{png_1x1}")).is_err());
        assert!(check_avatar("data:image/gif;base64,R0lGOD").is_err());
        assert!(check_avatar("data:image/png;base64,!!!").is_err());
        assert!(check_avatar("https://cdn.example.com/a.png").is_ok());
        assert!(check_avatar("http://cdn.example.com/a.png").is_err());
        assert!(check_avatar("javascript:alert(1)").is_err());
        assert_eq!(normalise_quota(&json!("5GB")).as_deref(), Some("5 GB"));
        assert_eq!(
            normalise_quota(&json!(" 512 MiB ")).as_deref(),
            Some("512 MiB")
        );
        assert_eq!(normalise_quota(&json!(1024)).as_deref(), Some("1024 B"));
        assert_eq!(normalise_quota(&json!("None")).as_deref(), Some("none"));
        assert_eq!(normalise_quota(&json!("lots")), None);
        assert_eq!(normalise_quota(&json!(-1)), None);
        assert_eq!(normalise_quota(&json!(true)), None);
    }
}
