/// What went wrong with the directory, said so a person can act on it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "cannot open the SQLite database {path}: {source}. Check that the directory exists and is writable."
    )]
    Open {
        path: String,
        #[source]
        source: rusqlite::Error,
    },
    #[error(
        "the database schema is version {found}, newer than this ssogate supports ({supported}). Upgrade ssogate, or restore a backup made before the upgrade."
    )]
    NewerSchema { found: i64, supported: i64 },
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("the database holds a value ssogate does not understand ({0}); was it edited by hand?")]
    Corrupt(String),
    #[error("{0}")]
    InvalidInput(String),
    #[error("the database writer has stopped; restart ssogate")]
    WriterGone,
    #[error(
        "cannot connect to PostgreSQL: {0}. Check database_url (host, port, user, database) and that the server is running."
    )]
    PostgresConnect(String),
    #[error("PostgreSQL error: {0}")]
    Postgres(String),
    #[error(
        "the database cannot be reached ({0}); requests are refused until it is back. Check that the database server is running and reachable."
    )]
    Unavailable(String),
    #[error(
        "another writer changed the same account at the same moment, again and again; try again"
    )]
    Race,
}

impl StoreError {
    /// The database is down or unreachable (not a fault of this request): callers answer
    /// 503 and ask to try again, instead of 500.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::PostgresConnect(_)
            | StoreError::Unavailable(_)
            | StoreError::WriterGone => true,
            StoreError::Sqlite(e) | StoreError::Open { source: e, .. } => matches!(
                e.sqlite_error_code(),
                Some(
                    rusqlite::ErrorCode::DatabaseBusy
                        | rusqlite::ErrorCode::DatabaseLocked
                        | rusqlite::ErrorCode::CannotOpen
                        | rusqlite::ErrorCode::SystemIoFailure
                        | rusqlite::ErrorCode::DiskFull
                )
            ),
            _ => false,
        }
    }
}

/// A stored value that does not parse (`what`, and the value as found).
pub(crate) fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!("{what} {value:?}"))
}
