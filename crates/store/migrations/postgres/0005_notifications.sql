-- Kept in step with SQLite's schema versions: SQLite stores cross-process invalidations
-- in a table; PostgreSQL sends them with NOTIFY and needs nothing here.
SELECT 1;
