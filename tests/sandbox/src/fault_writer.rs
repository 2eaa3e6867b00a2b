//! The child process of the kill -9 fault test (`tests/sandbox/tests/faults.rs`): writes to a store in a
//! loop and acknowledges each committed write on stdout, so the test can check that every acknowledged
//! write survives a SIGKILL at any moment.
//!
//! Protocol (one line each, flushed after the commit returned):
//! * `ack <key>`: records `fault/<key>-a` and `fault/<key>-b` were committed in one transaction, with
//!   bodies [`payload`]`("<key>-a")` / `("<key>-b")`.
//! * `att <attachment id> <key>`: an attachment whose plaintext is [`payload`]`("<key>")` was written.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use zhangban_core::store::{FileVault, PutOptions, Store, SELF_SUBJECT};

pub const COLLECTION: &str = "fault";

/// The deterministic ~1 KB body of a record or attachment named `key`.
pub fn payload(key: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(1100);
    while out.len() < 1000 {
        out.extend_from_slice(key.as_bytes());
        out.push(b'|');
    }
    out
}

/// Opens (or creates) the store in `dir` (vault key `dir/vault.key`, data in `dir/store`) and writes
/// until killed. `run` makes this run's keys distinct from earlier runs'.
pub fn run(dir: &Path, run: &str) -> zhangban_core::Result<()> {
    let vault = Arc::new(FileVault::open_or_create(&dir.join("vault.key"))?);
    let store = Store::open_or_create(&dir.join("store"), vault, None)?;
    let mut out = std::io::stdout().lock();
    for i in 0..1_000_000u64 {
        let key = format!("{run}-{i}");
        if i % 8 == 7 {
            let info = store.write_attachment(SELF_SUBJECT, "material.bin", &mut payload(&key).as_slice())?;
            writeln!(out, "att {} {key}", info.id)?;
        } else {
            store.transaction(|t| {
                for side in ["a", "b"] {
                    let id = format!("{key}-{side}");
                    t.put(COLLECTION, &id, SELF_SUBJECT, &payload(&id), PutOptions { tag: Some(run), lookup: None })?;
                }
                Ok(())
            })?;
            writeln!(out, "ack {key}")?;
        }
        out.flush()?;
    }
    Ok(())
}
