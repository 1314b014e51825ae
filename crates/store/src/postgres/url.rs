//! The database URL: libpq's spelling, with ssogate's additions (`sslrootcert`,
//! `max_connections`) and a TLS default that never falls back to plain text off
//! loopback.

use super::DEFAULT_MAX_CONNECTIONS;
use crate::StoreError;
use std::sync::Arc;
use tokio_postgres_rustls::MakeRustlsConnect;

/// How to reach the server: the URL parsed, with ssogate's additions applied.
///
/// * `sslrootcert=PATH` (as libpq spells it): trust this CA file (PEM) besides the
///   system's roots.
/// * Without `sslmode`, connections to anything but loopback or a Unix socket require
///   TLS (libpq's default, `prefer`, would silently fall back to plain text); loopback
///   goes without. `sslmode=disable|prefer|require` is honoured when given, and the
///   server's certificate is always verified (the system's roots and `sslrootcert`).
///
/// And the pool's cap: `max_connections=N` (an ssogate addition, like `sslrootcert`),
/// [`DEFAULT_MAX_CONNECTIONS`] when not given.
pub(super) fn connection(
    url: &str,
) -> Result<(postgres::Config, MakeRustlsConnect, usize), StoreError> {
    let bad =
        |why: String| StoreError::PostgresConnect(format!("the database URL is not usable: {why}"));
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut kept = Vec::new();
    let mut root_cert = None;
    let mut mode_given = false;
    let mut max = DEFAULT_MAX_CONNECTIONS;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("sslrootcert", path)) => root_cert = Some(path.to_owned()),
            Some(("max_connections", n)) => {
                max = n
                    .parse()
                    .ok()
                    .filter(|n: &usize| (1..=1000).contains(n))
                    .ok_or_else(|| {
                        bad(format!(
                            "max_connections={n} is not a number of connections between 1 and 1000"
                        ))
                    })?;
            }
            Some(("sslmode", _)) => {
                mode_given = true;
                kept.push(pair);
            }
            _ => kept.push(pair),
        }
    }
    let rebuilt = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    let mut config: postgres::Config = rebuilt
        .parse()
        .map_err(|e: postgres::Error| bad(e.to_string()))?;
    let local = config.get_hosts().iter().all(|h| match h {
        postgres::config::Host::Tcp(name) => {
            matches!(name.as_str(), "localhost" | "127.0.0.1" | "::1" | "[::1]")
        }
        postgres::config::Host::Unix(_) => true,
    });
    if !mode_given {
        // Certificates are always verified, so libpq's `prefer` would turn a server with
        // a self-signed certificate into a failure; choose instead: encryption on the
        // network, none over loopback where it protects nothing.
        config.ssl_mode(if local {
            postgres::config::SslMode::Disable
        } else {
            postgres::config::SslMode::Require
        });
    }

    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(native.certs);
    if let Some(path) = &root_cert {
        let pem = std::fs::read(path)
            .map_err(|e| bad(format!("cannot read sslrootcert {path} ({e})")))?;
        let mut added = 0;
        use rustls_pki_types::pem::PemObject as _;
        for cert in rustls_pki_types::CertificateDer::pem_slice_iter(&pem) {
            let cert = cert.map_err(|e| bad(format!("sslrootcert {path} is not PEM ({e})")))?;
            roots
                .add(cert)
                .map_err(|e| bad(format!("sslrootcert {path}: {e}")))?;
            added += 1;
        }
        if added == 0 {
            return Err(bad(format!("sslrootcert {path} holds no certificate")));
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok((config, MakeRustlsConnect::new(tls), max))
}

#[cfg(test)]
mod tests {
    use super::*;
    use postgres::config::SslMode;

    #[test]
    fn max_connections_is_read_from_the_url_and_checked() {
        let cap = |url: &str| connection(url).map(|(_, _, n)| n);
        assert_eq!(
            cap("postgres://u@127.0.0.1/x").ok(),
            Some(DEFAULT_MAX_CONNECTIONS)
        );
        assert_eq!(
            cap("postgres://u@127.0.0.1/x?max_connections=4").ok(),
            Some(4)
        );
        assert!(cap("postgres://u@127.0.0.1/x?max_connections=0").is_err());
        assert!(cap("postgres://u@127.0.0.1/x?max_connections=lots").is_err());
    }

    #[test]
    fn tls_is_required_off_loopback_unless_the_url_says_otherwise() {
        let mode = |url: &str| connection(url).map(|(c, _, _)| c.get_ssl_mode());
        assert_eq!(
            mode("postgres://u:p@db.example.com/x").ok(),
            Some(SslMode::Require)
        );
        assert_eq!(
            mode("postgres://u@db.example.com/x?sslmode=disable").ok(),
            Some(SslMode::Disable)
        );
        assert_eq!(
            mode("postgres://u@127.0.0.1:5432/x").ok(),
            Some(SslMode::Disable)
        );
        assert_eq!(
            mode("postgres://u@localhost/x").ok(),
            Some(SslMode::Disable)
        );
        assert_eq!(
            mode("postgres://u@127.0.0.1/x?sslmode=require").ok(),
            Some(SslMode::Require)
        );
        assert!(mode("postgres://u@127.0.0.1/x?sslrootcert=/nonexistent.pem").is_err());
        assert!(mode("postgres://u@127.0.0.1/x?sslmode=sometimes").is_err());
    }
}
