//! The nouns of ssogate: users, identities, permissions, libraries, groups, grants.

use serde::{Deserialize, Serialize};
use std::fmt;

/// An account's id in the directory: a number the directory assigns. Text only at the
/// edges (a URL path, a CLI argument, an old file), where it is parsed once.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct UserId(pub i64);

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl std::str::FromStr for UserId {
    type Err = std::num::ParseIntError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.trim().parse().map(UserId)
    }
}

/// A number, or (in files written before ids were numbers) a string holding one.
impl<'de> Deserialize<'de> for UserId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            Number(i64),
            Text(String),
        }
        match Either::deserialize(d)? {
            Either::Number(n) => Ok(UserId(n)),
            Either::Text(t) => t.parse().map_err(|_| {
                serde::de::Error::custom(format!("\"{t}\" is not an account id (a number)"))
            }),
        }
    }
}

/// Whether an account may sign in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum UserStatus {
    #[default]
    Active,
    Disabled,
    /// Created under `require_approval`; an administrator must approve it.
    Pending,
}

/// How an account came to exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum UserSource {
    /// Created by an administrator with a password (or none), not by a provider.
    #[default]
    Local,
    /// Created just in time by a provider login.
    Provider,
    /// Pre-provisioned through the API, the CLI or an import.
    Api,
}

/// The stable text form of the enums stored in databases and files.
macro_rules! text_enum {
    ($t:ty { $($v:ident => $s:literal),+ $(,)? }) => {
        impl $t {
            pub fn as_str(&self) -> &'static str {
                match self { $(Self::$v => $s),+ }
            }
            /// The value for its text form, if it is one.
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($s => Some(Self::$v),)+ _ => None }
            }
        }
    };
}

text_enum!(UserStatus { Active => "active", Disabled => "disabled", Pending => "pending" });
text_enum!(UserSource { Local => "local", Provider => "provider", Api => "api" });
text_enum!(GrantSource { Default => "default", Rule => "rule", Provider => "provider", Admin => "admin", Import => "import", Scim => "scim" });

/// Where a grant came from. Sync touches only what it owns (see DESIGN.md "Grant provenance").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantSource {
    /// Applied on first provisioning from the policy's defaults.
    Default,
    /// Granted by a rule on claims; re-evaluated at every login.
    Rule,
    /// Group sync from the provider's groups claim.
    Provider,
    /// An administrator (console, API, CLI). Never removed by a login.
    Admin,
    /// A bulk import.
    Import,
    /// A provider's SCIM client (group membership pushed over SCIM). Only SCIM removes
    /// it, and SCIM removes nothing else.
    Scim,
}

impl fmt::Display for GrantSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a grant gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantKind {
    Permission,
    Library,
    Group,
    Admin,
}

impl GrantKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            GrantKind::Permission => "permission",
            GrantKind::Library => "library",
            GrantKind::Group => "group",
            GrantKind::Admin => "admin",
        }
    }
}

impl fmt::Display for GrantKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One grant with its provenance. For `Admin` the name is `admin`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Grant {
    pub kind: GrantKind,
    pub name: String,
    pub source: GrantSource,
}

impl Grant {
    pub fn new(kind: GrantKind, name: impl Into<String>, source: GrantSource) -> Self {
        Grant {
            kind,
            name: name.into(),
            source,
        }
    }
}

/// An entry of the permission catalogue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Permission {
    /// Stable machine name, e.g. `download_books`.
    pub name: String,
    /// What people read, e.g. "Download Books".
    #[serde(default)]
    pub label: Option<String>,
    /// Always granted to every account (Booklore's "Read Books").
    #[serde(default)]
    pub required: bool,
}

/// A resource a user may be given access to (a book library, a wiki space…).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Library {
    pub name: String,
    #[serde(default)]
    pub label: Option<String>,
}

/// A group or role. Provider groups match it by its external ids when it has any,
/// otherwise by its name (both compared after BookStack normalisation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Group {
    pub name: String,
    #[serde(default)]
    pub external_ids: Vec<String>,
}

/// A login identity at a provider, keyed by issuer (or provider slug) and subject.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExternalIdentity {
    /// The provider slug this identity signs in through.
    pub provider: String,
    /// The issuer that vouched for the subject, when known (survives a slug rename).
    #[serde(default)]
    pub issuer: Option<String>,
    pub subject: String,
}

/// BookStack's normalisation of a group name: trimmed, lower-cased, spaces become hyphens.
pub fn normalise_group_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    normalise_group_name_into(name, &mut out);
    out
}

/// [`normalise_group_name`], appended to `out`.
pub fn normalise_group_name_into(name: &str, out: &mut String) {
    let t = name.trim();
    if t.is_ascii() {
        // A login normalises every claimed group: ASCII is done in place.
        out.extend(t.bytes().map(|b| match b {
            b' ' => '-',
            b => char::from(b.to_ascii_lowercase()),
        }));
        return;
    }
    // `str::to_lowercase`, not per character: it knows a word-final sigma.
    out.push_str(&t.to_lowercase().replace(' ', "-"));
}

impl Group {
    /// The normalised names a provider group must have to name this group: its external
    /// ids when it has any, otherwise its name (for building lookup indexes).
    pub fn match_keys(&self) -> Vec<String> {
        if self.external_ids.is_empty() {
            vec![normalise_group_name(&self.name)]
        } else {
            self.external_ids
                .iter()
                .map(|id| normalise_group_name(id))
                .collect()
        }
    }

    /// Whether a provider group (already normalised) names this group: by its external
    /// ids when it has any, otherwise by its name; both normalised.
    pub fn matches(&self, normalised: &str) -> bool {
        if self.external_ids.is_empty() {
            normalise_group_name(&self.name) == normalised
        } else {
            self.external_ids
                .iter()
                .any(|id| normalise_group_name(id) == normalised)
        }
    }
}

/// The catalogue the engine grants from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalogue {
    #[serde(default)]
    pub permissions: Vec<Permission>,
    #[serde(default)]
    pub libraries: Vec<Library>,
    #[serde(default)]
    pub groups: Vec<Group>,
}

impl Catalogue {
    pub fn required_permissions(&self) -> impl Iterator<Item = &Permission> {
        self.permissions.iter().filter(|p| p.required)
    }
    pub fn has_permission(&self, name: &str) -> bool {
        self.permissions.iter().any(|p| p.name == name)
    }
    pub fn has_library(&self, name: &str) -> bool {
        self.libraries.iter().any(|l| l.name == name)
    }
}

/// Splits BookStack's "External Authentication IDs" field: comma-separated, `\,` is a
/// literal comma, surrounding whitespace trimmed, empty entries dropped.
pub fn parse_external_ids(field: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = field.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(',') => cur.push(','),
                Some(other) => {
                    cur.push('\\');
                    cur.push(other);
                }
                None => cur.push('\\'),
            },
            ',' => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out.into_iter()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

/// The inverse of [`parse_external_ids`].
pub fn format_external_ids(ids: &[String]) -> String {
    ids.iter()
        .map(|id| id.replace(',', "\\,"))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_group_names_normalise_as_the_general_rule_does() {
        for name in [
            " United  Kingdom ",
            "Team 7",
            "ALL-CAPS",
            "a b c",
            "",
            " ",
            "tab\there",
            "x ",
            "ΟΔΟΣ Ελλάς",
        ] {
            let general = name.trim().to_lowercase().replace(' ', "-");
            let mut out = String::from("kept|");
            normalise_group_name_into(name, &mut out);
            assert_eq!(out, format!("kept|{general}"), "{name:?}");
        }
    }

    #[test]
    fn external_ids_with_escaped_commas() {
        assert_eq!(
            parse_external_ids(r"editor, Writers\, Inc ,,admin"),
            vec!["editor", "Writers, Inc", "admin"]
        );
        assert_eq!(parse_external_ids(""), Vec::<String>::new());
        assert_eq!(parse_external_ids(r"a\b"), vec![r"a\b"]);
        let ids = vec!["x,y".to_owned(), "z".to_owned()];
        assert_eq!(parse_external_ids(&format_external_ids(&ids)), ids);
    }
}
