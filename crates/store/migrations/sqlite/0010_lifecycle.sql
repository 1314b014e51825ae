-- Lifecycle: when an account was disabled (deletion counts from then; accounts disabled
-- before this version count from their last change), and the one lease every instance
-- competes for, so the rules run on one instance at a time.
ALTER TABLE users ADD COLUMN disabled_at INTEGER;
UPDATE users SET disabled_at = updated_at WHERE status = 'disabled';

CREATE TABLE lifecycle_lease (
    id       INTEGER PRIMARY KEY,
    next_at  INTEGER NOT NULL
);
INSERT INTO lifecycle_lease (id, next_at) VALUES (1, 0);
