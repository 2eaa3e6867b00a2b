//! Numbered schema migrations. Each runs once, in number order, inside one transaction, and is recorded
//! in `schema_migrations`. Numbers are grouped by owner so parallel work does not collide:
//! 1–99 store and audit, 100–199 wallet, 200–299 catalog and forms, 300–399 cases, calendar and sync.
//! Never edit a released migration: add a new one.

use rusqlite::Connection;

use crate::{Error, Result};

pub(crate) const MIGRATIONS: &[(u32, &str, &str)] = &[
    (
        1,
        "store core: meta, subjects, records",
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
         CREATE TABLE subjects (
             id TEXT PRIMARY KEY,
             kind TEXT NOT NULL,
             label BLOB NOT NULL,          -- sealed under the data key
             wrapped_key BLOB,             -- subject key sealed under the data key; NULL once shredded
             created_at INTEGER NOT NULL,
             shredded_at INTEGER
         );
         CREATE TABLE records (
             seq INTEGER PRIMARY KEY AUTOINCREMENT,
             collection TEXT NOT NULL,
             id TEXT NOT NULL,
             subject TEXT NOT NULL REFERENCES subjects(id),
             tag TEXT,                     -- non-sensitive state for queries (e.g. outbox status)
             lookup BLOB,                  -- HMAC-SHA256 of a sensitive identifier, for equality lookups
             body BLOB NOT NULL,           -- sealed under the subject key
             updated_at INTEGER NOT NULL,
             UNIQUE (collection, id)
         );
         CREATE INDEX records_subject ON records(subject);
         CREATE INDEX records_lookup ON records(collection, lookup) WHERE lookup IS NOT NULL;
         CREATE INDEX records_tag ON records(collection, tag) WHERE tag IS NOT NULL;",
    ),
    (
        2,
        "attachments",
        "CREATE TABLE attachments (
             id TEXT PRIMARY KEY,
             subject TEXT NOT NULL REFERENCES subjects(id),
             name BLOB NOT NULL,           -- sealed
             size INTEGER NOT NULL,
             sha256 TEXT NOT NULL,         -- of the plaintext, for upload integrity
             created_at INTEGER NOT NULL
         );",
    ),
    (
        3,
        "append-only hash-chained audit log",
        "CREATE TABLE audit_log (
             seq INTEGER PRIMARY KEY,
             at INTEGER NOT NULL,
             actor TEXT NOT NULL,
             action TEXT NOT NULL,
             subject TEXT NOT NULL,
             target TEXT NOT NULL,
             detail BLOB NOT NULL,         -- sealed under the data key
             prev_hash BLOB NOT NULL,
             hash BLOB NOT NULL
         );
         CREATE INDEX audit_target ON audit_log(target);
         CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit_log
             BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
         CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit_log
             BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;",
    ),
    (
        4,
        "audit details sealed under their subject's key: which key sealed each (store format 2)",
        "ALTER TABLE audit_log ADD COLUMN detail_key TEXT NOT NULL DEFAULT 'data';",
    ),
    (
        10,
        "per-collection record counts, kept by triggers (a miss or a short list is checked against them)",
        "CREATE TABLE record_counts (collection TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID;
         INSERT INTO record_counts (collection, n) SELECT collection, count(*) FROM records GROUP BY collection;
         CREATE TRIGGER record_counts_insert AFTER INSERT ON records BEGIN
             INSERT INTO record_counts (collection, n) VALUES (new.collection, 1)
                 ON CONFLICT(collection) DO UPDATE SET n = n + 1;
         END;
         CREATE TRIGGER record_counts_delete AFTER DELETE ON records BEGIN
             UPDATE record_counts SET n = n - 1 WHERE collection = old.collection;
         END;",
    ),
    (
        11,
        "per-collection write generations, kept by triggers (a cache of derived data skips an unchanged collection)",
        "CREATE TABLE record_generations (collection TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID;
         CREATE TRIGGER record_generations_insert AFTER INSERT ON records BEGIN
             INSERT INTO record_generations (collection, n) VALUES (new.collection, 1)
                 ON CONFLICT(collection) DO UPDATE SET n = n + 1;
         END;
         CREATE TRIGGER record_generations_update AFTER UPDATE ON records BEGIN
             INSERT INTO record_generations (collection, n) VALUES (new.collection, 1)
                 ON CONFLICT(collection) DO UPDATE SET n = n + 1;
             UPDATE record_generations SET n = n + 1
                 WHERE collection = old.collection AND old.collection IS NOT new.collection;
         END;
         CREATE TRIGGER record_generations_delete AFTER DELETE ON records BEGIN
             INSERT INTO record_generations (collection, n) VALUES (old.collection, 1)
                 ON CONFLICT(collection) DO UPDATE SET n = n + 1;
         END;",
    ),
    (
        12,
        "a change log per record, kept by the generation triggers (a cache reads only what was written since)",
        // Each write of a record notes its (collection, id) with the collection's generation after the write,
        // so `Store::scan_written_since` reads the few rows written since a cache was filled instead of the
        // whole collection. A delete removes its id from the log (no trace of an erased record stays) and
        // notes the generation of the last delete: a cache older than that reads everything again. The
        // triggers of migration 11 are replaced so the generation and the log are written in one order.
        "CREATE TABLE record_changes (
             collection TEXT NOT NULL,
             id TEXT NOT NULL,
             gen INTEGER NOT NULL,
             PRIMARY KEY (collection, id)
         ) WITHOUT ROWID;
         CREATE INDEX record_changes_gen ON record_changes(collection, gen);
         ALTER TABLE record_generations ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;
         DROP TRIGGER record_generations_insert;
         DROP TRIGGER record_generations_update;
         DROP TRIGGER record_generations_delete;
         CREATE TRIGGER record_generations_insert AFTER INSERT ON records BEGIN
             INSERT INTO record_generations (collection, n) VALUES (new.collection, 1)
                 ON CONFLICT(collection) DO UPDATE SET n = n + 1;
             INSERT INTO record_changes (collection, id, gen)
                 SELECT new.collection, new.id, n FROM record_generations WHERE collection = new.collection
                 ON CONFLICT(collection, id) DO UPDATE SET gen = excluded.gen;
         END;
         CREATE TRIGGER record_generations_update AFTER UPDATE ON records BEGIN
             INSERT INTO record_generations (collection, n) VALUES (new.collection, 1)
                 ON CONFLICT(collection) DO UPDATE SET n = n + 1;
             UPDATE record_generations SET n = n + 1, deleted = n + 1
                 WHERE collection = old.collection AND old.collection IS NOT new.collection;
             UPDATE record_generations SET deleted = n
                 WHERE collection = old.collection AND old.collection IS new.collection AND old.id IS NOT new.id;
             DELETE FROM record_changes
                 WHERE collection = old.collection AND id = old.id
                   AND (old.collection IS NOT new.collection OR old.id IS NOT new.id);
             INSERT INTO record_changes (collection, id, gen)
                 SELECT new.collection, new.id, n FROM record_generations WHERE collection = new.collection
                 ON CONFLICT(collection, id) DO UPDATE SET gen = excluded.gen;
         END;
         CREATE TRIGGER record_generations_delete AFTER DELETE ON records BEGIN
             INSERT INTO record_generations (collection, n, deleted) VALUES (old.collection, 1, 1)
                 ON CONFLICT(collection) DO UPDATE SET n = n + 1, deleted = n + 1;
             DELETE FROM record_changes WHERE collection = old.collection AND id = old.id;
         END;",
    ),
    (
        13,
        "a store-wide write sequence on records and attachments, kept by triggers: what changed since a \
         backup, whatever the clock did (ADR 0021)",
        "CREATE TABLE write_seq (id INTEGER PRIMARY KEY CHECK (id = 1), n INTEGER NOT NULL);
         INSERT INTO write_seq (id, n) VALUES (1, 0);
         ALTER TABLE records ADD COLUMN wseq INTEGER NOT NULL DEFAULT 0;
         ALTER TABLE attachments ADD COLUMN wseq INTEGER NOT NULL DEFAULT 0;
         CREATE INDEX records_wseq ON records(wseq);
         CREATE TRIGGER records_wseq_insert AFTER INSERT ON records BEGIN
             UPDATE write_seq SET n = n + 1 WHERE id = 1;
             UPDATE records SET wseq = (SELECT n FROM write_seq WHERE id = 1) WHERE seq = new.seq;
         END;
         CREATE TRIGGER records_wseq_update
             AFTER UPDATE OF collection, id, subject, tag, lookup, body, updated_at ON records BEGIN
             UPDATE write_seq SET n = n + 1 WHERE id = 1;
             UPDATE records SET wseq = (SELECT n FROM write_seq WHERE id = 1) WHERE seq = new.seq;
         END;
         CREATE TRIGGER attachments_wseq_insert AFTER INSERT ON attachments BEGIN
             UPDATE write_seq SET n = n + 1 WHERE id = 1;
             UPDATE attachments SET wseq = (SELECT n FROM write_seq WHERE id = 1) WHERE id = new.id;
         END;
         -- The write sequence is set by an UPDATE of the row just written: that is not a write of its own,
         -- so the generation and the change log (migration 12) count only updates of the stored columns.
         DROP TRIGGER record_generations_update;
         CREATE TRIGGER record_generations_update
             AFTER UPDATE OF collection, id, subject, tag, lookup, body, updated_at ON records BEGIN
             INSERT INTO record_generations (collection, n) VALUES (new.collection, 1)
                 ON CONFLICT(collection) DO UPDATE SET n = n + 1;
             UPDATE record_generations SET n = n + 1, deleted = n + 1
                 WHERE collection = old.collection AND old.collection IS NOT new.collection;
             UPDATE record_generations SET deleted = n
                 WHERE collection = old.collection AND old.collection IS new.collection AND old.id IS NOT new.id;
             DELETE FROM record_changes
                 WHERE collection = old.collection AND id = old.id
                   AND (old.collection IS NOT new.collection OR old.id IS NOT new.id);
             INSERT INTO record_changes (collection, id, gen)
                 SELECT new.collection, new.id, n FROM record_generations WHERE collection = new.collection
                 ON CONFLICT(collection, id) DO UPDATE SET gen = excluded.gen;
         END;",
    ),
    (
        14,
        "per-subject, per-tag record counts, kept by triggers; an index by (collection, subject): a list for one \
         subject reads that subject's rows only and checks their number against the kept count (ADR 0031)",
        // `tag` is '' for a record without a tag and '=' || tag otherwise (a primary key column cannot be
        // NULL in a WITHOUT ROWID table, and a tag may be any text). A count that falls to 0 is deleted, so
        // no row names an erased subject's collections once its records are gone.
        "CREATE TABLE record_subject_counts (
             collection TEXT NOT NULL,
             subject TEXT NOT NULL,
             tag TEXT NOT NULL,
             n INTEGER NOT NULL,
             PRIMARY KEY (collection, subject, tag)
         ) WITHOUT ROWID;
         INSERT INTO record_subject_counts (collection, subject, tag, n)
             SELECT collection, subject, ifnull('=' || tag, ''), count(*) FROM records GROUP BY 1, 2, 3;
         CREATE INDEX records_collection_subject ON records(collection, subject);
         CREATE TRIGGER record_subject_counts_insert AFTER INSERT ON records BEGIN
             INSERT INTO record_subject_counts (collection, subject, tag, n)
                 VALUES (new.collection, new.subject, ifnull('=' || new.tag, ''), 1)
                 ON CONFLICT(collection, subject, tag) DO UPDATE SET n = n + 1;
         END;
         CREATE TRIGGER record_subject_counts_delete AFTER DELETE ON records BEGIN
             UPDATE record_subject_counts SET n = n - 1
                 WHERE collection = old.collection AND subject = old.subject AND tag = ifnull('=' || old.tag, '');
             DELETE FROM record_subject_counts
                 WHERE collection = old.collection AND subject = old.subject AND tag = ifnull('=' || old.tag, '')
                   AND n <= 0;
         END;
         CREATE TRIGGER record_subject_counts_update AFTER UPDATE OF collection, subject, tag ON records
             WHEN old.collection IS NOT new.collection OR old.subject IS NOT new.subject OR old.tag IS NOT new.tag
         BEGIN
             UPDATE record_subject_counts SET n = n - 1
                 WHERE collection = old.collection AND subject = old.subject AND tag = ifnull('=' || old.tag, '');
             DELETE FROM record_subject_counts
                 WHERE collection = old.collection AND subject = old.subject AND tag = ifnull('=' || old.tag, '')
                   AND n <= 0;
             INSERT INTO record_subject_counts (collection, subject, tag, n)
                 VALUES (new.collection, new.subject, ifnull('=' || new.tag, ''), 1)
                 ON CONFLICT(collection, subject, tag) DO UPDATE SET n = n + 1;
         END;",
    ),
    (
        15,
        "personal metadata sealed (finding 11, ADR 0032): subject kinds, attachment sizes and digests, audit \
         targets; the clear columns are emptied at the first unlock (`store/metadata.rs`)",
        "ALTER TABLE subjects ADD COLUMN kind_sealed BLOB;
         ALTER TABLE attachments ADD COLUMN sealed_meta BLOB;
         ALTER TABLE audit_log ADD COLUMN target_sealed BLOB;",
    ),
];

pub(crate) fn migrate(conn: &mut Connection, now: i64) -> Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (id INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)",
    )?;
    let applied: Vec<u32> = {
        let mut st = conn.prepare("SELECT id FROM schema_migrations")?;
        let rows = st.query_map([], |r| r.get(0))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    let mut todo: Vec<_> = MIGRATIONS.iter().filter(|(id, _, _)| !applied.contains(id)).collect();
    crate::sort::sort_by_key(&mut todo, |(id, _, _)| *id);
    if todo.is_empty() {
        return Ok(());
    }
    // On a store that has tables already, a migration's SQL failing as SQL (`table attachments already
    // exists`, `duplicate column name`) means the list of applied migrations no longer matches the schema:
    // a damaged `schema_migrations` (a flipped id). That is damage, never a storage failure (the byte-flip
    // fault test met it). A new store's migrations run on an empty file, where that cannot happen.
    let existing: bool = !applied.is_empty()
        || conn.query_row(
            "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name <> 'schema_migrations'",
            [],
            |r| r.get(0),
        )?;
    let tx = conn.transaction()?;
    for (id, name, sql) in todo {
        tx.execute_batch(sql).map_err(|e| match &e {
            rusqlite::Error::SqliteFailure(f, _) | rusqlite::Error::SqlInputError { error: f, .. }
                if existing
                    && matches!(f.code, rusqlite::ErrorCode::Unknown | rusqlite::ErrorCode::ConstraintViolation) =>
            {
                Error::corrupted("schema_migrations", id.to_string())
            }
            _ => Error::from(e),
        })?;
        tx.execute(
            "INSERT INTO schema_migrations (id, name, applied_at) VALUES (?1, ?2, ?3)",
            rusqlite::params![id, name, now],
        )?;
    }
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn migration_numbers_are_unique() {
        let mut ids: Vec<u32> = super::MIGRATIONS.iter().map(|m| m.0).collect();
        let n = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), n);
    }
}
