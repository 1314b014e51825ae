//! Small HTTP helpers: cookies, the client's address behind trusted proxies, `return_to`
//! checking, CSRF, identity header encoding, redirects.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ipnet::IpNet;
use std::net::{IpAddr, SocketAddr};
use url::Url;

/// The token of `Authorization: Bearer …`; the scheme's name in any case (RFC 7235
/// 2.1), the token without surrounding blanks, never empty.
pub(crate) fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let (scheme, token) = headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// A cookie's value from the request's `Cookie` headers.
pub(crate) fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (k, v) = pair.trim().split_once('=')?;
            (k == name).then_some(v.trim_matches('"'))
        })
}

/// A `Set-Cookie` value: `HttpOnly` always, `Secure` behind https.
pub(crate) fn set_cookie(
    name: &str,
    value: &str,
    path: &str,
    max_age: Option<i64>,
    secure: bool,
    same_site: &str,
) -> Option<HeaderValue> {
    set_cookie_for(name, value, path, None, max_age, secure, same_site)
}

/// [`set_cookie`] with a `Domain` (the session cookie, when `cookie_domain` is set).
pub(crate) fn set_cookie_for(
    name: &str,
    value: &str,
    path: &str,
    domain: Option<&str>,
    max_age: Option<i64>,
    secure: bool,
    same_site: &str,
) -> Option<HeaderValue> {
    let mut s = format!("{name}={value}; Path={path}; HttpOnly; SameSite={same_site}");
    if let Some(d) = domain {
        s.push_str(&format!("; Domain={d}"));
    }
    if let Some(age) = max_age {
        s.push_str(&format!("; Max-Age={age}"));
    }
    if secure {
        s.push_str("; Secure");
    }
    HeaderValue::from_str(&s).ok()
}

pub(crate) fn clear_cookie(name: &str, path: &str, secure: bool) -> Option<HeaderValue> {
    set_cookie(name, "", path, Some(0), secure, "Lax")
}

/// The client's address: the peer, or — when the peer is a trusted proxy — the
/// rightmost `X-Forwarded-For` entry that is not itself a trusted proxy.
/// The client's address: the peer, or — when the peer is a trusted proxy — the last
/// untrusted hop of `X-Forwarded-For`. IPv4-mapped IPv6 addresses (`::ffff:192.0.2.1`,
/// what a `[::]` listener sees for IPv4 clients) are read as the IPv4 they carry, so
/// `trusted_proxies` and the rate limits see the same address either way.
pub(crate) fn client_addr(peer: SocketAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let peer = peer.ip().to_canonical();
    if !is_trusted(peer, trusted) {
        return peer;
    }
    let chain: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|a| a.trim().parse::<IpAddr>().ok())
        .map(|a| a.to_canonical())
        .collect();
    chain
        .iter()
        .rev()
        .find(|a| !is_trusted(**a, trusted))
        .copied()
        .unwrap_or(peer)
}

pub(crate) fn is_trusted(addr: IpAddr, trusted: &[IpNet]) -> bool {
    let addr = addr.to_canonical();
    trusted.iter().any(|n| n.contains(&addr))
}

pub(crate) fn user_agent(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.chars().take(256).collect())
}

/// Where a login may send the browser afterwards: a path on `base`, or a URL on `base`'s
/// origin or an allowed origin. Anything else (`//evil`, `/\evil`, `https://evil`,
/// encoded or with credentials) is `None`, and the caller uses the default.
pub fn safe_return_to(raw: &str, base: &Url, allowed_origins: &[String]) -> Option<String> {
    if raw.is_empty()
        || raw.len() > 2048
        || raw.chars().any(|c| c.is_control() || c == '\\')
        || decoded_has_trouble(raw)
    {
        return None;
    }
    let url = if raw.starts_with('/') {
        if raw.starts_with("//") {
            return None;
        }
        base.join(raw).ok()?
    } else {
        Url::parse(raw).ok()?
    };
    if !matches!(url.scheme(), "http" | "https")
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return None;
    }
    let origin = url.origin().ascii_serialization();
    let allowed = origin == base.origin().ascii_serialization()
        || allowed_origins
            .iter()
            .any(|o| o.trim_end_matches('/').eq_ignore_ascii_case(&origin));
    allowed.then(|| url.to_string())
}

/// Whether percent-decoding (once or twice) reveals a backslash, a control character or
/// a leading `//` — the shapes browsers turn into another host.
fn decoded_has_trouble(raw: &str) -> bool {
    let mut s = raw.to_owned();
    for _ in 0..2 {
        let decoded: Vec<u8> = url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned().into_bytes())
            .unwrap_or_default();
        let d = String::from_utf8_lossy(&decoded).into_owned();
        if d.contains('\\') || d.chars().any(char::is_control) || d.starts_with("//") {
            return true;
        }
        if d == s {
            break;
        }
        s = d;
    }
    false
}

/// An identity header's value: visible ASCII as it is; `%`, `,`, controls and
/// non-ASCII percent-encoded (UTF-8), so a display name can never split or inject a header.
pub(crate) fn header_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if (0x20..0x7f).contains(&b) && b != b'%' && b != b',' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out.trim().to_owned()
}

/// A list header's value: each item encoded, joined with `,`.
pub(crate) fn header_list<'a>(items: impl Iterator<Item = &'a str>) -> String {
    items.map(header_value).collect::<Vec<_>>().join(",")
}

pub(crate) fn redirect(status: StatusCode, location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(v) => (status, [(header::LOCATION, v)]).into_response(),
        Err(_) => StatusCode::BAD_REQUEST.into_response(),
    }
}

/// Whether a state-changing request came from our own pages: the form's token must
/// equal the CSRF cookie (double submit; `__Host-` prefixed behind https so a sibling
/// subdomain cannot plant it), and an `Origin` header, when sent, must be ours.
pub(crate) fn csrf_ok(
    headers: &HeaderMap,
    cookie_name: &str,
    form_token: Option<&str>,
    base: &Url,
) -> bool {
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok())
        && origin != base.origin().ascii_serialization()
    {
        return false;
    }
    match (cookie(headers, cookie_name), form_token) {
        (Some(c), Some(f)) if !c.is_empty() => {
            ssogate_oidc::validate::constant_time_eq(c.as_bytes(), f.as_bytes())
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens_are_read_whatever_the_scheme_s_case() {
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(
                header::AUTHORIZATION,
                HeaderValue::from_str(v).unwrap_or_else(|e| panic!("{e}")),
            );
            bearer_token(&h).map(str::to_owned)
        };
        for v in ["Bearer t0k", "bearer t0k", "BEARER t0k", "Bearer   t0k  "] {
            assert_eq!(with(v).as_deref(), Some("t0k"), "{v}");
        }
        for v in [
            "Basic t0k",
            "Bearer",
            "Bearer    ",
            "Bearert0k",
            "Bearer-x t0k",
        ] {
            assert_eq!(with(v), None, "{v}");
        }
        assert_eq!(bearer_token(&HeaderMap::new()), None);
    }

    fn base() -> Url {
        Url::parse("https://sso.example.com").unwrap_or_else(|_| unreachable!())
    }

    #[test]
    fn return_to_stays_on_allowed_origins() {
        let allowed = vec!["https://app.example.com".to_owned()];
        let ok = |s: &str| safe_return_to(s, &base(), &allowed);
        assert_eq!(
            ok("/account").as_deref(),
            Some("https://sso.example.com/account")
        );
        assert_eq!(
            ok("https://app.example.com/books?id=1").as_deref(),
            Some("https://app.example.com/books?id=1")
        );
        for bad in [
            "//evil.com",
            "/\\evil.com",
            "\\\\evil.com",
            "https://evil.com/",
            "https://app.example.com.evil.com/",
            "http://app.example.com/",
            "%2F%2Fevil.com",
            "/%2F%2Fevil.com",
            "/%5Cevil.com",
            "/%255Cevil.com",
            "https://user:pw@app.example.com/",
            "javascript:alert(1)",
            "data:text/html,x",
            "/\tevil",
            "",
            "///evil.com",
        ] {
            assert_eq!(ok(bad), None, "{bad}");
        }
    }

    #[test]
    fn header_values_cannot_split_or_inject() {
        assert_eq!(header_value("alice"), "alice");
        assert_eq!(header_value("Zoë"), "Zo%C3%AB");
        assert_eq!(header_value("a\r\nX-Admin: 1"), "a%0D%0AX-Admin: 1");
        assert_eq!(header_list(["a,b", "c%"].into_iter()), "a%2Cb,c%25");
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap_or_else(|_| unreachable!())];
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_static("1.2.3.4, 10.0.0.7"),
        );
        let proxy: SocketAddr = "10.0.0.1:5000".parse().unwrap_or_else(|_| unreachable!());
        let stranger: SocketAddr = "8.8.8.8:5000".parse().unwrap_or_else(|_| unreachable!());
        assert_eq!(client_addr(proxy, &h, &trusted).to_string(), "1.2.3.4");
        assert_eq!(client_addr(stranger, &h, &trusted).to_string(), "8.8.8.8");
    }

    /// Regression: on a `[::]` listener IPv4 peers arrive as `::ffff:a.b.c.d`, which no
    /// IPv4 `trusted_proxies` entry matched, so every client looked like the proxy.
    #[test]
    fn ipv4_mapped_peers_match_ipv4_trusted_proxies() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap_or_else(|_| unreachable!())];
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_static("::ffff:1.2.3.4, ::ffff:10.0.0.7"),
        );
        let proxy: SocketAddr = "[::ffff:10.0.0.1]:5000"
            .parse()
            .unwrap_or_else(|_| unreachable!());
        assert_eq!(client_addr(proxy, &h, &trusted).to_string(), "1.2.3.4");
        let stranger: SocketAddr = "[::ffff:8.8.8.8]:5000"
            .parse()
            .unwrap_or_else(|_| unreachable!());
        assert_eq!(client_addr(stranger, &h, &trusted).to_string(), "8.8.8.8");
    }
}
