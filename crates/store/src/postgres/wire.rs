//! The wire between the query layer and the `postgres` client: arguments, rows, errors
//! (a lost race told apart from a failure), and connections with their prepared
//! statements.

use crate::StoreError;
use crate::sql::{Arg, Cell, Db, Row};
use postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use postgres::{Client, GenericClient, Statement};
use std::collections::HashMap;

impl ToSql for Arg<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut postgres::types::private::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Arg::Int(i) if *ty == Type::INT4 => i32::try_from(*i)?.to_sql(ty, out),
            Arg::Int(i) => i.to_sql(ty, out),
            Arg::Text(t) => t.to_sql(ty, out),
            Arg::Bool(b) => b.to_sql(ty, out),
        }
    }

    fn accepts(ty: &Type) -> bool {
        [
            Type::INT8,
            Type::INT4,
            Type::TEXT,
            Type::VARCHAR,
            Type::BOOL,
        ]
        .contains(ty)
    }

    to_sql_checked!();
}

pub(super) fn pg_error(e: postgres::Error) -> StoreError {
    // `Display` says only "db error"; the server's message is what helps.
    match e.as_db_error() {
        // Class 08 (connection exception) and 57 (operator intervention: shutdown,
        // cannot connect now): the server is going or gone, not this query's fault.
        Some(d) if d.code().code().starts_with("08") || d.code().code().starts_with("57") => {
            StoreError::Unavailable(format!("{} ({})", d.message(), d.code().code()))
        }
        Some(d) => StoreError::Postgres(format!("{} ({})", d.message(), d.code().code())),
        // No answer from the server at all: a closed connection, an I/O error.
        None => StoreError::Unavailable(e.to_string()),
    }
}

fn rows(rows: Vec<postgres::Row>) -> Result<Vec<Row>, StoreError> {
    rows.into_iter()
        .map(|r| {
            (0..r.len())
                .map(|i| {
                    let ty = r
                        .columns()
                        .get(i)
                        .map(|c| c.type_().clone())
                        .unwrap_or(Type::TEXT);
                    let cell = if ty == Type::INT8 {
                        r.try_get::<_, Option<i64>>(i)
                            .map(|v| v.map_or(Cell::Null, Cell::Int))
                    } else if ty == Type::INT4 {
                        r.try_get::<_, Option<i32>>(i)
                            .map(|v| v.map_or(Cell::Null, |v| Cell::Int(i64::from(v))))
                    } else if ty == Type::BOOL {
                        r.try_get::<_, Option<bool>>(i)
                            .map(|v| v.map_or(Cell::Null, Cell::Bool))
                    } else {
                        r.try_get::<_, Option<String>>(i)
                            .map(|v| v.map_or(Cell::Null, Cell::Text))
                    };
                    cell.map_err(pg_error)
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Row)
        })
        .collect()
}

fn params<'a>(args: &'a [Arg<'a>]) -> Vec<&'a (dyn ToSql + Sync)> {
    args.iter().map(|a| a as &(dyn ToSql + Sync)).collect()
}

/// Prepared statements, per connection: without them every query is parsed again, which
/// doubled the round trips of a login.
pub(super) type Statements = HashMap<String, Statement>;

/// A pooled connection with its prepared statements.
pub(super) struct Conn {
    pub(super) client: Client,
    pub(super) statements: Statements,
}

fn prepared(
    client: &mut impl GenericClient,
    cache: &mut Statements,
    sql: &str,
) -> Result<Statement, StoreError> {
    if let Some(st) = cache.get(sql) {
        return Ok(st.clone());
    }
    let st = client.prepare(sql).map_err(classify)?;
    cache.insert(sql.to_owned(), st.clone());
    Ok(st)
}

impl Db for Conn {
    fn writable_cte(&self) -> bool {
        true
    }
    fn exec(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<u64, StoreError> {
        let st = prepared(&mut self.client, &mut self.statements, sql)?;
        self.client.execute(&st, &params(args)).map_err(classify)
    }
    fn query(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<Vec<Row>, StoreError> {
        let st = prepared(&mut self.client, &mut self.statements, sql)?;
        rows(self.client.query(&st, &params(args)).map_err(classify)?)
    }
}

/// A transaction on a pooled connection, sharing its prepared statements, begun lazily:
///
/// * reads ([`Db::read_query`]) before its first write run on their own — at READ
///   COMMITTED each statement sees what was committed when it starts, in a transaction
///   or not (the store takes no row locks with its reads);
/// * a transaction whose one write is its last statement ([`Db::query_last`]) sends it
///   alone, atomic by itself: no `BEGIN`, no `COMMIT` — two round trips fewer for a
///   first sign-in, whose rows are one statement;
/// * any other statement begins it, and the caller commits ([`Tx::commit`]) what began.
pub struct Tx<'a> {
    client: &'a mut Client,
    statements: &'a mut Statements,
    pub(super) began: bool,
    /// The last statement was sent: nothing may follow it.
    ended: bool,
}

impl<'a> Tx<'a> {
    pub(super) fn new(client: &'a mut Client, statements: &'a mut Statements) -> Tx<'a> {
        Tx {
            client,
            statements,
            began: false,
            ended: false,
        }
    }

    /// Commits what began.
    pub(super) fn commit(self) -> Result<(), StoreError> {
        if self.began {
            self.client.batch_execute("COMMIT").map_err(classify)?;
        }
        Ok(())
    }

    /// Rolls back what began; `false` when the database did not take it (the
    /// connection's state is then unknown, and the caller drops it).
    pub(super) fn rollback(self) -> bool {
        !self.began || self.client.batch_execute("ROLLBACK").is_ok()
    }

    fn open(&mut self) -> Result<(), StoreError> {
        if self.ended {
            return Err(after_last());
        }
        if !self.began {
            self.client.batch_execute("BEGIN").map_err(classify)?;
            self.began = true;
        }
        Ok(())
    }

    fn rows(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<Vec<Row>, StoreError> {
        if self.ended {
            return Err(after_last());
        }
        let st = prepared(self.client, self.statements, sql)?;
        rows(self.client.query(&st, &params(args)).map_err(classify)?)
    }
}

fn after_last() -> StoreError {
    StoreError::Corrupt("a statement was sent after a transaction's last one".into())
}

impl Db for Tx<'_> {
    fn writable_cte(&self) -> bool {
        true
    }
    fn exec(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<u64, StoreError> {
        self.open()?;
        let st = prepared(self.client, self.statements, sql)?;
        self.client.execute(&st, &params(args)).map_err(classify)
    }
    fn query(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<Vec<Row>, StoreError> {
        self.open()?;
        self.rows(sql, args)
    }
    fn read_query(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<Vec<Row>, StoreError> {
        self.rows(sql, args)
    }
    fn query_last(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<Vec<Row>, StoreError> {
        let rows = self.rows(sql, args);
        self.ended = true;
        rows
    }
}

/// A unique violation, serialization failure or deadlock: another writer won a race.
pub(super) fn lost_race(e: &StoreError) -> bool {
    matches!(e, StoreError::Race)
}

pub(super) fn classify(e: postgres::Error) -> StoreError {
    use postgres::error::SqlState;
    match e.code() {
        Some(c)
            if *c == SqlState::UNIQUE_VIOLATION
                || *c == SqlState::T_R_SERIALIZATION_FAILURE
                || *c == SqlState::T_R_DEADLOCK_DETECTED =>
        {
            StoreError::Race
        }
        _ => pg_error(e),
    }
}
