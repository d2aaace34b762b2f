//! The schema's migrations, compiled into the binary.
//!
//! Listed here by hand rather than found by `sqlx::migrate!`: that macro is the only
//! reason to build sqlx's proc-macro crate, which compiles a second copy of sqlx and of
//! SQLite for the compiler and costs a new user minutes on their first `./run`. Versions,
//! descriptions and checksums are the ones the macro computes, so databases it migrated
//! are recognised; a test checks both lists against the folders.

use std::borrow::Cow;

use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};

/// `(file name, SQL)` for each named file of `migrations/<dir>/`.
macro_rules! embed {
    ($dir:literal: $($file:literal),* $(,)?) => {
        &[$(($file, include_str!(concat!("../../migrations/", $dir, "/", $file)))),*]
    };
}

const POSTGRES: &[(&str, &str)] = embed!("postgres":
    "0001_initial.sql",
    "0002_derive_unread_counts.sql",
    "0003_chat_events.sql",
    "0004_message_events.sql",
    "0005_message_positions.sql",
    "0006_replies_and_reactions.sql",
    "0007_pins.sql",
    "0008_mentions.sql",
    "0009_mentions_of_everyone.sql",
    "0010_search.sql",
    "0011_mute.sql",
    "0012_presence_hidden.sql",
    "0013_files.sql",
    "0014_unsent_uploads.sql",
    "0015_search_by_chat.sql",
    "0016_chat_requests.sql",
);

const SQLITE: &[(&str, &str)] = embed!("sqlite":
    "0001_initial.sql",
    "0002_derive_unread_counts.sql",
    "0003_chat_events.sql",
    "0004_message_events.sql",
    "0005_message_positions.sql",
    "0006_replies_and_reactions.sql",
    "0007_pins.sql",
    "0008_mentions.sql",
    "0009_mentions_of_everyone.sql",
    "0010_search.sql",
    "0011_mute.sql",
    "0012_presence_hidden.sql",
    "0013_files.sql",
    "0014_unsent_uploads.sql",
    "0015_search_by_chat.sql",
    "0016_chat_requests.sql",
);

pub(crate) fn postgres() -> Migrator {
    migrator(POSTGRES)
}

pub(crate) fn sqlite() -> Migrator {
    migrator(SQLITE)
}

/// As sqlx reads a folder: `0003_chat_events.sql` is version 3, "chat events".
fn migrator(files: &'static [(&'static str, &'static str)]) -> Migrator {
    Migrator::with_migrations(
        files
            .iter()
            .map(|&(file, sql)| {
                let (version, name) = file
                    .strip_suffix(".sql")
                    .and_then(|stem| stem.split_once('_'))
                    .expect("migration files are named NNNN_description.sql");
                Migration::new(
                    version.parse().expect("a migration's version is a number"),
                    Cow::Owned(name.replace('_', " ")),
                    MigrationType::Simple,
                    sql.into_sql_str(),
                    sql.starts_with("-- no-transaction"),
                )
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use sqlx::migrate::Migrator;

    /// The embedded list is the folder as sqlx reads it: every file, the same versions,
    /// descriptions and checksums.
    async fn assert_same_as_folder(embedded: Migrator, dir: &str) {
        let folder = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../migrations")
            .join(dir);
        let read = Migrator::new(folder.as_path()).await.unwrap();
        let summary = |m: &Migrator| {
            m.iter()
                .map(|m| {
                    (
                        m.version,
                        m.description.to_string(),
                        m.checksum.to_vec(),
                        m.no_tx,
                    )
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(summary(&embedded), summary(&read), "migrations/{dir}");
        assert!(read.iter().next().is_some(), "migrations/{dir} is empty");
    }

    #[tokio::test]
    async fn the_postgres_migrations_are_every_file_of_their_folder() {
        assert_same_as_folder(super::postgres(), "postgres").await;
    }

    #[tokio::test]
    async fn the_sqlite_migrations_are_every_file_of_their_folder() {
        assert_same_as_folder(super::sqlite(), "sqlite").await;
    }
}
