//! Real nginx with `auth_request` in front of a tiny upstream that echoes the headers it
//! receives: the configuration in docs/integrations/nginx.md, exercised.

use crate::external::{Proc, available, free_port};
use crate::support::{Browser, Harness, Opts};
use axum::Router;
use axum::http::HeaderMap;
use axum::routing::get;
use std::path::Path;
use std::process::{Command, Stdio};

fn nginx_binary() -> Option<&'static str> {
    let found = ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .into_iter()
        .find(|p| Path::new(p).exists());
    available(
        "nginx",
        "TEST_SSOGATE_REQUIRE_NGINX",
        found
            .is_none()
            .then(|| "nginx is not installed (Debian package nginx-light)".to_owned()),
    )?;
    found
}

/// The upstream application: answers with the headers it was given, as JSON.
pub async fn upstream() -> u16 {
    let app = Router::new().fallback(get(|headers: HeaderMap| async move {
        let map: serde_json::Map<String, serde_json::Value> = headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").into()))
            .collect();
        axum::Json(serde_json::Value::Object(map))
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    port
}

/// The site configuration the nginx guide shows, with the ports filled in.
pub fn site_conf(listen: u16, ssogate: &str, upstream: u16) -> String {
    format!(
        r#"server {{
    listen 127.0.0.1:{listen};

    location = /_ssogate/verify {{
        internal;
        proxy_pass {ssogate}/auth/verify?redirect=false;
        proxy_pass_request_body off;
        proxy_set_header Content-Length "";
        proxy_set_header X-Original-URL $scheme://$http_host$request_uri;
    }}

    location @ssogate_login {{
        return 302 {ssogate}/login?return_to=$scheme://$http_host$request_uri;
    }}

    location / {{
        auth_request /_ssogate/verify;
        error_page 401 = @ssogate_login;

        auth_request_set $sso_user $upstream_http_remote_user;
        auth_request_set $sso_email $upstream_http_remote_email;
        auth_request_set $sso_email_ok $upstream_http_remote_email_verified;
        auth_request_set $sso_name $upstream_http_remote_name;
        auth_request_set $sso_groups $upstream_http_remote_groups;
        auth_request_set $sso_permissions $upstream_http_remote_permissions;
        auth_request_set $sso_libraries $upstream_http_remote_libraries;
        # Set every identity header, so one a client sends is always replaced.
        proxy_set_header Remote-User $sso_user;
        proxy_set_header Remote-Email $sso_email;
        proxy_set_header Remote-Email-Verified $sso_email_ok;
        proxy_set_header Remote-Name $sso_name;
        proxy_set_header Remote-Groups $sso_groups;
        proxy_set_header Remote-Permissions $sso_permissions;
        proxy_set_header Remote-Libraries $sso_libraries;

        proxy_pass http://127.0.0.1:{upstream};
    }}
}}
"#
    )
}

#[tokio::test]
async fn nginx_auth_request_protects_an_upstream_and_strips_forged_headers() {
    let Some(nginx) = nginx_binary() else {
        return;
    };
    let h = Harness::start(Opts {
        server: "trusted_proxies = [\"127.0.0.1/32\"]",
        ..Opts::default()
    })
    .await;
    let up = upstream().await;
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let conf = dir.path().join("nginx.conf");
    std::fs::write(
        &conf,
        format!(
            "daemon off;\nmaster_process off;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\nevents {{ worker_connections 64; }}\nhttp {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n{}\n}}\n",
            site_conf(port, &h.base, up)
        ),
    )
    .unwrap();
    let check = Command::new(nginx)
        .arg("-t")
        .arg("-c")
        .arg(&conf)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let _nginx = Proc(
        Command::new(nginx)
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let app = format!("http://127.0.0.1:{port}");
    // nginx is ready when it accepts a connection (it was started by us, just now).
    let mut ready = false;
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            ready = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert!(
        ready,
        "nginx did not listen: {}",
        std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default()
    );

    let b = Browser::new();
    // Anonymous: sent to sign in, and the forged header gets nowhere.
    let r = b
        .get_with(&format!("{app}/shelf/1"), &[("remote-user", "admin")])
        .await;
    assert_eq!(r.status, 302);
    assert_eq!(
        r.location().unwrap(),
        format!("{}/login?return_to=http://127.0.0.1:{port}/shelf/1", h.base)
    );
    // The login page takes the app's URL as return_to only from allowed origins; here
    // it falls back to ssogate itself, which is the safe answer.
    b.login(&h, "alice").await;
    let r = b
        .get_with(
            &format!("{app}/shelf/1"),
            &[
                ("remote-user", "admin"),
                ("remote-groups", "Admins,Root"),
                ("remote-email", "evil@example.org"),
                ("remote-email-verified", "true"),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let seen: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(seen["remote-user"], "alice", "{seen}");
    assert_eq!(seen["remote-email"], "alice@example.org");
    assert_eq!(seen["remote-email-verified"], "true");
    assert_eq!(seen["remote-name"], "Alice Liddell");
    assert_eq!(seen["remote-groups"], "Admins,Readers");
    assert_eq!(seen["remote-permissions"], "download_books,read_books");
    assert_eq!(seen["remote-libraries"], "main");
    // bob has no groups: the forged header is not passed along as it was.
    let bob = Browser::new();
    bob.login(&h, "bob").await;
    let r = bob
        .get_with(
            &format!("{app}/"),
            &[
                ("remote-groups", "Admins"),
                ("remote-email", "ceo@example.org"),
                ("remote-email-verified", "true"),
            ],
        )
        .await;
    let seen: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(seen["remote-user"], "bob");
    assert!(seen.get("remote-groups").is_none(), "{seen}");
    // bob's email is unverified: not sent, and no forged one either.
    assert!(seen.get("remote-email").is_none(), "{seen}");
    assert_eq!(seen["remote-email-verified"], "false", "{seen}");
}
