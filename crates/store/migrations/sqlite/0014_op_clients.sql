-- Clients of ssogate's OpenID Provider registered by administrators (console, API,
-- CLI), beside the configuration file's [clients.<id>]. `spec` holds the keys of
-- [clients.<id>] as a JSON object; a confidential client's secret, made by ssogate and
-- shown once, is kept only as its SHA-256 digest (hex).
CREATE TABLE op_clients (
    id            TEXT    PRIMARY KEY,
    spec          TEXT    NOT NULL,
    secret_sha256 TEXT,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
