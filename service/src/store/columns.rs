//! How domain values sit in the stores' TEXT columns, for both backends, in this one place.
//!
//! The columns keep the spellings they always had (no migration): a job kind, a job state or an
//! attempt's outcome is its own name (`pkcs_create`, `dead_letter`, `expired`), an id is its
//! text, and a list (a connector's features, its co-installed products, status reason codes) is
//! its items joined by commas. Reading a row parses each value here, so a stored value that does
//! not parse is a decoding error of its column (see [`super::StoreError::Corrupt`]), never a
//! panic and never a string passed on.
//!
//! Enums are bound by their `&'static str` spelling (no copy); ids are bound by the caller as
//! `id.as_str()` (they have no `Encode`, so a copy can never slip in on a hot path).

use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::{Database, Decode, Encode, Type};

use crate::domain::jobs::AttemptEnd;
use crate::domain::{ConnectorId, FeatureSet, JobId, JobKind, JobState, Outcome, TenantId};

/// The items of a comma-joined list column (empty text: no items).
pub(crate) fn split(text: &str) -> impl Iterator<Item = &str> {
    text.split(',').filter(|s| !s.is_empty())
}

/// A list as its column stores it.
pub(crate) fn joined<S: AsRef<str>>(items: &[S]) -> String {
    let mut out = String::new();
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(item.as_ref());
    }
    out
}

/// A connector's features as their column stores them.
pub(crate) fn joined_features(features: &FeatureSet) -> String {
    let names: Vec<&str> = features.iter().map(|f| f.as_str()).collect();
    joined(&names)
}

/// The text of a list column, read as such: a row field `Vec<String>` is decoded through it
/// (`#[sqlx(try_from = "List")]`).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::Type, serde::Deserialize)]
#[sqlx(transparent)]
#[serde(transparent)]
pub struct List(String);

impl From<List> for Vec<String> {
    fn from(list: List) -> Self {
        split(&list.0).map(str::to_owned).collect()
    }
}

/// `T`'s column type is `str`'s, whatever the backend.
macro_rules! text_type {
    ($ty:ty) => {
        impl<DB: Database> Type<DB> for $ty
        where
            str: Type<DB>,
        {
            fn type_info() -> DB::TypeInfo {
                <str as Type<DB>>::type_info()
            }

            fn compatible(ty: &DB::TypeInfo) -> bool {
                <str as Type<DB>>::compatible(ty)
            }
        }
    };
}

/// An enum stored as its spelling: decoded with its `parse`, bound as its `as_str`.
macro_rules! spelled_column {
    ($($ty:ty),* $(,)?) => {$(
        text_type!($ty);

        impl<'r, DB: Database> Decode<'r, DB> for $ty
        where
            &'r str: Decode<'r, DB>,
        {
            fn decode(value: DB::ValueRef<'r>) -> Result<Self, BoxDynError> {
                Ok(<$ty>::parse(<&'r str as Decode<'r, DB>>::decode(value)?)?)
            }
        }

        impl<'q, DB: Database> Encode<'q, DB> for $ty
        where
            &'q str: Encode<'q, DB>,
        {
            fn encode_by_ref(
                &self,
                buf: &mut <DB as Database>::ArgumentBuffer<'q>,
            ) -> Result<IsNull, BoxDynError> {
                <&'q str as Encode<'q, DB>>::encode(self.as_str(), buf)
            }
        }
    )*};
}

spelled_column!(JobState, Outcome, AttemptEnd);

/// An id stored as its text. Decoded only: binding one is `id.as_str()`.
macro_rules! id_column {
    ($($ty:ty),* $(,)?) => {$(
        text_type!($ty);

        impl<'r, DB: Database> Decode<'r, DB> for $ty
        where
            String: Decode<'r, DB>,
        {
            fn decode(value: DB::ValueRef<'r>) -> Result<Self, BoxDynError> {
                Ok(<$ty>::from(<String as Decode<'r, DB>>::decode(value)?))
            }
        }
    )*};
}

id_column!(TenantId, ConnectorId, JobId);

/// A value of the lifecycle crate (a job kind, a feature set) as its column holds it. sqlx's traits
/// cannot be implemented on that crate's types here (the orphan rule), so a row field names this
/// as its source: `#[sqlx(try_from = "columns::Column<JobKind>")]`. Binding one is `Param`'s.
#[derive(Debug)]
pub struct Column<T>(T);

/// How a lifecycle type is read from its column's text.
pub trait FromText: Sized {
    fn from_text(text: &str) -> Result<Self, BoxDynError>;
}

impl FromText for JobKind {
    fn from_text(text: &str) -> Result<Self, BoxDynError> {
        Ok(JobKind::parse(text)?)
    }
}

impl FromText for FeatureSet {
    fn from_text(text: &str) -> Result<Self, BoxDynError> {
        let items: Vec<&str> = split(text).collect();
        Ok(FeatureSet::parse(&items)?)
    }
}

impl<DB: Database, T> Type<DB> for Column<T>
where
    str: Type<DB>,
{
    fn type_info() -> DB::TypeInfo {
        <str as Type<DB>>::type_info()
    }

    fn compatible(ty: &DB::TypeInfo) -> bool {
        <str as Type<DB>>::compatible(ty)
    }
}

impl<'r, DB: Database, T: FromText> Decode<'r, DB> for Column<T>
where
    &'r str: Decode<'r, DB>,
{
    fn decode(value: DB::ValueRef<'r>) -> Result<Self, BoxDynError> {
        Ok(Column(T::from_text(<&'r str as Decode<'r, DB>>::decode(
            value,
        )?)?))
    }
}

impl From<Column<JobKind>> for JobKind {
    fn from(column: Column<JobKind>) -> Self {
        column.0
    }
}

impl From<Column<FeatureSet>> for FeatureSet {
    fn from(column: Column<FeatureSet>) -> Self {
        column.0
    }
}

/// serde's side of the same mapping, for rows that SQLite hands over as JSON (see
/// `sqlite::JOB_JSON`): `#[serde(deserialize_with = "columns::spelled")]`.
pub(crate) mod serde_columns {
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer};

    /// A value read from its column's text.
    pub(crate) trait FromColumn: Sized {
        fn from_column(text: String) -> Result<Self, String>;
    }

    macro_rules! from_parse {
        ($($ty:ty),*) => {$(
            impl FromColumn for $ty {
                fn from_column(text: String) -> Result<Self, String> {
                    <$ty>::parse(&text).map_err(|e| e.to_string())
                }
            }
        )*};
    }
    from_parse!(
        crate::domain::JobKind,
        crate::domain::JobState,
        crate::domain::jobs::AttemptEnd
    );

    macro_rules! from_text {
        ($($ty:ty),*) => {$(
            impl FromColumn for $ty {
                fn from_column(text: String) -> Result<Self, String> {
                    Ok(<$ty>::from(text))
                }
            }
        )*};
    }
    from_text!(
        crate::domain::TenantId,
        crate::domain::ConnectorId,
        crate::domain::JobId
    );

    pub(crate) fn column<'de, D: Deserializer<'de>, T: FromColumn>(d: D) -> Result<T, D::Error> {
        T::from_column(String::deserialize(d)?).map_err(D::Error::custom)
    }

    pub(crate) fn optional<'de, D: Deserializer<'de>, T: FromColumn>(
        d: D,
    ) -> Result<Option<T>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(T::from_column)
            .transpose()
            .map_err(D::Error::custom)
    }
}
