//! `ssogate provision --dry-run`: what a login with these claims would do, decided
//! against the configured directory or a `DIRECTORY.json`, explained step by step.

use crate::Failure;
use ssogate_core::Outcome;
use ssogate_core::claims::ClaimSources;
use ssogate_core::decision::Decision;
use ssogate_core::domain::GrantKind;
use ssogate_core::memory::{DirectoryFile, InMemoryDirectory};
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
pub(crate) struct ProvisionArgs {
    /// Required: decide and explain, create nothing.
    #[arg(long, required = true)]
    dry_run: bool,
    /// The provider slug the login comes through.
    #[arg(long, value_name = "SLUG")]
    provider: String,
    /// The ID token's claims, as a JSON object.
    #[arg(long, value_name = "CLAIMS.json")]
    claims: PathBuf,
    /// The userinfo answer, as a JSON object (kept apart from the ID token until mapped).
    #[arg(long, value_name = "USERINFO.json")]
    userinfo: Option<PathBuf>,
    /// Existing users, groups and libraries (see docs/dry-run.md).
    #[arg(long, value_name = "DIRECTORY.json")]
    existing: Option<PathBuf>,
    /// Print the decision as JSON.
    #[arg(long)]
    json: bool,
}

fn read_json(path: &Path, what: &str, hint: &str) -> Result<serde_json::Value, Failure> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Failure::Input(format!(
            "cannot read the {what} file {} ({e}). Check the path.",
            path.display()
        ))
    })?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        Failure::Input(format!(
            "the {what} file {} is not valid JSON (line {}, column {}: {e}). {hint}",
            path.display(),
            e.line(),
            e.column()
        ))
    })?;
    if !value.is_object() {
        return Err(Failure::Input(format!(
            "the {what} file {} must hold a JSON object, not {}. {hint}",
            path.display(),
            kind(&value)
        )));
    }
    Ok(value)
}

fn kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

pub(crate) fn provision(
    config: &ssogate_config::Config,
    args: &ProvisionArgs,
) -> Result<(), Failure> {
    let engine = config
        .engine(&args.provider)
        .map_err(|e| Failure::Input(e.to_string()))?;
    let hint = "Pass the decoded ID token payload, e.g. {\"sub\": \"…\", \"email\": \"…\"}.";
    let sources = ClaimSources {
        id_token: read_json(&args.claims, "claims", hint)?,
        userinfo: match &args.userinfo {
            Some(p) => Some(read_json(
                p,
                "userinfo",
                "Pass the userinfo endpoint's JSON answer.",
            )?),
            None => None,
        },
    };
    let mut directory = match &args.existing {
        Some(path) => {
            let value = read_json(path, "directory", "See docs/dry-run.md for the format.")?;
            let file: DirectoryFile = serde_path_to_error::deserialize(value).map_err(|e| {
                Failure::Input(format!(
                    "the directory file {}, key `{}`: {}. See docs/dry-run.md for the format.",
                    path.display(),
                    e.path(),
                    e.inner()
                ))
            })?;
            InMemoryDirectory::from(file)
        }
        None => InMemoryDirectory::default(),
    };
    directory.add_groups(config.catalogue.groups.iter().cloned());
    directory.add_libraries(config.catalogue.libraries.iter().cloned());

    let outcome = engine.decide(&sources, &directory);
    if args.json {
        let text = serde_json::to_string_pretty(&outcome.to_json()).unwrap_or_default();
        outln!("{text}");
    } else {
        print_for_people(&outcome);
    }
    Ok(())
}

fn print_for_people(o: &Outcome) {
    let name = o.user.username.as_deref().unwrap_or("(no username)");
    let headline = match &o.decision {
        Decision::SignIn { .. } => format!("sign in as \"{name}\""),
        Decision::Link { matched_by, .. } => {
            format!("link this identity to \"{name}\" (matched by {matched_by:?})")
        }
        Decision::Provision { .. } => format!("create \"{name}\""),
        Decision::Reject(r) => format!("reject ({}): {r}", r.code()),
    };
    outln!("Decision:    {headline}");
    if !matches!(o.decision, Decision::Reject(_)) {
        outln!(
            "Session:     {}",
            if o.allow_session {
                "yes"
            } else {
                "no (awaiting approval)"
            }
        );
        let u = &o.user;
        outln!(
            "User:        {name} <{}> \"{}\"{}",
            u.email.as_deref().unwrap_or("no email"),
            u.display_name.as_deref().unwrap_or(""),
            if u.is_admin { ", admin" } else { "" }
        );
        for (label, kind) in [
            ("Permissions", GrantKind::Permission),
            ("Libraries", GrantKind::Library),
            ("Groups", GrantKind::Group),
        ] {
            outln!("{:<12} {}", format!("{label}:"), o.names(kind).join(", "));
        }
        let c = &o.changes;
        for g in &c.grants.added {
            outln!("  + {} \"{}\" ({})", g.kind, g.name, g.source);
        }
        for g in &c.grants.removed {
            outln!("  - {} \"{}\" ({})", g.kind, g.name, g.source);
        }
        for r in &c.grants.refused {
            outln!(
                "  ! kept {} \"{}\": {}",
                r.grant.kind,
                r.grant.name,
                r.reason
            );
        }
        for a in &c.attributes {
            outln!(
                "  ~ {}: {} -> {}",
                a.field,
                a.from.as_deref().unwrap_or("none"),
                a.to.as_deref().unwrap_or("none")
            );
        }
    }
    outln!("Trace:");
    for line in o.trace.to_strings() {
        outln!("  {line}");
    }
}
