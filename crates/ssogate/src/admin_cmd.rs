//! `ssogate user …`, `ssogate apikey …`, `ssogate audit …`: the administrative service
//! layer (`ssogate-admin`) on the configured directory. Human tables by default,
//! `--json` for scripts.

use crate::{Failure, open_directory};
use clap::Subcommand;
use ssogate_admin::{Admin, AdminError, StatusChange};
use ssogate_core::domain::{GrantKind, UserSource, UserStatus};
use ssogate_store::credentials::ApiScope;
use ssogate_store::query::{AuditFilter, UserFilter, UserSort};
use std::io::{BufRead, IsTerminal, Write};
use std::sync::Arc;

#[derive(Subcommand)]
pub(crate) enum UserCommand {
    /// List accounts, with search, filters, sorting and pages.
    List(ListArgs),
    /// Pre-provision an account; with --provider and --subject it binds to that
    /// identity at its first sign-in.
    Add {
        username: String,
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        display_name: Option<String>,
        #[arg(long, requires = "subject")]
        provider: Option<String>,
        #[arg(long, requires = "provider")]
        subject: Option<String>,
        /// Grant these permissions (repeatable).
        #[arg(long = "permission")]
        permissions: Vec<String>,
        /// Grant these libraries (repeatable).
        #[arg(long = "library")]
        libraries: Vec<String>,
        /// Add to these groups (repeatable).
        #[arg(long = "group")]
        groups: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// Grant or take away permissions, libraries, groups or the admin flag, as an
    /// administrator (`--grant permission:upload_books`, `--revoke group:Editors`).
    Update {
        user: String,
        #[arg(long = "grant", value_name = "KIND:NAME")]
        grant: Vec<String>,
        #[arg(long = "revoke", value_name = "KIND:NAME")]
        revoke: Vec<String>,
        /// A new display name ("" clears it).
        #[arg(long)]
        display_name: Option<String>,
        /// A new email, unverified until a provider vouches for it ("" clears it).
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// One account: status, source, grants with their sources, identities, external ids.
    Show {
        /// Username (case-insensitive) or numeric id.
        user: String,
        #[arg(long)]
        json: bool,
    },
    /// Disable an account; its sessions end at once.
    Disable { user: String },
    /// Re-activate a disabled account.
    Enable { user: String },
    /// Approve an account awaiting approval.
    Approve { user: String },
    /// Delete an account with its identities, grants and sessions.
    Delete {
        user: String,
        /// Do not ask.
        #[arg(long)]
        force: bool,
    },
    /// Set (or with --clear remove) the external authentication id at a provider.
    SetExternalId {
        user: String,
        provider: String,
        external_id: Option<String>,
        #[arg(long, conflicts_with = "external_id")]
        clear: bool,
    },
}

#[derive(clap::Args)]
pub(crate) struct ListArgs {
    /// Part of the username, display name or email.
    #[arg(long)]
    search: Option<String>,
    /// active, disabled or pending.
    #[arg(long)]
    status: Option<String>,
    /// local, provider or api.
    #[arg(long)]
    source: Option<String>,
    /// Has an identity at this provider.
    #[arg(long)]
    provider: Option<String>,
    #[arg(long)]
    permission: Option<String>,
    #[arg(long)]
    library: Option<String>,
    #[arg(long)]
    group: Option<String>,
    /// Only administrators (true) or only others (false).
    #[arg(long)]
    admin: Option<bool>,
    /// username, created or last_login.
    #[arg(long, default_value = "username")]
    sort: String,
    #[arg(long)]
    desc: bool,
    /// 1–500.
    #[arg(long, default_value_t = 50)]
    limit: i64,
    /// The cursor a previous page printed.
    #[arg(long)]
    after: Option<String>,
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
pub(crate) enum ApikeyCommand {
    /// Create a key; it is printed once and stored only as a hash.
    Create {
        name: String,
        /// read or admin.
        #[arg(long, default_value = "read")]
        scope: String,
        #[arg(long)]
        json: bool,
    },
    /// List keys (never their secrets).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key by its id.
    Revoke { id: i64 },
}

#[derive(Subcommand)]
pub(crate) enum AuditCommand {
    /// Audit events, newest first.
    Query {
        #[command(flatten)]
        filter: AuditArgs,
        #[arg(long)]
        json: bool,
    },
    /// Audit events as CSV on standard output.
    Export {
        #[command(flatten)]
        filter: AuditArgs,
    },
    /// The newest events, oldest first; with --follow, keep printing new ones.
    Tail {
        /// How many to start with.
        #[arg(long, short = 'n', default_value_t = 20)]
        lines: i64,
        #[arg(long, short = 'f')]
        follow: bool,
    },
}

#[derive(Subcommand)]
pub(crate) enum SettingsCommand {
    /// The provisioning settings in force for each provider (or one).
    Show {
        provider: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Save one provisioning setting of a provider (JSON value, e.g. `false` or
    /// `'["download_books"]'`); refused unless the result compiles.
    Set {
        provider: String,
        key: String,
        value: String,
    },
    /// Save one global provisioning setting: in force for every provider that does not
    /// set it itself.
    SetGlobal { key: String, value: String },
}

/// The keys `settings set` and the console save.
const SETTING_KEYS: [&str; 9] = [
    "auto_provision",
    "soft_auto_provision",
    "disable_account_creation",
    "require_approval",
    "default_permissions",
    "default_libraries",
    "default_groups",
    "admin_email_domains",
    "rules",
];

#[derive(clap::Args)]
pub(crate) struct AuditArgs {
    /// From this time on: unix seconds or YYYY-MM-DD (UTC).
    #[arg(long)]
    since: Option<String>,
    /// Before this time: unix seconds or YYYY-MM-DD (UTC).
    #[arg(long)]
    until: Option<String>,
    /// Username or id.
    #[arg(long)]
    user: Option<String>,
    #[arg(long)]
    provider: Option<String>,
    /// e.g. login, user.provisioned, login.rejected, admin.user.disabled.
    #[arg(long)]
    event: Option<String>,
    /// success or failure.
    #[arg(long)]
    outcome: Option<String>,
    /// 1–10000.
    #[arg(long, default_value_t = 100)]
    limit: i64,
}

pub(crate) fn actor() -> String {
    format!(
        "cli:{}",
        std::env::var("USER").unwrap_or_else(|_| "unknown".into())
    )
}

pub(crate) fn admin(config: &ssogate_config::Config) -> Result<Admin, Failure> {
    let (store, _) = open_directory(config)?;
    Ok(
        Admin::new(Arc::from(store), actor()).with_configured(ssogate_admin::Configured {
            catalogue: config.catalogue.clone(),
            providers: config.providers.keys().cloned().collect(),
        }),
    )
}

fn grant_of(spec: &str) -> Result<(GrantKind, String), Failure> {
    let bad = || {
        Failure::Input(format!(
            "\"{spec}\" is not KIND:NAME with KIND permission, library, group or admin (e.g. permission:upload_books, admin:admin)"
        ))
    };
    let (kind, name) = spec.split_once(':').ok_or_else(bad)?;
    let kind = match kind {
        "permission" => GrantKind::Permission,
        "library" => GrantKind::Library,
        "group" => GrantKind::Group,
        "admin" => GrantKind::Admin,
        _ => return Err(bad()),
    };
    if name.is_empty() {
        return Err(bad());
    }
    Ok((kind, name.to_owned()))
}

pub(crate) fn fail(e: AdminError) -> Failure {
    if e.is_input() {
        Failure::Input(e.to_string())
    } else {
        Failure::Runtime(e.to_string())
    }
}

pub(crate) fn json_out(v: &impl serde::Serialize) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(v)
        .map_err(|e| Failure::Runtime(format!("cannot write JSON: {e}")))?;
    outln!("{text}");
    Ok(())
}

fn time(t: i64) -> String {
    ssogate_admin::dates::minutes(t)
}

/// `YYYY-MM-DD` (UTC midnight) or unix seconds.
fn parse_time(field: &'static str, v: &str) -> Result<i64, Failure> {
    v.parse::<i64>()
        .ok()
        .or_else(|| ssogate_admin::dates::parse_day(v))
        .ok_or_else(|| {
            Failure::Input(format!(
                "--{field}: \"{v}\" is neither unix seconds nor a date like 2026-11-23"
            ))
        })
}

pub(crate) fn user(config: &ssogate_config::Config, cmd: UserCommand) -> Result<(), Failure> {
    // Check what can be checked before opening the directory.
    let list = match &cmd {
        UserCommand::List(a) => Some(user_filter(a)?),
        _ => None,
    };
    let grants = match &cmd {
        UserCommand::Update {
            grant,
            revoke,
            display_name,
            email,
            ..
        } => {
            if grant.is_empty() && revoke.is_empty() && display_name.is_none() && email.is_none() {
                return Err(Failure::Input(
                    "nothing to change: give --grant KIND:NAME, --revoke KIND:NAME, --display-name or --email".into(),
                ));
            }
            let g = grant
                .iter()
                .map(|s| grant_of(s))
                .collect::<Result<Vec<_>, _>>()?;
            let r = revoke
                .iter()
                .map(|s| grant_of(s))
                .collect::<Result<Vec<_>, _>>()?;
            Some((g, r))
        }
        _ => None,
    };
    let admin = admin(config)?;
    match cmd {
        UserCommand::Add {
            username,
            email,
            display_name,
            provider,
            subject,
            permissions,
            libraries,
            groups,
            json,
        } => {
            let row = ssogate_store::import::ImportRow {
                username,
                email,
                email_verified: None,
                display_name,
                status: None,
                provider,
                subject,
                external_id: None,
                permissions,
                libraries,
                groups,
                admin: None,
            };
            let now = ssogate_store::RequestContext::now().now;
            let d = admin.create_user(row, now).map_err(fail)?;
            if json {
                return json_out(&ssogate_admin::views::User::from(d));
            }
            outln!("created \"{}\" (id {})", d.user.username, d.user.id);
            Ok(())
        }
        UserCommand::Update {
            user,
            json,
            display_name,
            email,
            ..
        } => {
            let (g, r) = grants.unwrap_or_default();
            if display_name.is_some() || email.is_some() {
                admin
                    .update_profile(&user, display_name.as_deref(), email.as_deref())
                    .map_err(fail)?;
            }
            for (kind, name) in &g {
                admin.grant(&user, *kind, name).map_err(fail)?;
            }
            for (kind, name) in &r {
                admin.revoke(&user, *kind, name).map_err(fail)?;
            }
            let d = admin.user(&user).map_err(fail)?;
            if json {
                return json_out(&ssogate_admin::views::User::from(d));
            }
            outln!(
                "updated \"{}\": {} granted, {} taken away",
                d.user.username,
                g.len(),
                r.len()
            );
            Ok(())
        }
        UserCommand::List(args) => {
            let filter = list.unwrap_or_default();
            let page = admin.list_users(&filter).map_err(fail)?;
            if args.json {
                let users: Vec<serde_json::Value> = page
                    .users
                    .iter()
                    .map(|u| {
                        serde_json::json!({
                            "id": u.id, "username": u.username, "email": u.email,
                            "display_name": u.display_name, "status": u.status.as_str(),
                            "source": u.source.as_str(), "admin": u.is_admin,
                            "created_at": u.created_at, "last_login_at": u.last_login_at,
                        })
                    })
                    .collect();
                return json_out(&serde_json::json!({"users": users, "next": page.next}));
            }
            outln!(
                "{:<6} {:<20} {:<28} {:<9} {:<9} {:<5} LAST LOGIN",
                "ID",
                "USERNAME",
                "EMAIL",
                "STATUS",
                "SOURCE",
                "ADMIN"
            );
            for u in &page.users {
                outln!(
                    "{:<6} {:<20} {:<28} {:<9} {:<9} {:<5} {}",
                    u.id,
                    u.username,
                    u.email.as_deref().unwrap_or("-"),
                    u.status.as_str(),
                    u.source.as_str(),
                    if u.is_admin { "yes" } else { "no" },
                    u.last_login_at.map_or_else(|| "never".to_owned(), time)
                );
            }
            if let Some(next) = page.next {
                outln!("more: --after {next}");
            }
            Ok(())
        }
        UserCommand::Show { user, json } => {
            let d = admin.user(&user).map_err(fail)?;
            if json {
                return json_out(&ssogate_admin::views::User::from(d));
            }
            let u = &d.user;
            outln!("id:            {}", u.id);
            outln!("username:      {}", u.username);
            outln!(
                "display name:  {}",
                u.display_name.as_deref().unwrap_or("-")
            );
            outln!(
                "email:         {}{}",
                u.email.as_deref().unwrap_or("-"),
                if u.email_verified { " (verified)" } else { "" }
            );
            outln!("status:        {}", u.status.as_str());
            outln!("source:        {}", u.source.as_str());
            outln!(
                "password:      {}",
                if u.has_password { "set" } else { "none" }
            );
            for kind in [
                GrantKind::Admin,
                GrantKind::Permission,
                GrantKind::Library,
                GrantKind::Group,
            ] {
                let list: Vec<String> = u
                    .grants
                    .iter()
                    .filter(|g| g.kind == kind)
                    .map(|g| format!("{} ({})", g.name, g.source.as_str()))
                    .collect();
                if !list.is_empty() {
                    outln!("{:<14} {}", format!("{kind}:"), list.join(", "));
                }
            }
            for (p, e) in &u.external_ids {
                outln!("external id:   {p}: {e}");
            }
            for i in &d.linked {
                outln!(
                    "identity:      {} {} (email {}, first {}, last {})",
                    i.provider,
                    i.subject,
                    i.email.as_deref().unwrap_or("-"),
                    time(i.first_login_at),
                    time(i.last_login_at)
                );
            }
            Ok(())
        }
        UserCommand::Disable { user } => status(&admin, &user, StatusChange::Disable, "disabled"),
        UserCommand::Enable { user } => status(&admin, &user, StatusChange::Enable, "enabled"),
        UserCommand::Approve { user } => status(&admin, &user, StatusChange::Approve, "approved"),
        UserCommand::Delete { user, force } => {
            let d = admin.user(&user).map_err(fail)?;
            if !force {
                if !std::io::stdin().is_terminal() {
                    return Err(Failure::Input(format!(
                        "deleting \"{}\" needs confirmation: run it in a terminal, or add --force",
                        d.user.username
                    )));
                }
                out!(
                    "Delete \"{}\" with {} linked identit{} and every grant and session? Type the username to confirm: ",
                    d.user.username,
                    d.linked.len(),
                    if d.linked.len() == 1 { "y" } else { "ies" }
                );
                let _ = std::io::stdout().flush();
                let mut answer = String::new();
                let _ = std::io::stdin().lock().read_line(&mut answer);
                if answer.trim() != d.user.username {
                    return Err(Failure::Input("not confirmed; nothing was deleted".into()));
                }
            }
            admin.delete_user(&user).map_err(fail)?;
            outln!("deleted \"{}\"", d.user.username);
            Ok(())
        }
        UserCommand::SetExternalId {
            user,
            provider,
            external_id,
            clear,
        } => {
            if external_id.is_none() && !clear {
                return Err(Failure::Input(
                    "give the external id, or --clear to remove it".into(),
                ));
            }
            admin
                .set_external_id(&user, &provider, external_id.as_deref())
                .map_err(fail)?;
            match external_id {
                Some(e) => outln!("\"{user}\" has the external id \"{e}\" at \"{provider}\""),
                None => outln!("\"{user}\" has no external id at \"{provider}\""),
            }
            Ok(())
        }
    }
}

fn status(admin: &Admin, user: &str, change: StatusChange, done: &str) -> Result<(), Failure> {
    let d = admin.set_status(user, change).map_err(fail)?;
    outln!(
        "{} \"{}\" (now {})",
        done,
        d.user.username,
        d.user.status.as_str()
    );
    Ok(())
}

fn user_filter(a: &ListArgs) -> Result<UserFilter, Failure> {
    let status = a
        .status
        .as_deref()
        .map(|s| {
            UserStatus::parse(s).ok_or_else(|| {
                Failure::Input(format!(
                    "--status: \"{s}\" is not active, disabled or pending"
                ))
            })
        })
        .transpose()?;
    let source = a
        .source
        .as_deref()
        .map(|s| {
            UserSource::parse(s).ok_or_else(|| {
                Failure::Input(format!("--source: \"{s}\" is not local, provider or api"))
            })
        })
        .transpose()?;
    let sort = match a.sort.as_str() {
        "username" => UserSort::Username,
        "created" => UserSort::Created,
        "last_login" => UserSort::LastLogin,
        other => {
            return Err(Failure::Input(format!(
                "--sort: \"{other}\" is not username, created or last_login"
            )));
        }
    };
    if !(1..=500).contains(&a.limit) {
        return Err(Failure::Input(format!(
            "--limit: {} is outside 1–500",
            a.limit
        )));
    }
    Ok(UserFilter {
        search: a.search.clone(),
        source,
        status,
        admin: a.admin,
        provider: a.provider.clone(),
        permission: a.permission.clone(),
        library: a.library.clone(),
        group: a.group.clone(),
        sort,
        descending: a.desc,
        limit: a.limit,
        after: a.after.clone(),
    })
}

pub(crate) fn apikey(config: &ssogate_config::Config, cmd: ApikeyCommand) -> Result<(), Failure> {
    if let ApikeyCommand::Create { scope, .. } = &cmd
        && !matches!(scope.as_str(), "read" | "admin")
    {
        return Err(Failure::Input(format!(
            "--scope: \"{scope}\" is not read or admin"
        )));
    }
    let admin = admin(config)?;
    match cmd {
        ApikeyCommand::Create { name, scope, json } => {
            let scope = if scope == "admin" {
                ApiScope::Admin
            } else {
                ApiScope::Read
            };
            let key = admin.create_api_key(&name, scope).map_err(fail)?;
            if json {
                return json_out(
                    &serde_json::json!({"name": name.trim(), "scope": scope.as_str(), "key": key}),
                );
            }
            outln!("{key}");
            eprintln!("This key is shown once; store it now. It is kept only as a hash.");
            Ok(())
        }
        ApikeyCommand::List { json } => {
            let keys = admin.api_keys().map_err(fail)?;
            if json {
                let v: Vec<serde_json::Value> = keys
                    .iter()
                    .map(|k| {
                        serde_json::json!({"id": k.id, "name": k.name, "prefix": k.prefix,
                            "scope": k.scope.as_str(), "created_at": k.created_at,
                            "last_used_at": k.last_used_at, "revoked_at": k.revoked_at})
                    })
                    .collect();
                return json_out(&serde_json::json!({"keys": v}));
            }
            outln!(
                "{:<5} {:<24} {:<12} {:<6} {:<17} STATE",
                "ID",
                "NAME",
                "PREFIX",
                "SCOPE",
                "LAST USED"
            );
            for k in &keys {
                outln!(
                    "{:<5} {:<24} {:<12} {:<6} {:<17} {}",
                    k.id,
                    k.name,
                    k.prefix,
                    k.scope.as_str(),
                    k.last_used_at.map_or_else(|| "never".to_owned(), time),
                    if k.revoked_at.is_some() {
                        "revoked"
                    } else {
                        "live"
                    }
                );
            }
            Ok(())
        }
        ApikeyCommand::Revoke { id } => {
            admin.revoke_api_key(id).map_err(fail)?;
            outln!("revoked key {id}");
            Ok(())
        }
    }
}

fn audit_line(id: i64, e: &ssogate_store::AuditEvent) -> String {
    format!(
        "{:<6} {:<17} {:<22} {:<8} {:<28} {}{}",
        id,
        time(e.at),
        e.event,
        e.outcome,
        e.reason.as_deref().unwrap_or("-"),
        e.provider.as_deref().unwrap_or(""),
        e.subject
            .as_deref()
            .map(|s| format!("/{s}"))
            .unwrap_or_default()
    )
}

fn tail(config: &ssogate_config::Config, lines: i64, follow: bool) -> Result<(), Failure> {
    if !(1..=10_000).contains(&lines) {
        return Err(Failure::Input(format!(
            "--lines: {lines} is outside 1–10000"
        )));
    }
    let admin = admin(config)?;
    let filter = |limit| AuditFilter {
        limit,
        ..AuditFilter::default()
    };
    let mut events = admin.audit_events(&filter(lines)).map_err(fail)?;
    events.reverse();
    let mut last = events.last().map_or(0, |(id, _)| *id);
    for (id, e) in &events {
        outln!("{}", audit_line(*id, e));
    }
    if !follow {
        return Ok(());
    }
    loop {
        let _ = std::io::stdout().flush();
        // Polling once a second is what `tail -f` does too.
        std::thread::sleep(std::time::Duration::from_secs(1));
        let mut new: Vec<_> = admin
            .audit_events(&filter(1000))
            .map_err(fail)?
            .into_iter()
            .filter(|(id, _)| *id > last)
            .collect();
        new.reverse();
        for (id, e) in &new {
            outln!("{}", audit_line(*id, e));
            last = *id;
        }
    }
}

pub(crate) fn settings(
    config: &ssogate_config::Config,
    cmd: SettingsCommand,
) -> Result<(), Failure> {
    match cmd {
        SettingsCommand::Show { provider, json } => {
            let (store, _) = open_directory(config)?;
            let saved = ssogate_server::registry::read_saved(store.as_ref())
                .map_err(|e| Failure::Runtime(e.to_string()))?;
            let (all, _) = config.all_providers(&saved);
            let chosen: Vec<&ssogate_config::ProviderConfig> = match &provider {
                Some(p) => vec![
                    all.iter()
                        .find(|c| &c.slug == p)
                        .ok_or_else(|| Failure::Input(no_provider(p, &all)))?,
                ],
                None => all.iter().collect(),
            };
            let mut out = serde_json::Map::new();
            if provider.is_none() {
                out.insert(
                    "global".into(),
                    saved
                        .global
                        .clone()
                        .unwrap_or_else(|| serde_json::json!({})),
                );
            }
            for p in chosen {
                let (_, policy) = config
                    .compile(p, &saved)
                    .map_err(|e| Failure::Runtime(e.to_string()))?;
                let v =
                    serde_json::to_value(&policy).map_err(|e| Failure::Runtime(e.to_string()))?;
                let shown: serde_json::Map<String, serde_json::Value> = SETTING_KEYS
                    .iter()
                    .filter_map(|k| Some(((*k).to_owned(), v.get(*k)?.clone())))
                    .collect();
                out.insert(p.slug.clone(), serde_json::Value::Object(shown));
            }
            if json {
                return json_out(&out);
            }
            for (slug, v) in &out {
                if slug == "global" {
                    outln!(
                        "[global] (saved in the console; in force unless a provider sets the key)"
                    );
                } else {
                    outln!("[{slug}]");
                }
                for (k, val) in v.as_object().into_iter().flatten() {
                    outln!("  {k:<26} {val}");
                }
            }
            Ok(())
        }
        SettingsCommand::Set {
            provider,
            key,
            value,
        } => save_setting(config, Some(&provider), &key, &value),
        SettingsCommand::SetGlobal { key, value } => save_setting(config, None, &key, &value),
    }
}

pub(crate) fn no_provider(slug: &str, all: &[ssogate_config::ProviderConfig]) -> String {
    let known: Vec<&str> = all.iter().map(|p| p.slug.as_str()).collect();
    format!(
        "no provider \"{slug}\"; known: {}",
        if known.is_empty() {
            "none".to_owned()
        } else {
            known.join(", ")
        }
    )
}

/// Saves one provisioning setting of a provider (or, with `None`, the global one),
/// refused unless every provider still compiles with it.
fn save_setting(
    config: &ssogate_config::Config,
    provider: Option<&str>,
    key: &str,
    value: &str,
) -> Result<(), Failure> {
    let (store, _) = open_directory(config)?;
    let store: Arc<dyn ssogate_store::Directory> = Arc::from(store);
    if let Some(slug) = provider {
        let saved = ssogate_server::registry::read_saved(store.as_ref())
            .map_err(|e| Failure::Runtime(e.to_string()))?;
        let (all, _) = config.all_providers(&saved);
        if !all.iter().any(|p| p.slug == slug) {
            return Err(Failure::Input(no_provider(slug, &all)));
        }
    }
    if !SETTING_KEYS.contains(&key) {
        return Err(Failure::Input(format!(
            "\"{key}\" is not a provisioning setting; one of: {}",
            SETTING_KEYS.join(", ")
        )));
    }
    let parsed: serde_json::Value = serde_json::from_str(value)
        .map_err(|e| Failure::Input(format!("{key}: \"{value}\" is not a JSON value ({e})")))?;
    let mut changes = serde_json::Map::new();
    changes.insert(key.to_owned(), parsed);
    let scope = provider.map_or_else(|| "global".to_owned(), |p| format!("provider:{p}"));
    Admin::new(store.clone(), actor())
        .save_settings(&scope, changes, false, |doc| {
            ssogate_server::registry::check(config, store.as_ref(), |saved| {
                saved.put_settings(&scope, doc);
            })
            .map_err(|e| format!("{key}: {e}; nothing was saved"))
        })
        .map_err(fail)?;
    outln!(
        "saved {}.{key}; running servers apply it at once",
        provider.unwrap_or("global")
    );
    Ok(())
}

pub(crate) fn audit(config: &ssogate_config::Config, cmd: AuditCommand) -> Result<(), Failure> {
    let (args, json, csv) = match &cmd {
        AuditCommand::Query { filter, json } => (filter, *json, false),
        AuditCommand::Export { filter } => (filter, false, true),
        AuditCommand::Tail { lines, follow } => return tail(config, *lines, *follow),
    };
    let from = args
        .since
        .as_deref()
        .map(|v| parse_time("since", v))
        .transpose()?;
    let to = args
        .until
        .as_deref()
        .map(|v| parse_time("until", v))
        .transpose()?;
    if let Some(o) = &args.outcome
        && !matches!(o.as_str(), "success" | "failure")
    {
        return Err(Failure::Input(format!(
            "--outcome: \"{o}\" is not success or failure"
        )));
    }
    let admin = admin(config)?;
    let user_id = args
        .user
        .as_deref()
        .map(|u| admin.user_id(u))
        .transpose()
        .map_err(fail)?;
    let filter = AuditFilter {
        from,
        to,
        user_id,
        provider: args.provider.clone(),
        event: args.event.clone(),
        outcome: args.outcome.clone(),
        before_id: None,
        limit: args.limit,
    };
    let events = admin.audit_events(&filter).map_err(fail)?;
    if csv {
        let mut w = csv::Writer::from_writer(std::io::stdout().lock());
        let io = |e: csv::Error| Failure::Runtime(format!("cannot write CSV: {e}"));
        w.write_record([
            "id", "at", "event", "outcome", "reason", "provider", "subject", "user_id", "detail",
        ])
        .map_err(io)?;
        for (id, e) in &events {
            w.write_record([
                id.to_string(),
                e.at.to_string(),
                e.event.clone(),
                e.outcome.clone(),
                e.reason.clone().unwrap_or_default(),
                e.provider.clone().unwrap_or_default(),
                e.subject.clone().unwrap_or_default(),
                e.user_id.map(|u| u.to_string()).unwrap_or_default(),
                e.detail.clone().unwrap_or_default(),
            ])
            .map_err(io)?;
        }
        return w
            .flush()
            .map_err(|e| Failure::Runtime(format!("cannot write CSV: {e}")));
    }
    if json {
        let v: Vec<serde_json::Value> = events
            .iter()
            .map(|(id, e)| {
                serde_json::json!({"id": id, "at": e.at, "event": e.event, "outcome": e.outcome,
                    "reason": e.reason, "provider": e.provider, "subject": e.subject,
                    "user_id": e.user_id,
                    "detail": e.detail.as_deref().and_then(|d| serde_json::from_str::<serde_json::Value>(d).ok())})
            })
            .collect();
        return json_out(&serde_json::json!({"events": v}));
    }
    outln!(
        "{:<6} {:<17} {:<22} {:<8} {:<28} PROVIDER/SUBJECT",
        "ID",
        "AT (UTC)",
        "EVENT",
        "OUTCOME",
        "REASON"
    );
    for (id, e) in &events {
        outln!("{}", audit_line(*id, e));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_seconds() {
        assert_eq!(parse_time("since", "2026-11-23").ok(), Some(1_795_392_000));
        assert_eq!(parse_time("since", "1970-01-01").ok(), Some(0));
        assert_eq!(parse_time("since", "2000-02-29").ok(), Some(951_782_400));
        assert_eq!(parse_time("since", "12345").ok(), Some(12_345));
        assert!(parse_time("since", "2026-02-30").is_err());
        assert!(parse_time("since", "yesterday").is_err());
        assert_eq!(time(1_795_436_800), "2026-11-23 12:26");
    }
}
