//! Deadlines a feature publishes for the reminder engine.
//!
//! The reminder engine (`zhangban-remind`) reads the features below it directly. Agent mode
//! (`zhangban-agent`) sits beside it in the layer diagram, so neither may depend on the other: agent mode
//! writes what runs out — a principal's delegation on the agent's phone — here, in base, in the same
//! transaction as the principal's record, and the engine reads it. One record per thing, under the subject
//! it belongs to (a principal's deadline is sealed under the principal's key and erased with them). The
//! wording of the reminder is the engine's.

use serde::{Deserialize, Serialize};

use crate::store::{PutOptions, Store, Txn};
use crate::Result;

/// The collection of published deadlines.
pub const COLLECTION: &str = "deadline";

/// What runs out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeadlineKind {
    /// A principal's delegation (or door consent) to this phone's agent.
    Delegation,
}

/// One thing that runs out at `ends_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deadline {
    pub kind: DeadlineKind,
    /// Whose name to show (the principal's).
    pub name: String,
    /// Unix seconds.
    pub ends_at: i64,
}

/// Publishes (`Some`) or withdraws (`None`) the deadline `id` of `subject`, inside the caller's transaction.
pub fn publish(t: &mut Txn<'_>, id: &str, subject: &str, deadline: Option<&Deadline>) -> Result<()> {
    match deadline {
        Some(d) => t.put_json(COLLECTION, id, subject, d, PutOptions::default()),
        None => t.delete(COLLECTION, id).map(|_| ()),
    }
}

/// Every published deadline: (id, subject, deadline).
pub fn list(store: &Store) -> Result<Vec<(String, String, Deadline)>> {
    store.list(COLLECTION, None)?.into_iter().map(|r| Ok((r.id.clone(), r.subject.clone(), r.json()?))).collect()
}
