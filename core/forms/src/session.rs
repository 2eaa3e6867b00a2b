//! Drafts in the encrypted store: autosave on every edit, resume after a crash or kill, discard, and
//! purge of unsubmitted drafts after a number of days.
//!
//! Layout: one snapshot record per draft in collection `draft` (tag `open` or `submitted`), plus one
//! small record per edit in `draft_op` (tag = draft id, id = `<draft>:<seq>`). An edit is acknowledged
//! (its call returns) only after its record is committed, so a kill at any point loses no acknowledged
//! edit; every [`SNAPSHOT_EVERY`] edits the ops are folded into the snapshot in one transaction.
//! Everything is sealed by the store (per-value AEAD), under the draft's subject key.

use super::draft::{AutofillOptions, Draft, Editor, Entry, Issue, MaterialChoice};
use super::profile::{HeldLicence, LicenceSource, Profile};
use crate::catalog::Catalog;
use crate::store::{PutOptions, Store, Txn};
use crate::{Error, Result};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::sync::Arc;

pub const DRAFTS: &str = "draft";
pub const OPS: &str = "draft_op";
pub const SNAPSHOT_EVERY: u64 = 64;
const TAG_OPEN: &str = "open";
const TAG_SUBMITTED: &str = "submitted";
/// Default for [`purge_unsubmitted`]: unsubmitted drafts older than this many days go.
pub const DEFAULT_PURGE_DAYS: u32 = 30;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Snapshot {
    format: u32,
    id: String,
    subject: String,
    target: String,
    catalog_version: i64,
    created_at: i64,
    updated_at: i64,
    /// Last op folded in.
    seq: u64,
    #[serde(default)]
    submitted_case: Option<String>,
    licences: Vec<HeldLicence>,
    choices: BTreeMap<String, MaterialChoice>,
    values: BTreeMap<String, Entry>,
    groups: BTreeMap<String, Vec<BTreeMap<String, Entry>>>,
}

/// One edit, as journalled.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum Op {
    Set { path: String, value: Json, editor: Editor },
    Confirm { path: String },
    Add { group: String },
    Remove { group: String, index: usize },
    Material { code: String, choice: Option<MaterialChoice> },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct OpRecord {
    seq: u64,
    at: i64,
    #[serde(flatten)]
    op: Op,
}

/// A summary for a list of drafts.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct DraftInfo {
    pub id: String,
    pub subject: String,
    pub target: String,
    pub updated_at: i64,
    pub submitted: bool,
}

/// Agent mode's check on a principal's draft (implemented by `zhangban-agent`, which checks the
/// delegation and audits the access): run when the draft is opened and before every edit, it says who
/// edits. A draft of a subject of kind `Principal` cannot be opened or edited without one, so no call
/// (an FFI `set`, a `resume` by id) reaches a principal's draft around the agent's scope check.
pub trait ActingGate: Send + Sync {
    fn check(&self, subject: &str, target: &str) -> Result<Editor>;
    /// Whether the mandate still stands, for a read of the open draft (its state, answers, checklist): not
    /// audited (a screen reads at every keystroke); refuses once the mandate was revoked, ran out or the
    /// principal's data was erased, so a draft object opened before that answers nothing from memory.
    fn standing(&self, subject: &str) -> Result<()>;
}

fn refused_without_gate() -> Error {
    Error::permission_denied(
        "delegation",
        "委托人的申请只能在代办模式下、凭有效的授权委托打开和填写",
        "a principal's application is opened and filled only in agent mode, under an active delegation",
    )
}

/// Whether `subject` needs an [`ActingGate`]; with one, checks it and returns its editor.
fn gate_check(store: &Store, gate: Option<&dyn ActingGate>, subject: &str, target: &str) -> Result<Option<Editor>> {
    match gate {
        Some(g) => g.check(subject, target).map(Some),
        None if store.subject_kind(subject)? == crate::store::SubjectKind::Principal => Err(refused_without_gate()),
        None => Ok(None),
    }
}

/// An open draft bound to its store: every edit is saved before it returns.
pub struct Session {
    /// Agent mode: the check of every edit of a principal's draft (None for everyone else's).
    gate: Option<Arc<dyn ActingGate>>,
    store: Arc<Store>,
    pub draft: Draft,
    seq: u64,
    snap_seq: u64,
    submitted_case: Option<String>,
    /// A write failed: the next edit saves a full snapshot instead of an op.
    needs_snapshot: bool,
}

fn op_id(draft: &str, seq: u64) -> String {
    format!("{draft}:{seq:012}")
}

impl Session {
    /// Starts a draft for an item or bundle, autofilled from the profile and the licences, and saves it.
    pub fn start(
        store: Arc<Store>,
        catalog: &Catalog,
        subject: &str,
        target: &str,
        licences: &dyn LicenceSource,
        opts: &AutofillOptions,
    ) -> Result<Session> {
        Self::start_gated(store, catalog, subject, target, licences, opts, None)
    }

    /// [`Session::start`] in agent mode: `gate` is checked now and before every edit.
    pub fn start_gated(
        store: Arc<Store>,
        catalog: &Catalog,
        subject: &str,
        target: &str,
        licences: &dyn LicenceSource,
        opts: &AutofillOptions,
        gate: Option<Arc<dyn ActingGate>>,
    ) -> Result<Session> {
        gate_check(&store, gate.as_deref(), subject, target)?;
        let profile = Profile::load(&store, subject)?;
        let held = licences.held(subject)?;
        let id = uuid::Uuid::new_v4().to_string();
        let mut draft = Draft::new(catalog, &id, subject, target, opts.today, opts.now)?;
        draft.autofill(&profile, &held, opts);
        let mut s = Session { gate, store, draft, seq: 0, snap_seq: 0, submitted_case: None, needs_snapshot: false };
        s.snapshot()?;
        Ok(s)
    }

    /// [`Session::start`] with the store's current catalog, the subject's held licences, and the store's clock.
    pub fn start_in(store: &Arc<Store>, subject: &str, target: &str) -> Result<Session> {
        let (catalog, licences) = (Catalog::current(store)?, crate::held_licences(store, subject)?);
        let opts = AutofillOptions::at(store.clock().as_ref());
        Self::start(store.clone(), &catalog, subject, target, &licences, &opts)
    }

    /// [`Session::resume`] with the store's current catalog, today by the store's clock.
    pub fn resume_in(store: &Arc<Store>, draft_id: &str) -> Result<Session> {
        Self::resume(store.clone(), &*Catalog::current(store)?, draft_id, store.today())
    }

    /// Reopens a saved draft: the snapshot plus every journalled edit after it.
    pub fn resume(store: Arc<Store>, catalog: &Catalog, draft_id: &str, today: NaiveDate) -> Result<Session> {
        Self::resume_gated(store, catalog, draft_id, today, None)
    }

    /// [`Session::resume`] in agent mode (see [`Session::start_gated`]).
    pub fn resume_gated(
        store: Arc<Store>,
        catalog: &Catalog,
        draft_id: &str,
        today: NaiveDate,
        gate: Option<Arc<dyn ActingGate>>,
    ) -> Result<Session> {
        let snap: Snapshot = store.get_json(DRAFTS, draft_id)?;
        gate_check(&store, gate.as_deref(), &snap.subject, &snap.target)?;
        let form = catalog.form(&snap.target)?;
        let materials = catalog.materials(&snap.target)?;
        let mut draft = Draft::with_form(
            form,
            materials,
            catalog.version(),
            &snap.id,
            &snap.subject,
            &snap.target,
            today,
            snap.created_at,
        );
        draft.licences = snap.licences.clone();
        draft.choices = snap.choices.clone();
        draft.restore_values(&snap.values, &snap.groups);
        draft.updated_at = snap.updated_at;
        let mut ops: Vec<OpRecord> = Vec::new();
        for r in store.scan(OPS, None, Some(draft_id))? {
            // A damaged op record is skipped, not fatal: the rest of the draft stays usable.
            if let Ok(op) = r.and_then(|r| r.json::<OpRecord>()) {
                if op.seq > snap.seq {
                    ops.push(op);
                }
            }
        }
        zhangban_base::sort::sort_by_key(&mut ops, |o| o.seq);
        let mut seq = snap.seq;
        for o in ops {
            // Ops were valid when acknowledged; one that no longer applies (a newer catalog) is skipped.
            let _ = apply(&mut draft, &o.op, o.at);
            seq = o.seq;
        }
        Ok(Session {
            gate,
            store,
            draft,
            seq,
            snap_seq: snap.seq,
            submitted_case: snap.submitted_case,
            needs_snapshot: false,
        })
    }

    pub fn id(&self) -> &str {
        &self.draft.id
    }

    /// Writes the snapshot (folding the journal in) inside the caller's transaction; `submitted_case`
    /// marks it submitted. The session's own bookkeeping is updated after the commit
    /// ([`Session::snapshot`], [`Session::note_submitted`]).
    pub fn write_snapshot_in(&self, t: &mut Txn<'_>, submitted_case: Option<&str>) -> Result<()> {
        let (values, groups) = self.draft.snapshot_values();
        let snap = Snapshot {
            format: 1,
            id: self.draft.id.clone(),
            subject: self.draft.subject.clone(),
            target: self.draft.target.clone(),
            catalog_version: self.draft.catalog_version,
            created_at: self.draft.created_at,
            updated_at: self.draft.updated_at,
            seq: self.seq,
            submitted_case: submitted_case.map(str::to_string),
            licences: self.draft.licences.clone(),
            choices: self.draft.choices.clone(),
            values,
            groups,
        };
        let body = zeroize::Zeroizing::new(serde_json::to_vec(&snap)?);
        let tag = if submitted_case.is_some() { TAG_SUBMITTED } else { TAG_OPEN };
        let id = &self.draft.id;
        t.put(DRAFTS, id, &self.draft.subject, &body, PutOptions { tag: Some(tag), lookup: None })?;
        for s in self.snap_seq + 1..=self.seq {
            t.delete(OPS, &op_id(id, s))?;
        }
        Ok(())
    }

    fn snapshot(&mut self) -> Result<()> {
        let store = self.store.clone();
        let submitted = self.submitted_case.clone();
        store.transaction(|t| self.write_snapshot_in(t, submitted.as_deref()))?;
        self.snap_seq = self.seq;
        self.needs_snapshot = false;
        Ok(())
    }

    /// Records, after the transaction that wrote it committed, that the draft was submitted as `case_id`.
    pub fn note_submitted(&mut self, case_id: &str) {
        self.submitted_case = Some(case_id.to_string());
        self.snap_seq = self.seq;
        self.needs_snapshot = false;
    }

    /// The case this draft was submitted as, if it was.
    pub fn submitted_case(&self) -> Option<&str> {
        self.submitted_case.as_deref()
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    fn journal(&mut self, op: Op, at: i64) -> Result<()> {
        self.seq += 1;
        if self.needs_snapshot || self.seq - self.snap_seq >= SNAPSHOT_EVERY {
            return self.snapshot().inspect_err(|_| self.needs_snapshot = true);
        }
        let rec = OpRecord { seq: self.seq, at, op };
        let body = zeroize::Zeroizing::new(serde_json::to_vec(&rec)?);
        let id = op_id(&self.draft.id, self.seq);
        self.store
            .put_with(OPS, &id, &self.draft.subject, &body, PutOptions { tag: Some(&self.draft.id), lookup: None })
            .inspect_err(|_| self.needs_snapshot = true)
    }

    fn edit(&mut self, mut op: Op) -> Result<()> {
        if let Some(g) = &self.gate {
            let editor = g.check(&self.draft.subject, &self.draft.target)?;
            if let Op::Set { editor: e, .. } = &mut op {
                *e = editor;
            }
        }
        if self.submitted_case.is_some() {
            return Err(Error::validation(
                "draft",
                "已提交的申请不能再修改",
                "this application was submitted and cannot be changed",
            ));
        }
        let at = self.store.now();
        apply(&mut self.draft, &op, at)?;
        self.journal(op, at)
    }

    /// Sets a value and saves the edit before returning.
    pub fn set(&mut self, path: &str, value: Json, editor: Editor) -> Result<()> {
        self.edit(Op::Set { path: path.to_string(), value, editor })
    }
    pub fn confirm(&mut self, path: &str) -> Result<()> {
        self.edit(Op::Confirm { path: path.to_string() })
    }
    pub fn add_instance(&mut self, group: &str) -> Result<usize> {
        self.edit(Op::Add { group: group.to_string() })?;
        Ok(self.draft.instances(group).saturating_sub(1))
    }
    pub fn remove_instance(&mut self, group: &str, index: usize) -> Result<()> {
        self.edit(Op::Remove { group: group.to_string(), index })
    }
    pub fn set_material(&mut self, code: &str, choice: Option<MaterialChoice>) -> Result<()> {
        self.edit(Op::Material { code: code.to_string(), choice })
    }

    /// This session for a call from outside (the shells' draft object): `Locked` while the store is locked.
    /// The draft's values are held in memory while it is open; a locked store answers nothing of them
    /// (issue 10: a draft object kept across `lock` gave its answers).
    /// A principal's draft (agent mode) answers only while its mandate stands ([`ActingGate::standing`]).
    pub fn unlocked(&mut self) -> Result<&mut Session> {
        if self.store.is_locked() {
            return Err(Error::Locked { retry_after_secs: 0 });
        }
        if let Some(g) = &self.gate {
            g.standing(&self.draft.subject)?;
        }
        Ok(self)
    }

    pub fn validate(&self) -> Vec<Issue> {
        self.draft.validate()
    }

    /// Marks the draft submitted: it is kept, no longer editable, and no longer purged. Submitting
    /// through [`crate::cases::submit_draft`] does this in the transaction that creates the case.
    pub fn mark_submitted(&mut self, case_id: &str) -> Result<()> {
        self.submitted_case = Some(case_id.to_string());
        self.snapshot()
    }

    /// Deletes the draft and its journal.
    pub fn discard(self) -> Result<()> {
        discard(&self.store, &self.draft.id)
    }
}

fn apply(d: &mut Draft, op: &Op, at: i64) -> Result<()> {
    match op {
        Op::Set { path, value, editor } => d.set(path, value.clone(), editor, at),
        Op::Confirm { path } => d.confirm(path, at),
        Op::Add { group } => d.add_instance(group, at).map(|_| ()),
        Op::Remove { group, index } => d.remove_instance(group, *index, at),
        Op::Material { code, choice } => d.set_material(code, choice.clone(), at),
    }
}

/// Deletes a draft and its journal.
pub fn discard(store: &Store, draft_id: &str) -> Result<()> {
    let ops: Vec<String> =
        store.scan(OPS, None, Some(draft_id))?.into_iter().filter_map(|r| r.ok().map(|r| r.id)).collect();
    store.transaction(|t| {
        for id in &ops {
            t.delete(OPS, id)?;
        }
        if !t.delete(DRAFTS, draft_id)? {
            return Err(Error::not_found(format!("draft {draft_id}")));
        }
        Ok(())
    })
}

/// The drafts of one subject, newest first (principals' drafts never mix: issue 11).
pub fn list(store: &Store, subject: &str) -> Result<Vec<DraftInfo>> {
    list_in(store, Some(subject))
}

/// [`list`] for a plain call (the shells' `drafts_list`): a principal's drafts are listed only in agent mode
/// ([`Store::plain_access`]).
pub fn list_plain(store: &Store, subject: &str) -> Result<Vec<DraftInfo>> {
    store.plain_access(subject)?;
    list(store, subject)
}

/// Every subject's drafts: for maintenance (purge) and tests, never for a screen.
pub fn list_all(store: &Store) -> Result<Vec<DraftInfo>> {
    list_in(store, None)
}

fn list_in(store: &Store, subject: Option<&str>) -> Result<Vec<DraftInfo>> {
    let mut out = Vec::new();
    for r in store.scan(DRAFTS, subject, None)? {
        let Ok(r) = r else { continue };
        let Ok(s) = r.json::<Snapshot>() else { continue };
        let last_op =
            store.scan(OPS, None, Some(&s.id))?.into_iter().filter_map(|r| r.ok()).map(|r| r.updated_at).max();
        out.push(DraftInfo {
            id: s.id,
            subject: s.subject,
            target: s.target,
            updated_at: last_op.unwrap_or(r.updated_at).max(r.updated_at),
            submitted: s.submitted_case.is_some(),
        });
    }
    zhangban_base::sort::sort_by_key(&mut out, |d| std::cmp::Reverse(d.updated_at));
    Ok(out)
}

/// Deletes unsubmitted drafts last touched more than `days` days before `now`; returns how many.
pub fn purge_unsubmitted(store: &Store, days: u32, now: i64) -> Result<usize> {
    let cutoff = now - i64::from(days) * 86_400;
    let mut n = 0;
    for d in list_all(store)? {
        if !d.submitted && d.updated_at < cutoff {
            discard(store, &d.id)?;
            n += 1;
        }
    }
    Ok(n)
}
