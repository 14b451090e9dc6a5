//! How a statement reaches a database: its text and parameters ([`Statement`]), and the
//! [`Engine`] each backend implements to run one, read its rows, or run several in one
//! transaction. The `Store` trait's provided methods go through it with the statements of `sql`.
//!
//! Rows come back through their `sqlx::FromRow` derive (with `columns` for the domain types),
//! the same code for both databases.
//!
//! A text meant to go into a SQLite multi-statement command (see [`Engine::batch`]) numbers its
//! parameters `$1` to `$n`, each once, in order: in such a command SQLite would bind `$1` of the
//! second statement to the first parameter of the whole text, so [`positional`] rewrites each
//! `$n` to a plain `?`.

use std::borrow::Cow;

use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::query::Query;
use sqlx::sqlite::SqliteRow;
use sqlx::{Database, Encode, FromRow, Type};

use super::columns::{joined, joined_features};
use super::{interpret, StoreError, StoreResult};
use crate::domain::jobs::AttemptEnd;
use crate::domain::{ConnectorId, FeatureSet, JobId, JobKind, JobState, Outcome, TenantId};

// ----- statements -----------------------------------------------------------------------------

/// A value bound to one parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Param<'q> {
    Text(&'q str),
    /// A text made for the statement (a joined list).
    Owned(String),
    MaybeText(Option<&'q str>),
    Int(i64),
    MaybeInt(Option<i64>),
    Bool(bool),
}

/// One statement's text and its parameters in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement<'q> {
    pub text: Cow<'static, str>,
    pub params: Vec<Param<'q>>,
}

impl<'q> Statement<'q> {
    pub fn new(text: impl Into<Cow<'static, str>>) -> Self {
        Statement {
            text: text.into(),
            params: Vec::new(),
        }
    }

    /// Binds the next parameter.
    pub fn bind(mut self, value: impl Into<Param<'q>>) -> Self {
        self.params.push(value.into());
        self
    }
}

macro_rules! param_from {
    ($($ty:ty => |$v:ident| $e:expr),* $(,)?) => {$(
        impl<'q> From<$ty> for Param<'q> {
            fn from($v: $ty) -> Self {
                $e
            }
        }
    )*};
}

param_from!(
    &'q str => |v| Param::Text(v),
    &'q String => |v| Param::Text(v),
    Option<&'q str> => |v| Param::MaybeText(v),
    &'q Option<String> => |v| Param::MaybeText(v.as_deref()),
    i64 => |v| Param::Int(v),
    Option<i64> => |v| Param::MaybeInt(v),
    bool => |v| Param::Bool(v),
    &'q TenantId => |v| Param::Text(v.as_str()),
    &'q ConnectorId => |v| Param::Text(v.as_str()),
    &'q JobId => |v| Param::Text(v.as_str()),
    Option<&'q ConnectorId> => |v| Param::MaybeText(v.map(ConnectorId::as_str)),
    &'q Option<ConnectorId> => |v| Param::MaybeText(v.as_ref().map(ConnectorId::as_str)),
    JobKind => |v| Param::Text(v.as_str()),
    JobState => |v| Param::Text(v.as_str()),
    Outcome => |v| Param::Text(v.as_str()),
    AttemptEnd => |v| Param::Text(v.as_str()),
    &'q FeatureSet => |v| Param::Owned(joined_features(v)),
    // A list column: its items joined by commas.
    &'q Vec<String> => |v| Param::Owned(joined(v)),
);

/// `text` with each `$n` written as a plain `?`, for a SQLite multi-statement command. The
/// numbers must run `$1` to `$n`, each once, in order (checked in debug builds): then the
/// parameters bind in the same order either way.
pub fn positional(text: &str, out: &mut String) {
    let mut expected = 1u32;
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let digits = rest[at + 1..]
            .bytes()
            .take_while(u8::is_ascii_digit)
            .count();
        if digits == 0 {
            out.push('$');
            rest = &rest[at + 1..];
            continue;
        }
        debug_assert_eq!(
            rest[at + 1..at + 1 + digits].parse::<u32>().ok(),
            Some(expected),
            "parameters of `{text}` out of order for a multi-statement command"
        );
        expected += 1;
        out.push('?');
        rest = &rest[at + 1 + digits..];
    }
    out.push_str(rest);
}

/// A parameter as database `DB` takes it.
pub trait BindTo<'q, DB: Database> {
    /// `query` with this bound next (a text without a copy).
    fn bind_to(self, query: Query<'q, DB, DB::Arguments<'q>>) -> Query<'q, DB, DB::Arguments<'q>>;
}

impl<'q, DB: Database> BindTo<'q, DB> for Param<'q>
where
    &'q str: Encode<'q, DB> + Type<DB>,
    String: Encode<'q, DB> + Type<DB>,
    Option<&'q str>: Encode<'q, DB> + Type<DB>,
    i64: Encode<'q, DB> + Type<DB>,
    Option<i64>: Encode<'q, DB> + Type<DB>,
    bool: Encode<'q, DB> + Type<DB>,
{
    fn bind_to(self, query: Query<'q, DB, DB::Arguments<'q>>) -> Query<'q, DB, DB::Arguments<'q>> {
        match self {
            Param::Text(v) => query.bind(v),
            Param::Owned(v) => query.bind(v),
            Param::MaybeText(v) => query.bind(v),
            Param::Int(v) => query.bind(v),
            Param::MaybeInt(v) => query.bind(v),
            Param::Bool(v) => query.bind(v),
        }
    }
}

/// `text` as a sqlx query with `params` bound in order.
pub fn query<'q, DB: Database>(
    text: &'q str,
    params: Vec<Param<'q>>,
) -> Query<'q, DB, DB::Arguments<'q>>
where
    Param<'q>: BindTo<'q, DB>,
{
    params
        .into_iter()
        .fold(sqlx::query(text), |query, param| param.bind_to(query))
}

// ----- running them -----------------------------------------------------------------------------

/// A row as either backend answers it.
pub enum AnyRow {
    Sqlite(SqliteRow),
    Postgres(PgRow),
}

/// A row type both backends can read.
pub trait Decoded: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send {}

impl<T> Decoded for T where T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send {}

/// What a backend does with a [`Statement`]. (A supertrait of `Store` that only the store module
/// can name: the provided methods of `Store` run through it.)
#[async_trait]
pub trait Engine: Send + Sync {
    /// Runs one statement; answers how many rows it changed.
    async fn execute(&self, statement: Statement<'_>) -> StoreResult<u64>;
    /// The rows one statement answers.
    async fn fetch(&self, statement: Statement<'_>) -> StoreResult<Vec<AnyRow>>;
    /// Runs the statements in one transaction, in order; answers how many rows each changed.
    async fn transaction(&self, statements: Vec<Statement<'_>>) -> StoreResult<Vec<u64>>;
    /// Runs the statements in one transaction, in order, when no count is needed: SQLite sends
    /// them as one `BEGIN; …; COMMIT` command (see [`positional`]).
    async fn batch(&self, statements: Vec<Statement<'_>>) -> StoreResult<()>;
}

fn decode<R: Decoded>(row: &AnyRow) -> StoreResult<R> {
    match row {
        AnyRow::Sqlite(row) => R::from_row(row),
        AnyRow::Postgres(row) => R::from_row(row),
    }
    .map_err(interpret)
}

/// Every row `statement` answers.
pub async fn all<R: Decoded>(
    engine: &(impl Engine + ?Sized),
    statement: Statement<'_>,
) -> StoreResult<Vec<R>> {
    engine.fetch(statement).await?.iter().map(decode).collect()
}

/// The first row `statement` answers, if any.
pub async fn optional<R: Decoded>(
    engine: &(impl Engine + ?Sized),
    statement: Statement<'_>,
) -> StoreResult<Option<R>> {
    engine
        .fetch(statement)
        .await?
        .first()
        .map(decode)
        .transpose()
}

/// The first row `statement` answers; `NotFound` without one.
pub async fn one<R: Decoded>(
    engine: &(impl Engine + ?Sized),
    statement: Statement<'_>,
) -> StoreResult<R> {
    optional(engine, statement)
        .await?
        .ok_or(StoreError::NotFound)
}

/// `NotFound` when a write changed no row.
pub fn found(changed: u64) -> StoreResult<()> {
    if changed == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positional_writes_each_numbered_parameter_as_a_question_mark() {
        let mut out = String::new();
        positional(
            "UPDATE t SET a = $1, b = $2 WHERE c = $3 AND d = '$'",
            &mut out,
        );
        assert_eq!(out, "UPDATE t SET a = ?, b = ? WHERE c = ? AND d = '$'");
    }

    #[test]
    #[should_panic(expected = "out of order")]
    fn positional_refuses_a_parameter_used_twice() {
        positional("SELECT $1 WHERE x = $1", &mut String::new());
    }
}
