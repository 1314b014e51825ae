//! Configuration loading: file, seed variable names, SSOGATE_* overrides, errors.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::result_large_err
)]

use figment::Jail;
use ssogate_config::{ConfigError, load_with_env};
use ssogate_core::policy::{MatchBy, TrustEmail};
use std::path::Path;

fn example() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/ssogate.toml")
}

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn load_text(
    jail: &mut Jail,
    text: &str,
    vars: &[(&str, &str)],
) -> Result<ssogate_config::Config, ConfigError> {
    jail.create_file("ssogate.toml", text)
        .map_err(|e| ConfigError {
            origin: "test".into(),
            key: "-".into(),
            message: e.to_string(),
            hint: String::new(),
        })?;
    load_with_env(Some(Path::new("ssogate.toml")), &env(vars))
}

const MINIMAL: &str = r#"
[catalogue]
permissions = [{ name = "read", required = true }, { name = "write" }]

[provisioning]
default_permissions = ["write"]

[providers.corp]
issuer = "https://idp.example.com"
"#;

#[test]
fn the_example_loads_and_merges_provider_tables_over_global_ones() {
    let c = load_with_env(Some(&example()), &[]).unwrap();
    assert_eq!(c.providers.keys().collect::<Vec<_>>(), ["corp", "demo"]);
    let corp = &c.providers["corp"];
    assert_eq!(
        corp.claims
            .groups
            .as_ref()
            .map(ToString::to_string)
            .as_deref(),
        Some("\"https://ssogate.example.com/roles\" | groups")
    );
    assert_eq!(
        corp.claims.username.to_string(),
        "preferred_username",
        "inherited from [claims]"
    );
    assert!(corp.provisioning.link_by_email, "provider override");
    assert_eq!(
        corp.provisioning.default_libraries,
        ["main", "contributions"],
        "inherited from [provisioning]"
    );
    assert_eq!(corp.scopes, ["openid", "profile", "email", "groups"]);
    assert_eq!(corp.trust_email, TrustEmail::VerifiedClaim);
    assert_eq!(
        c.providers["demo"].provisioning.match_by,
        [
            MatchBy::Subject,
            MatchBy::ExternalIdClaim,
            MatchBy::Username
        ]
    );
    assert!(format!("{:?}", c.providers["demo"].client_secret).contains("[redacted]"));
    assert!(!format!("{:?}", c.providers["demo"]).contains("demo-secret"));
    c.engine("corp").unwrap();
}

#[test]
fn errors_name_the_file_the_key_and_what_to_do() {
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "[provisioning]\nauto_provison = true\n",
            "provisioning.auto_provison",
            &["unknown field", "Remove or rename"],
        ),
        (
            "[providers.corp]\nissuer = \"https://x\"\nclaims = { username = \"a |\" }\n",
            "providers.corp.claims.username",
            &["column 4", "found the end"],
        ),
        (
            "[providers.corp]\nissuer = \"https://x\"\nprovisioning = { rules = [{ name = \"r1\", when = \"(((\" }] }\n",
            "providers.corp.provisioning.rules[\"r1\"].when",
            &["not valid CEL"],
        ),
        (
            "[providers.corp]\nissuer = \"https://x\"\nprovisioning = { default_permissions = [\"fly\"] }\n",
            "providers.corp.provisioning",
            &["\"fly\"", "catalogue"],
        ),
        (
            "[providers.Corp]\nissuer = \"https://x\"\n",
            "providers.Corp",
            &["slug"],
        ),
        (
            "[providers.corp]\n",
            "providers.corp",
            &["missing field `issuer`"],
        ),
        (
            "[providers.corp]\nissuer = \"https://x\"\ntrust_email = \"sometimes\"\n",
            "providers.corp.trust_email",
            &["unknown variant"],
        ),
        (
            "[catalogue]\npermissions = [{ name = \"a\" }, { name = \"A\" }]\n",
            "catalogue.permissions",
            &["twice"],
        ),
        (
            "[providers.corp]\nissuer = \"https://x\"\nscopes = [\"profile\"]\n",
            "providers.corp.scopes",
            &["openid"],
        ),
        (
            "[clients.app]\nredirect_uris = [\"https://a.example/cb\", \"https://b.example/cb\"]\nsecret = \"0123456789abcdef0123456789\"\nsubject_type = \"pairwise\"\n",
            "clients.app.sector_identifier",
            &["several hosts", "sector_identifier"],
        ),
        (
            "[clients.app]\nredirect_uris = [\"https://a.example/cb\"]\nsecret = \"0123456789abcdef0123456789\"\nsubject_type = \"secret\"\n",
            "clients.app.subject_type",
            &["public or pairwise"],
        ),
        (
            "[clients.app]\nredirect_uris = [\"https://a.example/cb\"]\nsecret = \"0123456789abcdef0123456789\"\nclaim_names = { groups = \"sub\" }\n",
            "clients.app.claim_names.groups",
            &["overwrite another claim"],
        ),
        (
            "[clients.app]\nredirect_uris = [\"https://a.example/cb\"]\nsecret = \"0123456789abcdef0123456789\"\nclaim_names = { iss = \"issuer\" }\n",
            "clients.app.claim_names.iss",
            &["not a claim scopes release"],
        ),
        (
            "[clients.app]\nredirect_uris = [\"https://a.example/cb\"]\nsecret = \"0123456789abcdef0123456789\"\nfilters = { groups = \"(\" }\n",
            "clients.app.filters.groups",
            &["not a regular expression"],
        ),
        (
            "[clients.app]\nredirect_uris = [\"https://a.example/cb\"]\ntoken_endpoint_auth_method = \"private_key_jwt\"\n",
            "clients.app.jwks",
            &["needs the public keys"],
        ),
        (
            "[clients.app]\nredirect_uris = [\"https://a.example/cb\"]\ntoken_endpoint_auth_method = \"private_key_jwt\"\njwks = { keys = [ { kty = \"EC\", d = \"private!\" } ] }\n",
            "clients.app.jwks",
            &["no private parts"],
        ),
        (
            "[clients.app]\nredirect_uris = [\"https://a.example/cb\"]\ntoken_endpoint_auth_method = \"private_key_jwt\"\nsecret = \"0123456789abcdef0123456789\"\njwks = { keys = [ { kty = \"EC\" } ] }\n",
            "clients.app.secret",
            &["has no secret"],
        ),
        (
            "[clients.app]\nredirect_uris = [\"https://a.example/cb\"]\npublic = true\ntoken_endpoint_auth_method = \"private_key_jwt\"\n",
            "clients.app.token_endpoint_auth_method",
            &["does not fit"],
        ),
        (
            "[clients.app]\nredirect_uris = [\"https://a.example/cb\"]\ntoken_endpoint_auth_method = \"private_key_jwt\"\njwks_uri = \"http://keys.example/jwks\"\n",
            "clients.app.jwks_uri",
            &["not an https:// URL"],
        ),
        (
            "[clients.app]\nredirect_uris = [\"https://a.example/cb\"]\ntoken_endpoint_auth_method = \"private_key_jwt\"\njwks_uri = \"https://keys.example/jwks\"\njwks = { keys = [ { kty = \"EC\" } ] }\n",
            "clients.app.jwks_uri",
            &["both set"],
        ),
        (
            "[clients.app]\nredirect_uris = [\"https://a.example/cb\"]\nsecret = \"0123456789abcdef0123456789\"\nid_token_signed_response_alg = \"HS256\"\n",
            "clients.app.id_token_signed_response_alg",
            &["not RS256, ES256 or EdDSA"],
        ),
        (
            "[clients.app]\nredirect_uris = [\"https://a.example/cb\"]\nsecret = \"0123456789abcdef0123456789\"\naccess_token_format = \"paseto\"\n",
            "clients.app.access_token_format",
            &["not opaque or jwt"],
        ),
    ];
    for (text, key, needles) in cases {
        Jail::expect_with(|jail| {
            let e = load_text(jail, text, &[])
                .err()
                .unwrap_or_else(|| panic!("{text} loaded"));
            assert_eq!(e.key, *key, "{text}: {e}");
            assert_eq!(e.origin, "ssogate.toml", "{e}");
            let msg = e.to_string();
            for n in *needles {
                assert!(msg.contains(n), "{text}: `{msg}` lacks `{n}`");
            }
            Ok(())
        });
    }
}

#[test]
fn bad_toml_and_missing_files() {
    Jail::expect_with(|jail| {
        let e = load_text(jail, "[provisioning\n", &[]).err().unwrap();
        assert!(e.message.contains("not valid TOML"), "{e}");
        let e = load_with_env(Some(Path::new("nope.toml")), &[])
            .err()
            .unwrap();
        assert!(e.message.contains("cannot read"), "{e}");
        Ok(())
    });
}

#[test]
fn seed_variable_names() {
    Jail::expect_with(|jail| {
        let c = load_text(
            jail,
            MINIMAL,
            &[
                ("OIDC_ENABLED", "true"),
                ("OIDC_DISPLAY_NAME_CLAIMS", "given_name|family_name"),
                ("OIDC_EXTERNAL_ID_CLAIM", "upn"),
                ("OIDC_GROUPS_CLAIM", "resource_access.bookstack.roles"),
                ("OIDC_USER_TO_GROUPS", "true"),
                ("OIDC_REMOVE_FROM_GROUPS", "true"),
                ("OIDC_AUTO_PROVISION", "false"),
                ("OIDC_ADMIN_EMAIL_DOMAINS", "example.com, Corp.Example"),
                ("OIDC_CLIENT_ID", "abc"),
                ("OIDC_CLIENT_SECRET", "s3cret"),
                ("OIDC_ADDITIONAL_SCOPES", "groups,offline_access"),
                ("OIDC_PROVIDER_1_SLUG", "google"),
                ("OIDC_PROVIDER_1_NAME", "Google"),
                ("OIDC_PROVIDER_1_ISSUER", "https://accounts.google.com"),
                ("OIDC_PROVIDER_1_AUTO_PROVISION", "true"),
                ("OIDC_PROVIDER_2_SLUG", "okta"),
                ("OIDC_PROVIDER_2_ISSUER_URL", "https://company.okta.com"),
                ("OIDC_PROVIDER_2_SCOPE", "openid email"),
                ("OIDC_PROVIDER_2_ADMIN_EMAIL_DOMAINS", "company.com"),
                ("OIDC_TOTALLY_UNKNOWN", "x"),
            ],
        )
        .map_err(|e| e.to_string())?;
        let corp = &c.providers["corp"];
        assert_eq!(
            corp.claims.display_name.to_string(),
            "given_name + family_name",
            "BookStack: | joins"
        );
        assert_eq!(
            corp.claims
                .external_id
                .as_ref()
                .map(ToString::to_string)
                .as_deref(),
            Some("upn")
        );
        assert_eq!(
            corp.claims
                .groups
                .as_ref()
                .map(ToString::to_string)
                .as_deref(),
            Some("resource_access.bookstack.roles")
        );
        assert!(corp.provisioning.groups.enabled && corp.provisioning.groups.remove_unmatched);
        assert!(!corp.provisioning.auto_provision);
        assert_eq!(
            corp.provisioning.default_permissions,
            ["write"],
            "file values survive"
        );
        assert_eq!(
            corp.client_id.as_deref(),
            Some("abc"),
            "single-provider names target the file's only provider"
        );
        assert_eq!(
            corp.client_secret.as_ref().map(|s| s.expose()),
            Some("s3cret")
        );
        assert_eq!(
            corp.scopes,
            ["openid", "profile", "email", "groups", "offline_access"]
        );

        let google = &c.providers["google"];
        assert_eq!(
            (google.display_name.as_str(), google.issuer.as_str()),
            ("Google", "https://accounts.google.com")
        );
        assert!(
            google.provisioning.auto_provision,
            "per-provider override beats the global one"
        );
        assert_eq!(
            google.provisioning.admin_email_domains,
            ["example.com", "Corp.Example"]
        );
        let okta = &c.providers["okta"];
        assert_eq!(okta.issuer, "https://company.okta.com");
        assert_eq!(okta.scopes, ["openid", "email"]);
        assert_eq!(okta.provisioning.admin_email_domains, ["company.com"]);
        assert!(
            c.warnings
                .iter()
                .any(|w| w.contains("OIDC_TOTALLY_UNKNOWN"))
        );
        Ok(())
    });
}

#[test]
fn seed_variable_errors() {
    let cases: &[(&[(&str, &str)], &str)] = &[
        (
            &[
                ("OIDC_PROVIDER_2_SLUG", "b"),
                ("OIDC_PROVIDER_2_ISSUER", "https://b"),
            ],
            "OIDC_PROVIDER_1_* is missing",
        ),
        (&[("OIDC_PROVIDER_1_ISSUER", "https://a")], "has no slug"),
        (
            &[
                ("OIDC_PROVIDER_1_SLUG", "a"),
                ("OIDC_PROVIDER_1_COLOUR", "red"),
            ],
            "COLOUR is not a provider setting",
        ),
        (&[("OIDC_AUTO_PROVISION", "maybe")], "not true or false"),
        (&[("OIDC_GROUPS_CLAIM", "a..b")], "column 3"),
        (&[("OIDC_PROVIDER_1_SLUG", "a")], "missing field `issuer`"),
    ];
    for (vars, needle) in cases {
        Jail::expect_with(|jail| {
            let mut vars = vars.to_vec();
            vars.push(("OIDC_ENABLED", "true"));
            let e = load_text(jail, MINIMAL, &vars)
                .err()
                .unwrap_or_else(|| panic!("{vars:?} loaded"));
            assert!(e.to_string().contains(needle), "{vars:?}: {e}");
            assert!(
                e.origin.contains("OIDC_") || e.origin.contains("environment"),
                "{e}"
            );
            Ok(())
        });
    }
    // OIDC_ENABLED=false ignores the provider variables.
    Jail::expect_with(|jail| {
        let c = load_text(
            jail,
            MINIMAL,
            &[("OIDC_ENABLED", "false"), ("OIDC_PROVIDER_1_SLUG", "a")],
        )
        .map_err(|e| e.to_string())?;
        assert_eq!(c.providers.len(), 1);
        Ok(())
    });
}

#[test]
fn ssogate_variables_override_everything_and_unknown_ones_fail() {
    Jail::expect_with(|jail| {
        jail.set_env("SSOGATE_PROVISIONING__AUTO_PROVISION", "false");
        jail.set_env("SSOGATE_PROVIDERS__CORP__DISPLAY_NAME", "Corp SSO");
        let c = load_text(jail, MINIMAL, &[("OIDC_AUTO_PROVISION", "true")])
            .map_err(|e| e.to_string())?;
        assert!(!c.providers["corp"].provisioning.auto_provision);
        assert_eq!(c.providers["corp"].display_name, "Corp SSO");

        jail.set_env("SSOGATE_PROVIDERS__CORP__BOGUS", "1");
        let e = load_text(jail, MINIMAL, &[]).err().unwrap();
        assert_eq!(e.key, "providers.corp.bogus");
        assert_eq!(
            e.origin, "environment variable SSOGATE_PROVIDERS__CORP__BOGUS",
            "{e}"
        );
        Ok(())
    });
}

#[test]
fn client_secret_from_a_file() {
    Jail::expect_with(|jail| {
        jail.create_file("secret.txt", "from-file\n")?;
        let c = load_text(
            jail,
            &format!("{MINIMAL}client_secret_file = \"secret.txt\"\n"),
            &[],
        )
        .map_err(|e| e.to_string())?;
        assert_eq!(
            c.providers["corp"]
                .client_secret
                .as_ref()
                .map(|s| s.expose()),
            Some("from-file")
        );
        let e = load_text(
            jail,
            &format!("{MINIMAL}client_secret_file = \"secret.txt\"\nclient_secret = \"x\"\n"),
            &[],
        )
        .err()
        .unwrap();
        assert!(e.message.contains("both"), "{e}");
        Ok(())
    });
}

#[test]
fn unknown_provider_is_a_clear_error() {
    let c = load_with_env(Some(&example()), &[]).unwrap();
    let e = c.engine("nope").err().unwrap();
    assert!(
        e.to_string().contains("Configured providers: corp, demo"),
        "{e}"
    );
}

#[test]
fn database_url_from_file_and_environment() {
    Jail::expect_with(|jail| {
        let c = load_text(jail, MINIMAL, &[]).map_err(|e| e.to_string())?;
        assert_eq!(
            c.database,
            ssogate_config::Database::Sqlite("ssogate.db".into())
        );
        jail.set_env(
            "SSOGATE_DATABASE_URL",
            "postgres://ssogate@127.0.0.1/ssogate",
        );
        let c = load_text(jail, MINIMAL, &[]).map_err(|e| e.to_string())?;
        assert_eq!(
            c.database,
            ssogate_config::Database::Postgres("postgres://ssogate@127.0.0.1/ssogate".into())
        );
        jail.set_env("SSOGATE_DATABASE_URL", "mysql://root:hunter2@db/x");
        let e = load_text(jail, MINIMAL, &[]).err().unwrap();
        assert_eq!(e.key, "database_url");
        assert!(
            e.message.contains("sqlite://PATH") && !e.message.contains("hunter2"),
            "{e}"
        );
        Ok(())
    });
}

#[test]
fn audit_retention_defaults_to_90_days() {
    Jail::expect_with(|jail| {
        let c = load_text(jail, MINIMAL, &[]).map_err(|e| e.to_string())?;
        assert_eq!(c.audit.retention_days, 90);
        let c = load_text(
            jail,
            &format!("[audit]\nretention_days = 7\n{MINIMAL}"),
            &[],
        )
        .map_err(|e| e.to_string())?;
        assert_eq!(c.audit.retention_days, 7);
        let e = load_text(
            jail,
            &format!("[audit]\nretention_days = -1\n{MINIMAL}"),
            &[],
        )
        .err()
        .unwrap();
        assert_eq!(e.key, "audit.retention_days");
        Ok(())
    });
}

#[test]
fn protocol_keys_live_in_the_provider_table_and_are_checked() {
    Jail::expect_with(|jail| {
        let text = format!(
            "{MINIMAL}client_id = \"app\"\nprompt = \"login\"\ntoken_auth_method = \"client_secret_post\"\nalgorithms = [\"RS256\", \"ES256\"]\nleeway_seconds = 30\nend_session = \"https://idp.example.com/out\"\nbearer = \"jwt\"\n"
        );
        jail.set_env("SSOGATE_BASE_URL", "https://sso.example.org/");
        let c = load_text(jail, &text, &[]).unwrap();
        let p = &c.providers["corp"];
        assert_eq!(p.protocol.prompt.as_deref(), Some("login"));
        assert_eq!(p.protocol.leeway_seconds, 30);
        assert_eq!(
            p.protocol.algorithms,
            [
                ssogate_protocol::Algorithm::RS256,
                ssogate_protocol::Algorithm::ES256
            ]
        );
        let rp = p.rp_settings(&c.base_url);
        assert_eq!(
            rp.redirect_uri,
            "https://sso.example.org/auth/corp/callback"
        );
        assert_eq!(rp.client_id, "app");
        assert!(rp.wanted_claims.contains(&"email".to_owned()));
        assert!(rp.wanted_claims.contains(&"groups".to_owned()));

        let bad = load_text(jail, &format!("{MINIMAL}algorithms = [\"none\"]\n"), &[]).unwrap_err();
        assert!(bad.message.contains("none"), "{bad}");
        let typo = load_text(jail, &format!("{MINIMAL}promt = \"login\"\n"), &[]).unwrap_err();
        assert!(typo.to_string().contains("promt"), "{typo}");
        Ok(())
    });
}

#[test]
fn bookstack_endpoint_variables_configure_manual_endpoints() {
    Jail::expect_with(|jail| {
        let c = load_text(
            jail,
            "",
            &[
                ("OIDC_ISSUER", "https://idp.example.com"),
                ("OIDC_CLIENT_ID", "bookstack"),
                ("OIDC_ISSUER_DISCOVER", "false"),
                ("OIDC_AUTH_ENDPOINT", "https://idp.example.com/auth"),
                ("OIDC_TOKEN_ENDPOINT", "https://idp.example.com/token"),
                ("OIDC_PUBLIC_KEY", "file:///etc/bookstack/idp.pem"),
                ("OIDC_END_SESSION_ENDPOINT", "false"),
                ("OIDC_DUMP_USER_DETAILS", "true"),
            ],
        )
        .unwrap();
        let p = &c.providers["oidc"].protocol;
        assert!(!p.discovery);
        assert_eq!(
            p.authorization_endpoint.as_deref(),
            Some("https://idp.example.com/auth")
        );
        assert_eq!(
            p.token_endpoint.as_deref(),
            Some("https://idp.example.com/token")
        );
        assert_eq!(
            p.public_key_file.as_deref(),
            Some(Path::new("/etc/bookstack/idp.pem"))
        );
        assert_eq!(p.end_session, ssogate_protocol::settings::EndSession::Off);
        assert!(p.dump_claims);
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        Ok(())
    });
}

/// The seeds' own switches and names beside the `OIDC_*` ones: Tududi's `BASE_URL` and
/// its default of OIDC *off*; BookStack's `APP_URL`, `AUTH_METHOD` and
/// `AUTH_AUTO_INITIATE` (default false); look-alike names get a warning naming them.
#[test]
fn the_seeds_switches_and_urls_are_read() {
    // Tududi: OIDC stays off without OIDC_ENABLED=true, and says so.
    Jail::expect_with(|jail| {
        let c = load_text(
            jail,
            MINIMAL,
            &[
                ("BASE_URL", "https://tasks.example.org"),
                ("OIDC_PROVIDER_SLUG", "google"),
                ("OIDC_ISSUER_URL", "https://accounts.google.com"),
                ("OIDC_CLIENT_ID", "t"),
            ],
        )
        .map_err(|e| e.to_string())?;
        assert_eq!(c.base_url, "https://tasks.example.org");
        assert!(!c.providers.contains_key("google"));
        assert!(
            c.warnings.iter().any(|w| w.contains("OIDC_ENABLED is not")),
            "{:?}",
            c.warnings
        );
        let c = load_text(
            jail,
            MINIMAL,
            &[
                ("OIDC_ENABLED", "true"),
                ("OIDC_PROVIDER_SLUG", "google"),
                ("OIDC_ISSUER_URL", "https://accounts.google.com"),
            ],
        )
        .map_err(|e| e.to_string())?;
        assert_eq!(
            c.providers["google"].callback,
            ssogate_config::Callback::Tududi,
            "Tududi's redirect URI keeps working"
        );
        assert_eq!(
            c.providers["google"].provisioning.username.source,
            ssogate_core::policy::UsernameSource::EmailPrefix,
            "Tududi's usernames"
        );
        // What Tududi implies, the file may still decide otherwise.
        let text = format!(
            "{MINIMAL}\n[providers.google]\ncallback = \"ssogate\"\n\n[providers.google.provisioning.username]\nsource = \"claim\"\n"
        );
        let c = load_text(
            jail,
            &text,
            &[
                ("OIDC_ENABLED", "true"),
                ("OIDC_PROVIDER_SLUG", "google"),
                ("OIDC_ISSUER_URL", "https://accounts.google.com"),
            ],
        )
        .map_err(|e| e.to_string())?;
        assert_eq!(c.providers["google"].issuer, "https://accounts.google.com");
        assert_eq!(
            c.providers["google"].callback,
            ssogate_config::Callback::Ssogate
        );
        assert_eq!(
            c.providers["google"].provisioning.username.source,
            ssogate_core::policy::UsernameSource::Claim
        );
        Ok(())
    });
    // BookStack: AUTH_METHOD=oidc needs no switch; its login page shows unless
    // AUTH_AUTO_INITIATE=true; APP_URL is the base URL.
    Jail::expect_with(|jail| {
        let vars = [
            ("AUTH_METHOD", "oidc"),
            ("APP_URL", "https://wiki.example.org"),
            ("OIDC_ISSUER", "https://idp.example.org"),
            ("OIDC_CLIENT_ID", "wiki"),
            ("AUTH_REGISTRATION_ROLE", "viewer"),
        ];
        let c = load_text(jail, MINIMAL, &vars).map_err(|e| e.to_string())?;
        assert_eq!(c.base_url, "https://wiki.example.org");
        assert!(!c.server.auto_initiate, "BookStack's default");
        assert_eq!(
            c.providers["corp"].issuer, "https://idp.example.org",
            "the file's only provider takes the single-provider names"
        );
        assert_eq!(
            c.providers["corp"].callback,
            ssogate_config::Callback::Bookstack
        );
        assert_eq!(
            c.providers["corp"].rp_settings(&c.base_url).redirect_uri,
            "https://wiki.example.org/oidc/callback"
        );
        assert!(
            c.warnings
                .iter()
                .any(|w| w.contains("AUTH_REGISTRATION_ROLE")),
            "{:?}",
            c.warnings
        );
        let mut vars = vars.to_vec();
        vars.push(("AUTH_AUTO_INITIATE", "true"));
        let c = load_text(jail, MINIMAL, &vars).map_err(|e| e.to_string())?;
        assert!(c.server.auto_initiate);
        let e = load_text(jail, MINIMAL, &[("AUTH_METHOD", "ldap")])
            .err()
            .unwrap();
        assert!(e.to_string().contains("AUTH_METHOD=oidc"), "{e}");
        Ok(())
    });
}

/// `[hooks.<name>]`: HTTPS or loopback HTTP, a secret long enough to sign with, and a
/// policy may only name hooks that exist.
#[test]
fn provisioning_hooks_are_checked_when_loaded() {
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    Jail::expect_with(|jail| {
        let ok = format!(
            "{MINIMAL}\n[providers.corp.provisioning]\nhooks = [\"crm\"]\n\n[hooks.crm]\nurl = \"https://crm.example.org/hook\"\nsecret = \"{secret}\"\non_failure = \"ignore\"\n"
        );
        let c = load_text(jail, &ok, &[]).map_err(|e| e.to_string())?;
        assert_eq!(c.hooks["crm"].timeout_ms, 3000);
        assert_eq!(c.hooks["crm"].on_failure, ssogate_config::OnFailure::Ignore);
        assert!(
            !format!("{:?}", c.hooks["crm"]).contains("MfKQ9r8G"),
            "the secret is never printed"
        );
        for (bad, key) in [
            (
                ok.replace("https://crm.example.org", "http://crm.example.org"),
                "hooks.crm.url",
            ),
            (ok.replace(secret, "short"), "hooks.crm.secret"),
            (
                ok.replace("hooks = [\"crm\"]", "hooks = [\"crm\", \"erp\"]"),
                "providers.corp.provisioning.hooks",
            ),
            (
                ok.replace("on_failure = \"ignore\"", "timeout_ms = 0"),
                "hooks.crm.timeout_ms",
            ),
        ] {
            let e = load_text(jail, &bad, &[]).unwrap_err();
            assert_eq!(e.key, key, "{e}");
        }
        Ok(())
    });
}

#[test]
fn the_signing_key_encryption_key_is_read_at_load_and_must_be_long_enough() {
    Jail::expect_with(|jail| {
        jail.create_file("kek", "0123456789abcdef0123456789abcdef-long\n")?;
        jail.create_file("short", "too-short\n")?;
        let c = load_text(
            jail,
            &format!("[server]\nsigning_key_encryption_key_file = \"kek\"\n{MINIMAL}"),
            &[],
        )
        .map_err(|e| e.to_string())?;
        assert_eq!(
            c.signing_key_encryption.as_ref().map(|s| s.expose()),
            Some("0123456789abcdef0123456789abcdef-long")
        );
        for (file, needle) in [("short", "shorter than 32"), ("missing", "cannot read")] {
            let e = load_text(
                jail,
                &format!("[server]\nsigning_key_encryption_key_file = \"{file}\"\n{MINIMAL}"),
                &[],
            )
            .err()
            .unwrap();
            assert_eq!(e.key, "server.signing_key_encryption_key_file", "{e}");
            assert!(e.to_string().contains(needle), "{e}");
        }
        Ok(())
    });
}

/// `[server] signing_key_files` are read at load, in order; one that cannot be read is
/// refused by key and path.
#[test]
fn signing_key_files_are_read_at_load() {
    Jail::expect_with(|jail| {
        jail.create_file("a.pem", "first\n")?;
        jail.create_file("b.pem", "second\n")?;
        let c = load_text(
            jail,
            &format!("[server]\nsigning_key_files = [\"a.pem\", \"b.pem\"]\n{MINIMAL}"),
            &[],
        )
        .map_err(|e| e.to_string())?;
        let read: Vec<(String, &str)> = c
            .signing_keys
            .iter()
            .map(|(p, t)| (p.display().to_string(), t.expose()))
            .collect();
        assert_eq!(
            read,
            [
                ("a.pem".to_owned(), "first\n"),
                ("b.pem".to_owned(), "second\n")
            ]
        );
        let e = load_text(
            jail,
            &format!("[server]\nsigning_key_files = [\"a.pem\", \"gone.pem\"]\n{MINIMAL}"),
            &[],
        )
        .err()
        .unwrap();
        assert_eq!(e.key, "server.signing_key_files", "{e}");
        assert!(e.to_string().contains("cannot read gone.pem"), "{e}");
        Ok(())
    });
}
