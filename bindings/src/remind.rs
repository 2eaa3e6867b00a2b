//! FFI exports: reminders and the 待办 home. Thin: every rule, text, lead time and the clock live in
//! `zhangban_core::remind` (its `Reminder`, `Plan`, `Home`, `Settings` cross as they are).
//!
//! [`ZhangbanReminders`]: the plan for the OS (pending notifications and the add / replace / cancel diff,
//! the next wake-up), the home in one call, the settings (quiet hours, lead times), the channels to register,
//! and the actions (open the renewal draft, 催办). `ZhangbanCases.run_background` is what the OS's background
//! task (WorkManager / BGAppRefreshTask) calls: sync, then a new plan; with a [`ReminderListener`] set, the
//! sync loop plans again after every sync that changed something and hands the plan to it.

use std::sync::Arc;
use std::time::Duration;

use zhangban_core::remind::{self, Home, Plan, Settings};
use zhangban_core::store::Store;
use zhangban_core::sync::runner::{BackgroundReport, PlanListener};

use crate::cases::ZhangbanCases;
use crate::error::{guard, ZhangbanError};
use crate::forms::ZhangbanDraft;
use crate::store::ZhangbanStore;

/// The reminders of one store.
#[derive(uniffi::Object)]
pub struct ZhangbanReminders {
    store: Arc<ZhangbanStore>,
}

impl ZhangbanReminders {
    fn core(&self) -> &Arc<Store> {
        self.store.core()
    }
}

#[uniffi::export]
impl ZhangbanReminders {
    #[uniffi::constructor]
    pub fn new(store: Arc<ZhangbanStore>) -> Arc<Self> {
        Arc::new(ZhangbanReminders { store })
    }

    /// Plans at the store's clock time: what to schedule, the diff since the last plan, the next wake-up.
    pub fn plan(&self) -> Result<Plan, ZhangbanError> {
        guard(|| remind::plan(self.core()))
    }

    /// Forgets the last plan (after a reinstall, or when the OS dropped the notifications): the next plan
    /// hands everything over as `add`, with the same ids.
    pub fn reset_plan(&self) -> Result<(), ZhangbanError> {
        guard(|| remind::reset_plan(self.core()))
    }

    /// The 待办 home in one call.
    pub fn home(&self) -> Result<Home, ZhangbanError> {
        guard(|| remind::home(self.core()))
    }

    pub fn settings(&self) -> Result<Settings, ZhangbanError> {
        guard(|| remind::settings(self.core()))
    }

    /// Changes quiet hours, lead times and bounds (validated: the error names the field).
    pub fn set_settings(&self, settings: Settings) -> Result<(), ZhangbanError> {
        guard(|| remind::set_settings(self.core(), &settings))
    }

    /// The renewal draft of an expiring licence (the same draft again while it is not submitted).
    pub fn open_renewal(&self, licence_id: String) -> Result<Arc<ZhangbanDraft>, ZhangbanError> {
        let id = guard(|| remind::open_renewal(self.core(), &licence_id))?;
        ZhangbanDraft::resume(self.store.clone(), id)
    }

    /// 催办: queues the urge of an overdue case in the outbox.
    pub fn urge(&self, case_id: String) -> Result<(), ZhangbanError> {
        guard(|| remind::urge(self.core(), &case_id))
    }
}

/// Implemented by the shell: applies the diff of a plan the sync loop made after a sync changed something.
#[uniffi::export(with_foreign)]
pub trait ReminderListener: Send + Sync {
    fn on_plan(&self, plan: Plan);
}

struct ForeignPlans(Arc<dyn ReminderListener>);

impl PlanListener for ForeignPlans {
    fn on_plan(&self, plan: Plan) {
        self.0.on_plan(plan)
    }
}

#[uniffi::export(async_runtime = "tokio")]
impl ZhangbanCases {
    /// Who applies the plans the sync loop (and `sync_now`) make when a sync changed something; none: no
    /// plan is made there (the next `ZhangbanReminders.plan` has the diff).
    pub fn set_reminder_listener(&self, listener: Option<Arc<dyn ReminderListener>>) {
        self.runner.set_plan_listener(listener.map(|l| Arc::new(ForeignPlans(l)) as Arc<dyn PlanListener>));
    }

    /// The OS's background task: one sync run ending within `budget_ms` (catalog and calendar updates
    /// included), its notices as reminders, and a new plan.
    pub async fn run_background(&self, budget_ms: u64) -> BackgroundReport {
        crate::runtime::exit_safe(async move { self.runner.run_background(Duration::from_millis(budget_ms)).await })
            .await
    }
}
