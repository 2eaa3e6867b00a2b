//! FFI exports: cases (办件) — submit offline, sync, follow progress against the working-day deadline,
//! supply material, rate, complain. Thin: every rule lives in `zhangban_core::cases` / `sync::runner`.
//!
//! The shell implements [`CaseListener`] to turn [`CaseNotice`]s into notifications; they arrive from
//! the sync task after the change is stored.

use std::sync::{Arc, Mutex};

use chrono::NaiveDate;
use zhangban_core::calendar::{self, Calendar, Rules};
use zhangban_core::cases::{self, Case, Need, RatingLevel, Submission};
use zhangban_core::catalog::Catalog;
use zhangban_core::notify::{Listener, Notice, NoticeKind};
use zhangban_core::outbox;
use zhangban_core::store::Store;
use zhangban_core::sync::runner::{SyncConfig, SyncHandle, SyncRunner};
use zhangban_core::sync::{self, DeviceInfo, PlatformClient};
use zhangban_core::Error as CoreError;

use crate::error::{guard, ZhangbanError};
use crate::forms::ZhangbanDraft;
use crate::runtime::blocking;
use crate::store::ZhangbanStore;

/// Kinds of [`CaseNotice`]. `LicenceIssued`: the approval carries a licence, and again once the sync
/// loop put it in the wallet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum CaseNoticeKind {
    Receipt,
    StateChanged,
    SupplementRequested,
    LicenceIssued,
    Refused,
}

/// Something the shell may show as a notification.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct CaseNotice {
    pub kind: CaseNoticeKind,
    pub case_id: String,
    pub state: String,
    pub title_zh: String,
    pub title_en: String,
    pub body_zh: String,
    pub body_en: String,
    pub at: i64,
}

impl From<Notice> for CaseNotice {
    fn from(n: Notice) -> Self {
        let kind = match n.kind {
            NoticeKind::Receipt => CaseNoticeKind::Receipt,
            NoticeKind::StateChanged => CaseNoticeKind::StateChanged,
            NoticeKind::SupplementRequested => CaseNoticeKind::SupplementRequested,
            NoticeKind::LicenceIssued => CaseNoticeKind::LicenceIssued,
            NoticeKind::Refused => CaseNoticeKind::Refused,
        };
        CaseNotice {
            kind,
            case_id: n.case_id,
            state: n.state,
            title_zh: n.title_zh,
            title_en: n.title_en,
            body_zh: n.body_zh,
            body_en: n.body_en,
            at: n.at,
        }
    }
}

/// Implemented by the shell (Kotlin / Swift / Python) to hear of case changes.
#[uniffi::export(with_foreign)]
pub trait CaseListener: Send + Sync {
    fn on_notice(&self, notice: CaseNotice);
}

struct ForeignListener(Arc<dyn CaseListener>);

impl Listener for ForeignListener {
    fn on_notice(&self, notice: Notice) {
        let l = self.0.clone();
        // A panicking foreign callback must not take the sync task down.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || l.on_notice(notice.into())));
    }
}

/// What a completed draft converts into.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SubmissionInput {
    pub item_codes: Vec<String>,
    pub title: String,
    /// The form's field values, a JSON object.
    pub values_json: String,
    pub attachment_ids: Vec<String>,
    pub deferred_materials: Vec<String>,
    /// Whose case: `self_subject()` or an agent's principal.
    pub subject: String,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct CaseSummary {
    pub id: String,
    pub title: String,
    pub item_codes: Vec<String>,
    pub state: String,
    pub state_zh: String,
    pub state_en: String,
    pub receipt: Option<String>,
    pub created_at: i64,
    /// The platform refused it: the reason (shown with a way to fix and resubmit).
    pub problem: Option<String>,
    /// The form draft it was submitted from, if any.
    pub draft_id: Option<String>,
}

impl From<&Case> for CaseSummary {
    fn from(c: &Case) -> Self {
        CaseSummary {
            id: c.id.clone(),
            title: c.title.clone(),
            item_codes: c.item_codes.clone(),
            state: c.state.as_str().into(),
            state_zh: c.state.label_zh().into(),
            state_en: c.state.label_en().into(),
            receipt: c.receipt.clone(),
            created_at: c.created_at,
            problem: c.problem.as_ref().map(|p| p.message.clone()),
            draft_id: c.draft_id.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct TimelineItem {
    pub at: i64,
    pub actor: String,
    pub state: String,
    pub state_zh: String,
    pub state_en: String,
    pub note: String,
}

/// One thing needed now. `kind`: `supplement`, `deferred`, `fix`, `rate`.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct NeededItem {
    pub kind: String,
    pub text_zh: String,
    pub text_en: String,
    /// YYYY-MM-DD, when there is a due date.
    pub due: Option<String>,
    pub working_days_left: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct CaseProgress {
    pub case: CaseSummary,
    /// Promised completion date, YYYY-MM-DD (after acceptance).
    pub promised_date: Option<String>,
    pub working_days_left: Option<i64>,
    /// True when the date rests on a year without official calendar data (Mon–Fri assumed).
    pub provisional: bool,
    pub overdue: bool,
    pub needed_now: Vec<NeededItem>,
    pub timeline: Vec<TimelineItem>,
    /// The issued licence as the platform sent it (JSON), if any.
    pub licence_json: Option<String>,
    /// Its delivery into the wallet by the sync loop: `pending`, `imported`, `refused` (None: no licence).
    pub licence_delivery: Option<String>,
    /// The wallet's licence id once imported.
    pub wallet_licence_id: Option<String>,
}

fn need(n: &Need) -> NeededItem {
    match n {
        Need::Supplement { items, note, due, working_days_left } => NeededItem {
            kind: "supplement".into(),
            text_zh: format!(
                "请补正：{}{}",
                items.join("、"),
                if note.is_empty() { String::new() } else { format!("（{note}）") }
            ),
            text_en: format!("Supply: {}", items.join(", ")),
            due: Some(due.to_string()),
            working_days_left: Some(*working_days_left),
        },
        Need::Deferred { material, due, working_days_left } => NeededItem {
            kind: "deferred".into(),
            text_zh: format!("容缺材料待补交：{material}"),
            text_en: format!("Deferred material to supply: {material}"),
            due: Some(due.to_string()),
            working_days_left: Some(*working_days_left),
        },
        Need::Fix { message } => NeededItem {
            kind: "fix".into(),
            text_zh: format!("平台拒收，请修改后重新提交：{message}"),
            text_en: format!("Refused by the platform; change and resubmit: {message}"),
            due: None,
            working_days_left: None,
        },
        Need::Licence { message } => NeededItem {
            kind: "licence".into(),
            text_zh: format!("电子证照未能领取：{message}"),
            text_en: format!("The licence could not be issued: {message}"),
            due: None,
            working_days_left: None,
        },
        Need::Rate { until } => NeededItem {
            kind: "rate".into(),
            text_zh: "请对本次服务进行评价（好差评）".into(),
            text_en: "Please rate this service".into(),
            due: Some(until.to_string()),
            working_days_left: None,
        },
    }
}

/// Levels of 好差评.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum Rating {
    VerySatisfied,
    Satisfied,
    BasicallySatisfied,
    Dissatisfied,
    VeryDissatisfied,
}

impl From<Rating> for RatingLevel {
    fn from(r: Rating) -> Self {
        match r {
            Rating::VerySatisfied => RatingLevel::VerySatisfied,
            Rating::Satisfied => RatingLevel::Satisfied,
            Rating::BasicallySatisfied => RatingLevel::BasicallySatisfied,
            Rating::Dissatisfied => RatingLevel::Dissatisfied,
            Rating::VeryDissatisfied => RatingLevel::VeryDissatisfied,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SyncReport {
    pub sent: u32,
    pub receipts: u32,
    pub quarantined: u32,
    pub failures: u32,
    pub events_applied: u32,
    pub offline: bool,
    pub remaining: u32,
    /// Licences of approved cases the sync loop imported into the wallet.
    pub licences_imported: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct QuarantinedOp {
    pub op_id: String,
    pub case_id: String,
    pub kind: String,
    pub status: u16,
    pub reason: String,
}

fn parse_day(s: Option<String>) -> Result<NaiveDate, CoreError> {
    match s {
        None => Ok(chrono::Local::now().date_naive()),
        Some(s) => calendar::parse_date("today", &s),
    }
}

fn parse_json(s: &str, field: &str) -> Result<serde_json::Value, CoreError> {
    if s.len() > cases::MAX_VALUES_BYTES {
        return Err(CoreError::validation(field, "内容过大。", "too large."));
    }
    serde_json::from_str(s)
        .map_err(|e| CoreError::validation(field, format!("不是合法的 JSON：{e}"), format!("not JSON: {e}")))
}

/// Whether this store's device is registered with a platform (`ZhangbanCases.register_device`).
#[uniffi::export]
pub fn device_registered(store: Arc<ZhangbanStore>) -> Result<bool, ZhangbanError> {
    guard(|| Ok(sync::registration(store.core())?.is_some()))
}

/// Applications of one store, synced with one platform.
#[derive(uniffi::Object)]
pub struct ZhangbanCases {
    store: Arc<Store>,
    runner: Arc<SyncRunner>,
    base_url: String,
    background: Mutex<Option<SyncHandle>>,
}

#[uniffi::export]
impl ZhangbanCases {
    /// `base_url`: the platform, e.g. `https://zwfw.example.gov.cn`. `listener`: hears of changes.
    #[uniffi::constructor]
    pub fn new(
        store: Arc<ZhangbanStore>,
        base_url: String,
        listener: Option<Arc<dyn CaseListener>>,
    ) -> Result<Arc<Self>, ZhangbanError> {
        guard(|| {
            let l: Arc<dyn Listener> = match listener {
                Some(l) => Arc::new(ForeignListener(l)),
                None => Arc::new(zhangban_core::notify::NoListener),
            };
            let runner = SyncRunner::new(store.core().clone(), SyncConfig::new(base_url.clone()), l)?;
            Ok(Arc::new(ZhangbanCases { store: store.core().clone(), runner, base_url, background: Mutex::new(None) }))
        })
    }

    /// Submits (works offline): the case and its outbox operation are stored together; sync sends it.
    pub fn submit(&self, input: SubmissionInput) -> Result<CaseSummary, ZhangbanError> {
        guard(|| {
            let sub = Submission {
                item_codes: input.item_codes,
                title: input.title,
                values: parse_json(&input.values_json, "values_json")?,
                attachments: input.attachment_ids,
                deferred_materials: input.deferred_materials,
                ..Default::default()
            };
            let c = cases::submit(&self.store, &input.subject, &sub)?;
            self.runner.nudge();
            Ok(CaseSummary::from(&c))
        })
    }

    /// All cases, newest first.
    /// Submits a completed draft (works offline): the case, its outbox operation and the draft marked
    /// submitted are stored together, and the profile learns the values typed into it. A draft with
    /// problems gives a validation error naming the first; submitting it again returns the same case.
    pub fn submit_draft(&self, draft: Arc<ZhangbanDraft>) -> Result<CaseSummary, ZhangbanError> {
        let c = draft.with(|s| {
            let catalog = Catalog::current(s.store())?;
            cases::submit_draft(s, &catalog)
        })?;
        self.runner.nudge();
        Ok(CaseSummary::from(&c))
    }

    pub fn list(&self) -> Result<Vec<CaseSummary>, ZhangbanError> {
        guard(|| Ok(cases::list(&self.store, None)?.iter().map(CaseSummary::from).collect()))
    }

    /// Where a case stands on `today` (YYYY-MM-DD; `None`: the phone's date).
    pub fn progress(&self, case_id: String, today: Option<String>) -> Result<CaseProgress, ZhangbanError> {
        guard(|| {
            let c = cases::get(&self.store, &case_id)?;
            let cal = calendar::update::load(&self.store).unwrap_or_else(|_| (*Calendar::bundled()).clone());
            let p = cases::progress(&c, &cal, &Rules::default(), parse_day(today)?)?;
            let provisional = p.promised_date.as_ref().is_some_and(|d| d.provisional)
                || p.working_days_left.as_ref().is_some_and(|d| d.provisional);
            Ok(CaseProgress {
                case: CaseSummary::from(&c),
                promised_date: p.promised_date.map(|d| d.value.to_string()),
                working_days_left: p.working_days_left.map(|d| d.value),
                provisional,
                overdue: p.overdue,
                needed_now: p.needed_now.iter().map(need).collect(),
                timeline: p
                    .timeline
                    .into_iter()
                    .map(|e| TimelineItem {
                        at: e.at,
                        actor: e.actor,
                        state: e.state.as_str().into(),
                        state_zh: e.state.label_zh().into(),
                        state_en: e.state.label_en().into(),
                        note: e.note,
                    })
                    .collect(),
                licence_json: c.licence.as_ref().map(|l| l.to_string()),
                licence_delivery: c.licence_delivery.as_ref().map(|d| d.as_str().to_string()),
                wallet_licence_id: match &c.licence_delivery {
                    Some(cases::LicenceDelivery::Imported { licence_id, .. }) => Some(licence_id.clone()),
                    _ => None,
                },
            })
        })
    }

    /// Supplies what a 补正 request or a 容缺 commitment asked for (queued offline).
    pub fn supply(
        &self,
        case_id: String,
        values_json: String,
        attachment_ids: Vec<String>,
        note: String,
    ) -> Result<(), ZhangbanError> {
        guard(|| {
            cases::supply(&self.store, &case_id, parse_json(&values_json, "values_json")?, &attachment_ids, &note)?;
            self.runner.nudge();
            Ok(())
        })
    }

    /// Rates a completed case; `Dissatisfied` and `VeryDissatisfied` need a reason.
    pub fn rate(&self, case_id: String, rating: Rating, reason: Option<String>) -> Result<(), ZhangbanError> {
        guard(|| {
            let today = chrono::Local::now().date_naive();
            cases::rate(&self.store, &Rules::default(), &case_id, rating.into(), reason.as_deref(), today)?;
            self.runner.nudge();
            Ok(())
        })
    }

    /// A complaint (办不成事 反映) about a case; returns its id.
    pub fn complain(&self, case_id: String, text: String) -> Result<String, ZhangbanError> {
        guard(|| {
            let id = cases::complain(&self.store, &case_id, &text)?;
            self.runner.nudge();
            Ok(id)
        })
    }

    /// Operations the platform refused, with reasons.
    pub fn quarantined(&self) -> Result<Vec<QuarantinedOp>, ZhangbanError> {
        guard(|| {
            Ok(outbox::quarantined(&self.store)?
                .into_iter()
                .map(|o| {
                    let p = o.problem.clone();
                    QuarantinedOp {
                        op_id: o.id,
                        case_id: o.case_id,
                        kind: o.kind.as_str().into(),
                        status: p.as_ref().map(|p| p.status).unwrap_or(0),
                        reason: p.map(|p| p.message).unwrap_or_default(),
                    }
                })
                .collect())
        })
    }

    /// Sends a submission the platform refused again, changed (one transaction, new idempotency key).
    /// `values_json`: a JSON merge patch over the old values, or with `replace_values` the new values;
    /// `None` keeps them. `item_codes` / `attachment_ids`: `None` keeps the old ones.
    pub fn resubmit(
        &self,
        case_id: String,
        values_json: Option<String>,
        replace_values: bool,
        item_codes: Option<Vec<String>>,
        attachment_ids: Option<Vec<String>>,
    ) -> Result<CaseSummary, ZhangbanError> {
        guard(|| {
            let values = match values_json {
                None => cases::ValuesChange::Keep,
                Some(s) if replace_values => cases::ValuesChange::Replace(parse_json(&s, "values_json")?),
                Some(s) => cases::ValuesChange::Patch(parse_json(&s, "values_json")?),
            };
            let fix = cases::Fix { item_codes, title: None, values, attachments: attachment_ids };
            let c = cases::resubmit(&self.store, &case_id, &fix)?;
            self.runner.nudge();
            Ok(CaseSummary::from(&c))
        })
    }

    /// Gives up what the platform refused for this case (a refused submission: the case is withdrawn).
    pub fn discard_refused(&self, case_id: String, reason: String) -> Result<CaseSummary, ZhangbanError> {
        guard(|| Ok(CaseSummary::from(&cases::discard(&self.store, &case_id, &reason)?)))
    }

    /// Operations waiting to be sent.
    pub fn pending_count(&self) -> Result<u32, ZhangbanError> {
        guard(|| Ok(outbox::pending(&self.store)?.len() as u32))
    }

    /// Wakes the background sync (the network came back).
    pub fn nudge(&self) {
        self.runner.nudge();
    }
}

#[uniffi::export(async_runtime = "tokio")]
impl ZhangbanCases {
    /// Registers this device with the platform (needed once before sync; keeps the token encrypted).
    pub async fn register_device(
        &self,
        platform: String,
        model: String,
        app_version: String,
    ) -> Result<String, ZhangbanError> {
        crate::runtime::exit_safe(async move {
            let store = self.store.clone();
            let key = blocking(move || sync::device_key(&store)).await?;
            let info = DeviceInfo { public_key: key.public_key_hex(), platform, model, app_version };
            let client = PlatformClient::new(&self.base_url)?;
            let reg = client.register_device(&self.store, &info).await?;
            Ok(reg.device_id)
        })
        .await
    }

    /// One sync run now (send, then pull events).
    pub async fn sync_now(&self) -> SyncReport {
        crate::runtime::exit_safe(async move {
            let r = self.runner.run_once().await;
            SyncReport {
                sent: r.sent,
                receipts: r.receipts,
                quarantined: r.quarantined,
                failures: r.failures,
                events_applied: r.events_applied,
                offline: r.offline,
                remaining: r.remaining,
                licences_imported: r.licences_imported,
            }
        })
        .await
    }

    /// Starts the background sync loop (backoff when offline, idle wait otherwise). Idempotent.
    pub async fn start_background_sync(&self) {
        crate::runtime::exit_safe(async move {
            let mut g = self.background.lock().unwrap_or_else(|p| p.into_inner());
            if g.is_none() {
                *g = Some(self.runner.spawn());
            }
        })
        .await
    }

    /// Stops the background sync loop and waits for it.
    pub async fn stop_background_sync(&self) {
        crate::runtime::exit_safe(async move {
            let h = self.background.lock().unwrap_or_else(|p| p.into_inner()).take();
            if let Some(h) = h {
                h.stop().await;
            }
        })
        .await
    }
}

/// The 容缺 (deferred material) limit for an item promised in `promised_limit` working days.
#[uniffi::export]
pub fn deferred_limit_days(promised_limit: u32) -> u32 {
    Rules::default().deferred_limit(promised_limit)
}

/// `n` working days after `start` (YYYY-MM-DD, 1900-01-01 to 9999-12-31) by the bundled official
/// calendar; `provisional` is true when a year without official data was assumed Monday–Friday. An
/// invalid date is a `Validation` error on field `start`; a result after 9999-12-31 one on field `n`.
#[uniffi::export]
pub fn add_working_days(start: String, n: u32) -> Result<WorkingDate, ZhangbanError> {
    guard(|| {
        let d = calendar::parse_date("start", &start)?;
        let r = Calendar::bundled().add_working_days(d, n, &[])?;
        Ok(WorkingDate { date: r.value.to_string(), provisional: r.provisional })
    })
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct WorkingDate {
    pub date: String,
    pub provisional: bool,
}

/// Whether `date` (YYYY-MM-DD) is a working day by the bundled official calendar (调休 workdays
/// included); `holiday_zh` names the official holiday it falls in, if any.
#[uniffi::export]
pub fn is_workday(date: String) -> Result<WorkdayInfo, ZhangbanError> {
    guard(|| {
        let d = calendar::parse_date("date", &date)?;
        let cal = Calendar::bundled();
        let r = cal.is_working_day(d);
        Ok(WorkdayInfo {
            working: r.value,
            provisional: r.provisional,
            holiday_zh: cal.holiday_name(d).map(String::from),
        })
    })
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct WorkdayInfo {
    pub working: bool,
    pub provisional: bool,
    pub holiday_zh: Option<String>,
}

/// Working days in `(from, to]` (YYYY-MM-DD each), negative when `to` is before `from`.
#[uniffi::export]
pub fn working_days_between(from: String, to: String) -> Result<WorkingDays, ZhangbanError> {
    guard(|| {
        let a = calendar::parse_date("from", &from)?;
        let b = calendar::parse_date("to", &to)?;
        let r = Calendar::bundled().working_days_between(a, b, &[])?;
        Ok(WorkingDays { days: r.value, provisional: r.provisional })
    })
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct WorkingDays {
    pub days: i64,
    pub provisional: bool,
}
