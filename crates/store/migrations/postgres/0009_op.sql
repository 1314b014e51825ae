-- ssogate as an OpenID Provider: its signing keys (PKCS#8, base64; every instance signs
-- with the same key), authorization codes and access tokens, both kept only as SHA-256
-- digests. A code is used once; a replayed code revokes the tokens it earned.

CREATE TABLE op_keys (
    kid         TEXT    PRIMARY KEY,
    alg         TEXT    NOT NULL,
    private_key TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    -- Published from creation; signs from activates_at on (rotation publishes the next
    -- key before it is used); published until retired_at (every token it signed expired).
    activates_at BIGINT NOT NULL DEFAULT 0,
    retired_at  BIGINT
);

CREATE TABLE op_codes (
    code_hash   TEXT    PRIMARY KEY,
    client_id   TEXT    NOT NULL,
    user_id     BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    grant_json  TEXT    NOT NULL,
    auth_time   BIGINT  NOT NULL,
    sid         TEXT,
    expires_at  BIGINT  NOT NULL,
    used_at     BIGINT
);

CREATE TABLE op_tokens (
    token_hash  TEXT    PRIMARY KEY,
    code_hash   TEXT    NOT NULL,
    client_id   TEXT    NOT NULL,
    user_id     BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    scope       TEXT    NOT NULL,
    expires_at  BIGINT  NOT NULL
);

CREATE INDEX op_tokens_code ON op_tokens (code_hash);

-- Which applications each ssogate session signed in to (sid = the session's digest), so
-- ending the session can tell them (back-channel logout).
CREATE TABLE op_logins (
    sid         TEXT    NOT NULL,
    client_id   TEXT    NOT NULL,
    user_id     BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (sid, client_id)
);

CREATE INDEX op_logins_user ON op_logins (user_id);

-- Back-channel logouts to deliver, written in the transaction that ends the session or
-- the account (nothing is lost when ssogate stops), retried with backoff.
CREATE TABLE op_logouts (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    client_id    TEXT    NOT NULL,
    user_id      BIGINT NOT NULL,
    sid          TEXT    NOT NULL,
    attempts     BIGINT NOT NULL DEFAULT 0,
    next_at      BIGINT NOT NULL DEFAULT 0,
    delivered_at BIGINT,
    last_error   TEXT
);

CREATE INDEX op_logouts_due ON op_logouts (next_at) WHERE delivered_at IS NULL;

-- Refresh tokens (digests), rotated at every use. A family is everything one code
-- earned: a used refresh token presented again revokes the family (RFC 9700 4.14.2).
CREATE TABLE op_refresh (
    token_hash  TEXT    PRIMARY KEY,
    family      TEXT    NOT NULL,
    client_id   TEXT    NOT NULL,
    user_id     BIGINT NOT NULL,
    grant_json  TEXT    NOT NULL,
    auth_time   BIGINT NOT NULL,
    sid         TEXT,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT
);

CREATE INDEX op_refresh_family ON op_refresh (family);
CREATE INDEX op_refresh_user ON op_refresh (user_id);
CREATE INDEX op_refresh_sid ON op_refresh (sid);
