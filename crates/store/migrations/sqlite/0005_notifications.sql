-- Invalidations from other processes on the same file (the CLI's changes, heard by a
-- running server within a second). PostgreSQL uses NOTIFY instead.

CREATE TABLE notifications (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    payload         TEXT    NOT NULL,
    at              INTEGER NOT NULL
);
