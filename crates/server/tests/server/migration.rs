//! Moving over without re-registering redirect URIs: a provider configured with the
//! callback style of the system being left signs people in on that system's paths.

use crate::support::{Browser, Harness, Opts};
use url::Url;

/// Where the start sends the browser, and the `redirect_uri` it carries.
async fn redirect_uri(h: &Harness, b: &Browser, start: &str) -> String {
    let r = b.get(&h.url(start)).await;
    assert_eq!(r.status, 302, "{start}: {}", r.body);
    let auth = Url::parse(&r.location().unwrap()).unwrap();
    auth.query_pairs()
        .find(|(k, _)| k == "redirect_uri")
        .map(|(_, v)| v.into_owned())
        .unwrap()
}

#[tokio::test]
async fn tududi_paths_start_and_finish_a_sign_in_and_list_identities() {
    let h = Harness::start(Opts {
        fake: "callback = \"tududi\"",
        ..Opts::default()
    })
    .await;
    let b = Browser::new();
    assert_eq!(
        redirect_uri(&h, &b, "/api/oidc/auth/fake").await,
        h.url("/api/oidc/callback/fake")
    );
    let r = b
        .login_via(&h, &h.idp, "/api/oidc/auth/fake", "alice")
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(b.get(&h.url("/auth/verify")).await.status, 200);
    let ids = b.get(&h.url("/api/oidc/identities")).await;
    assert_eq!(ids.status, 200);
    let v: serde_json::Value = serde_json::from_str(&ids.body).unwrap();
    assert_eq!(v["identities"][0]["provider"], "fake", "{v}");
    assert_eq!(v["identities"][0]["subject"], "alice", "{v}");
    assert_eq!(
        Browser::new()
            .get(&h.url("/api/oidc/identities"))
            .await
            .status,
        401
    );
    let providers: serde_json::Value =
        serde_json::from_str(&b.get(&h.url("/api/oidc/providers")).await.body).unwrap();
    assert_eq!(providers["providers"][0]["type"], "oidc");
    assert_eq!(
        providers["providers"][0]["start_url"],
        h.url("/api/oidc/auth/fake").as_str()
    );
    // BookStack's path is not this provider's.
    assert_eq!(
        b.get(&h.url("/oidc/callback?state=x&code=y")).await.status,
        404
    );
}

#[tokio::test]
async fn the_bookstack_callback_path_finishes_a_sign_in() {
    let h = Harness::start(Opts {
        fake: "callback = \"bookstack\"",
        ..Opts::default()
    })
    .await;
    let b = Browser::new();
    assert_eq!(
        redirect_uri(&h, &b, "/auth/fake/start").await,
        h.url("/oidc/callback")
    );
    let r = b.login(&h, "alice").await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(b.get(&h.url("/auth/verify")).await.status, 200);
    // Tududi's paths are not this provider's.
    assert_eq!(b.get(&h.url("/api/oidc/auth/fake")).await.status, 404);
}

#[tokio::test]
async fn the_nextcloud_callback_path_finishes_a_sign_in() {
    let h = Harness::start(Opts {
        fake: "callback = \"nextcloud\"",
        ..Opts::default()
    })
    .await;
    let b = Browser::new();
    assert_eq!(
        redirect_uri(&h, &b, "/auth/fake/start").await,
        h.url("/apps/user_oidc/code")
    );
    let r = b.login(&h, "alice").await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(b.get(&h.url("/auth/verify")).await.status, 200);
    // A Nextcloud without pretty URLs registered the same path under /index.php/.
    let h = Harness::start(Opts {
        fake: "callback = \"nextcloud_index_php\"",
        ..Opts::default()
    })
    .await;
    let b = Browser::new();
    assert_eq!(
        redirect_uri(&h, &b, "/auth/fake/start").await,
        h.url("/index.php/apps/user_oidc/code")
    );
    let r = b.login(&h, "alice").await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(b.get(&h.url("/auth/verify")).await.status, 200);
}

/// Provider buttons come in the configuration file's order (not by slug), labelled in
/// the page's language unless `login_label` is configured.
#[tokio::test]
async fn provider_buttons_follow_the_file_and_speak_the_pages_language() {
    let h = Harness::start(Opts {
        server: "local_login = true",
        extra: "[providers.alpha]\ndisplay_name = \"Alpha\"\nissuer = \"https://alpha.invalid\"\nclient_id = \"a\"\n",
        ..Opts::default()
    })
    .await;
    let page = Browser::new()
        .get_with(&h.url("/login"), &[("accept-language", "de")])
        .await;
    let fake = page
        .body
        .find("Anmelden mit Fake")
        .unwrap_or_else(|| panic!("{}", page.body));
    let alpha = page.body.find("Anmelden mit Alpha").unwrap();
    assert!(fake < alpha, "the file lists fake first");
    let providers: serde_json::Value =
        serde_json::from_str(&Browser::new().get(&h.url("/api/oidc/providers")).await.body)
            .unwrap();
    assert_eq!(providers["providers"][0]["slug"], "fake");
    assert_eq!(providers["providers"][1]["slug"], "alpha");
}
