//! `ssogate serve` and `ssogate demo`.

use crate::{Failure, open_directory};
use ssogate_server::devidp;
use ssogate_server::{App, AppOptions};
use ssogate_store::Directory;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(clap::Args)]
pub(crate) struct ServeArgs {
    /// Listen here instead of `[server] bind`.
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
}

#[derive(clap::Args)]
pub(crate) struct DemoArgs {
    /// Where the demo listens (loopback only).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Where the demo keeps its SQLite file and the configuration it writes.
    #[arg(long, value_name = "DIR", default_value = "ssogate-demo")]
    dir: PathBuf,
}

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Runtime(format!("cannot start the async runtime: {e}")))
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SSOGATE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colour only for a person at a terminal: a log file or journal gets plain text
    // (`NO_COLOR` is honoured too).
    use std::io::IsTerminal;
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down; finishing requests in flight");
}

async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener, Failure> {
    tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        Failure::Runtime(format!(
            "cannot listen on {addr} ({e}); is another program using it? Choose another address with --listen"
        ))
    })
}

pub(crate) fn serve(config: ssogate_config::Config, args: &ServeArgs) -> Result<(), Failure> {
    init_logging();
    let (store, name) = open_directory(&config)?;
    let directory: Arc<dyn Directory> = Arc::from(store);
    let addr = args.listen.unwrap_or(config.server.bind);
    let base = config.base_url.clone();
    runtime()?.block_on(async move {
        let listener = bind(addr).await?;
        let app = App::new(config, directory, AppOptions::default())
            .map_err(|e| Failure::Input(e.to_string()))?;
        let local = listener.local_addr().map_or(addr, |a| a);
        tracing::info!(%local, base_url = %base, directory = %name, "ssogate is listening");
        crate::output::notice(&format!(
            "ssogate listening on http://{local} (base_url {base})"
        ));
        ssogate_server::serve(app, listener, shutdown_signal())
            .await
            .map_err(|e| Failure::Runtime(format!("the server stopped: {e}")))
    })
}

fn demo_toml(base: &str, bind: SocketAddr, db: &Path, dev: &devidp::DevProvider) -> String {
    format!(
        r#"# Written by `ssogate demo` on every start (your edits are overwritten): copy it to
# begin a configuration of your own. Every key is described in docs/configuration.md.
database_url = "sqlite://{db}"
base_url = "{base}"

[server]
bind = "{bind}"
local_login = false

[catalogue]
permissions = [
  {{ name = "read_books", label = "Read Books", required = true }},
  {{ name = "download_books", label = "Download Books" }},
  {{ name = "upload_books", label = "Upload Books" }},
  {{ name = "edit_metadata", label = "Edit Book Metadata" }},
  {{ name = "manage_library", label = "Manage Library" }},
  {{ name = "opds", label = "Access OPDS" }},
]
libraries = [
  {{ name = "main", label = "Main Library" }},
  {{ name = "contributions", label = "User Contributions" }},
  {{ name = "kids", label = "Children's Books" }},
]
groups = [
  {{ name = "Readers", external_ids = ["readers"] }},
  {{ name = "Librarians", external_ids = ["librarians"] }},
  {{ name = "Admins", external_ids = ["admins"] }},
]

[provisioning]
auto_provision = true
default_permissions = ["download_books", "opds"]
default_libraries = ["main"]

[provisioning.groups]
enabled = true

[[provisioning.rules]]
name = "librarians manage the library"
when = '"librarians" in groups'
grant_permissions = ["manage_library", "edit_metadata", "upload_books"]
grant_libraries = ["contributions"]

[[provisioning.rules]]
name = "admins are administrators"
when = '"admins" in groups'
grant_admin = true

[providers.dev]
display_name = "the development provider"
issuer = "{issuer}"
client_id = "{client_id}"
client_secret = "{secret}"
scopes = ["openid", "profile", "email", "groups"]
"#,
        db = db.display(),
        issuer = dev.issuer,
        client_id = dev.client_id,
        secret = dev.client_secret,
    )
}

pub(crate) fn demo(args: &DemoArgs) -> Result<(), Failure> {
    init_logging();
    if !args.listen.ip().is_loopback() {
        return Err(Failure::Input(format!(
            "the demo listens on loopback only, not {}; use `ssogate serve` with a configuration to listen elsewhere",
            args.listen
        )));
    }
    std::fs::create_dir_all(&args.dir)
        .map_err(|e| Failure::Runtime(format!("cannot create {} ({e})", args.dir.display())))?;
    let dir = args.dir.clone();
    let listen = args.listen;
    runtime()?.block_on(async move {
        let listener = bind(listen).await?;
        let local = listener
            .local_addr()
            .map_err(|e| Failure::Runtime(e.to_string()))?;
        let base = format!("http://{local}");
        let idp_listener = bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let dev = devidp::start(
            idp_listener,
            vec![format!("{base}/auth/dev/callback")],
            vec![format!("{base}/logged-out")],
            devidp::sample_people(),
        )
        .map_err(|e| Failure::Runtime(e.to_string()))?;
        let path = dir.join("ssogate-demo.toml");
        let db = dir.join("ssogate.db");
        std::fs::write(&path, demo_toml(&base, local, &db, &dev))
            .map_err(|e| Failure::Runtime(format!("cannot write {} ({e})", path.display())))?;
        // The seeds' OIDC_* variables are ignored here: the demo has its own provider.
        let config = ssogate_config::load_with_env(Some(&path), &[])
            .map_err(|e| Failure::Input(e.to_string()))?;
        let (store, _) = open_directory(&config)?;
        let people = devidp::sample_people()
            .iter()
            .map(|p| {
                format!(
                    "{} ({}{})",
                    p.username,
                    if p.groups.is_empty() {
                        "no groups".to_owned()
                    } else {
                        format!("groups {}", p.groups.join(", "))
                    },
                    if p.email_verified { "" } else { ", email not verified" }
                )
            })
            .collect::<Vec<_>>()
            .join("; ");
        let app = App::new(
            config,
            Arc::from(store),
            AppOptions {
                demo_people: Some(people),
                ..AppOptions::default()
            },
        )
        .map_err(|e| Failure::Input(e.to_string()))?;
        crate::output::notice(&format!(
            "ssogate demo is running.\n\n  Open {base}/ in your browser.\n\n  Development provider: {} (loopback only, sample people, no passwords)\n  Database:             {}\n  Configuration:        {}\n\nPress Ctrl-C to stop.",
            dev.issuer,
            db.display(),
            path.display()
        ));
        let served = ssogate_server::serve(app, listener, shutdown_signal()).await;
        drop(dev);
        served.map_err(|e| Failure::Runtime(format!("the server stopped: {e}")))
    })
}
