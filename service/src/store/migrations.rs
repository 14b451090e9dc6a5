//! Migrations edited after they shipped, in their comments only.
//!
//! sqlx refuses to start on a database where an applied migration's file has changed (it keeps
//! each file's SHA-384 in `_sqlx_migrations`). A comment-only edit changes no schema, so before
//! migrating, each backend rewrites the stored checksum of such a migration from the one its
//! shipped file had to the one its file has now, and only when the stored one is that old value:
//! any other difference still stops the service, as sqlx intends.

use sqlx::migrate::Migrator;

/// A migration whose shipped file differed from today's only in comments.
pub(crate) struct CommentEdit {
    pub version: i64,
    /// SHA-384 of the file as it shipped, in hex.
    pub shipped_sha384: &'static str,
}

/// `0002_jobs.sql` cited a design document outside the repository; it now points at
/// docs/behaviour.md.
pub(crate) const SQLITE_EDITS: &[CommentEdit] = &[CommentEdit {
    version: 2,
    shipped_sha384: "2631569e2c1b4fba9654bfce3a1694f4f87c1577b63bdf3a7d8c855a78fab92c218c77efcc4b962c33adae92185e15e3",
}];

/// As [`SQLITE_EDITS`], for PostgreSQL's own `0002_jobs.sql`.
pub(crate) const POSTGRES_EDITS: &[CommentEdit] = &[CommentEdit {
    version: 2,
    shipped_sha384: "292af9f477038d08af8be9700725c2169c68882e6ca46c46b0f946f8c09da5d08ba1810974ecb2c9cf3e8e6428b32ab3",
}];

/// `(version, shipped checksum, today's checksum)` for each edit of `migrator`'s files.
pub(crate) fn rewrites(migrator: &Migrator, edits: &[CommentEdit]) -> Vec<(i64, Vec<u8>, Vec<u8>)> {
    edits
        .iter()
        .filter_map(|edit| {
            let now = migrator.iter().find(|m| m.version == edit.version)?;
            let shipped = hex(edit.shipped_sha384);
            (shipped.as_slice() != now.checksum.as_ref())
                .then(|| (edit.version, shipped, now.checksum.to_vec()))
        })
        .collect()
}

fn hex(text: &str) -> Vec<u8> {
    text.as_bytes()
        .chunks(2)
        .map(|pair| {
            let digit = |c: u8| (c as char).to_digit(16).unwrap_or(0) as u8;
            digit(pair[0]) << 4 | digit(pair[1])
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_edit_names_a_shipped_checksum_other_than_todays() {
        for (migrator, edits) in [
            (sqlx::migrate!("migrations/sqlite"), SQLITE_EDITS),
            (sqlx::migrate!("migrations/postgres"), POSTGRES_EDITS),
        ] {
            let rewrites = rewrites(&migrator, edits);
            assert_eq!(rewrites.len(), edits.len());
            for (_, shipped, now) in rewrites {
                assert_eq!(shipped.len(), 48);
                assert_ne!(shipped, now);
            }
        }
    }
}
