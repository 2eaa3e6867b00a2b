//! FFI exports: cases (办件) — submit offline, sync, follow progress against the working-day deadline,
//! supply material, rate, complain. Thin: every rule, text and record lives in `zhangban_core::cases` /
//! `sync` (the types crossing here are the core's own: `CaseSummary`, `CaseView`, `RunReport`, `Notice`…).
//!
//! The shell implements [`CaseListener`] to turn [`Notice`]s into notifications; they arrive from
//! the sync task after the change is stored.

use std::sync::{Arc, Mutex};

use zhangban_core::calendar::{Calendar, WorkdayInfo, WorkingDate, WorkingDays};
use zhangban_core::cases::{self, CaseSummary, CaseView, RatingLevel, Submission};
use zhangban_core::notify::{Listener, NoListener, Notice};
use zhangban_core::outbox;
use zhangban_core::store::{Store, SELF_SUBJECT};
use zhangban_core::sync::runner::{RunReport, SyncConfig, SyncHandle, SyncRunner};
use zhangban_core::sync::{self, QuarantinedOp};
use zhangban_core::Error as CoreError;
use zhangban_core::{agent::agent, catalog::Catalog};

use crate::error::{guard, ZhangbanError};
use crate::forms::ZhangbanDraft;
use crate::store::ZhangbanStore;

/// Implemented by the shell (Kotlin / Swift / Python) to hear of case changes.
#[uniffi::export(with_foreign)]
pub trait CaseListener: Send + Sync {
    fn on_notice(&self, notice: Notice);
}

struct ForeignListener(Arc<dyn CaseListener>);

impl Listener for ForeignListener {
    fn on_notice(&self, notice: Notice) {
        let l = self.0.clone();
        // A panicking foreign callback must not take the sync task down.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || l.on_notice(notice)));
    }
}

/// Whether this store's device is registered with a platform (`ZhangbanCases.register_device`).
#[uniffi::export]
pub fn device_registered(store: Arc<ZhangbanStore>) -> Result<bool, ZhangbanError> {
    guard(|| sync::is_registered(store.core()))
}

/// Applications of one store, synced with one platform.
#[derive(uniffi::Object)]
pub struct ZhangbanCases {
    store: Arc<Store>,
    pub(crate) runner: Arc<SyncRunner>,
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
            let l = listener.map_or(Arc::new(NoListener) as Arc<dyn Listener>, |l| Arc::new(ForeignListener(l)) as _);
            let runner = SyncRunner::new(store.core().clone(), SyncConfig::new(base_url.clone()), l)?;
            Ok(Arc::new(ZhangbanCases { store: store.core().clone(), runner, base_url, background: Mutex::new(None) }))
        })
    }

    /// Submits for `subject` (works offline): the case and its outbox operation are stored together; sync
    /// sends it.
    pub fn submit(&self, subject: String, submission: Submission) -> Result<CaseSummary, ZhangbanError> {
        self.queued(|| Ok(CaseSummary::from(&cases::submit(&self.store, &subject, &submission)?)))
    }

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

    /// The cases of one subject (`None`: the owner's), newest first; principals' cases never mix.
    pub fn list(&self, subject: Option<String>) -> Result<Vec<CaseSummary>, ZhangbanError> {
        guard(|| cases::list_summaries(&self.store, subject.as_deref().unwrap_or(SELF_SUBJECT)))
    }

    /// The case screen today (the store clock's day). A principal's case (an agent's phone) opens only under
    /// the mandate (scope `follow`, audited): `PermissionDenied` once revoked.
    pub fn view(&self, case_id: String) -> Result<CaseView, ZhangbanError> {
        guard(|| agent::view_case(&self.store, &case_id))
    }

    /// Supplies what a 补正 request or a 容缺 commitment asked for (queued offline). A principal's case (an
    /// agent's phone) goes through agent mode: its mandate's scope `submit`, audited.
    pub fn supply(
        &self,
        case_id: String,
        values: serde_json::Value,
        attachment_ids: Vec<String>,
        note: String,
    ) -> Result<(), ZhangbanError> {
        self.queued(|| agent::supply_case(&self.store, &case_id, values, &attachment_ids, &note))
    }

    /// Rates a completed case; `Dissatisfied` and `VeryDissatisfied` need a reason.
    pub fn rate(&self, case_id: String, level: RatingLevel, reason: Option<String>) -> Result<(), ZhangbanError> {
        self.queued(|| cases::rate_today(&self.store, &case_id, level, reason.as_deref()))
    }

    /// A complaint (办不成事 反映) about a case; returns its id.
    pub fn complain(&self, case_id: String, text: String) -> Result<String, ZhangbanError> {
        self.queued(|| cases::complain(&self.store, &case_id, &text))
    }

    /// Operations the platform refused, with reasons.
    pub fn quarantined(&self) -> Result<Vec<QuarantinedOp>, ZhangbanError> {
        guard(|| sync::quarantined_ops(&self.store))
    }

    /// Sends a submission the platform refused again, changed (one transaction, new idempotency key).
    /// `values`: a JSON merge patch over the old values, or with `replace_values` the new values; `None`
    /// keeps them. `item_codes` / `attachment_ids`: `None` keeps the old ones. A principal's case through agent
    /// mode, as `supply`.
    pub fn resubmit(
        &self,
        case_id: String,
        values: Option<serde_json::Value>,
        replace_values: bool,
        item_codes: Option<Vec<String>>,
        attachment_ids: Option<Vec<String>>,
    ) -> Result<CaseSummary, ZhangbanError> {
        let fix = cases::Fix::new(values, replace_values, item_codes, attachment_ids);
        self.queued(|| Ok(CaseSummary::from(&agent::resubmit_case(&self.store, &case_id, &fix)?)))
    }

    /// Gives up what the platform refused for this case (a refused submission: the case is withdrawn).
    pub fn discard_refused(&self, case_id: String, reason: String) -> Result<CaseSummary, ZhangbanError> {
        guard(|| Ok(CaseSummary::from(&cases::discard(&self.store, &case_id, &reason)?)))
    }

    /// Operations waiting to be sent (an ended principal's are not: ADR 0045).
    pub fn pending_count(&self) -> Result<u32, ZhangbanError> {
        guard(|| outbox::waiting_count(&self.store))
    }

    /// Wakes the background sync (the network came back).
    pub fn nudge(&self) {
        self.runner.nudge();
    }
}

impl ZhangbanCases {
    /// Runs a call that queued work for the platform, then wakes the sync.
    fn queued<T>(&self, f: impl FnOnce() -> Result<T, CoreError>) -> Result<T, ZhangbanError> {
        let r = guard(f)?;
        self.runner.nudge();
        Ok(r)
    }
}

#[uniffi::export(async_runtime = "tokio")]
impl ZhangbanCases {
    /// Registers this device with the platform (needed once before sync; keeps the token encrypted). The key
    /// registered is the device key the core decides: the platform key offered for the session
    /// (`ZhangbanStore.offer_device_signer`, StrongBox / Secure Enclave), unless the store already has its own.
    pub async fn register_device(
        &self,
        platform: String,
        model: String,
        app_version: String,
    ) -> Result<String, ZhangbanError> {
        crate::runtime::exit_safe(async move {
            Ok(sync::register_device(&self.store, &self.base_url, platform, model, app_version, None).await?)
        })
        .await
    }

    /// One sync run now (send, then pull events).
    pub async fn sync_now(&self) -> RunReport {
        crate::runtime::exit_safe(async move { self.runner.run_once().await }).await
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

/// `n` working days after `start` (YYYY-MM-DD, 1900-01-01 to 9999-12-31) by the bundled official
/// calendar; `provisional` is true when a year without official data was assumed Monday–Friday. An
/// invalid date is a `Validation` error on field `start`; a result after 9999-12-31 one on field `n`.
#[uniffi::export]
pub fn add_working_days(start: String, n: u32) -> Result<WorkingDate, ZhangbanError> {
    guard(|| Calendar::bundled().add_working_days_text(&start, n))
}

/// Whether `date` (YYYY-MM-DD) is a working day by the bundled official calendar (调休 workdays
/// included); `holiday_zh` names the official holiday it falls in, if any.
#[uniffi::export]
pub fn is_workday(date: String) -> Result<WorkdayInfo, ZhangbanError> {
    guard(|| Calendar::bundled().workday_info(&date))
}

/// Working days in `(from, to]` (YYYY-MM-DD each), negative when `to` is before `from`.
#[uniffi::export]
pub fn working_days_between(from: String, to: String) -> Result<WorkingDays, ZhangbanError> {
    guard(|| Calendar::bundled().working_days_between_text(&from, &to))
}
