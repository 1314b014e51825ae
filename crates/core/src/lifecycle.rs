//! Lifecycle: which accounts to disable after a time without a sign-in, and which to
//! delete a time after they were disabled — decided here, from plain facts about each
//! account, with the rule and the reason; the store reads the facts and carries it out.

use crate::domain::{UserId, UserStatus};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `[lifecycle]` (globally, or for the accounts a provider signs in).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LifecyclePolicy {
    /// Disable an active account after this many days without a sign-in (0: never).
    pub disable_after_days: u32,
    /// Delete a disabled account this many days after it was disabled (0: never).
    pub delete_after_days: u32,
    /// Administrators are never disabled or deleted by a rule.
    pub exclude_admins: bool,
    /// Accounts with a local password (a way in of their own) are left alone.
    pub exclude_local_passwords: bool,
    /// Members of these groups are left alone.
    pub exclude_groups: Vec<String>,
}

impl Default for LifecyclePolicy {
    fn default() -> Self {
        LifecyclePolicy {
            disable_after_days: 0,
            delete_after_days: 0,
            exclude_admins: true,
            exclude_local_passwords: true,
            exclude_groups: Vec::new(),
        }
    }
}

impl LifecyclePolicy {
    pub fn is_off(&self) -> bool {
        self.disable_after_days == 0 && self.delete_after_days == 0
    }
}

/// What the rules look at, for one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: UserId,
    pub username: String,
    pub status: UserStatus,
    pub is_admin: bool,
    pub has_password: bool,
    pub groups: Vec<String>,
    /// The last sign-in, or the creation when there was none.
    pub last_active: i64,
    pub disabled_since: Option<i64>,
    /// The provider of the latest sign-in (whose rules apply), if any.
    pub provider: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Act {
    Disable,
    Delete,
}

/// One thing the rules would do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Planned {
    pub user_id: UserId,
    pub username: String,
    pub act: Act,
    /// `global` or `provider <slug>`: which rules decided.
    pub rule: String,
    pub why: String,
}

const DAY: i64 = 86_400;

fn date(t: i64) -> String {
    let (y, m, d) = crate::dates::civil(t.div_euclid(DAY));
    format!("{y:04}-{m:02}-{d:02}")
}

/// What the rules would do now, account by account, in the order given.
pub fn plan(
    accounts: &[Account],
    global: &LifecyclePolicy,
    per_provider: &BTreeMap<String, LifecyclePolicy>,
    now: i64,
) -> Vec<Planned> {
    let mut out = Vec::new();
    for a in accounts {
        let (policy, rule) = match a
            .provider
            .as_deref()
            .and_then(|p| per_provider.get(p).map(|x| (p, x)))
        {
            Some((p, x)) => (x, format!("provider {p}")),
            None => (global, "global".to_owned()),
        };
        if policy.is_off()
            || (policy.exclude_admins && a.is_admin)
            || (policy.exclude_local_passwords && a.has_password)
            || a.groups.iter().any(|g| {
                policy
                    .exclude_groups
                    .iter()
                    .any(|x| x.eq_ignore_ascii_case(g))
            })
        {
            continue;
        }
        match a.status {
            UserStatus::Active if policy.disable_after_days > 0 => {
                let days = i64::from(policy.disable_after_days);
                if now - a.last_active >= days * DAY {
                    out.push(Planned {
                        user_id: a.id,
                        username: a.username.clone(),
                        act: Act::Disable,
                        rule,
                        why: format!(
                            "no sign-in for {} days (last {}; the limit is {days})",
                            (now - a.last_active) / DAY,
                            date(a.last_active)
                        ),
                    });
                }
            }
            UserStatus::Disabled if policy.delete_after_days > 0 => {
                let days = i64::from(policy.delete_after_days);
                if let Some(since) = a.disabled_since
                    && now - since >= days * DAY
                {
                    out.push(Planned {
                        user_id: a.id,
                        username: a.username.clone(),
                        act: Act::Delete,
                        rule,
                        why: format!(
                            "disabled for {} days (since {}; the limit is {days})",
                            (now - since) / DAY,
                            date(since)
                        ),
                    });
                }
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn account(name: &str, status: UserStatus, idle_days: i64) -> Account {
        Account {
            id: UserId(name.len() as i64),
            username: name.into(),
            status,
            is_admin: false,
            has_password: false,
            groups: vec![],
            last_active: NOW - idle_days * DAY,
            disabled_since: (status == UserStatus::Disabled).then_some(NOW - idle_days * DAY),
            provider: Some("corp".into()),
        }
    }

    #[test]
    fn idle_accounts_are_disabled_and_long_disabled_ones_deleted_with_exclusions() {
        let global = LifecyclePolicy {
            disable_after_days: 90,
            delete_after_days: 30,
            ..LifecyclePolicy::default()
        };
        let mut admin = account("root", UserStatus::Active, 400);
        admin.is_admin = true;
        let mut local = account("local", UserStatus::Active, 400);
        local.has_password = true;
        let mut staff = account("staffer", UserStatus::Active, 400);
        staff.groups = vec!["Staff".into()];
        let global = LifecyclePolicy {
            exclude_groups: vec!["staff".into()],
            ..global
        };
        let accounts = vec![
            account("idle", UserStatus::Active, 91),
            account("recent", UserStatus::Active, 89),
            account("gone", UserStatus::Disabled, 31),
            account("fresh-off", UserStatus::Disabled, 10),
            account("waiting", UserStatus::Pending, 500),
            admin,
            local,
            staff,
        ];
        let p = plan(&accounts, &global, &BTreeMap::new(), NOW);
        let got: Vec<(&str, Act)> = p.iter().map(|x| (x.username.as_str(), x.act)).collect();
        assert_eq!(got, [("idle", Act::Disable), ("gone", Act::Delete)]);
        assert!(
            p[0].why.starts_with("no sign-in for 91 days (last "),
            "{}",
            p[0].why
        );
        assert_eq!(p[0].rule, "global");
        // A provider's own rules win for the accounts it signs in.
        let mut per = BTreeMap::new();
        per.insert(
            "corp".to_owned(),
            LifecyclePolicy {
                disable_after_days: 30,
                ..LifecyclePolicy::default()
            },
        );
        let p = plan(
            &[account("month", UserStatus::Active, 40)],
            &global,
            &per,
            NOW,
        );
        assert_eq!(p[0].rule, "provider corp");
        assert!(
            plan(
                &[account("month", UserStatus::Active, 40)],
                &global,
                &BTreeMap::new(),
                NOW
            )
            .is_empty()
        );
    }

    #[test]
    fn dates_are_civil() {
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(date(1_709_251_200), "2024-03-01");
        assert_eq!(date(951_782_400), "2000-02-29");
    }
}
