//! `ssogate user …`: list, show, add, update, status changes, external ids, delete.

use crate::Failure;
use crate::admin_cmd::{admin, fail, json_out, time};
use clap::Subcommand;
use ssogate_admin::{Admin, StatusChange};
use ssogate_core::domain::{GrantKind, UserSource, UserStatus};
use ssogate_store::query::{UserFilter, UserSort};
use std::io::{BufRead, IsTerminal, Read, Write};

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
        /// Make the account an administrator (the first one can be made this way before
        /// any provider works: with --password-stdin it signs in at /login).
        #[arg(long)]
        admin: bool,
        /// A storage quota as the application reads it (e.g. "5 GB").
        #[arg(long)]
        quota: Option<String>,
        /// Give the account a local password read from standard input (never argv).
        #[arg(long, conflicts_with = "password_file")]
        password_stdin: bool,
        /// Give the account a local password read from this file's first line.
        #[arg(long)]
        password_file: Option<std::path::PathBuf>,
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
    /// Set an account's local password, read from standard input (asked twice, hidden,
    /// in a terminal) or a file — never from the command line, where `ps` and the
    /// shell's history would keep it. With --remove, take it away.
    SetPassword {
        user: String,
        /// Read the password from this file's first line.
        #[arg(long, conflicts_with = "remove")]
        password_file: Option<std::path::PathBuf>,
        /// Remove the password (refused when it is the account's only way in).
        #[arg(long)]
        remove: bool,
    },
    /// Make a one-time link for the person to choose a password; prints it once.
    ResetLink {
        user: String,
        #[arg(long)]
        json: bool,
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
            admin: make_admin,
            quota,
            password_stdin,
            password_file,
            json,
        } => {
            // Read before anything is created, so a failed read creates nothing.
            let password = if password_stdin || password_file.is_some() {
                let p = read_password(password_file.as_deref())?;
                admin
                    .check_password_policy(&username, email.as_deref(), &p)
                    .map_err(fail)?;
                Some(p)
            } else {
                None
            };
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
                admin: make_admin.then_some(true),
                quota,
                password_hash: None,
            };
            let now = ssogate_store::RequestContext::now().now;
            let d = admin.create_user(row, now).map_err(fail)?;
            let d = match password {
                Some(p) => admin.set_password(&d.user.username, &p).map_err(fail)?,
                None => d,
            };
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
                return json_out(&ssogate_admin::views::UserList::from(page));
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
        UserCommand::SetPassword {
            user,
            password_file,
            remove,
        } => {
            if remove {
                let d = admin.remove_password(&user).map_err(fail)?;
                outln!("\"{}\" has no password now", d.user.username);
                return Ok(());
            }
            let password = read_password(password_file.as_deref())?;
            let d = admin.set_password(&user, &password).map_err(fail)?;
            outln!("\"{}\" has a new password", d.user.username);
            Ok(())
        }
        UserCommand::ResetLink { user, json } => {
            let link = admin.create_reset_link(&user).map_err(fail)?;
            let url = format!(
                "{}/password/reset?token={}",
                config.base_url,
                link.token.expose()
            );
            if json {
                return json_out(&serde_json::json!({
                    "username": link.username,
                    "url": url,
                    "expires_at": link.expires_at,
                }));
            }
            outln!(
                "a link for \"{}\" to choose a password, usable once until {} (earlier links no longer work):\n{url}",
                link.username,
                time(link.expires_at)
            );
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

/// A password from a file's first line, or from standard input: asked twice without
/// echo in a terminal, else its first line (`printf '%s' "$PW" | ssogate …`).
fn read_password(file: Option<&std::path::Path>) -> Result<String, Failure> {
    let first_line = |text: &str| text.lines().next().unwrap_or("").to_owned();
    let password = match file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                Failure::Input(format!(
                    "cannot read the password file {} ({e})",
                    path.display()
                ))
            })?;
            first_line(&text)
        }
        None if std::io::stdin().is_terminal() => {
            let ask = |prompt: &str| {
                rpassword::prompt_password(prompt)
                    .map_err(|e| Failure::Input(format!("cannot read the password ({e})")))
            };
            let first = ask("new password: ")?;
            if ask("the same again: ")? != first {
                return Err(Failure::Input(
                    "the two passwords differ; nothing was changed".into(),
                ));
            }
            first
        }
        None => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| Failure::Input(format!("cannot read standard input ({e})")))?;
            first_line(&text)
        }
    };
    if password.is_empty() {
        return Err(Failure::Input(
            "no password was given (an empty line); nothing was changed".into(),
        ));
    }
    Ok(password)
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
