//! Provisioning settings in the console: the global ones and each provider's, each
//! scope's fields saved together (switching automatic creation off keeps the rest),
//! checked by compiling every provider before anything is stored.

use super::{admin_failure, run, with_cookie};
use crate::auth::csrf_token;
use crate::extract::{AdminSession, CsrfForm, Req};
use crate::pages;
use crate::respond::{OrPage, PageResult};
use crate::state::App;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use ssogate_admin::AdminError;
use ssogate_core::domain::Catalogue;
use ssogate_core::policy::ProvisioningPolicy;
use ssogate_core::policy::Scope;
use std::collections::HashMap;

pub(super) struct Choice {
    pub name: String,
    pub checked: bool,
    pub locked: bool,
}

/// One scope's form.
pub(super) struct ScopeView {
    /// `global`, or the provider's slug.
    pub slug: String,
    pub name: String,
    /// Where the form posts.
    pub action: String,
    pub global: bool,
    /// A provider with no settings of its own (the global ones apply).
    pub inherits: bool,
    pub error: Option<String>,
    pub auto_provision: bool,
    pub soft_auto_provision: bool,
    pub disable_account_creation: bool,
    pub require_approval: bool,
    pub permissions: Vec<Choice>,
    pub libraries: Vec<Choice>,
    pub groups: Vec<Choice>,
    pub domains: String,
    pub rules: String,
    /// The hooks asked, in order, comma-separated.
    pub hooks: String,
    /// The hooks the configuration file defines.
    pub known_hooks: String,
    /// The claims last tested in this form, and what these settings (as edited, not
    /// saved) decide for them.
    pub claims: String,
    pub tested: Option<Tested>,
    /// Providers to test the global settings with (the first is chosen).
    pub test_providers: Vec<(String, bool)>,
}

/// What the settings in a form decide for some claims.
pub(super) struct Tested {
    pub provider: String,
    pub decision: String,
    pub message: Option<String>,
    pub trace: Vec<String>,
}

/// A form being tried: its scope, the settings as edited, the claims, what they decided.
struct Draft {
    slug: String,
    policy: ProvisioningPolicy,
    claims: String,
    test_provider: String,
    tested: Result<Tested, String>,
}

const SAMPLE_CLAIMS: &str = "{\n  \"sub\": \"248289761001\",\n  \"preferred_username\": \"jane\",\n  \"email\": \"jane@example.org\",\n  \"email_verified\": true,\n  \"groups\": [\"readers\"]\n}";

#[derive(Template)]
#[template(path = "console_provisioning.html")]
struct ProvisioningPage<'a> {
    t: &'a crate::i18n::Texts,
    notice: Option<String>,
    scopes: Vec<ScopeView>,
    csrf: String,
}

fn view(
    slug: &str,
    name: String,
    p: &ProvisioningPolicy,
    c: &Catalogue,
    inherits: bool,
    error: Option<String>,
    known_hooks: String,
) -> ScopeView {
    let choose = |names: Vec<String>, chosen: &[String]| {
        names
            .into_iter()
            .map(|n| Choice {
                checked: chosen.contains(&n),
                name: n,
                locked: false,
            })
            .collect::<Vec<_>>()
    };
    let global = slug == "global";
    ScopeView {
        action: if global {
            "/admin/provisioning".to_owned()
        } else {
            format!("/admin/provisioning/{slug}")
        },
        slug: slug.to_owned(),
        name,
        global,
        inherits,
        error,
        auto_provision: p.auto_provision,
        soft_auto_provision: p.soft_auto_provision,
        disable_account_creation: p.disable_account_creation,
        require_approval: p.require_approval,
        permissions: c
            .permissions
            .iter()
            .map(|perm| Choice {
                name: perm.name.clone(),
                checked: perm.required || p.default_permissions.contains(&perm.name),
                locked: perm.required,
            })
            .collect(),
        libraries: choose(
            c.libraries.iter().map(|l| l.name.clone()).collect(),
            &p.default_libraries,
        ),
        groups: choose(
            c.groups.iter().map(|g| g.name.clone()).collect(),
            &p.default_groups,
        ),
        domains: p.admin_email_domains.join(", "),
        rules: serde_json::to_string_pretty(&p.rules).unwrap_or_else(|_| "[]".into()),
        hooks: p.hooks.join(", "),
        known_hooks,
        claims: SAMPLE_CLAIMS.to_owned(),
        tested: None,
        test_providers: Vec::new(),
    }
}

async fn page(
    app: &App,
    req: &Req,
    notice: Option<String>,
    failed: Option<(&str, String)>,
) -> PageResult {
    page_with(app, req, notice, failed, None).await
}

async fn page_with(
    app: &App,
    req: &Req,
    notice: Option<String>,
    failed: Option<(&str, String)>,
    draft: Option<Draft>,
) -> PageResult {
    let read = app
        .db(move |d| {
            let saved = crate::registry::read_saved(d)?;
            Ok((saved, d.catalogue()?))
        })
        .await;
    let (saved, catalogue) = read.or_page(req)?;
    let error_of = |slug: &str| {
        failed
            .as_ref()
            .filter(|(s, _)| *s == slug)
            .map(|(_, e)| e.clone())
    };
    let known_hooks = if app.config.hooks.is_empty() {
        "none".to_owned()
    } else {
        app.config
            .hooks
            .keys()
            .cloned()
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut scopes = Vec::new();
    match app.config.global_policy(&saved) {
        Ok(g) => scopes.push(view(
            "global",
            "Every provider".into(),
            &g,
            &catalogue,
            false,
            error_of("global"),
            known_hooks.clone(),
        )),
        Err(e) => tracing::warn!(error = %e, "the global provisioning settings do not compile"),
    }
    let registry = app.registry();
    for (slug, entry) in &registry.providers {
        let Some((_, policy)) = registry.engines.get(slug) else {
            continue;
        };
        let inherits = saved
            .settings
            .get(slug)
            .and_then(Value::as_object)
            .is_none_or(Map::is_empty);
        scopes.push(view(
            slug,
            entry.config.display_name.clone(),
            policy,
            &catalogue,
            inherits,
            error_of(slug),
            known_hooks.clone(),
        ));
    }
    let slugs: Vec<String> = registry.providers.keys().cloned().collect();
    for s in &mut scopes {
        s.test_providers = slugs.iter().map(|p| (p.clone(), false)).collect();
        if let Some(first) = s.test_providers.first_mut() {
            first.1 = true;
        }
    }
    // The form being tried shows as edited, with its claims and what they decided.
    let mut failed = failed;
    if let Some(d) = draft
        && let Some(i) = scopes.iter().position(|s| s.slug == d.slug)
        && let Some(s) = scopes.get(i)
    {
        let mut v = view(
            &d.slug,
            s.name.clone(),
            &d.policy,
            &catalogue,
            s.inherits,
            None,
            s.known_hooks.clone(),
        );
        v.claims = d.claims;
        v.test_providers = slugs
            .iter()
            .map(|p| (p.clone(), *p == d.test_provider))
            .collect();
        match d.tested {
            Ok(t) => v.tested = Some(t),
            Err(e) => v.error = Some(e),
        }
        if let Some(slot) = scopes.get_mut(i) {
            *slot = v;
        }
        failed = None;
    }
    let (csrf, cookie) = csrf_token(app, &req.headers);
    let status = if failed.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok(with_cookie(
        pages::render(
            status,
            &ProvisioningPage {
                t: req.t,
                notice,
                scopes,
                csrf,
            },
        ),
        cookie,
    ))
}

pub(crate) async fn provisioning(
    State(app): State<App>,
    req: Req,
    _admin: AdminSession,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let notice = q.get("saved").map(|slug| {
        let slug: String = slug.chars().take(64).collect();
        if slug == "global" {
            "Saved the global settings.".to_owned()
        } else {
            format!("Saved the settings of {slug}.")
        }
    });
    page(&app, &req, notice, None).await.into_response()
}

/// A scope's form as a settings document: every field, so they are saved together.
fn document(pairs: &[(String, String)]) -> Result<Map<String, Value>, String> {
    let flag = |k: &str| pairs.iter().any(|(n, v)| n == k && v == "true");
    let list = |k: &str| {
        pairs
            .iter()
            .filter(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .collect::<Vec<_>>()
    };
    let field = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let domains: Vec<String> = field("admin_email_domains")
        .unwrap_or_default()
        .split(',')
        .map(|d| d.trim().to_owned())
        .filter(|d| !d.is_empty())
        .collect();
    let mut doc = json!({
        "auto_provision": flag("auto_provision"),
        "soft_auto_provision": flag("soft_auto_provision"),
        "disable_account_creation": flag("disable_account_creation"),
        "require_approval": flag("require_approval"),
        "default_permissions": list("default_permissions"),
        "default_libraries": list("default_libraries"),
        "default_groups": list("default_groups"),
        "admin_email_domains": domains,
    });
    // Hooks likewise: in the order written.
    if let Some(text) = field("hooks")
        && let Value::Object(m) = &mut doc
    {
        let hooks: Vec<String> = text
            .split(',')
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
            .collect();
        m.insert("hooks".into(), json!(hooks));
    }
    // Rules only when the form had the field (a form without it keeps what applies).
    if let Some(text) = field("rules") {
        let text = text.trim();
        let rules: Value = if text.is_empty() {
            json!([])
        } else {
            serde_json::from_str(text).map_err(|e| {
                format!("rules: not JSON ({e}); write a list such as [{{\"name\": \"staff\", \"when\": \"'staff' in groups\", \"grant_groups\": [\"Staff\"]}}]")
            })?
        };
        if !rules.is_array() {
            return Err("rules: write a JSON list of rules, [ … ]".into());
        }
        if let Value::Object(m) = &mut doc {
            m.insert("rules".into(), rules);
        }
    }
    match doc {
        Value::Object(m) => Ok(m),
        _ => Ok(Map::new()),
    }
}

async fn save(
    app: App,
    req: Req,
    admin: AdminSession,
    slug: String,
    inherit: bool,
    pairs: Vec<(String, String)>,
) -> Response {
    let actor = admin.actor;
    let global = slug == "global";
    if !global && app.provider(&slug).is_none() {
        return crate::ops::not_found(req).await;
    }
    if pairs.iter().any(|(k, v)| k == "action" && v == "test") {
        return test(&app, &req, &slug, &pairs).await;
    }
    let changes = if inherit {
        Map::new()
    } else {
        match document(&pairs) {
            Ok(d) => d,
            Err(message) => {
                return page(&app, &req, None, Some((&slug, message)))
                    .await
                    .into_response();
            }
        }
    };
    let scope = if global {
        Scope::Global
    } else {
        Scope::Provider(slug.clone())
    };
    let a = app.clone();
    let saved = run(&app, actor, move |adm| {
        a.save_settings(adm, &scope, changes, true).map(drop)
    })
    .await;
    match saved {
        Ok(()) => crate::web::redirect(
            StatusCode::SEE_OTHER,
            &format!(
                "/admin/provisioning?{}",
                url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("saved", &slug)
                    .finish()
            ),
        ),
        Err(AdminError::Invalid { message, .. }) => page(&app, &req, None, Some((&slug, message)))
            .await
            .into_response(),
        Err(e) => admin_failure(&req, &e),
    }
}

/// Tries a form's settings, as edited and unsaved, on the claims it holds: what a sign-in
/// would decide, with the trace. Nothing is saved; the form comes back as it was.
async fn test(app: &App, req: &Req, slug: &str, pairs: &[(String, String)]) -> Response {
    let field = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let claims_text = field("claims").unwrap_or_default();
    let provider = if slug == "global" {
        field("test_provider").unwrap_or_default()
    } else {
        slug.to_owned()
    };
    let changes = match document(pairs) {
        Ok(d) => d,
        Err(message) => {
            return page(app, req, None, Some((slug, message)))
                .await
                .into_response();
        }
    };
    let saved = match app
        .db(|d| {
            crate::registry::read_saved(d)
                .map_err(|e| ssogate_store::StoreError::Corrupt(e.to_string()))
        })
        .await
    {
        Ok(s) => s,
        Err(e) => return crate::respond::server_error(req.t, &e),
    };
    let mut draft = saved;
    if slug == "global" {
        draft.global = Some(Value::Object(changes));
    } else {
        draft
            .settings
            .insert(slug.to_owned(), Value::Object(changes));
    }
    let Some(entry) = app.provider(&provider) else {
        return page(
            app,
            req,
            None,
            Some((
                slug,
                format!("choose a provider to test with (\"{provider}\" is not one)"),
            )),
        )
        .await
        .into_response();
    };
    let compiled = app.config.compile(&entry.config, &draft);
    let (policy, tested) = match compiled {
        Err(e) => {
            return page(app, req, None, Some((slug, e.to_string())))
                .await
                .into_response();
        }
        Ok((engine, policy)) => {
            let tested = match serde_json::from_str::<Value>(&claims_text) {
                Ok(claims) if claims.is_object() => {
                    let sources = ssogate_core::claims::ClaimSources::id_token(claims);
                    match app.db(move |d| d.decide(engine, sources)).await {
                        Ok(outcome) => Ok(Tested {
                            provider: provider.clone(),
                            decision: outcome.decision.code().to_owned(),
                            message: outcome.reason().map(ToString::to_string),
                            trace: outcome.trace.to_strings(),
                        }),
                        Err(e) => Err(e.to_string()),
                    }
                }
                Ok(_) => Err("the claims to test are a JSON object, { … }".to_owned()),
                Err(e) => Err(format!("the claims to test are not JSON: {e}")),
            };
            let policy = if slug == "global" {
                app.config.global_policy(&draft).unwrap_or(policy)
            } else {
                policy
            };
            (policy, tested)
        }
    };
    page_with(
        app,
        req,
        None,
        None,
        Some(Draft {
            slug: slug.to_owned(),
            policy,
            claims: claims_text,
            test_provider: provider,
            tested,
        }),
    )
    .await
    .into_response()
}

/// Saves one provider's settings whole, as its own.
pub(crate) async fn save_provider(
    State(app): State<App>,
    req: Req,
    admin: AdminSession,
    Path(slug): Path<String>,
    CsrfForm(pairs): CsrfForm<Vec<(String, String)>>,
) -> Response {
    save(app, req, admin, slug, false, pairs).await
}

/// Drops a provider's own settings: the global ones apply again.
pub(crate) async fn inherit(
    State(app): State<App>,
    req: Req,
    admin: AdminSession,
    Path(slug): Path<String>,
    CsrfForm(pairs): CsrfForm<Vec<(String, String)>>,
) -> Response {
    save(app, req, admin, slug, true, pairs).await
}

/// Saves the global settings whole.
pub(crate) async fn save_global(
    State(app): State<App>,
    req: Req,
    admin: AdminSession,
    CsrfForm(pairs): CsrfForm<Vec<(String, String)>>,
) -> Response {
    save(app, req, admin, "global".into(), false, pairs).await
}
