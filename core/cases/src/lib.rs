//! Applications (办件): lifecycle, timeline, deadlines, ratings and complaints.
//!
//! * [`submit`] turns a [`Submission`] (what a completed draft converts into) into a case in state
//!   `queued` **and** its outbox operation, in one store transaction: a crash leaves both or neither.
//! * The sync runner (`crate::sync::runner`) sends it; the receipt moves it to `submitted`. Everything
//!   after that is decided by the platform and arrives as events ([`PlatformEvent`]), applied once.
//! * [`progress`] tells where a case stands: the promised completion date counted in working days from
//!   acceptance (suspensions excluded), the working days left, overdue, and what is needed now.
//! * Ratings (好差评) and complaints queue offline like submissions.

// No unsafe code of our own; the UniFFI scaffolding (feature `uniffi`, bindings/ only) generates some.
#![cfg_attr(not(feature = "uniffi"), forbid(unsafe_code))]

#[cfg(feature = "uniffi")]
uniffi::setup_scaffolding!();
#[cfg(feature = "uniffi")]
zhangban_base::use_ffi_types!();

pub use zhangban_base::outbox::Problem;
use zhangban_base::{audit, notify, outbox, store, Error, Result, Text};
use zhangban_calendar as calendar;
use zhangban_catalog as catalog;
use zhangban_forms as forms;
use zhangban_wallet as wallet;
mod deferred;
mod delivery;
mod events;
mod follow;
mod from_draft;
mod licence;
mod resubmit;
#[cfg(test)]
mod tests;
mod view;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::calendar::{Calendar, DateRange, Reckoned, Rules};
use crate::outbox::OpKind;
use crate::store::{PutOptions, Store, Txn, SELF_SUBJECT};

pub use deferred::{deferred_due, deferred_due_within, material_days};
pub use delivery::{delivered_in, held_in, refused_in};
pub use events::{apply_event, PlatformEvent};
pub use follow::{insert_followed, FollowedView, MAX_FOLLOW_EVENTS};
pub use from_draft::{submission_from_draft, submit_draft, submit_draft_as, MaterialLine, MaterialOutcome};
pub use licence::LicenceDelivery;
pub use resubmit::{discard, resubmit, resubmit_as, Fix, ValuesChange};
pub use view::{list_summaries, view, view_of, CaseActions, CaseSummary, CaseView, NeedKind, NeededItem, TimelineItem};

pub const COLLECTION: &str = "case";

/// Limits on what a submission may carry (the platform has its own; these keep the device honest).
pub const MAX_ITEMS: usize = 20;
pub const MAX_ATTACHMENTS: usize = 50;
pub const MAX_VALUES_BYTES: usize = 256 * 1024;
pub const MAX_REASON_CHARS: usize = 500;
pub const MAX_COMPLAINT_CHARS: usize = 2000;

/// Where a case is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
#[serde(rename_all = "snake_case")]
pub enum CaseState {
    Draft,
    /// Saved on the phone, waiting to be sent.
    Queued,
    /// The platform holds it and returned a receipt number.
    Submitted,
    /// 受理: the promised time limit starts.
    Accepted,
    InReview,
    /// Hearing, inspection, expert review: the clock pauses.
    Suspended,
    /// 补正: more material is needed by a due date.
    SupplementRequested,
    Approved,
    Rejected,
    /// Ended without a decision (e.g. deferred material not supplied in time).
    Terminated,
    /// 办结.
    Completed,
    /// The person gave up a submission the platform refused (it never reached the platform).
    Withdrawn,
}

impl CaseState {
    pub fn as_str(self) -> &'static str {
        match self {
            CaseState::Draft => "draft",
            CaseState::Queued => "queued",
            CaseState::Submitted => "submitted",
            CaseState::Accepted => "accepted",
            CaseState::InReview => "in_review",
            CaseState::Suspended => "suspended",
            CaseState::SupplementRequested => "supplement_requested",
            CaseState::Approved => "approved",
            CaseState::Rejected => "rejected",
            CaseState::Terminated => "terminated",
            CaseState::Completed => "completed",
            CaseState::Withdrawn => "withdrawn",
        }
    }
    pub fn label_zh(self) -> &'static str {
        match self {
            CaseState::Draft => "草稿",
            CaseState::Queued => "待提交（已保存在本机）",
            CaseState::Submitted => "已提交",
            CaseState::Accepted => "已受理",
            CaseState::InReview => "审查中",
            CaseState::Suspended => "中止（不计时）",
            CaseState::SupplementRequested => "待补正",
            CaseState::Approved => "已批准",
            CaseState::Rejected => "不予许可",
            CaseState::Terminated => "已终止",
            CaseState::Completed => "已办结",
            CaseState::Withdrawn => "已撤回（未送达平台）",
        }
    }
    /// The state as a person reads it.
    pub fn label(self) -> Text {
        Text::line(self.label_zh(), self.label_en())
    }
    pub fn label_en(self) -> &'static str {
        match self {
            CaseState::Draft => "draft",
            CaseState::Queued => "queued on this phone",
            CaseState::Submitted => "submitted",
            CaseState::Accepted => "accepted",
            CaseState::InReview => "in review",
            CaseState::Suspended => "suspended (clock paused)",
            CaseState::SupplementRequested => "supplement requested",
            CaseState::Approved => "approved",
            CaseState::Rejected => "rejected",
            CaseState::Terminated => "terminated",
            CaseState::Completed => "completed",
            CaseState::Withdrawn => "withdrawn (never reached the platform)",
        }
    }
    /// The states of a case under way: sent or to be sent, and not yet decided (neither a draft nor final).
    pub const UNDER_WAY: [CaseState; 6] = [
        CaseState::Queued,
        CaseState::Submitted,
        CaseState::Accepted,
        CaseState::InReview,
        CaseState::Suspended,
        CaseState::SupplementRequested,
    ];
    /// The promised-time clock runs in these states.
    pub fn clock_running(self) -> bool {
        matches!(self, CaseState::Accepted | CaseState::InReview | CaseState::SupplementRequested)
    }
    /// A decision was reached (or the case ended).
    pub fn is_final(self) -> bool {
        matches!(
            self,
            CaseState::Approved
                | CaseState::Rejected
                | CaseState::Terminated
                | CaseState::Completed
                | CaseState::Withdrawn
        )
    }
    /// Transitions the platform may make (events outside this are recorded but flagged).
    pub fn can_move_to(self, to: CaseState) -> bool {
        use CaseState::*;
        matches!(
            (self, to),
            (Draft, Queued)
                | (Queued, Submitted | Withdrawn)
                | (Submitted, Accepted | Rejected | SupplementRequested)
                | (Accepted, InReview | Suspended | SupplementRequested | Approved | Rejected | Terminated)
                | (InReview, Suspended | SupplementRequested | Approved | Rejected | Terminated)
                | (Suspended, InReview | Terminated)
                | (SupplementRequested, InReview | Terminated | Rejected)
                | (Approved | Rejected | Terminated, Completed)
        )
    }
}

/// What a completed draft converts into: the input of [`submit`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Submission {
    /// One item, or several for a bundle (一件事一次办).
    pub item_codes: Vec<String>,
    /// A title to show in lists ("个体工商户设立登记").
    pub title: String,
    /// Field values of the form, as JSON (an object).
    pub values: Value,
    /// Ids of stored attachments (`Store::write_attachment`).
    pub attachments: Vec<String>,
    /// Materials the applicant commits to supply later (容缺受理).
    #[serde(default)]
    pub deferred_materials: Vec<String>,
    /// How each material was dealt with (filled by [`submission_from_draft`]; empty for a bare submission).
    #[serde(default)]
    #[cfg_attr(feature = "uniffi", uniffi(default))]
    pub materials: Vec<MaterialLine>,
    /// The title in English ("Sole proprietorship registration"); empty: the Chinese one stands for both.
    #[serde(default)]
    #[cfg_attr(feature = "uniffi", uniffi(default))]
    pub title_en: String,
}

/// One step of a case's life, for the timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineEntry {
    /// Unix seconds.
    pub at: i64,
    /// `"self"`, `"device"`, `"platform"`, `"clerk:<name>"`.
    pub actor: String,
    pub state: CaseState,
    /// What happened, in both languages (a platform note arrives in one: then both hold it). Stored
    /// before notes were bilingual as one text "中文 / English", which is read back split at " / ".
    #[serde(deserialize_with = "note_text")]
    pub note: Text,
}

/// A timeline note as stored: a [`Text`], or (older records) one string "中文 / English".
fn note_text<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Text, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Stored {
        Text(Text),
        Old(String),
    }
    Ok(match Stored::deserialize(d)? {
        Stored::Text(t) => t,
        Stored::Old(s) => match s.split_once(" / ") {
            Some((zh, en)) => Text::new(zh, en),
            None => Text::new(s.clone(), s),
        },
    })
}

/// A suspension; `to` is `None` while it lasts. Days after `from` up to and including `to` do not count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pause {
    pub from: NaiveDate,
    pub to: Option<NaiveDate>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SupplementRequest {
    pub request_id: String,
    pub items: Vec<String>,
    pub note: String,
    pub due: NaiveDate,
    /// The person has queued what was asked for.
    pub supplied: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeferredMaterial {
    pub material: String,
    pub due: Option<NaiveDate>,
    pub supplied: bool,
}

/// The five levels of 好差评.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
#[serde(rename_all = "snake_case")]
pub enum RatingLevel {
    VerySatisfied,
    Satisfied,
    BasicallySatisfied,
    Dissatisfied,
    VeryDissatisfied,
}

impl RatingLevel {
    pub fn label_en(self) -> &'static str {
        match self {
            RatingLevel::VerySatisfied => "very satisfied",
            RatingLevel::Satisfied => "satisfied",
            RatingLevel::BasicallySatisfied => "basically satisfied",
            RatingLevel::Dissatisfied => "dissatisfied",
            RatingLevel::VeryDissatisfied => "very dissatisfied",
        }
    }
    pub fn label_zh(self) -> &'static str {
        match self {
            RatingLevel::VerySatisfied => "非常满意",
            RatingLevel::Satisfied => "满意",
            RatingLevel::BasicallySatisfied => "基本满意",
            RatingLevel::Dissatisfied => "不满意",
            RatingLevel::VeryDissatisfied => "非常不满意",
        }
    }
    /// 5 (非常满意) … 1 (非常不满意).
    pub fn score(self) -> u8 {
        match self {
            RatingLevel::VerySatisfied => 5,
            RatingLevel::Satisfied => 4,
            RatingLevel::BasicallySatisfied => 3,
            RatingLevel::Dissatisfied => 2,
            RatingLevel::VeryDissatisfied => 1,
        }
    }
    pub fn needs_reason(self) -> bool {
        self.score() <= 2
    }
}

/// One level of 好差评 as the rating screen offers it: its words and whether a reason must go with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct RatingChoice {
    pub level: RatingLevel,
    pub label: Text,
    pub needs_reason: bool,
}

/// The five levels of 好差评, best first, with their words (both shells show the same).
#[cfg_attr(feature = "uniffi", uniffi::export)]
pub fn rating_choices() -> Vec<RatingChoice> {
    use RatingLevel::*;
    [VerySatisfied, Satisfied, BasicallySatisfied, Dissatisfied, VeryDissatisfied]
        .into_iter()
        .map(|l| RatingChoice {
            level: l,
            label: Text::line(l.label_zh(), l.label_en()),
            needs_reason: l.needs_reason(),
        })
        .collect()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rating {
    pub level: RatingLevel,
    pub reason: Option<String>,
    pub at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Complaint {
    pub id: String,
    pub text: String,
    pub at: i64,
}

/// Who acts for whom (帮办代办): set by `zhangban-agent` when an agent submits for a principal, after it
/// checked the delegation. `body` goes to the platform as the submission's `proxy` member (the agent's
/// certificate and the delegation or door consent; docs/platform-api.md), which checks it again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Proxy {
    /// The agent's id (from the agent's certificate): the actor in the case's timeline and audit.
    pub agent_id: String,
    pub body: Value,
}

/// A principal's data on an agent's phone is reached only through `zhangban-agent`, which checks the
/// delegation and audits the access: a case operation for a principal's subject without a [`Proxy`] is
/// refused here, so no path around the agent layer exists (an FFI caller passing a principal's subject).
pub fn require_proxy(store: &Store, subject: &str, proxy: Option<&Proxy>) -> Result<()> {
    if proxy.is_none() && store.subject_kind(subject)? == crate::store::SubjectKind::Principal {
        return Err(Error::permission_denied(
            "delegation",
            "为委托人办理须通过代办模式，并持有有效的授权委托",
            "acting for a principal needs agent mode and an active delegation",
        ));
    }
    Ok(())
}

/// One application and everything known about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Case {
    pub id: String,
    /// Whose case (a subject id: the person, or an agent's principal).
    pub subject: String,
    pub title: String,
    /// The title in English; empty (a case followed by its receipt, or stored before titles were
    /// bilingual): the Chinese title stands for both. Read both through [`Case::title_text`].
    #[serde(default)]
    pub title_en: String,
    pub item_codes: Vec<String>,
    pub state: CaseState,
    pub values: Value,
    pub attachments: Vec<String>,
    /// The platform's receipt number (受理回执号), once it has the case.
    pub receipt: Option<String>,
    pub platform_id: Option<String>,
    pub created_at: i64,
    pub accepted_on: Option<NaiveDate>,
    pub promised_days: Option<u32>,
    pub pauses: Vec<Pause>,
    pub supplement: Option<SupplementRequest>,
    pub deferred: Vec<DeferredMaterial>,
    pub result: Option<String>,
    pub reason: Option<String>,
    pub completed_on: Option<NaiveDate>,
    /// A licence issued for this case (as the platform sent it), for the wallet.
    pub licence: Option<Value>,
    /// Whether that licence reached the wallet (the sync loop fetches it; see [`LicenceDelivery`]).
    #[serde(default)]
    pub licence_delivery: Option<LicenceDelivery>,
    pub timeline: Vec<TimelineEntry>,
    pub problem: Option<Problem>,
    pub rating: Option<Rating>,
    pub complaints: Vec<Complaint>,
    /// The highest platform event sequence applied (events at or below it are skipped).
    pub last_event_seq: u64,
    /// The form draft this case was submitted from, if any.
    #[serde(default)]
    pub draft_id: Option<String>,
    /// How each material of the item was dealt with (from the draft).
    #[serde(default)]
    pub materials: Vec<MaterialLine>,
    /// When the person last urged the platform (催办) about this case being past its promised date.
    #[serde(default)]
    pub urged_at: Option<i64>,
    /// The agent who submitted it for a principal (帮办代办), if one did.
    #[serde(default)]
    pub agent: Option<String>,
    /// The query code (查询码) the platform gave with the receipt: with the receipt number and the
    /// applicant's ID number it lets another phone follow the case (an agent gives it to the principal).
    #[serde(default)]
    pub query_code: Option<String>,
}

fn check_text(field: &str, v: &str, min: usize, max: usize) -> Result<()> {
    let n = v.chars().count();
    if n < min || n > max || v.chars().any(|c| c.is_control() && c != '\n') {
        return Err(Error::validation(
            field,
            format!("须为 {min} 至 {max} 个字符，且不含控制字符。"),
            format!("must be {min} to {max} characters without control characters."),
        ));
    }
    Ok(())
}

impl Submission {
    /// Checks the submission; the error names the field at fault.
    pub fn validate(&self, store: &Store) -> Result<()> {
        if self.item_codes.is_empty() || self.item_codes.len() > MAX_ITEMS {
            return Err(Error::validation(
                "item_codes",
                format!("须包含 1 至 {MAX_ITEMS} 个事项编码。"),
                format!("must hold 1 to {MAX_ITEMS} item codes."),
            ));
        }
        for (i, c) in self.item_codes.iter().enumerate() {
            if c.is_empty() || c.len() > 64 || !c.chars().all(|ch| ch.is_ascii_alphanumeric() || "-_.".contains(ch)) {
                return Err(Error::validation(
                    format!("item_codes[{i}]"),
                    "事项编码只能包含字母、数字和 - _ .（最长 64）。",
                    "an item code holds letters, digits, - _ . (at most 64).",
                ));
            }
        }
        check_text("title", &self.title, 1, 200)?;
        if !self.values.is_object() {
            return Err(Error::validation("values", "表单内容须为对象。", "form values must be a JSON object."));
        }
        if serde_json::to_vec(&self.values)?.len() > MAX_VALUES_BYTES {
            return Err(Error::validation("values", "表单内容过大。", "form values too large."));
        }
        if self.attachments.len() > MAX_ATTACHMENTS {
            return Err(Error::validation("attachments", "附件过多。", "too many attachments."));
        }
        for (i, a) in self.attachments.iter().enumerate() {
            store.attachment_info(a).map_err(|e| match e {
                Error::NotFound { .. } => Error::validation(
                    format!("attachments[{i}]"),
                    "附件不存在，请重新上传。",
                    "attachment not found; add it again.",
                ),
                other => other,
            })?;
        }
        for (i, m) in self.deferred_materials.iter().enumerate() {
            check_text(&format!("deferred_materials[{i}]"), m, 1, 100)?;
        }
        Ok(())
    }
}

fn put_case(t: &mut Txn<'_>, case: &Case) -> Result<()> {
    t.put_json(COLLECTION, &case.id, &case.subject, case, PutOptions { tag: Some(case.state.as_str()), lookup: None })
}

/// The body of `POST /v1/cases` for a submission (see docs/platform-api.md).
pub(crate) fn submit_body(client_ref: &str, sub: &Submission, proxy: Option<&Proxy>) -> Result<Value> {
    let mut body = json!({
        "client_ref": client_ref,
        "item_codes": sub.item_codes,
        "title": sub.title,
        "values": sub.values,
        "deferred_materials": sub.deferred_materials,
    });
    if let Some(o) = body.as_object_mut() {
        if !sub.materials.is_empty() {
            o.insert("materials".into(), serde_json::to_value(&sub.materials)?);
        }
        if let Some(p) = proxy {
            o.insert("proxy".into(), p.body.clone());
        }
    }
    Ok(body)
}

/// A validated submission ready to be written: the case, its outbox body, key and uploads.
pub(crate) struct Prepared {
    pub case: Case,
    body: Value,
    key: String,
    uploads: Vec<outbox::Upload>,
    attachment_count: usize,
}

/// Validates a submission and builds what [`submit_in`] writes (reads attachments' metadata, so it runs
/// before the transaction).
pub(crate) fn prepare(
    store: &Store,
    subject: &str,
    sub: &Submission,
    draft_id: Option<&str>,
    proxy: Option<&Proxy>,
) -> Result<Prepared> {
    require_proxy(store, subject, proxy)?;
    sub.validate(store)?;
    let actor = proxy.map_or_else(|| "self".to_string(), |p| p.agent_id.clone());
    let now = store.now();
    let id = uuid::Uuid::new_v4().to_string();
    let case = Case {
        id: id.clone(),
        subject: subject.to_string(),
        title: sub.title.clone(),
        title_en: sub.title_en.clone(),
        item_codes: sub.item_codes.clone(),
        state: CaseState::Queued,
        values: sub.values.clone(),
        attachments: sub.attachments.clone(),
        receipt: None,
        platform_id: None,
        created_at: now,
        accepted_on: None,
        promised_days: None,
        pauses: vec![],
        supplement: None,
        deferred: sub
            .deferred_materials
            .iter()
            .map(|m| DeferredMaterial { material: m.clone(), due: None, supplied: false })
            .collect(),
        result: None,
        reason: None,
        completed_on: None,
        licence: None,
        licence_delivery: None,
        timeline: vec![TimelineEntry {
            at: now,
            actor,
            state: CaseState::Queued,
            note: Text::new("已提交，保存在本机等待发送", "submitted, queued on this phone"),
        }],
        problem: None,
        rating: None,
        complaints: vec![],
        last_event_seq: 0,
        draft_id: draft_id.map(str::to_string),
        materials: sub.materials.clone(),
        urged_at: None,
        agent: proxy.map(|p| p.agent_id.clone()),
        query_code: None,
    };
    let body = submit_body(&id, sub, proxy)?;
    let key = outbox::new_key();
    let uploads = outbox::prepare_uploads(store, subject, &sub.attachments, &key)?;
    Ok(Prepared { case, body, key, uploads, attachment_count: sub.attachments.len() })
}

/// Writes a prepared submission inside the caller's transaction: the case (`queued`), its outbox
/// operation and the audit entry.
pub(crate) fn submit_in(t: &mut Txn<'_>, p: Prepared) -> Result<Case> {
    let Prepared { case, body, key, uploads, attachment_count } = p;
    put_case(t, &case)?;
    outbox::enqueue(t, &case.subject, &case.id, OpKind::Submit, key, body, uploads)?;
    t.audit(&audit::NewEntry {
        actor: case.agent.as_deref().unwrap_or("self"),
        action: "case.submit",
        subject: &case.subject,
        target: &case.id,
        detail: json!({ "item_codes": case.item_codes, "attachments": attachment_count, "draft": case.draft_id }),
    })?;
    Ok(case)
}

/// Submits: validates, then creates the case (`queued`) and its outbox operation in ONE transaction.
/// Works offline; the sync runner sends it when it can. A form draft is submitted with
/// [`submit_draft`], which converts it and marks the draft submitted in the same transaction.
pub fn submit(store: &Store, subject: &str, sub: &Submission) -> Result<Case> {
    submit_as(store, subject, sub, None)
}

/// [`submit`] by an agent for a principal ([`Proxy`]; `zhangban-agent` checks the delegation first).
pub fn submit_as(store: &Store, subject: &str, sub: &Submission, proxy: Option<&Proxy>) -> Result<Case> {
    let p = prepare(store, subject, sub, None, proxy)?;
    store.transaction(|t| submit_in(t, p))
}

pub fn get(store: &Store, id: &str) -> Result<Case> {
    store.get_json(COLLECTION, id)
}

/// The cases of one subject (the owner, or one of an agent's principals), newest first. Every list a
/// screen shows is of one subject: principals' cases never mix (issue 11).
pub fn list(store: &Store, subject: &str) -> Result<Vec<Case>> {
    sorted(store.list(COLLECTION, Some(subject))?.iter().map(|r| r.json()).collect::<Result<_>>()?)
}

/// Every subject's cases, newest first: for maintenance and tests only, never for a screen.
pub fn list_all(store: &Store) -> Result<Vec<Case>> {
    sorted(store.list(COLLECTION, None)?.iter().map(|r| r.json()).collect::<Result<_>>()?)
}

fn sorted(mut v: Vec<Case>) -> Result<Vec<Case>> {
    zhangban_base::sort::sort_by(&mut v, |a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
    Ok(v)
}

/// Cases in one state.
pub fn list_in_state(store: &Store, state: CaseState) -> Result<Vec<Case>> {
    store.list_tagged(COLLECTION, state.as_str())?.iter().map(|r| r.json()).collect()
}

/// Loads, changes and stores a case inside a transaction.
/// Changes a stored case inside the caller's transaction (the sync layer uses it for licence delivery).
pub fn update_in<R>(t: &mut Txn<'_>, id: &str, f: impl FnOnce(&mut Case) -> Result<R>) -> Result<R> {
    let mut case: Case = t.get(COLLECTION, id)?.json()?;
    let r = f(&mut case)?;
    put_case(t, &case)?;
    Ok(r)
}

/// The citizen supplies what a supplement request (补正) or a deferred material asked for. Queued offline.
pub fn supply(store: &Store, case_id: &str, values: Value, attachments: &[String], note: &str) -> Result<()> {
    supply_as(store, case_id, values, attachments, note, None)
}

/// [`supply`] by an agent for a principal ([`Proxy`]).
pub fn supply_as(
    store: &Store,
    case_id: &str,
    values: Value,
    attachments: &[String],
    note: &str,
    proxy: Option<&Proxy>,
) -> Result<()> {
    let case = get(store, case_id)?;
    require_proxy(store, &case.subject, proxy)?;
    check_text("note", note, 0, MAX_REASON_CHARS)?;
    if !values.is_object() {
        return Err(Error::validation("values", "补正内容须为对象。", "supplied values must be a JSON object."));
    }
    let pending_deferred = case.deferred.iter().any(|d| !d.supplied);
    let request_id = match (&case.supplement, case.state) {
        (Some(s), CaseState::SupplementRequested) if !s.supplied => Some(s.request_id.clone()),
        _ if pending_deferred && !case.state.is_final() => None,
        _ => {
            return Err(Error::validation(
                "case",
                "该办件当前不需要补交材料。",
                "this case does not currently need any material.",
            ))
        }
    };
    let body = json!({ "request_id": request_id, "values": values, "note": note });
    let now = store.now();
    let key = outbox::new_key();
    let uploads = outbox::prepare_uploads(store, &case.subject, attachments, &key)?;
    store.transaction(|t| {
        update_in(t, case_id, |c| {
            match &mut c.supplement {
                Some(s) if request_id.as_deref() == Some(s.request_id.as_str()) => s.supplied = true,
                _ => c.deferred.iter_mut().for_each(|d| d.supplied = true),
            }
            c.timeline.push(TimelineEntry {
                at: now,
                actor: "self".into(),
                state: c.state,
                note: Text::new("已补交材料，等待发送", "material supplied, queued"),
            });
            Ok(())
        })?;
        outbox::enqueue(t, &case.subject, case_id, OpKind::Supplement, key, body, uploads)?;
        Ok(())
    })
}

/// Rates a completed case (一事一评) today, by the store's clock and the default rules (the rating window).
pub fn rate_today(store: &Store, case_id: &str, level: RatingLevel, reason: Option<&str>) -> Result<()> {
    rate(store, &Rules::default(), case_id, level, reason, store.today())
}

/// Rates a completed case (一事一评) on `today` under `rules`. The bottom two levels need a reason.
pub fn rate(
    store: &Store,
    rules: &Rules,
    case_id: &str,
    level: RatingLevel,
    reason: Option<&str>,
    today: NaiveDate,
) -> Result<()> {
    let case = get(store, case_id)?;
    // A principal rates their own case (on their phone), never the agent for them.
    require_proxy(store, &case.subject, None)?;
    let completed = case.completed_on.filter(|_| case.state == CaseState::Completed).ok_or_else(|| {
        Error::validation("case", "办件办结后才能评价。", "a case can be rated once it is completed.")
    })?;
    if (today - completed).num_days() > rules.rating_window_days as i64 {
        return Err(Error::validation(
            "case",
            format!("评价期限已过（办结后 {} 天内）。", rules.rating_window_days),
            format!("the rating period ({} days after completion) is over.", rules.rating_window_days),
        ));
    }
    if case.rating.is_some() {
        return Err(Error::validation("case", "该办件已评价。", "this case is already rated."));
    }
    let reason = reason.map(str::trim).filter(|r| !r.is_empty());
    if level.needs_reason() && reason.is_none() {
        return Err(Error::validation(
            "reason",
            format!("选择“{}”时须填写原因。", level.label_zh()),
            "a reason is required for 'dissatisfied' and 'very dissatisfied'.",
        ));
    }
    if let Some(r) = reason {
        check_text("reason", r, 1, MAX_REASON_CHARS)?;
    }
    let now = store.now();
    let rating = Rating { level, reason: reason.map(str::to_string), at: now };
    let body = json!({ "level": level, "score": level.score(), "reason": rating.reason });
    store.transaction(|t| {
        update_in(t, case_id, |c| {
            c.rating = Some(rating.clone());
            c.timeline.push(TimelineEntry {
                at: now,
                actor: "self".into(),
                state: c.state,
                note: Text::new(format!("评价：{}", level.label_zh()), format!("rated: {}", level.label_en())),
            });
            Ok(())
        })?;
        outbox::enqueue(t, &case.subject, case_id, OpKind::Rate, outbox::new_key(), body, vec![])?;
        Ok(())
    })
}

/// A free-text complaint (办不成事 反映) about a case. Queued offline.
pub fn complain(store: &Store, case_id: &str, text: &str) -> Result<String> {
    let case = get(store, case_id)?;
    require_proxy(store, &case.subject, None)?;
    let text = text.trim();
    check_text("text", text, 1, MAX_COMPLAINT_CHARS)?;
    let id = uuid::Uuid::new_v4().to_string();
    let now = store.now();
    let complaint = Complaint { id: id.clone(), text: text.to_string(), at: now };
    let body = json!({ "complaint_id": id, "text": text });
    store.transaction(|t| {
        update_in(t, case_id, |c| {
            c.complaints.push(complaint.clone());
            c.timeline.push(TimelineEntry {
                at: now,
                actor: "self".into(),
                state: c.state,
                note: Text::new("已提交反映", "complaint filed"),
            });
            Ok(())
        })?;
        outbox::enqueue(t, &case.subject, case_id, OpKind::Complain, outbox::new_key(), body, vec![])?;
        Ok(())
    })?;
    Ok(id)
}

/// 催办: asks the platform to act on a case past its promised completion date (the citizen's side of
/// 电子监察). Only an overdue case whose clock runs can be urged, at most once a day; queued offline in
/// the one outbox like a complaint.
pub fn urge(store: &Store, cal: &Calendar, case_id: &str) -> Result<()> {
    let case = get(store, case_id)?;
    require_proxy(store, &case.subject, None)?;
    let p = progress(&case, cal, &Rules::default(), store.today())?;
    let promised = match (&p.promised_date, p.overdue && case.state.clock_running()) {
        (Some(pd), true) => pd.value,
        _ => {
            return Err(Error::validation(
                "case",
                "只有超过承诺办结日期的办件才能催办。",
                "only a case past its promised completion date can be urged.",
            ))
        }
    };
    let now = store.now();
    if case.urged_at.is_some_and(|t| now - t < 86_400) {
        return Err(Error::validation(
            "case",
            "今天已催办过该办件，请明天再试。",
            "this case was urged today; try again tomorrow.",
        ));
    }
    let body = json!({ "promised_date": promised.to_string() });
    store.transaction(|t| {
        update_in(t, case_id, |c| {
            c.urged_at = Some(now);
            c.timeline.push(TimelineEntry {
                at: now,
                actor: "self".into(),
                state: c.state,
                note: Text::new(format!("已催办（承诺 {promised} 前办结）"), format!("urged (promised by {promised})")),
            });
            Ok(())
        })?;
        outbox::enqueue(t, &case.subject, case_id, OpKind::Urge, outbox::new_key(), body, vec![])?;
        Ok(())
    })
}

/// Something the person must do now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Need {
    /// 补正: supply these items by `due`.
    Supplement { items: Vec<String>, note: String, due: NaiveDate, working_days_left: i64 },
    /// 容缺: supply this material by `due`.
    Deferred { material: String, due: NaiveDate, working_days_left: i64 },
    /// The platform refused the submission: change it and submit again.
    Fix { message: Text },
    /// Rate the service (until the given date).
    Rate { until: NaiveDate },
    /// The licence of the approved case could not be issued into the wallet: the reason.
    Licence { message: String },
}

/// Where a case stands today.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    pub state: CaseState,
    pub state_zh: String,
    pub state_en: String,
    pub receipt: Option<String>,
    /// Promised completion date (承诺办结日期): `promised_days` working days after acceptance, suspensions
    /// excluded. `None` before acceptance.
    pub promised_date: Option<Reckoned<NaiveDate>>,
    /// Working days from today to the promised date (negative: overdue by that many).
    pub working_days_left: Option<Reckoned<i64>>,
    pub overdue: bool,
    pub needed_now: Vec<Need>,
    pub timeline: Vec<TimelineEntry>,
}

impl Case {
    /// The title in both languages (the Chinese one for English when the case has no English title).
    pub fn title_text(&self) -> Text {
        let en = if self.title_en.is_empty() { &self.title } else { &self.title_en };
        Text::new(self.title.clone(), en.clone())
    }

    /// Suspended days as date ranges (the day a suspension starts still counts; an open suspension runs
    /// to `today`).
    pub fn paused_ranges(&self, today: NaiveDate) -> Vec<DateRange> {
        self.pauses
            .iter()
            .filter_map(|p| {
                let from = p.from.succ_opt()?;
                let to = p.to.unwrap_or(today);
                (to >= from).then_some(DateRange { from, to })
            })
            .collect()
    }
}

fn date_of(ts: i64) -> Option<NaiveDate> {
    DateTime::<Utc>::from_timestamp(ts, 0).map(|d| d.date_naive())
}

/// Where a case stands on `today`.
pub fn progress(case: &Case, cal: &Calendar, rules: &Rules, today: NaiveDate) -> Result<Progress> {
    let paused = case.paused_ranges(today);
    let mut promised_date = None;
    let mut working_days_left = None;
    let mut overdue = false;
    if let (Some(acc), Some(days)) = (case.accepted_on, case.promised_days) {
        let pd = cal.add_working_days(acc, days, &paused)?;
        if !case.state.is_final() {
            let left = cal.working_days_between(today, pd.value, &paused)?;
            overdue = left.value < 0 || (left.value == 0 && today > pd.value);
            working_days_left = Some(left);
        }
        promised_date = Some(pd);
    }
    let mut needed_now = Vec::new();
    if let Some(p) = &case.problem {
        needed_now.push(Need::Fix { message: p.text() });
    }
    if let (Some(s), CaseState::SupplementRequested) = (&case.supplement, case.state) {
        if !s.supplied {
            let left = cal.working_days_between(today, s.due, &[])?.value;
            needed_now.push(Need::Supplement {
                items: s.items.clone(),
                note: s.note.clone(),
                due: s.due,
                working_days_left: left,
            });
        }
    }
    if !case.state.is_final() {
        for d in case.deferred.iter().filter(|d| !d.supplied) {
            if let Some(due) = case.deferred_due_of(d, cal, rules)?.map(|r| r.value) {
                let left = cal.working_days_between(today, due, &[])?.value;
                needed_now.push(Need::Deferred { material: d.material.clone(), due, working_days_left: left });
            }
        }
    }
    if let Some(LicenceDelivery::Refused { message, .. }) = &case.licence_delivery {
        needed_now.push(Need::Licence { message: message.clone() });
    }
    if case.state == CaseState::Completed && case.rating.is_none() {
        if let Some(c) = case.completed_on.or_else(|| case.timeline.last().and_then(|e| date_of(e.at))) {
            let until = c + chrono::Duration::days(rules.rating_window_days as i64);
            if today <= until {
                needed_now.push(Need::Rate { until });
            }
        }
    }
    Ok(Progress {
        state: case.state,
        state_zh: case.state.label_zh().into(),
        state_en: case.state.label_en().into(),
        receipt: case.receipt.clone(),
        promised_date,
        working_days_left,
        overdue,
        needed_now,
        timeline: case.timeline.clone(),
    })
}

/// The subject used for the person's own cases.
pub const SELF: &str = SELF_SUBJECT;

/// The licence an approved case offers, as `(type, elements)` for the wallet's device-bound issuance
/// (`PlatformClient::request_licence`). The platform's approval event carries
/// `{"type": "business_licence", "elements": {"name": "…", …}}`; text elements only, at most 64.
pub fn licence_offer(
    case: &Case,
) -> Option<(crate::wallet::LicenceType, std::collections::BTreeMap<String, crate::wallet::ElementValue>)> {
    let l = case.licence.as_ref()?;
    let t = crate::wallet::LicenceType::from_key(l.get("type")?.as_str()?)?;
    let elements = l
        .get("elements")?
        .as_object()?
        .iter()
        .take(64)
        .filter_map(|(k, v)| {
            Some((
                k.chars().take(64).collect(),
                crate::wallet::ElementValue::Text(v.as_str()?.chars().take(500).collect()),
            ))
        })
        .collect();
    Some((t, elements))
}
