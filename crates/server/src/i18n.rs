//! The pages' words in every language of `crates/server/i18n/` (one TOML file each,
//! which a translator edits without touching Rust), chosen by `Accept-Language`,
//! rejection reasons included (the core says them in English; [`reason`] says them in
//! the page's language, with the same details filled in). Arabic pages are laid out
//! right to left.

use axum::http::HeaderMap;

macro_rules! texts {
    ($($field:ident),* $(,)?) => {
        /// One language's texts (from `crates/server/i18n/{lang}.toml`).
        pub(crate) struct Texts {
            pub lang: &'static str,
            /// `rtl` for right-to-left scripts, else `ltr` (the `dir` of `<html>`).
            pub dir: &'static str,
            $(pub $field: &'static str,)*
        }

        /// Every key a language file has (the file test checks them).
        #[cfg(test)]
        pub(crate) const KEYS: &[&str] = &[$(stringify!($field)),*];

        impl Texts {
            /// A language from its file's table; a key it lacks says it in `fallback`'s
            /// words (English), never nothing.
            fn from_table(
                lang: &'static str,
                table: &std::collections::BTreeMap<String, String>,
                fallback: Option<&Texts>,
            ) -> Texts {
                let get = |key: &str, en: Option<&'static str>| -> &'static str {
                    match table.get(key) {
                        // Made once per language at start, kept for the process's life.
                        Some(v) => Box::leak(v.clone().into_boxed_str()),
                        None => en.unwrap_or(""),
                    }
                };
                Texts {
                    lang,
                    dir: if RTL.contains(&lang) { "rtl" } else { "ltr" },
                    $($field: get(stringify!($field), fallback.map(|f| f.$field)),)*
                }
            }
        }
    };
}

texts! {
    sign_in_title,
    sign_in_intro,
    username,
    password,
    sign_in_button,
    or,
    no_methods,
    signed_out_title,
    signed_out_body,
    sign_in_again,
    account_title,
    signed_in_as,
    linked_identities,
    provider,
    email,
    first_linked,
    last_login,
    link_another,
    link_button,
    sign_in_with,
    unlink,
    unlink_confirm_title,
    unlink_confirm_body,
    cancel,
    sign_out,
    start_again,
    back_to_login,
    err_state_title,
    err_provider_title,
    err_unreachable_title,
    err_unreachable_body,
    err_not_found_title,
    err_not_found_body,
    err_rejected_title,
    err_invalid_title,
    err_invalid_body,
    err_too_many_title,
    err_too_many_body,
    err_csrf_title,
    err_csrf_body,
    err_server_title,
    err_server_body,
    err_unavailable_title,
    err_unavailable_body,
    wrong_password,
    sso_only,
    disabled,
    pending,
    link_done,
    unlinked,
    link_taken,
    link_exists,
    last_method,
    password_heading,
    no_password_warning,
    current_password,
    new_password,
    repeat_password,
    set_password,
    password_hint,
    reauth_to_set,
    password_changed,
    passwords_differ,
    current_wrong,
    password_too_short,
    password_too_long,
    password_is_identity,
    password_blank,
    reset_title,
    reset_intro,
    reset_invalid,
    reset_done,
    reason_not_in_allowed_group,
    reason_auto_provisioning_disabled,
    reason_account_creation_disabled,
    reason_existing_account_not_adoptable,
    reason_email_in_use,
    reason_username_conflict,
    reason_no_username,
    reason_hook_failed,
}

/// Languages written right to left.
const RTL: &[&str] = &["ar"];

/// Every language ssogate's pages speak, English first (the fallback): the files are
/// compiled in, so a binary needs nothing beside it.
const FILES: &[(&str, &str)] = &[
    ("en", include_str!("../i18n/en.toml")),
    ("ar", include_str!("../i18n/ar.toml")),
    ("bg", include_str!("../i18n/bg.toml")),
    ("da", include_str!("../i18n/da.toml")),
    ("de", include_str!("../i18n/de.toml")),
    ("el", include_str!("../i18n/el.toml")),
    ("es", include_str!("../i18n/es.toml")),
    ("fi", include_str!("../i18n/fi.toml")),
    ("fr", include_str!("../i18n/fr.toml")),
    ("id", include_str!("../i18n/id.toml")),
    ("it", include_str!("../i18n/it.toml")),
    ("ja", include_str!("../i18n/ja.toml")),
    ("ko", include_str!("../i18n/ko.toml")),
    ("nl", include_str!("../i18n/nl.toml")),
    ("no", include_str!("../i18n/no.toml")),
    ("pl", include_str!("../i18n/pl.toml")),
    ("pt", include_str!("../i18n/pt.toml")),
    ("ro", include_str!("../i18n/ro.toml")),
    ("ru", include_str!("../i18n/ru.toml")),
    ("sl", include_str!("../i18n/sl.toml")),
    ("sv", include_str!("../i18n/sv.toml")),
    ("tr", include_str!("../i18n/tr.toml")),
    ("uk", include_str!("../i18n/uk.toml")),
    ("vi", include_str!("../i18n/vi.toml")),
    ("zh", include_str!("../i18n/zh.toml")),
];

fn parse(lang: &str, text: &str) -> std::collections::BTreeMap<String, String> {
    toml::from_str(text).unwrap_or_else(|e| {
        tracing::error!(lang, error = %e, "a translation file does not parse; English is used");
        Default::default()
    })
}

static ALL: std::sync::LazyLock<Vec<Texts>> = std::sync::LazyLock::new(|| {
    let mut all: Vec<Texts> = Vec::with_capacity(FILES.len());
    for (lang, text) in FILES {
        let t = Texts::from_table(lang, &parse(lang, text), all.first());
        all.push(t);
    }
    all
});

/// The texts of `lang`, if ssogate speaks it.
pub(crate) fn language(lang: &str) -> Option<&'static Texts> {
    ALL.iter().find(|t| t.lang == lang)
}

fn english() -> &'static Texts {
    static BLANK: std::sync::LazyLock<Texts> =
        std::sync::LazyLock::new(|| Texts::from_table("en", &Default::default(), None));
    ALL.first().unwrap_or(&BLANK)
}

/// The best of our languages for an `Accept-Language` header (RFC 9110 12.5.4);
/// English when none fits.
pub(crate) fn texts(headers: &HeaderMap) -> &'static Texts {
    let Some(header) = headers
        .get(axum::http::header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
    else {
        return english();
    };
    let mut best: Option<(f32, &'static Texts)> = None;
    for item in header.split(',') {
        let mut parts = item.split(';');
        let tag = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .find_map(|p| p.trim().strip_prefix("q="))
            .and_then(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        let primary = match tag.split('-').next().unwrap_or("") {
            // Norwegian Bokmål and Nynorsk read the Norwegian texts.
            "nb" | "nn" => "no",
            other => other,
        };
        if let Some(t) = language(primary)
            && q > 0.0
            && best.is_none_or(|(bq, _)| q > bq)
        {
            best = Some((q, t));
        }
    }
    best.map_or_else(english, |(_, t)| t)
}

/// Replaces `{name}` in a text.
pub(crate) fn with_name(text: &str, name: &str) -> String {
    text.replace("{name}", name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pick(v: &str) -> &'static str {
        let mut h = HeaderMap::new();
        h.insert(
            axum::http::header::ACCEPT_LANGUAGE,
            axum::http::HeaderValue::from_str(v)
                .unwrap_or(axum::http::HeaderValue::from_static("")),
        );
        texts(&h).lang
    }

    #[test]
    fn accept_language_picks_the_best_quality() {
        assert_eq!(pick("de-DE,de;q=0.9,en;q=0.5"), "de");
        assert_eq!(pick("es, fr;q=0.8, en;q=0.7"), "es");
        assert_eq!(pick("tlh, fr;q=0.8, en;q=0.7"), "fr");
        assert_eq!(pick("ja"), "ja");
        assert_eq!(pick("nb-NO, en;q=0.5"), "no");
        assert_eq!(pick("zh-Hans-CN"), "zh");
        assert_eq!(pick("xx, tlh;q=0.9"), "en");
        assert_eq!(pick("fr;q=0, de;q=0.1"), "de");
        assert_eq!(pick(""), "en");
    }
}

/// A rejection reason in the page's language. A rule's or a hook's own message is the
/// administrator's words and is shown as written; the details of unusable claims stay
/// as the core says them (they are for the administrator).
pub(crate) fn reason(t: &Texts, r: &ssogate_core::decision::RejectReason) -> String {
    use ssogate_core::decision::RejectReason as R;
    match r {
        R::DeniedByRule { .. }
        | R::DeniedByHook { .. }
        | R::InvalidClaims(_)
        | R::AssignmentFailed { .. } => r.to_string(),
        _ if t.lang == "en" => r.to_string(),
        R::AccountDisabled => t.disabled.to_owned(),
        R::AwaitingApproval => t.pending.to_owned(),
        R::NotInAllowedGroup => t.reason_not_in_allowed_group.to_owned(),
        R::AutoProvisioningDisabled => t.reason_auto_provisioning_disabled.to_owned(),
        R::AccountCreationDisabled => t.reason_account_creation_disabled.to_owned(),
        R::ExistingAccountNotAdoptable { matched_by } => t
            .reason_existing_account_not_adoptable
            .replace("{matched_by}", matched_by),
        R::EmailInUse { email } => t.reason_email_in_use.replace("{email}", email),
        R::UsernameConflict { username } => {
            t.reason_username_conflict.replace("{username}", username)
        }
        R::NoUsername => t.reason_no_username.to_owned(),
        R::HookFailed { .. } => t.reason_hook_failed.to_owned(),
    }
}

#[cfg(test)]
mod reason_tests {
    use super::*;
    use ssogate_core::decision::RejectReason as R;

    #[test]
    fn reasons_are_said_in_the_page_language_with_their_details() {
        let taken = R::UsernameConflict {
            username: "ada".into(),
        };
        let (en, de, fr) = (
            language("en").unwrap(),
            language("de").unwrap(),
            language("fr").unwrap(),
        );
        assert_eq!(reason(en, &taken), taken.to_string());
        assert!(reason(de, &taken).contains("„ada“"));
        assert!(reason(fr, &taken).contains("« ada »"));
        assert_eq!(reason(de, &R::AccountDisabled), de.disabled);
        let rule = R::DeniedByRule {
            rule: "contractors".into(),
            message: "Contractors use the other portal.".into(),
        };
        assert_eq!(reason(fr, &rule), "Contractors use the other portal.");
        for r in [
            R::NotInAllowedGroup,
            R::AutoProvisioningDisabled,
            R::AccountCreationDisabled,
            R::NoUsername,
            R::EmailInUse {
                email: "a@b".into(),
            },
            R::ExistingAccountNotAdoptable {
                matched_by: "email".into(),
            },
        ] {
            for t in ALL.iter().filter(|t| t.lang != "en") {
                assert_ne!(reason(t, &r), r.to_string(), "{} {:?}", t.lang, r);
            }
        }
    }
}

#[cfg(test)]
mod file_tests {
    use super::*;
    use std::collections::{BTreeMap, BTreeSet};

    fn placeholders(text: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let mut rest = text;
        while let Some(i) = rest.find('{') {
            let Some(j) = rest[i..].find('}') else { break };
            out.insert(rest[i..i + j + 1].to_owned());
            rest = &rest[i + j + 1..];
        }
        out
    }

    /// A translator's file that lost a key, gained one, lost a placeholder or left a
    /// text empty fails here, naming the language and the key.
    #[test]
    fn every_language_has_every_text_with_its_placeholders() {
        let keys: BTreeSet<&str> = KEYS.iter().copied().collect();
        let en: BTreeMap<String, String> = toml::from_str(FILES[0].1).unwrap();
        for (lang, text) in FILES {
            let table: BTreeMap<String, String> =
                toml::from_str(text).unwrap_or_else(|e| panic!("{lang}.toml: {e}"));
            let have: BTreeSet<&str> = table.keys().map(String::as_str).collect();
            assert_eq!(
                keys.difference(&have).collect::<Vec<_>>(),
                Vec::<&&str>::new(),
                "{lang}.toml lacks these keys"
            );
            assert_eq!(
                have.difference(&keys).collect::<Vec<_>>(),
                Vec::<&&str>::new(),
                "{lang}.toml has keys ssogate does not know"
            );
            for key in KEYS {
                let (mine, english) = (&table[*key], &en[*key]);
                assert!(!mine.trim().is_empty(), "{lang}.toml: {key} is empty");
                assert_eq!(
                    placeholders(mine),
                    placeholders(english),
                    "{lang}.toml: {key} must keep the placeholders of the English text"
                );
            }
        }
    }

    /// At least the languages Tududi ships, and English.
    #[test]
    fn the_seed_systems_languages_are_all_there() {
        for lang in [
            "en", "ar", "bg", "da", "de", "el", "es", "fi", "fr", "id", "it", "ja", "ko", "nl",
            "no", "pl", "pt", "ro", "ru", "sl", "sv", "tr", "uk", "vi", "zh",
        ] {
            let t = language(lang).unwrap_or_else(|| panic!("no {lang}"));
            assert_eq!(t.dir, if lang == "ar" { "rtl" } else { "ltr" });
        }
    }
}
