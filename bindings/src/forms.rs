//! FFI exports: catalog (search, one-time checklist), profiles, and form drafts.
//!
//! Thin: every rule lives in `zhangban_core::catalog` and `zhangban_core::forms`. Field values cross the
//! boundary as JSON text (`"\"王晓明\""`, `"12.5"`, `"[\"official\"]"`, `"null"` to clear), because a
//! form holds text, numbers, dates, choices and lists alike; everything else is typed records.

use std::sync::{Arc, Mutex};

use zhangban_core::catalog::Catalog;
use zhangban_core::forms::checklist::{self, EntryKind};
use zhangban_core::forms::draft::{FieldView, MaterialStatus};
use zhangban_core::forms::profile::{HeldLicence, LicenceSource};
use zhangban_core::forms::session;
use zhangban_core::forms::{AutofillOptions, Editor, MaterialChoice, Profile, Provenance, Session, Severity};
use zhangban_core::store::Store;
use zhangban_core::Error as CoreError;

use crate::error::{guard, ZhangbanError};
use crate::store::ZhangbanStore;

fn parse_json(text: &str, field: &str) -> Result<serde_json::Value, CoreError> {
    if text.len() > 64 * 1024 {
        return Err(CoreError::validation(field, "内容过长", "value too long"));
    }
    serde_json::from_str(text)
        .map_err(|_| CoreError::validation(field, "值不是有效的 JSON", "the value is not valid JSON"))
}

/// The licences the wallet in this store holds (none if the wallet is not set up).
fn held(store: &Arc<Store>, subject: &str) -> Vec<HeldLicence> {
    let has_licences = store.list(zhangban_core::wallet::LICENCE_COLLECTION, None).is_ok_and(|l| !l.is_empty());
    if !has_licences {
        return Vec::new();
    }
    zhangban_core::wallet::Wallet::open(store.clone()).and_then(|w| w.held(subject)).unwrap_or_default()
}

#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct CatalogHit {
    pub code: String,
    pub is_bundle: bool,
    pub name_zh: String,
    pub name_en: String,
    pub score: u32,
}

/// Searches the service catalog offline (Chinese substrings, keywords, English names).
#[uniffi::export]
pub fn catalog_search(store: Arc<ZhangbanStore>, query: String, limit: u32) -> Result<Vec<CatalogHit>, ZhangbanError> {
    guard(|| {
        let c = Catalog::current(store.core())?;
        Ok(c.search(&query, limit.min(200) as usize)
            .into_iter()
            .map(|h| CatalogHit {
                code: h.code,
                is_bundle: h.bundle,
                name_zh: h.name_zh,
                name_en: h.name_en,
                score: h.score,
            })
            .collect())
    })
}

/// A service item or bundle as JSON (the catalog's own format, see docs/forms.md).
#[uniffi::export]
pub fn catalog_entry_json(store: Arc<ZhangbanStore>, code: String) -> Result<String, ZhangbanError> {
    guard(|| {
        let c = Catalog::current(store.core())?;
        let v = match c.target(&code)? {
            zhangban_core::catalog::Target::Item(i) => serde_json::to_string(i)?,
            zhangban_core::catalog::Target::Bundle(b) => serde_json::to_string(b)?,
        };
        Ok(v)
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ChecklistKind {
    Attach,
    AttachOrCommit,
    Deferrable,
    Optional,
    Exempt,
    Fill,
    Confirm,
    Condition,
}

#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ChecklistLine {
    pub kind: ChecklistKind,
    pub key: String,
    pub title_zh: String,
    pub title_en: String,
    pub why_zh: String,
    pub why_en: String,
}

#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ChecklistInfo {
    pub code: String,
    pub name_zh: String,
    pub name_en: String,
    pub lines: Vec<ChecklistLine>,
    pub fees: f64,
    pub promised_days: u32,
    pub legal_days: u32,
    /// The whole checklist as Chinese text.
    pub text_zh: String,
}

fn checklist_info(c: checklist::Checklist) -> ChecklistInfo {
    let text_zh = c.text_zh();
    ChecklistInfo {
        code: c.code,
        name_zh: c.name.zh,
        name_en: c.name.en,
        lines: c
            .entries
            .into_iter()
            .map(|e| ChecklistLine {
                kind: match e.kind {
                    EntryKind::Attach => ChecklistKind::Attach,
                    EntryKind::AttachOrCommit => ChecklistKind::AttachOrCommit,
                    EntryKind::Deferrable => ChecklistKind::Deferrable,
                    EntryKind::Optional => ChecklistKind::Optional,
                    EntryKind::Exempt => ChecklistKind::Exempt,
                    EntryKind::Fill => ChecklistKind::Fill,
                    EntryKind::Confirm => ChecklistKind::Confirm,
                    EntryKind::Condition => ChecklistKind::Condition,
                },
                key: e.key,
                title_zh: e.title.zh,
                title_en: e.title.en,
                why_zh: e.why.zh,
                why_en: e.why.en,
            })
            .collect(),
        fees: c.fees,
        promised_days: c.promised_days,
        legal_days: c.legal_days,
        text_zh,
    }
}

/// 一次性告知 for an item or bundle and this person (their profile and licences), before any draft.
#[uniffi::export]
pub fn catalog_checklist(
    store: Arc<ZhangbanStore>,
    subject: String,
    code: String,
) -> Result<ChecklistInfo, ZhangbanError> {
    guard(|| {
        let s = store.core();
        let c = Catalog::current(s)?;
        let profile = Profile::load(s, &subject)?;
        let lic = held(s, &subject);
        Ok(checklist_info(checklist::for_person(
            &c,
            &code,
            &subject,
            &profile,
            &lic,
            &AutofillOptions::at(s.clock().as_ref()),
        )?))
    })
}

/// Saves a value the person typed into their profile (`person.phone`, `family.spouse.name`, …).
#[uniffi::export]
pub fn profile_set(
    store: Arc<ZhangbanStore>,
    subject: String,
    path: String,
    value_json: String,
) -> Result<(), ZhangbanError> {
    guard(|| {
        let s = store.core();
        let mut p = Profile::load(s, &subject)?;
        p.set(&path, parse_json(&value_json, &path)?, Provenance::Profile { entered_at: now_secs() })?;
        p.save(s, &subject)
    })
}

/// The profile with every value's provenance, as JSON.
#[uniffi::export]
pub fn profile_json(store: Arc<ZhangbanStore>, subject: String) -> Result<String, ZhangbanError> {
    guard(|| Ok(serde_json::to_string(&Profile::load(store.core(), &subject)?)?))
}

#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct DraftSummary {
    pub id: String,
    pub subject: String,
    pub target: String,
    pub updated_at: i64,
    pub submitted: bool,
}

/// Drafts of a subject (all with `None`), newest first.
#[uniffi::export]
pub fn drafts_list(store: Arc<ZhangbanStore>, subject: Option<String>) -> Result<Vec<DraftSummary>, ZhangbanError> {
    guard(|| {
        Ok(session::list(store.core(), subject.as_deref())?
            .into_iter()
            .map(|d| DraftSummary {
                id: d.id,
                subject: d.subject,
                target: d.target,
                updated_at: d.updated_at,
                submitted: d.submitted,
            })
            .collect())
    })
}

/// Deletes unsubmitted drafts untouched for more than `days` days; returns how many.
#[uniffi::export]
pub fn drafts_purge(store: Arc<ZhangbanStore>, days: u32) -> Result<u32, ZhangbanError> {
    guard(|| Ok(session::purge_unsubmitted(store.core(), days, now_secs())? as u32))
}

#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct FillSummary {
    pub fields_total: u32,
    pub fields_filled: u32,
    pub fields_verified: u32,
    pub fields_left: u32,
    pub required_left: u32,
    pub needs_confirmation: u32,
    pub materials_total: u32,
    pub materials_exempt: u32,
    pub materials_attached: u32,
    pub materials_deferrable: u32,
    pub materials_commitment: u32,
    pub materials_missing: u32,
    pub materials_optional: u32,
}

#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct FormIssue {
    /// Field path (`applicant.phone`, `household.members[2].id_number`) or `material:CODE`.
    pub path: String,
    /// `required`, `format`, `range`, `length`, `option`, `constraint`, `too_few`, `too_many`, `confirm`, `material`.
    pub code: String,
    /// True when it blocks submission (false: a warning, e.g. confirm an old value).
    pub blocking: bool,
    pub message_zh: String,
    pub message_en: String,
}

#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct MaterialInfo {
    pub code: String,
    pub name_zh: String,
    pub name_en: String,
    pub required: bool,
    /// `exempt`, `produced_in_bundle`, `attached`, `committed`, `deferred`, `deferrable`, `commitment`,
    /// `optional`, `missing`.
    pub status: String,
    /// The status as the person reads it.
    pub status_zh: String,
    pub status_en: String,
    /// The licence that exempts it, or the attachment.
    pub reference: Option<String>,
    /// For deferrable / deferred materials: supply within this many working days after acceptance.
    pub within_working_days: Option<u32>,
    pub blocks: bool,
}

#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct FieldInfo {
    pub path: String,
    /// The schema type name (`text`, `id_number`, `repeat`, …).
    pub kind: String,
    pub label_zh: String,
    pub label_en: String,
    pub help_zh: Option<String>,
    pub help_en: Option<String>,
    pub options: Vec<String>,
    pub visible: bool,
    pub computed: bool,
    pub value_json: String,
    /// `licence`, `profile`, `form`, `agent`, `computed`, or None when empty.
    pub source: Option<String>,
    /// Provenance as JSON (which licence as of when, who entered it when).
    pub provenance_json: Option<String>,
    pub locked: bool,
    pub confirm: bool,
    pub issues_zh: Vec<String>,
    pub issues_en: Vec<String>,
}

fn name_of(v: serde_json::Result<serde_json::Value>) -> String {
    v.ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

fn now_secs() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

fn field_info(v: FieldView) -> FieldInfo {
    let source = v.provenance.as_ref().map(|p| {
        match p {
            Provenance::Licence { .. } => "licence",
            Provenance::Profile { .. } => "profile",
            Provenance::Form { .. } => "form",
            Provenance::Agent { .. } => "agent",
            Provenance::Computed => "computed",
        }
        .to_string()
    });
    FieldInfo {
        path: v.path,
        kind: name_of(serde_json::to_value(v.kind)),
        label_zh: v.label.zh,
        label_en: v.label.en,
        help_zh: v.help.as_ref().map(|h| h.zh.clone()),
        help_en: v.help.map(|h| h.en),
        options: v.options.into_iter().map(|o| o.0).collect(),
        visible: v.visible,
        computed: v.computed,
        value_json: v.value.to_string(),
        source,
        provenance_json: v.provenance.and_then(|p| serde_json::to_string(&p).ok()),
        locked: v.locked,
        confirm: v.confirm,
        issues_zh: v.issues.iter().map(|t| t.zh.clone()).collect(),
        issues_en: v.issues.into_iter().map(|t| t.en).collect(),
    }
}

/// An open draft application: every edit is saved (encrypted) before the call returns.
#[derive(uniffi::Object)]
pub struct ZhangbanDraft {
    store: Arc<Store>,
    session: Mutex<Session>,
}

impl ZhangbanDraft {
    pub(crate) fn with<T>(&self, f: impl FnOnce(&mut Session) -> Result<T, CoreError>) -> Result<T, ZhangbanError> {
        guard(|| {
            let mut s = self.session.lock().map_err(|_| CoreError::Internal("draft lock poisoned".into()))?;
            f(&mut s)
        })
    }
}

#[uniffi::export]
impl ZhangbanDraft {
    /// Starts a draft for an item or bundle (`BD-BIRTH`, `GA-001`), autofilled from the subject's
    /// profile and the wallet's licences.
    #[uniffi::constructor]
    pub fn start(store: Arc<ZhangbanStore>, subject: String, target: String) -> Result<Arc<Self>, ZhangbanError> {
        guard(|| {
            let s = store.core().clone();
            let c = Catalog::current(&s)?;
            let lic = held(&s, &subject);
            let session =
                Session::start(s.clone(), &c, &subject, &target, &lic, &AutofillOptions::at(s.clock().as_ref()))?;
            Ok(Arc::new(ZhangbanDraft { store: s, session: Mutex::new(session) }))
        })
    }

    /// Reopens a saved draft (after the app was closed or killed) with every saved edit.
    #[uniffi::constructor]
    pub fn resume(store: Arc<ZhangbanStore>, draft_id: String) -> Result<Arc<Self>, ZhangbanError> {
        guard(|| {
            let s = store.core().clone();
            let c = Catalog::current(&s)?;
            let session = Session::resume(s.clone(), &c, &draft_id, s.today())?;
            Ok(Arc::new(ZhangbanDraft { store: s, session: Mutex::new(session) }))
        })
    }

    pub fn id(&self) -> Result<String, ZhangbanError> {
        self.with(|s| Ok(s.id().to_string()))
    }

    /// The case this draft was submitted as (`ZhangbanCases.submit_draft`), if it was.
    pub fn submitted_case_id(&self) -> Result<Option<String>, ZhangbanError> {
        self.with(|s| Ok(s.submitted_case().map(str::to_string)))
    }

    pub fn target(&self) -> Result<String, ZhangbanError> {
        self.with(|s| Ok(s.draft.target.clone()))
    }

    /// Sets a field (`value_json` is JSON; `null` clears). Locked and computed fields refuse.
    pub fn set(&self, path: String, value_json: String) -> Result<(), ZhangbanError> {
        self.with(|s| s.set(&path, parse_json(&value_json, &path)?, Editor::Person))
    }

    /// Sets a field on the person's behalf, recorded as entered by `agent`.
    pub fn set_as_agent(&self, path: String, value_json: String, agent: String) -> Result<(), ZhangbanError> {
        self.with(|s| s.set(&path, parse_json(&value_json, &path)?, Editor::Agent { agent }))
    }

    /// Confirms a prefilled value marked as possibly out of date.
    pub fn confirm(&self, path: String) -> Result<(), ZhangbanError> {
        self.with(|s| s.confirm(&path))
    }

    /// Adds an entry to a repeat group; returns its index.
    pub fn add_instance(&self, group: String) -> Result<u32, ZhangbanError> {
        self.with(|s| Ok(s.add_instance(&group)? as u32))
    }

    pub fn remove_instance(&self, group: String, index: u32) -> Result<(), ZhangbanError> {
        self.with(|s| s.remove_instance(&group, index as usize))
    }

    /// Attaches a store attachment (see `ZhangbanStore::write_attachment`) as a material.
    pub fn attach_material(&self, code: String, attachment_id: String) -> Result<(), ZhangbanError> {
        let store = self.store.clone();
        self.with(|s| {
            store.attachment_info(&attachment_id)?;
            s.set_material(&code, Some(MaterialChoice::Attached { attachment_id }))
        })
    }

    /// Signs a commitment (告知承诺) instead of a material, where the item allows it.
    pub fn commit_material(&self, code: String) -> Result<(), ZhangbanError> {
        self.with(|s| s.set_material(&code, Some(MaterialChoice::Committed { at: now_secs() })))
    }

    /// Chooses to supply a material later (容缺), where the item allows it.
    pub fn defer_material(&self, code: String) -> Result<(), ZhangbanError> {
        self.with(|s| s.set_material(&code, Some(MaterialChoice::Deferred { at: now_secs() })))
    }

    pub fn clear_material(&self, code: String) -> Result<(), ZhangbanError> {
        self.with(|s| s.set_material(&code, None))
    }

    /// The value at a path as JSON (`null` when empty).
    pub fn value_json(&self, path: String) -> Result<String, ZhangbanError> {
        self.with(|s| {
            s.draft.resolve(&path)?;
            Ok(s.draft.value(&path).map(|e| e.value.to_string()).unwrap_or_else(|| "null".into()))
        })
    }

    /// Every field, in order, as a screen shows it.
    pub fn fields(&self) -> Result<Vec<FieldInfo>, ZhangbanError> {
        self.with(|s| Ok(s.draft.view().into_iter().map(field_info).collect()))
    }

    /// Fields total / filled / verified / left and materials by status.
    pub fn summary(&self) -> Result<FillSummary, ZhangbanError> {
        self.with(|s| {
            let r = s.draft.report();
            let n = |x: usize| x as u32;
            Ok(FillSummary {
                fields_total: n(r.fields_total),
                fields_filled: n(r.fields_filled),
                fields_verified: n(r.fields_verified),
                fields_left: n(r.fields_left),
                required_left: n(r.required_left),
                needs_confirmation: n(r.needs_confirmation),
                materials_total: n(r.materials_total),
                materials_exempt: n(r.materials_exempt),
                materials_attached: n(r.materials_attached),
                materials_deferrable: n(r.materials_deferrable),
                materials_commitment: n(r.materials_commitment),
                materials_missing: n(r.materials_missing),
                materials_optional: n(r.materials_optional),
            })
        })
    }

    pub fn materials(&self) -> Result<Vec<MaterialInfo>, ZhangbanError> {
        self.with(|s| {
            Ok(s.draft
                .material_report()
                .into_iter()
                .map(|m| {
                    let (reference, days) = match &m.status {
                        MaterialStatus::Exempt { licence_id, .. } => (Some(licence_id.clone()), None),
                        MaterialStatus::ProducedInBundle { item } => (Some(item.clone()), None),
                        MaterialStatus::Attached { attachment_id } => (Some(attachment_id.clone()), None),
                        MaterialStatus::Deferred { within_working_days }
                        | MaterialStatus::Deferrable { within_working_days } => (None, Some(*within_working_days)),
                        _ => (None, None),
                    };
                    let label = m.status.label();
                    let status = serde_json::to_value(&m.status)
                        .ok()
                        .and_then(|v| v.get("status").and_then(|s| s.as_str()).map(str::to_string))
                        .unwrap_or_default();
                    MaterialInfo {
                        code: m.code,
                        name_zh: m.name.zh,
                        name_en: m.name.en,
                        required: m.required,
                        blocks: m.status.blocks(),
                        status_zh: label.zh,
                        status_en: label.en,
                        status,
                        reference,
                        within_working_days: days,
                    }
                })
                .collect())
        })
    }

    /// Every problem at once, each with its path and a message in Chinese and English.
    pub fn validate(&self) -> Result<Vec<FormIssue>, ZhangbanError> {
        self.with(|s| {
            Ok(s.validate()
                .into_iter()
                .map(|i| FormIssue {
                    path: i.path,
                    code: name_of(serde_json::to_value(i.code)),
                    blocking: i.severity == Severity::Error,
                    message_zh: i.message.zh,
                    message_en: i.message.en,
                })
                .collect())
        })
    }

    /// True when nothing blocks submission.
    pub fn is_complete(&self) -> Result<bool, ZhangbanError> {
        self.with(|s| Ok(s.draft.is_complete()))
    }

    /// The answers as JSON, for submission.
    pub fn answers_json(&self) -> Result<String, ZhangbanError> {
        self.with(|s| Ok(s.draft.answers().to_string()))
    }

    /// 一次性告知 for this draft: what is still needed, and why.
    pub fn checklist(&self) -> Result<ChecklistInfo, ZhangbanError> {
        let store = self.store.clone();
        self.with(|s| {
            let c = Catalog::current(&store)?;
            Ok(checklist_info(checklist::for_draft(&c, &s.draft)?))
        })
    }

    /// Deletes the draft and its saved edits.
    pub fn discard(&self) -> Result<(), ZhangbanError> {
        let store = self.store.clone();
        self.with(|s| session::discard(&store, s.id()))
    }
}
