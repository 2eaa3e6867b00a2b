//! Salvage: a damaged store opened to export every record that still reads, and a list of what does not.
//!
//! The normal open path refuses to work on a store whose structure is damaged (a miss or a short list is
//! `Corrupted`); this path is for the moment after: nothing that can still be decrypted is lost. It
//! changes no data: after the key check (which, for a PIN store, counts the attempt like every unlock,
//! so salvage is no way around the lockout) the connection is `query_only`; no migration runs.
//!
//! Every record is looked for through every access path SQLite has — the table itself, the
//! `(collection, id)` index and the per-column indexes — each read until it fails, and each row found is
//! then read by its `seq` (rowid) alone. A row's own names may be the damaged part: every name a path
//! gave, every collection the store knows and every subject are tried, and only an opening that
//! authenticates counts (so a guess cannot make a record). A row that no path reaches is not reported
//! (nothing names it), but the per-collection counts kept by the triggers say how many records there
//! should be.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use rusqlite::{params, Connection, OpenFlags, OptionalExtension};

use super::vault::KeyVault;
use super::{decode_row, keys, RawRow, Record, Unlocked, DB_FILE};
use crate::clock::SystemClock;
use crate::{Error, Result};

/// What [`salvage`] could read.
#[derive(Debug, Default)]
pub struct Salvage {
    /// Every record that decrypted and authenticated, in `seq` order.
    pub records: Vec<Record>,
    /// What could not be read: `"<collection>/<id>"` for a row an index names but that does not read or
    /// authenticate, `"seq <n>"` when not even its names read, `"index <name>"` / `"table records"` for
    /// an access path that broke part-way, `"meta/canary"` when the key check itself was damaged.
    pub damaged: Vec<String>,
    /// Records each collection should hold, from the counts kept beside the table (empty if unreadable).
    pub expected: BTreeMap<String, u64>,
}

/// One record of a salvage export as a shell receives it (the body in the clear: the export leaves the store).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct StoreRecord {
    pub seq: i64,
    pub collection: String,
    pub id: String,
    pub subject: String,
    /// Non-sensitive plaintext state (e.g. "pending"), if any.
    pub tag: Option<String>,
    pub body: Vec<u8>,
    /// Unix seconds.
    pub updated_at: i64,
}

/// What [`salvage`] could read from a damaged store, as a shell receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct SalvageReport {
    /// Every record that still decrypts and authenticates, oldest first.
    pub records: Vec<StoreRecord>,
    /// What could not be read: `"<collection>/<id>"`, `"seq <n>"`, a broken access path
    /// (`"index …"`, `"table records"`), or `"meta/canary"`.
    pub damaged: Vec<String>,
    /// How many records the store should hold (from the counts kept beside the table; 0 if unreadable).
    pub expected_records: u64,
}

impl Salvage {
    /// The export a shell receives.
    pub fn report(self) -> SalvageReport {
        SalvageReport {
            expected_records: self.expected.values().sum(),
            damaged: self.damaged,
            records: self
                .records
                .into_iter()
                .map(|r| StoreRecord {
                    body: r.body.to_vec(),
                    seq: r.seq,
                    collection: r.collection,
                    id: r.id,
                    subject: r.subject,
                    tag: r.tag,
                    updated_at: r.updated_at,
                })
                .collect(),
        }
    }
}

/// Opens the store in `dir` for salvage and reads everything that still reads. `WrongKey` only when the
/// vault's key truly does not fit (the key envelope and canary are intact and do not open).
pub fn salvage(dir: &Path, vault: Arc<dyn KeyVault>, pin: Option<&str>) -> Result<Salvage> {
    let path = dir.join(DB_FILE);
    if !path.exists() {
        return Err(Error::not_found(format!("store in {}", dir.display())));
    }
    let conn = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    let mut out = Salvage::default();
    let store_id = keys::meta_get(&conn, "store_id")?
        .and_then(|v| String::from_utf8(v).ok())
        .ok_or_else(|| Error::corrupted("meta", "store_id"))?;
    let (k, canary_ok) = keys::unlock_for_salvage(&conn, vault.as_ref(), &store_id, pin, &SystemClock)?;
    if !canary_ok {
        out.damaged.push("meta/canary".into());
    }
    conn.execute_batch("PRAGMA query_only = ON;")?;
    // The subject ring (format 2): one that does not load leaves every record unreadable, each reported.
    let ring = match keys::load_ring(&conn, vault.as_ref(), &store_id, &k, false) {
        Ok(r) => r,
        Err(_) => {
            out.damaged.push("meta/ring_key".into());
            None
        }
    };
    // Records sealed by the format the store says (a store not upgraded to record format 2 keeps format 1).
    let records_v2 = keys::record_format(&conn).map(|f| f >= 2).unwrap_or(true);
    let mut u = Unlocked::new(k, ring, records_v2);

    if let Ok(mut st) = conn.prepare("SELECT collection, n FROM record_counts") {
        if let Ok(rows) = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))) {
            for (c, n) in rows.map_while(|r| r.ok()) {
                out.expected.insert(c, n.max(0) as u64);
            }
        }
    }

    // Candidate rows from every path: seq → the (collection, id) names the paths gave for it.
    let mut seen: BTreeMap<i64, Vec<(String, String)>> = BTreeMap::new();
    let lossy = |b: Option<Vec<u8>>| b.map(|b| String::from_utf8_lossy(&b).into_owned());
    let note = |seen: &mut BTreeMap<i64, Vec<(String, String)>>, seq: i64, c: Option<String>, i: Option<String>| {
        let e = seen.entry(seq).or_default();
        if let (Some(c), Some(i)) = (c, i) {
            if !e.contains(&(c.clone(), i.clone())) {
                e.push((c, i));
            }
        }
    };
    // Each path is read forwards and backwards: a scan that breaks at a damaged page going one way still
    // reaches what lies beyond it going the other. Names are read as bytes (a damaged name must not
    // stop the scan).
    const NAMES: &str = "seq, CAST(collection AS BLOB), CAST(id AS BLOB)";
    const BY_NAME: &str = "INDEXED BY sqlite_autoindex_records_1 WHERE collection >= ''";
    let paths: [(&str, String); 6] = [
        ("table records", format!("SELECT {NAMES} FROM records NOT INDEXED ORDER BY seq")),
        ("table records (backwards)", format!("SELECT {NAMES} FROM records NOT INDEXED ORDER BY seq DESC")),
        ("index (collection, id)", format!("SELECT {NAMES} FROM records {BY_NAME} ORDER BY collection, id")),
        (
            "index (collection, id) (backwards)",
            format!("SELECT {NAMES} FROM records {BY_NAME} ORDER BY collection DESC, id DESC"),
        ),
        (
            "index records_subject",
            "SELECT seq, NULL, NULL FROM records INDEXED BY records_subject WHERE subject >= ''".into(),
        ),
        (
            "index records_tag",
            "SELECT seq, NULL, NULL FROM records INDEXED BY records_tag WHERE collection >= '' AND tag IS NOT NULL"
                .into(),
        ),
    ];
    for (name, sql) in &paths {
        let complete = (|| -> rusqlite::Result<()> {
            let mut st = conn.prepare(sql)?;
            let mut rows = st.query([])?;
            while let Some(r) = rows.next()? {
                note(&mut seen, r.get(0)?, lossy(r.get(1)?), lossy(r.get(2)?));
            }
            Ok(())
        })();
        if complete.is_err() {
            out.damaged.push(name.to_string());
        }
    }
    // Index entries that no scan reached, by seeking into the (collection, id) index next to every name
    // seen: a seek descends from the root and can pass where a scan broke.
    let seeds: BTreeSet<(String, String)> = seen.values().flatten().cloned().collect();
    if let Ok(mut st) = conn.prepare(&format!(
        "SELECT {NAMES} FROM records INDEXED BY sqlite_autoindex_records_1
         WHERE collection = ?1 AND id >= ?2 ORDER BY collection, id LIMIT 4"
    )) {
        for (c, i) in &seeds {
            if let Ok(mut rows) = st.query(params![c, i]) {
                while let Ok(Some(r)) = rows.next() {
                    if let (Ok(seq), Ok(c), Ok(i)) = (r.get(0), r.get(1), r.get(2)) {
                        note(&mut seen, seq, lossy(c), lossy(i));
                    }
                }
            }
        }
    }

    // Every collection name known, to try when a row's collection column is the damaged part: the normal
    // path takes the collection from its query and never reads it from the row, so such a row still reads
    // there, and must here (the byte-flip fault test lost one whose table page no path named it on). The
    // names the triggers keep, and any a path gave for more than one row (a single odd one is more
    // likely a damaged name than a collection).
    let mut collections: BTreeSet<String> = out.expected.keys().cloned().collect();
    if let Ok(mut st) = conn.prepare("SELECT CAST(collection AS BLOB) FROM record_generations") {
        if let Ok(rows) = st.query_map([], |r| r.get::<_, Vec<u8>>(0)) {
            collections.extend(rows.map_while(|r| r.ok()).map(|b| String::from_utf8_lossy(&b).into_owned()));
        }
    }
    let mut named: BTreeMap<&str, usize> = BTreeMap::new();
    for (c, _) in seen.values().flatten() {
        *named.entry(c.as_str()).or_default() += 1;
    }
    collections.extend(named.into_iter().filter(|(_, n)| *n > 1).map(|(c, _)| c.to_string()));
    // Every subject, to try when a row's subject column is the damaged part.
    let subjects: Vec<String> = conn
        .prepare("SELECT id FROM subjects")
        .and_then(|mut st| st.query_map([], |r| r.get(0))?.collect())
        .unwrap_or_default();
    // Text columns are read as bytes: a damaged name must not make the whole row unreadable.
    // Rowids no scan reached: probe every seq up to the highest one known (bounded), since a seek can
    // pass where a scan broke.
    let highest = seen.keys().next_back().copied().unwrap_or(0).max(
        conn.query_row("SELECT seq FROM sqlite_sequence WHERE name = 'records'", [], |r| r.get::<_, i64>(0))
            .unwrap_or(0),
    );
    let bound = (seen.len() as i64).saturating_mul(4).saturating_add(10_000);
    for seq in 1..=highest.min(bound) {
        seen.entry(seq).or_default();
    }
    let mut st = conn.prepare(
        "SELECT seq, CAST(id AS BLOB), CAST(subject AS BLOB), CAST(tag AS BLOB), body, updated_at,
                CAST(collection AS BLOB), lookup FROM records WHERE seq = ?1",
    )?;
    let text = |b: Option<Vec<u8>>| b.map(|b| String::from_utf8_lossy(&b).into_owned());
    let mut ids_read = BTreeSet::new();
    for (seq, names) in seen {
        let row: rusqlite::Result<Option<(RawRow, String)>> = st
            .query_row(params![seq], |r| {
                let raw: RawRow = (
                    r.get(0)?,
                    text(r.get(1)?).unwrap_or_default(),
                    text(r.get(2)?).unwrap_or_default(),
                    text(r.get(3)?),
                    r.get(7)?,
                    r.get(4)?,
                    r.get(5)?,
                );
                Ok((raw, text(r.get(6)?).unwrap_or_default()))
            })
            .optional();
        let label = |names: &[(String, String)]| match names.first() {
            Some((c, i)) => format!("{c}/{i}"),
            None => format!("seq {seq}"),
        };
        match row {
            // No such row: a probed gap, or an index naming a row the table does not have.
            Ok(None) => {
                if !names.is_empty() {
                    out.damaged.push(label(&names));
                }
            }
            Err(_) => out.damaged.push(label(&names)),
            Ok(Some((raw, collection))) => {
                // The row's own names may be the damaged part while the body is intact: every name a
                // path gave is tried too, and every subject. Only an authenticated opening counts, so
                // a wrong guess cannot produce a record.
                let mut tries = vec![(collection.clone(), raw.1.clone())];
                for (c, i) in &names {
                    for t in [(c.clone(), i.clone()), (c.clone(), raw.1.clone()), (collection.clone(), i.clone())] {
                        if !tries.contains(&t) {
                            tries.push(t);
                        }
                    }
                }
                let ids: Vec<String> = tries.iter().map(|(_, i)| i.clone()).collect();
                for c in &collections {
                    for i in &ids {
                        let t = (c.clone(), i.clone());
                        if !tries.contains(&t) {
                            tries.push(t);
                        }
                    }
                }
                let mut read = None;
                let mut owners = vec![raw.2.clone()];
                owners.extend(subjects.iter().filter(|s| **s != raw.2).cloned());
                'found: for owner in &owners {
                    for (c, i) in &tries {
                        let mut r = raw.clone();
                        r.1 = i.clone();
                        r.2 = owner.clone();
                        if let Ok(rec) = decode_row(&conn, &mut u, c, r) {
                            read = Some(rec);
                            break 'found;
                        }
                    }
                }
                match read {
                    Some(rec) => {
                        if ids_read.insert((rec.collection.clone(), rec.id.clone())) {
                            out.records.push(rec);
                        }
                    }
                    None => out.damaged.push(label(&tries)),
                }
            }
        }
    }
    out.damaged.dedup();
    Ok(out)
}
