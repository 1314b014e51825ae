//! Every way a login, a token or a provider can be refused, each with its own variant
//! (the attack suite asserts on them) and a stable `code()` for audit events.

/// Why the relying party refused something. Messages say what happened and what to do;
/// none carries a token or a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OidcError {
    // --- configuration and the provider's documents ---
    #[error("provider \"{slug}\" is misconfigured: {message}")]
    Config { slug: String, message: String },
    #[error(
        "{url} is not https; only loopback addresses may use http unless allow_insecure_http is set for development"
    )]
    InsecureUrl { url: String },
    #[error(
        "could not reach the provider at {url}: {detail}. Check the URL, the network and the CA bundle"
    )]
    Unreachable { url: String, detail: String },
    #[error("the provider answered {status} at {url}; expected 200")]
    HttpStatus { url: String, status: u16 },
    #[error("the provider's {document} is not valid: {detail}")]
    BadDocument {
        document: &'static str,
        detail: String,
    },
    #[error(
        "the discovery document names issuer \"{found}\" but \"{expected}\" is configured; they must be identical (OpenID Connect Discovery 1.0, 4.3){}",
        issuer_hint(.expected, .found)
    )]
    DiscoveryIssuerMismatch { expected: String, found: String },

    // --- the login request (state) ---
    #[error("the sign-in response has no state; start again")]
    StateMissing,
    #[error("this sign-in link is unknown; start again")]
    StateUnknown,
    #[error("this sign-in link was already used; start again")]
    StateReplayed,
    #[error("this sign-in took too long and expired; start again")]
    StateExpired,
    #[error("this sign-in was started in another browser; start again here")]
    StateOtherBrowser,
    #[error("this sign-in was started for provider \"{expected}\", not this one; start again")]
    StateWrongProvider { expected: String },
    #[error("could not keep the sign-in state: {0}")]
    StateStore(String),

    // --- the authorization response and the token endpoint ---
    #[error("the provider refused the sign-in: {error}{}", description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    ProviderError {
        error: String,
        description: Option<String>,
    },
    #[error("the authorization response has no code")]
    CodeMissing,
    #[error(
        "the authorization response came from issuer \"{found}\", not \"{expected}\" (RFC 9207 mix-up protection)"
    )]
    ResponseIssuerMismatch { expected: String, found: String },
    #[error("the provider refused the authorization code: {error}{}", description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    CodeRejected {
        error: String,
        description: Option<String>,
    },
    #[error("the token response has no ID token; is the \"openid\" scope requested?")]
    IdTokenMissing,

    // --- JOSE ---
    #[error("the token is not a well-formed signed JWT: {0}")]
    Malformed(String),
    #[error("the token is unsigned (alg \"none\"); unsigned tokens are never accepted")]
    AlgNone,
    #[error(
        "the token is signed with {alg}, a shared-secret algorithm this provider is not configured for (HMAC with a public key is a forgery)"
    )]
    SymmetricAlgRefused { alg: String },
    #[error("the token is signed with {alg}, which is not in this provider's algorithm allow-list")]
    AlgNotAllowed { alg: String },
    #[error("the token's header lists critical extensions we do not understand: {0}")]
    UnknownCritical(String),
    #[error(
        "the token names key \"{kid}\", which the provider does not publish (after one refetch)"
    )]
    UnknownKey { kid: String },
    #[error("no published key can verify a {alg} token")]
    NoUsableKey { alg: String },
    #[error("key \"{kid}\" is too weak: {detail}")]
    WeakKey { kid: String, detail: String },
    #[error("the token's signature does not verify")]
    BadSignature,
    #[error("the token's type is \"{found}\", expected {expected}")]
    WrongTokenType {
        expected: &'static str,
        found: String,
    },

    // --- claims ---
    #[error("the token is missing the required claim \"{0}\"")]
    MissingClaim(&'static str),
    #[error("the token's issuer \"{found}\" is not \"{expected}\"")]
    WrongIssuer { expected: String, found: String },
    #[error("the token is not meant for this client (audience {found})")]
    WrongAudience { found: String },
    #[error("the token has several audiences but no azp (authorized party)")]
    AzpMissing,
    #[error("the token's authorized party \"{found}\" is not this client")]
    WrongAzp { found: String },
    #[error("the token expired at {exp} (now {now}, leeway {leeway} s)")]
    Expired { exp: i64, now: i64, leeway: i64 },
    #[error("the token claims to be issued at {iat}, in the future (now {now}, leeway {leeway} s)")]
    IssuedInFuture { iat: i64, now: i64, leeway: i64 },
    #[error("the token is not valid before {nbf} (now {now}, leeway {leeway} s)")]
    NotYetValid { nbf: i64, now: i64, leeway: i64 },
    #[error("the ID token has no nonce; start again")]
    NonceMissing,
    #[error("the ID token's nonce does not match this sign-in (replayed or injected token)")]
    NonceMismatch,
    #[error("the ID token's at_hash does not match the access token")]
    AtHashMismatch,
    #[error("the ID token's subject changed on refresh")]
    SubjectChanged,

    // --- userinfo ---
    #[error("the userinfo subject does not match the ID token's (OpenID Connect Core 5.3.2)")]
    UserinfoSubMismatch,

    // --- back-channel logout ---
    #[error(
        "the logout token carries a nonce, which logout tokens must not (Back-Channel Logout 1.0, 2.4)"
    )]
    LogoutTokenHasNonce,
    #[error("the logout token has no back-channel logout event")]
    LogoutTokenNoEvent,
    #[error("the logout token names neither sid nor sub")]
    LogoutTokenNoSubject,
    #[error("this logout token (jti) was already used")]
    LogoutTokenReplayed,
    #[error("the logout token is too old (issued at {iat}, now {now})")]
    LogoutTokenTooOld { iat: i64, now: i64 },

    // --- bearer tokens ---
    #[error("the access token is not active")]
    TokenInactive,
    #[error("bearer tokens from this provider are not accepted (bearer = \"off\")")]
    BearerDisabled,
}

/// What to do about the two issuer mismatches people meet most.
fn issuer_hint(expected: &str, found: &str) -> &'static str {
    if found.contains("{tenantid}") {
        "; this is Microsoft Entra ID's multi-tenant endpoint, whose tokens name their own tenant: configure the tenant's issuer, https://login.microsoftonline.com/<tenant-id>/v2.0"
    } else if found.trim_end_matches('/') == expected.trim_end_matches('/') {
        "; they differ by a trailing slash: write the issuer exactly as the document does"
    } else {
        ""
    }
}

impl OidcError {
    /// A stable, short name for audit events and metrics.
    pub fn code(&self) -> &'static str {
        use OidcError::*;
        match self {
            Config { .. } => "config",
            InsecureUrl { .. } => "insecure_url",
            Unreachable { .. } => "provider_unreachable",
            HttpStatus { .. } => "provider_http_status",
            BadDocument { .. } => "provider_bad_document",
            DiscoveryIssuerMismatch { .. } => "discovery_issuer_mismatch",
            StateMissing => "state_missing",
            StateUnknown => "state_unknown",
            StateReplayed => "state_replayed",
            StateExpired => "state_expired",
            StateOtherBrowser => "state_other_browser",
            StateWrongProvider { .. } => "state_wrong_provider",
            StateStore(_) => "state_store",
            ProviderError { .. } => "provider_error",
            CodeMissing => "code_missing",
            ResponseIssuerMismatch { .. } => "response_issuer_mismatch",
            CodeRejected { .. } => "code_rejected",
            IdTokenMissing => "id_token_missing",
            Malformed(_) => "token_malformed",
            AlgNone => "alg_none",
            SymmetricAlgRefused { .. } => "alg_symmetric_refused",
            AlgNotAllowed { .. } => "alg_not_allowed",
            UnknownCritical(_) => "unknown_critical_header",
            UnknownKey { .. } => "unknown_key",
            NoUsableKey { .. } => "no_usable_key",
            WeakKey { .. } => "weak_key",
            BadSignature => "bad_signature",
            WrongTokenType { .. } => "wrong_token_type",
            MissingClaim(_) => "missing_claim",
            WrongIssuer { .. } => "wrong_issuer",
            WrongAudience { .. } => "wrong_audience",
            AzpMissing => "azp_missing",
            WrongAzp { .. } => "wrong_azp",
            Expired { .. } => "token_expired",
            IssuedInFuture { .. } => "issued_in_future",
            NotYetValid { .. } => "not_yet_valid",
            NonceMissing => "nonce_missing",
            NonceMismatch => "nonce_mismatch",
            AtHashMismatch => "at_hash_mismatch",
            SubjectChanged => "subject_changed",
            UserinfoSubMismatch => "userinfo_sub_mismatch",
            LogoutTokenHasNonce => "logout_token_nonce",
            LogoutTokenNoEvent => "logout_token_no_event",
            LogoutTokenNoSubject => "logout_token_no_subject",
            LogoutTokenReplayed => "logout_token_replayed",
            LogoutTokenTooOld { .. } => "logout_token_too_old",
            TokenInactive => "token_inactive",
            BearerDisabled => "bearer_disabled",
        }
    }

    /// Whether the provider (or the network to it) is at fault rather than the request.
    pub fn is_provider_side(&self) -> bool {
        matches!(
            self,
            OidcError::Unreachable { .. }
                | OidcError::HttpStatus { .. }
                | OidcError::BadDocument { .. }
                | OidcError::DiscoveryIssuerMismatch { .. }
                | OidcError::InsecureUrl { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::OidcError;

    #[test]
    fn an_issuer_mismatch_says_what_to_do_about_the_common_ones() {
        let say = |expected: &str, found: &str| {
            OidcError::DiscoveryIssuerMismatch {
                expected: expected.into(),
                found: found.into(),
            }
            .to_string()
        };
        let entra = say(
            "https://login.microsoftonline.com/common/v2.0",
            "https://login.microsoftonline.com/{tenantid}/v2.0",
        );
        assert!(
            entra.contains("https://login.microsoftonline.com/<tenant-id>/v2.0"),
            "{entra}"
        );
        let slash = say(
            "https://authentik.example/application/o/app",
            "https://authentik.example/application/o/app/",
        );
        assert!(slash.contains("trailing slash"), "{slash}");
        let other = say("https://idp.example", "https://evil.example");
        assert!(
            other.ends_with("(OpenID Connect Discovery 1.0, 4.3)"),
            "{other}"
        );
    }
}
