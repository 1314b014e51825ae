//! The HTTP client that talks to one provider: rustls on aws-lc-rs (the tree's only
//! crypto provider), system roots plus the provider's CA bundle, no redirects (a token
//! endpoint that redirects is an SSRF vector), bounded time and size.

use crate::error::OidcError;
use crate::settings::ProtocolSettings;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use url::Url;

/// The largest document read from a provider.
pub const MAX_BODY: usize = 1024 * 1024;

/// Whether `host` is a loopback name or address.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

/// Parses a provider URL and applies the https rule.
pub fn checked_url(raw: &str, allow_insecure_http: bool) -> Result<Url, OidcError> {
    let url = Url::parse(raw).map_err(|e| OidcError::BadDocument {
        document: "URL",
        detail: format!("\"{raw}\": {e}"),
    })?;
    match url.scheme() {
        "https" => Ok(url),
        "http" if allow_insecure_http || is_loopback(&url) => Ok(url),
        _ => Err(OidcError::InsecureUrl {
            url: raw.to_owned(),
        }),
    }
}

/// Builds the client for one provider.
pub fn client(slug: &str, p: &ProtocolSettings) -> Result<reqwest::Client, OidcError> {
    let config_err = |message: String| OidcError::Config {
        slug: slug.to_owned(),
        message,
    };
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| config_err(format!("TLS setup failed: {e}")))?;
    let tls = if p.danger_accept_invalid_certs {
        tracing::warn!(
            provider = slug,
            "danger_accept_invalid_certs is set: the provider's TLS certificate is NOT verified; anyone on the network path can impersonate it"
        );
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCert(provider)))
            .with_no_client_auth()
    } else {
        let mut roots = rustls::RootCertStore::empty();
        let native = rustls_native_certs::load_native_certs();
        for cert in native.certs {
            // A broken system certificate should not take the provider down.
            let _ = roots.add(cert);
        }
        if let Some(path) = &p.ca_file {
            let pem = std::fs::read(path)
                .map_err(|e| config_err(format!("cannot read ca_file {} ({e})", path.display())))?;
            let mut added = 0;
            use rustls_pki_types::pem::PemObject as _;
            for cert in rustls_pki_types::CertificateDer::pem_slice_iter(&pem) {
                let cert = cert.map_err(|e| {
                    config_err(format!("ca_file {} is not PEM: {e}", path.display()))
                })?;
                roots.add(cert).map_err(|e| {
                    config_err(format!("ca_file {}: bad certificate ({e})", path.display()))
                })?;
                added += 1;
            }
            if added == 0 {
                return Err(config_err(format!(
                    "ca_file {} holds no certificate",
                    path.display()
                )));
            }
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(u64::from(
            p.http_timeout_seconds.max(1),
        )))
        .connect_timeout(Duration::from_secs(u64::from(
            p.http_timeout_seconds.clamp(1, 10),
        )))
        .user_agent(concat!("ssogate/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| config_err(format!("HTTP client setup failed: {e}")))
}

/// GETs a document: 200 required, at most [`MAX_BODY`] bytes. Returns the body and
/// the content type.
pub async fn get(
    client: &reqwest::Client,
    url: &Url,
    bearer: Option<&str>,
    accept: &str,
) -> Result<(Vec<u8>, String), OidcError> {
    let mut req = client.get(url.clone()).header("accept", accept);
    if let Some(token) = bearer {
        req = req.bearer_auth(token);
    }
    let resp = req.send().await.map_err(|e| unreachable(url, &e))?;
    read(url, resp).await
}

/// An error and its causes, on one line (reqwest's own message omits the cause).
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

pub(crate) fn unreachable(url: &Url, e: &reqwest::Error) -> OidcError {
    OidcError::Unreachable {
        url: url.to_string(),
        detail: error_chain(e),
    }
}

pub(crate) async fn read(
    url: &Url,
    mut resp: reqwest::Response,
) -> Result<(Vec<u8>, String), OidcError> {
    let status = resp.status().as_u16();
    if status != 200 {
        return Err(OidcError::HttpStatus {
            url: url.to_string(),
            status,
        });
    }
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| unreachable(url, &e))? {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(OidcError::BadDocument {
                document: "response",
                detail: format!("{url} sent more than {MAX_BODY} bytes"),
            });
        }
        body.extend_from_slice(&chunk);
    }
    Ok((body, content_type))
}

#[derive(Debug)]
struct AcceptAnyCert(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_only_on_loopback_or_when_allowed() {
        assert!(checked_url("https://idp.example", false).is_ok());
        assert!(checked_url("http://127.0.0.1:9000", false).is_ok());
        assert!(checked_url("http://[::1]:9000", false).is_ok());
        assert!(checked_url("http://localhost:9000", false).is_ok());
        assert!(matches!(
            checked_url("http://idp.example", false),
            Err(OidcError::InsecureUrl { .. })
        ));
        assert!(checked_url("http://idp.example", true).is_ok());
        assert!(matches!(
            checked_url("ftp://idp.example", true),
            Err(OidcError::InsecureUrl { .. })
        ));
        // A name that merely starts with "localhost" is not loopback.
        assert!(checked_url("http://localhost.evil.example", false).is_err());
    }
}

#[cfg(test)]
mod ca_tests {
    use super::*;

    #[test]
    fn a_ca_file_must_exist_and_hold_certificates() {
        let dir = std::env::temp_dir().join(format!("ssogate-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_default();
        let missing = ProtocolSettings {
            ca_file: Some(dir.join("missing.pem")),
            ..ProtocolSettings::default()
        };
        let e = client("idp", &missing).err();
        assert!(
            matches!(e, Some(OidcError::Config { ref message, .. }) if message.contains("cannot read"))
        );
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "no certificates here\n").unwrap_or_default();
        let e = client(
            "idp",
            &ProtocolSettings {
                ca_file: Some(empty),
                ..ProtocolSettings::default()
            },
        )
        .err();
        assert!(
            matches!(e, Some(OidcError::Config { ref message, .. }) if message.contains("no certificate"))
        );
        // The escape hatch builds (and warns).
        let lax = ProtocolSettings {
            danger_accept_invalid_certs: true,
            ..ProtocolSettings::default()
        };
        assert!(client("idp", &lax).is_ok());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
