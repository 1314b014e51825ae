-- Webhooks out (Standard Webhooks). An endpoint subscribes to events ('*' or ',a,b,');
-- its secret signs every delivery and is shown once, when it is made.
CREATE TABLE webhooks (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        TEXT    NOT NULL UNIQUE,
    url         TEXT    NOT NULL,
    events      TEXT    NOT NULL,
    secret      TEXT    NOT NULL,
    enabled     BOOLEAN NOT NULL DEFAULT TRUE,
    created_at  BIGINT  NOT NULL
);

-- The outbox: one row per (event, endpoint), written in the transaction that makes the
-- change (nothing lost when ssogate stops), sent and retried with backoff; the rows
-- stay as the delivery log. A replay is a new row with the same msg_id.
CREATE TABLE webhook_deliveries (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    webhook_id      BIGINT  NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    msg_id          TEXT    NOT NULL,
    event_type      TEXT    NOT NULL,
    payload         TEXT    NOT NULL,
    created_at      BIGINT  NOT NULL,
    attempts        BIGINT  NOT NULL DEFAULT 0,
    next_at         BIGINT  NOT NULL DEFAULT 0,
    last_attempt_at BIGINT,
    last_status     BIGINT,
    last_error      TEXT,
    delivered_at    BIGINT,
    failed_at       BIGINT
);

CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_at)
    WHERE delivered_at IS NULL AND failed_at IS NULL;
CREATE INDEX webhook_deliveries_log ON webhook_deliveries (webhook_id, id);
