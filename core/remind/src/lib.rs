//! Reminders (提醒): one engine for every deadline the person has, planned for the phone's schedulers, and
//! the 待办 home.
//!
//! * **Sources** ([`sources`]): each a rule over what the store holds, with its lead times as
//!   [`Settings`]: 容缺 and 补正 due dates (approaching, due today, missed), the promised completion date
//!   (approaching, overdue — with a 催办 action, [`zhangban_cases::urge`]), licence expiry (30 / 7 / 1 days,
//!   linking to the catalog's renewal item, [`open_renewal`]), licence grants about to expire, outgoing
//!   items stuck for a day or refused, a rating invitation after completion, and the working-day calendar
//!   running out (next year's holiday notice not yet synced: deadlines after it are provisional).
//! * **One type** ([`Reminder`]) for the notices of a sync ([`Reminder::from_notice`]) and for planned
//!   reminders: a stable id (the OS replaces, never duplicates), urgency, subject, zh/en title and body
//!   written here, a deep link.
//! * **The plan** ([`plan`]): at most 60 pending local notifications, soonest first, in a rolling window,
//!   outside quiet hours unless urgent, merged when several fall together, and the add / replace / cancel
//!   diff since the last plan (persisted, so a restart yields the same ids and an empty diff), plus the next
//!   wake-up time for WorkManager / BGTaskScheduler.
//! * **The 待办 home** ([`home`]): what needs the person now, most urgent first (grouped per principal for
//!   an agent), active cases with their working days left, licences expiring, drafts, the outbox, the last
//!   successful sync and the age of the trust and status lists — one call.
//!
//! Time comes from the store's [`zhangban_base::Clock`]; days are Asia/Shanghai days.

// No unsafe code of our own; the UniFFI scaffolding (feature `uniffi`, bindings/ only) generates some.
#![cfg_attr(not(feature = "uniffi"), forbid(unsafe_code))]

#[cfg(feature = "uniffi")]
uniffi::setup_scaffolding!();
#[cfg(feature = "uniffi")]
zhangban_base::use_ffi_types!();

mod home;
mod plan;
mod renewal;
pub mod sources;
#[cfg(test)]
mod tests;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use zhangban_base::notify::{Notice, NoticeKind};
use zhangban_base::{store::Store, Error, Result, Text};

pub use home::{home, ActiveCase, DraftLine, ExpiringLicence, Home, PrincipalNeeds};
pub use plan::{plan, reset_plan, Plan};
pub use renewal::{open_renewal, urge};

/// Setting (plaintext, non-sensitive) holding the [`Settings`] as JSON.
pub const SETTINGS_KEY: &str = "remind.settings";
/// Setting holding the Unix time of the last sync run that reached the platform (written by sync).
pub const LAST_SYNC_KEY: &str = "sync.last_success";

/// How urgent a reminder is; each level is one notification channel on Android.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum Urgency {
    Low,
    Normal,
    High,
    /// Due today or missed: shown even in quiet hours.
    Urgent,
}

impl Urgency {
    pub const ALL: [Urgency; 4] = [Urgency::Low, Urgency::Normal, Urgency::High, Urgency::Urgent];
    /// The notification channel id (Android) / thread id (iOS) of this level.
    pub fn channel_id(self) -> &'static str {
        match self {
            Urgency::Low => "zb.remind.low",
            Urgency::Normal => "zb.remind.normal",
            Urgency::High => "zb.remind.high",
            Urgency::Urgent => "zb.remind.urgent",
        }
    }
    /// The channel's name, as the system settings show it.
    pub fn channel_name(self) -> Text {
        match self {
            Urgency::Low => Text::new("一般提醒", "General reminders"),
            Urgency::Normal => Text::new("办事提醒", "Service reminders"),
            Urgency::High => Text::new("重要提醒", "Important reminders"),
            Urgency::Urgent => Text::new("今日到期", "Due today"),
        }
    }
}

/// One notification channel (Android) per urgency: what a shell registers at start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct ReminderChannel {
    pub urgency: Urgency,
    pub id: String,
    pub name: Text,
}

/// The channels to register, least urgent first (the shells: `reminder_channels`, one per urgency, registered at
/// start).
#[cfg_attr(feature = "uniffi", uniffi::export(name = "reminder_channels"))]
pub fn channels() -> Vec<ReminderChannel> {
    Urgency::ALL
        .iter()
        .map(|u| ReminderChannel { urgency: *u, id: u.channel_id().into(), name: u.channel_name() })
        .collect()
}

/// Which rule made a reminder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum ReminderSource {
    /// 容缺: deferred material due.
    Deferred,
    /// 补正: supplement due.
    Supplement,
    /// The promised completion date (承诺办结日期).
    Promised,
    LicenceExpiry,
    GrantExpiry,
    /// An outgoing operation not sent for a day, or refused by the platform.
    Outbox,
    /// 好差评 invitation after completion.
    Rating,
    /// The working-day calendar has no data for next year yet.
    Calendar,
    /// Agent mode: a principal's delegation running out.
    Delegation,
    /// Something a sync brought (an immediate notice).
    Event,
    /// Several reminders falling together, merged.
    Digest,
}

/// The screen a reminder opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum Screen {
    /// The 待办 home.
    Home,
    Case,
    Licence,
    /// The renewal of a licence: [`open_renewal`] with the link's id (the licence) gives the draft.
    Renewal,
    Draft,
    Grant,
    /// The sync status (calendar and catalog updates).
    Sync,
    /// Agent mode: a principal (the link's id is their subject).
    Principal,
}

/// A deep link: the screen and the id of what it shows.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Link {
    pub screen: Screen,
    /// Case, licence, draft or grant id; empty for the home and sync screens.
    pub id: String,
    /// `zhangban://<screen>/<id>`: the URI a notification carries (intent data / userInfo).
    pub uri: String,
}

impl Link {
    pub fn new(screen: Screen, id: &str) -> Link {
        let s = match screen {
            Screen::Home => "home",
            Screen::Case => "case",
            Screen::Licence => "licence",
            Screen::Renewal => "renewal",
            Screen::Draft => "draft",
            Screen::Grant => "grant",
            Screen::Sync => "sync",
            Screen::Principal => "principal",
        };
        Link {
            screen,
            id: id.into(),
            uri: if id.is_empty() { format!("zhangban://{s}") } else { format!("zhangban://{s}/{id}") },
        }
    }
}

/// What the person can do from the reminder (a notification button).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum ReminderAction {
    /// 催办: [`urge`] the case (queues a message to the platform in the outbox).
    Urge,
    /// Open the renewal draft ([`open_renewal`]).
    Renew,
    /// Supply the material (opens the case).
    Supply,
    Rate,
    /// Change and resubmit a refused item.
    Fix,
}

/// A reminder action's button label (for the shells).
#[cfg_attr(feature = "uniffi", uniffi::export)]
pub fn reminder_action_label(action: ReminderAction) -> Text {
    action.label()
}

impl ReminderAction {
    /// The button's label.
    pub fn label(self) -> Text {
        match self {
            ReminderAction::Urge => Text::new("催办", "Urge"),
            ReminderAction::Renew => Text::new("去换领", "Renew"),
            ReminderAction::Supply => Text::new("去补交", "Supply"),
            ReminderAction::Rate => Text::new("去评价", "Rate"),
            ReminderAction::Fix => Text::new("去修改", "Fix"),
        }
    }
}

/// One notice: an immediate one from a sync, a planned reminder, a need on the home, or a merged digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Reminder {
    /// Stable: the same reminder has the same id after a restart or a new plan (the OS replaces it).
    pub id: String,
    pub source: ReminderSource,
    pub urgency: Urgency,
    /// Whose (a subject id: `self`, or an agent's principal); empty for a digest of several subjects.
    pub subject: String,
    pub title: Text,
    pub body: Text,
    pub link: Link,
    pub action: Option<ReminderAction>,
    /// When to show it (Unix seconds); for a need on the home, when it became due or falls due.
    pub fire_at: i64,
    /// The date it is about (a due date, an expiry date).
    pub due: Option<NaiveDate>,
    /// The date rests on assumed (Monday–Friday) working days: no official data for that year yet.
    pub provisional: bool,
    /// For a digest: the ids of the reminders it stands for.
    pub merged: Vec<String>,
}

impl Reminder {
    /// The notice of a sync as a reminder to show now (one type for both). Its id is stable per case and
    /// kind, so a second notice of the same kind replaces the first.
    pub fn from_notice(n: &Notice, subject: &str) -> Reminder {
        let (kind, urgency, action) = match n.kind {
            NoticeKind::Receipt => ("receipt", Urgency::Low, None),
            NoticeKind::StateChanged => ("state", Urgency::Normal, None),
            NoticeKind::SupplementRequested => ("supplement", Urgency::High, Some(ReminderAction::Supply)),
            NoticeKind::LicenceIssued => ("licence", Urgency::Normal, None),
            NoticeKind::Refused => ("refused", Urgency::High, Some(ReminderAction::Fix)),
        };
        Reminder {
            id: format!("event:{}:{kind}", n.case_id),
            source: ReminderSource::Event,
            urgency,
            subject: subject.into(),
            title: Text::new(n.title_zh.clone(), n.title_en.clone()),
            body: Text::new(n.body_zh.clone(), n.body_en.clone()),
            link: Link::new(Screen::Case, &n.case_id),
            action,
            fire_at: n.at,
            due: None,
            provisional: false,
            merged: vec![],
        }
    }
}

/// The reminder rules' settings: lead times, quiet hours, the plan's bounds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Settings {
    /// Quiet hours, minutes after local midnight: from `quiet_start` to `quiet_end` (wrapping midnight when
    /// start > end; none when equal). Urgent reminders (due today, missed) are shown anyway.
    pub quiet_start_minute: u32,
    pub quiet_end_minute: u32,
    /// The time of day a day-based reminder is shown.
    pub remind_minute: u32,
    /// 补正 / 容缺: working days before the due date (besides the due day itself and the day after, missed).
    pub deadline_leads: Vec<u32>,
    /// Promised completion: working days before the promised date (besides the working day after: overdue).
    pub promised_leads: Vec<u32>,
    /// Licence expiry: days before the end of validity.
    pub licence_leads: Vec<u32>,
    /// Grants: hours before expiry.
    pub grant_lead_hours: u32,
    /// An outgoing operation unsent (or refused) this long is reminded of.
    pub stuck_hours: u32,
    /// Days after completion the rating invitation comes.
    pub rating_after_days: u32,
    /// Days before the end of the last year with calendar data that its absence is reminded of.
    pub calendar_lead_days: u32,
    /// Most pending notifications handed to the OS (iOS keeps 64).
    pub max_pending: u32,
    /// How far ahead the plan looks (days); later reminders are planned by a later run.
    pub window_days: u32,
    /// This many non-urgent reminders at the same moment are merged into one.
    pub merge_at: u32,
    /// Agent mode: days before a principal's delegation ends that it is reminded of.
    pub delegation_leads: Vec<u32>,
    /// The most entries each list of the 待办 home carries (the rest are counted).
    pub home_max: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            quiet_start_minute: 22 * 60,
            quiet_end_minute: 8 * 60,
            remind_minute: 9 * 60,
            deadline_leads: vec![3, 1],
            promised_leads: vec![2],
            licence_leads: vec![30, 7, 1],
            grant_lead_hours: 24,
            stuck_hours: 24,
            rating_after_days: 1,
            calendar_lead_days: 31,
            max_pending: 60,
            window_days: 45,
            merge_at: 3,
            delegation_leads: vec![3, 1],
            home_max: 50,
        }
    }
}

fn setting_err(field: &str, zh: &str, en: &str) -> Error {
    Error::validation(format!("settings.{field}"), zh, en)
}

impl Settings {
    /// Checks the bounds; the error names the field.
    pub fn validate(&self) -> Result<()> {
        for (f, m) in [
            ("quiet_start_minute", self.quiet_start_minute),
            ("quiet_end_minute", self.quiet_end_minute),
            ("remind_minute", self.remind_minute),
        ] {
            if m >= 24 * 60 {
                return Err(setting_err(
                    f,
                    "须为 0 至 1439 分钟（当日零点起）。",
                    "must be 0 to 1439 minutes after midnight.",
                ));
            }
        }
        for (f, v, max) in [
            ("deadline_leads", &self.deadline_leads, 60),
            ("promised_leads", &self.promised_leads, 60),
            ("licence_leads", &self.licence_leads, 366),
            ("delegation_leads", &self.delegation_leads, 60),
        ] {
            if v.len() > 8 || v.iter().any(|d| *d == 0 || *d > max) {
                return Err(setting_err(
                    f,
                    &format!("最多 8 个提前量，每个 1 至 {max}。"),
                    &format!("at most 8 lead times, each 1 to {max}."),
                ));
            }
        }
        if self.max_pending == 0 || self.max_pending > 60 {
            return Err(setting_err("max_pending", "须为 1 至 60。", "must be 1 to 60."));
        }
        if self.window_days == 0 || self.window_days > 400 {
            return Err(setting_err("window_days", "须为 1 至 400 天。", "must be 1 to 400 days."));
        }
        if self.home_max == 0 || self.home_max > 500 {
            return Err(setting_err("home_max", "须为 1 至 500。", "must be 1 to 500."));
        }
        if self.merge_at < 2 {
            return Err(setting_err("merge_at", "须至少为 2。", "must be at least 2."));
        }
        for (f, v, max) in [
            ("grant_lead_hours", self.grant_lead_hours, 24 * 30),
            ("stuck_hours", self.stuck_hours, 24 * 30),
            ("rating_after_days", self.rating_after_days, 30),
            ("calendar_lead_days", self.calendar_lead_days, 180),
        ] {
            if v == 0 || v > max {
                return Err(setting_err(f, &format!("须为 1 至 {max}。"), &format!("must be 1 to {max}.")));
            }
        }
        Ok(())
    }

    /// Whether the local minute of the day `m` falls in quiet hours.
    pub fn is_quiet(&self, m: u32) -> bool {
        let (s, e) = (self.quiet_start_minute, self.quiet_end_minute);
        match s.cmp(&e) {
            std::cmp::Ordering::Equal => false,
            std::cmp::Ordering::Less => s <= m && m < e,
            std::cmp::Ordering::Greater => m >= s || m < e,
        }
    }
}

/// The reminder settings of this store (defaults when none were set; a damaged value falls back to them).
pub fn settings(store: &Store) -> Result<Settings> {
    Ok(store
        .setting_or_unset(SETTINGS_KEY)?
        .and_then(|s| serde_json::from_str::<Settings>(&s).ok())
        .filter(|s| s.validate().is_ok())
        .unwrap_or_default())
}

/// Changes the settings (validated; the next [`plan`] applies them).
pub fn set_settings(store: &Store, s: &Settings) -> Result<()> {
    s.validate()?;
    store.set_setting(SETTINGS_KEY, &serde_json::to_string(s)?)
}

// --- time in Asia/Shanghai ----------------------------------------------------------------------

const DAY: i64 = 86_400;
const OFFSET: i64 = zhangban_base::clock::SHANGHAI_OFFSET_SECS as i64;

/// Unix time of local minute `minute` on local date `d`.
pub(crate) fn at_minute(d: NaiveDate, minute: u32) -> i64 {
    d.and_hms_opt(0, 0, 0).map(|t| t.and_utc().timestamp()).unwrap_or(0) - OFFSET + i64::from(minute) * 60
}

/// Local minute of the day of a Unix time.
pub(crate) fn minute_of(t: i64) -> u32 {
    ((t + OFFSET).rem_euclid(DAY) / 60) as u32
}

/// Local date of a Unix time.
pub(crate) fn date_of(t: i64) -> NaiveDate {
    zhangban_base::clock::local_date(t)
}
