//! The little both engines have in common: run a statement, read rows of plain values.
//!
//! The directory's queries are written once, with `$1`-style placeholders, in SQL both
//! SQLite and PostgreSQL accept; each engine implements [`Db`]. This is hand-written
//! because the crates that abstract over both (sqlx's `Any`) give up SQLite's
//! one-writer-thread speed, which is the point of the SQLite engine.

use crate::StoreError;

/// A value bound to a placeholder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arg<'a> {
    Int(i64),
    Text(Option<&'a str>),
    Bool(bool),
}

impl From<i64> for Arg<'_> {
    fn from(v: i64) -> Self {
        Arg::Int(v)
    }
}
impl<'a> From<&'a str> for Arg<'a> {
    fn from(v: &'a str) -> Self {
        Arg::Text(Some(v))
    }
}
impl<'a> From<&'a String> for Arg<'a> {
    fn from(v: &'a String) -> Self {
        Arg::Text(Some(v.as_str()))
    }
}
impl<'a> From<Option<&'a str>> for Arg<'a> {
    fn from(v: Option<&'a str>) -> Self {
        Arg::Text(v)
    }
}
impl<'a> From<&'a Option<String>> for Arg<'a> {
    fn from(v: &'a Option<String>) -> Self {
        Arg::Text(v.as_deref())
    }
}
impl From<ssogate_core::domain::UserId> for Arg<'_> {
    fn from(v: ssogate_core::domain::UserId) -> Self {
        Arg::Int(v.0)
    }
}
impl From<Option<ssogate_core::domain::UserId>> for Arg<'_> {
    fn from(v: Option<ssogate_core::domain::UserId>) -> Self {
        v.map_or(Arg::Text(None), |id| Arg::Int(id.0))
    }
}
impl From<Option<i64>> for Arg<'_> {
    fn from(v: Option<i64>) -> Self {
        v.map_or(Arg::Text(None), Arg::Int)
    }
}
impl From<Option<bool>> for Arg<'_> {
    fn from(v: Option<bool>) -> Self {
        v.map_or(Arg::Text(None), Arg::Bool)
    }
}
impl From<bool> for Arg<'_> {
    fn from(v: bool) -> Self {
        Arg::Bool(v)
    }
}

/// `args![a, b, c]`: placeholders' values, converted with `Arg::from`.
macro_rules! args {
    ($($a:expr),* $(,)?) => { &[$($crate::sql::Arg::from($a)),*] as &[$crate::sql::Arg<'_>] };
}
pub(crate) use args;

/// A value read from a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cell {
    Null,
    Int(i64),
    Text(String),
    Bool(bool),
}

impl Cell {
    pub fn int(&self) -> Result<i64, StoreError> {
        match self {
            Cell::Int(i) => Ok(*i),
            other => Err(StoreError::Corrupt(format!(
                "expected a number, found {other:?}"
            ))),
        }
    }
    pub fn text(&self) -> Result<String, StoreError> {
        match self {
            Cell::Text(s) => Ok(s.clone()),
            other => Err(StoreError::Corrupt(format!(
                "expected text, found {other:?}"
            ))),
        }
    }
    /// An account id.
    pub fn user_id(&self) -> Result<ssogate_core::domain::UserId, StoreError> {
        self.int().map(ssogate_core::domain::UserId)
    }
    pub fn opt_text(&self) -> Result<Option<String>, StoreError> {
        match self {
            Cell::Null => Ok(None),
            other => other.text().map(Some),
        }
    }
    /// SQLite stores booleans as 0/1.
    pub fn bool(&self) -> Result<bool, StoreError> {
        match self {
            Cell::Bool(b) => Ok(*b),
            Cell::Int(i) => Ok(*i != 0),
            other => Err(StoreError::Corrupt(format!(
                "expected a boolean, found {other:?}"
            ))),
        }
    }
}

/// One row; reading past its end is a corrupt-database error, not a panic.
pub struct Row(pub Vec<Cell>);

impl Row {
    pub fn get(&self, i: usize) -> Result<&Cell, StoreError> {
        self.0
            .get(i)
            .ok_or_else(|| StoreError::Corrupt(format!("a query returned no column {i}")))
    }
}

/// A connection or transaction of either engine.
pub trait Db {
    /// Runs a statement; returns the number of rows it changed.
    fn exec(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<u64, StoreError>;
    /// Runs a query; returns every row.
    fn query(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<Vec<Row>, StoreError>;

    /// A query that writes nothing: on PostgreSQL it may run before the transaction
    /// begins (see `postgres::wire::Tx`).
    fn read_query(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<Vec<Row>, StoreError> {
        self.query(sql, args)
    }

    /// The transaction's last statement: nothing may be sent after it. On PostgreSQL,
    /// when it is also the only write, it is sent alone (atomic by itself) and the
    /// transaction is never begun.
    fn query_last(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<Vec<Row>, StoreError> {
        self.query(sql, args)
    }

    /// Whether one statement may insert into several tables (`WITH … INSERT`): PostgreSQL
    /// yes, SQLite no. Only a throughput matter: both paths write the same rows.
    fn writable_cte(&self) -> bool {
        false
    }

    /// The first column of the first row, if any.
    fn query_int(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<Option<i64>, StoreError> {
        match self.query(sql, args)?.first() {
            Some(row) => row.get(0)?.int().map(Some),
            None => Ok(None),
        }
    }

    /// The first column of every row, as numbers.
    fn query_ints(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<Vec<i64>, StoreError> {
        self.query(sql, args)?
            .iter()
            .map(|r| r.get(0)?.int())
            .collect()
    }
}

fn sqlite_sql(sql: &str) -> String {
    // `?N` is SQLite's numbered placeholder; `$N` would be a *named* one there.
    sql.replace('$', "?")
}

/// Bound as they are: text by reference, where owned values copied every string of
/// every statement first.
impl rusqlite::ToSql for Arg<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(ToSqlOutput::Borrowed(match self {
            Arg::Int(i) => ValueRef::Integer(*i),
            Arg::Text(Some(s)) => ValueRef::Text(s.as_bytes()),
            Arg::Text(None) => ValueRef::Null,
            Arg::Bool(b) => ValueRef::Integer(i64::from(*b)),
        }))
    }
}

fn sqlite_exec(
    conn: &rusqlite::Connection,
    sql: &str,
    args: &[Arg<'_>],
) -> Result<u64, StoreError> {
    let mut stmt = conn.prepare_cached(&sqlite_sql(sql))?;
    let n = stmt.execute(rusqlite::params_from_iter(args))?;
    Ok(u64::try_from(n).unwrap_or(u64::MAX))
}

fn sqlite_query(
    conn: &rusqlite::Connection,
    sql: &str,
    args: &[Arg<'_>],
) -> Result<Vec<Row>, StoreError> {
    use rusqlite::types::ValueRef;
    let mut stmt = conn.prepare_cached(&sqlite_sql(sql))?;
    let columns = stmt.column_count();
    let mut rows = stmt.query(rusqlite::params_from_iter(args))?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let mut row = Vec::with_capacity(columns);
        for i in 0..columns {
            row.push(match r.get_ref(i)? {
                ValueRef::Null => Cell::Null,
                ValueRef::Integer(v) => Cell::Int(v),
                ValueRef::Text(t) => Cell::Text(String::from_utf8_lossy(t).into_owned()),
                ValueRef::Real(f) => Cell::Text(f.to_string()),
                ValueRef::Blob(_) => return Err(StoreError::Corrupt("unexpected blob".into())),
            });
        }
        out.push(Row(row));
    }
    Ok(out)
}

impl Db for rusqlite::Connection {
    fn exec(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<u64, StoreError> {
        sqlite_exec(self, sql, args)
    }
    fn query(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<Vec<Row>, StoreError> {
        sqlite_query(self, sql, args)
    }
}

impl Db for rusqlite::Transaction<'_> {
    fn exec(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<u64, StoreError> {
        sqlite_exec(self, sql, args)
    }
    fn query(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<Vec<Row>, StoreError> {
        sqlite_query(self, sql, args)
    }
}
