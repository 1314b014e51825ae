//! What makes a local password acceptable. Checked wherever one is set (CLI, API,
//! console, the account page, a reset link), never where one is verified: a password
//! set under an older, laxer policy still signs in.

use serde::{Deserialize, Serialize};

/// The rules a new password must follow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PasswordPolicy {
    /// Fewest characters (Unicode scalar values, not bytes).
    pub min_length: usize,
    /// Most characters: Argon2 hashes anything, but a megabyte "password" is an attack.
    pub max_length: usize,
    /// Refuse a password equal to the username or the email address (case-insensitive),
    /// or to the part of the email before the `@`.
    pub not_username_or_email: bool,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        PasswordPolicy {
            min_length: 10,
            max_length: 1024,
            not_username_or_email: true,
        }
    }
}

/// Why a password was refused; the message says what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordProblem {
    #[error("the password is too short: use at least {min} characters")]
    TooShort { min: usize },
    #[error("the password is too long: use at most {max} characters")]
    TooLong { max: usize },
    #[error("the password must not be the username or the email address")]
    IsIdentity,
    #[error("the password is only spaces: choose one with other characters")]
    Blank,
}

impl PasswordProblem {
    /// A stable code for audit events and API answers.
    pub fn code(&self) -> &'static str {
        match self {
            PasswordProblem::TooShort { .. } => "password_too_short",
            PasswordProblem::TooLong { .. } => "password_too_long",
            PasswordProblem::IsIdentity => "password_is_identity",
            PasswordProblem::Blank => "password_blank",
        }
    }
}

impl PasswordPolicy {
    /// Whether `password` may be set for the account `username` / `email`.
    pub fn check(
        &self,
        password: &str,
        username: &str,
        email: Option<&str>,
    ) -> Result<(), PasswordProblem> {
        let chars = password.chars().count();
        if chars < self.min_length {
            return Err(PasswordProblem::TooShort {
                min: self.min_length,
            });
        }
        if chars > self.max_length {
            return Err(PasswordProblem::TooLong {
                max: self.max_length,
            });
        }
        if password.trim().is_empty() {
            return Err(PasswordProblem::Blank);
        }
        if self.not_username_or_email {
            let lower = password.to_lowercase();
            let mut same = vec![username.to_lowercase()];
            if let Some(e) = email {
                same.push(e.to_lowercase());
                if let Some((local, _)) = e.split_once('@') {
                    same.push(local.to_lowercase());
                }
            }
            if same.iter().any(|s| !s.is_empty() && *s == lower) {
                return Err(PasswordProblem::IsIdentity);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_refuses_short_long_blank_and_identity_passwords() {
        let p = PasswordPolicy::default();
        let ok = |pw: &str| p.check(pw, "Ada", Some("ada.lovelace@example.org"));
        assert_eq!(ok("correct horse"), Ok(()));
        assert_eq!(ok("short"), Err(PasswordProblem::TooShort { min: 10 }));
        // Characters, not bytes: ten accented letters are ten.
        assert_eq!(ok("éééééééééé"), Ok(()));
        assert_eq!(
            ok(&"x".repeat(1025)),
            Err(PasswordProblem::TooLong { max: 1024 })
        );
        assert_eq!(ok("          "), Err(PasswordProblem::Blank));
        assert_eq!(
            p.check(
                "ADA.LOVELACE@EXAMPLE.ORG",
                "ada",
                Some("ada.lovelace@example.org")
            ),
            Err(PasswordProblem::IsIdentity)
        );
        assert_eq!(
            p.check("Ada.Lovelace", "someone", Some("ada.lovelace@example.org")),
            Err(PasswordProblem::IsIdentity)
        );
        assert_eq!(
            p.check("administrator", "Administrator", None),
            Err(PasswordProblem::IsIdentity)
        );
        let lax = PasswordPolicy {
            min_length: 4,
            not_username_or_email: false,
            ..PasswordPolicy::default()
        };
        assert_eq!(lax.check("root", "root", None), Ok(()));
    }
}
