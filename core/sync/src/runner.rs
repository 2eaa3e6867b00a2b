//! The sync runner: sends the outbox to the platform and pulls events (see `docs/platform-api.md`).
//!
//! * [`SyncRunner::run_once`] is one time-bounded run: pending operations are sent (several cases at
//!   once, one operation per case at a time, in order), attachments first, in chunks that resume where
//!   the platform stopped, each chunk and the whole checked by SHA-256; then events are pulled since the
//!   stored cursor and applied, with the cursor, in one transaction per page; the listener hears of
//!   each applied change after it is stored.
//! * A refused request (4xx other than 408/429) is quarantined with the platform's reason and the case
//!   shows it; the rest of the queue goes on. Anything else (no network, timeout, 5xx, a response lost
//!   half-way) is retried with the same idempotency key, so the platform never makes a second case.
//! * Agent mode (ADR 0045): an operation of a principal whose mandate this phone knows ended is not sent but
//!   quarantined at once with why; an access report the platform refuses for good is kept apart for the agent
//!   and the report's cursor moves past it (sent again once after a renewed certificate).
//! * [`SyncRunner::spawn`] runs it in the background (tokio): after a failing run it waits with
//!   exponential backoff and jitter, when idle it waits `idle_interval` or until [`SyncRunner::nudge`];
//!   it never spins while offline.
//! * Each run also fetches the reference data the phone's deadlines rest on, at most once per
//!   `reference_interval`: the service catalog (`GET /v1/catalog?since_version=N`) and the signed calendar
//!   update (`GET /v1/calendar?since_version=N`, applied only when its signature verifies with the pinned
//!   key and its version is newer), and records the time of the last run that reached the platform.
//! * [`SyncRunner::run_background`] is what the OS's background task calls (WorkManager,
//!   BGAppRefreshTask): a run within a deadline, then a new reminder plan; it returns what it did.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ring::digest;
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::{watch, Notify};

use super::http::{HttpClient, HttpFail, HttpReply};
use super::PlatformClient;
use crate::cases::{self, apply_event, PlatformEvent, Problem};
use crate::notify::{Listener, Notice, NoticeKind};
use crate::outbox::{self, Op, OpKind, Upload};
use crate::remind::{self, Plan, Reminder};
use crate::store::{PutOptions, Store, MAX_RANGE, SELF_SUBJECT};
use crate::{Error, Result};
use zhangban_base::Text;

const STATE_COLLECTION: &str = "sync_state";
const EVENTS_CURSOR: &str = "events_cursor";
const REVOCATIONS_CURSOR: &str = "agent_revocations_cursor";
/// Access reports sent before the outbox in one run (the rest after the revocation list).
const ACCESS_BATCHES_FIRST: usize = 2;
/// Largest response body read (events pages, receipts).
const MAX_RESPONSE: usize = 4 * 1024 * 1024;

/// How the runner talks to the platform and how patient it is.
#[derive(Debug, Clone)]
pub struct SyncConfig {
    /// e.g. `http://127.0.0.1:8080` (no trailing slash needed).
    pub base_url: String,
    /// The device token from registration (`Authorization: Bearer`).
    pub token: Option<String>,
    pub request_timeout: Duration,
    /// Longest one run may take; what is left waits for the next run.
    pub run_budget: Duration,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    pub idle_interval: Duration,
    /// Cases sent at the same time.
    pub concurrency: usize,
    pub chunk_size: usize,
    /// Attempts of one operation within one run before it waits for the next run.
    pub attempts_per_run: u32,
    pub events_page: u32,
    /// How often the catalog and the calendar update are checked (a forced background run always checks).
    pub reference_interval: Duration,
}

impl SyncConfig {
    pub fn new(base_url: impl Into<String>) -> Self {
        SyncConfig {
            base_url: base_url.into().trim_end_matches('/').to_string(),
            token: None,
            request_timeout: Duration::from_secs(15),
            run_budget: Duration::from_secs(60),
            backoff_base: Duration::from_secs(2),
            backoff_max: Duration::from_secs(300),
            idle_interval: Duration::from_secs(120),
            concurrency: 8,
            chunk_size: 64 * 1024,
            attempts_per_run: 3,
            events_page: 200,
            reference_interval: Duration::from_secs(6 * 3600),
        }
    }
}

/// What one run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct RunReport {
    /// Operations the platform took.
    pub sent: u32,
    /// Of those, submissions whose receipt is now stored.
    pub receipts: u32,
    pub quarantined: u32,
    /// Failed attempts (to be retried).
    pub failures: u32,
    pub events_applied: u32,
    /// The platform could not be reached at all.
    pub offline: bool,
    /// Operations still pending after the run.
    pub remaining: u32,
    pub budget_exhausted: bool,
    /// Licences of approved cases imported into the wallet ([`super::issuance`]).
    pub licences_imported: u32,
    /// Agent mode: mandates the platform listed as revoked that this run applied.
    #[serde(default)]
    pub revocations_applied: u32,
    /// Agent mode: principals erased (retention over) by this run.
    #[serde(default)]
    pub principals_erased: u32,
    /// Agent mode: `agent.access` entries the platform took in this run (relayed to the principals' phones).
    #[serde(default)]
    pub accesses_reported: u32,
    /// Agent mode: `agent.access` entries in reports the platform refused for good in this run (its certificate
    /// ended, …): kept for the agent with the reason, not sent again until a renewed certificate (ADR 0045).
    #[serde(default)]
    pub accesses_undelivered: u32,
    /// Principal's phone: revocations the platform took in this run.
    #[serde(default)]
    pub revocations_sent: u32,
    /// Nothing was sent: the store was restored from a backup and waits for the platform to move the old
    /// phone's cases here ([`crate::rebind`]).
    #[serde(default)]
    pub held: bool,
    /// A newer service catalog was stored.
    #[serde(default)]
    pub catalog_updated: bool,
    /// A newer signed calendar update was verified and stored (deadlines in its years are no longer
    /// provisional).
    #[serde(default)]
    pub calendar_updated: bool,
    /// Why the catalog or calendar could not be updated (a forged calendar update is refused here).
    #[serde(default)]
    pub reference_error: Option<String>,
    /// The backup generation this run told the platform (0: none new): a new phone of the same person
    /// then refuses an older backup file (`zhangban_backup::check_not_older`).
    #[serde(default)]
    pub backup_generation_reported: u64,
}

fn backup_error(e: zhangban_backup::BackupError) -> Error {
    match e {
        zhangban_backup::BackupError::Store(e) => e,
        other => Error::Io(other.message_en()),
    }
}

impl RunReport {
    /// Whether the run changed what the reminders are reckoned from.
    pub fn changed_something(&self) -> bool {
        self.sent > 0
            || self.quarantined > 0
            || self.events_applied > 0
            || self.licences_imported > 0
            || self.revocations_applied > 0
            || self.principals_erased > 0
            || self.catalog_updated
            || self.calendar_updated
    }
}

/// What [`SyncRunner::run_background`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct BackgroundReport {
    pub run: RunReport,
    /// The notices of this run, as reminders to show now (the listener heard them too).
    pub notices: Vec<Reminder>,
    /// The new reminder plan (with its diff); `None` when planning failed (`plan_error`).
    pub plan: Option<Plan>,
    pub plan_error: Option<String>,
    /// Wall time the call took.
    pub elapsed_ms: u64,
}

/// Most notices kept for [`SyncRunner::run_background`] between two calls.
const MAX_RECENT: usize = 500;

/// Passes notices on to the shell's listener and keeps them for the background report. On an agent's phone
/// a principal's notice is named first ([`zhangban_agent::agent::name_notice`]): one place for every notice.
struct Tee {
    inner: Arc<dyn Listener>,
    recent: std::sync::Mutex<VecDeque<Notice>>,
    store: Arc<Store>,
}

impl Listener for Tee {
    fn on_notice(&self, mut notice: Notice) {
        zhangban_agent::agent::name_notice(&self.store, &mut notice);
        if let Ok(mut g) = self.recent.lock() {
            if g.len() >= MAX_RECENT {
                g.pop_front();
            }
            g.push_back(notice.clone());
        }
        self.inner.on_notice(notice);
    }
}

enum Fail {
    /// No connection could be made: stop this run.
    Offline(String),
    /// Try again later with the same key.
    Retry(String),
    /// The platform refused: quarantine (why, in both languages).
    Refused { status: u16, message: Text },
}

impl From<Error> for Fail {
    fn from(e: Error) -> Self {
        Fail::Retry(format!("local: {e}"))
    }
}

/// A queued attachment that can no longer be read as it was queued (damaged on disk, deleted, its subject
/// erased) will not get better by retrying: the operation is quarantined and the person adds it again.
fn attachment_fail(name: &str, e: Error) -> Fail {
    match e {
        Error::Corrupted { .. } | Error::NotFound { .. } | Error::Shredded { .. } => Fail::Refused {
            status: 0,
            message: Text::new(
                format!("手机上的附件“{name}”已损坏或已删除，请重新添加后再提交"),
                format!("the attachment {name} on this phone is damaged or gone: add it again and resubmit"),
            ),
        },
        other => other.into(),
    }
}

impl From<HttpFail> for Fail {
    fn from(e: HttpFail) -> Self {
        match e {
            HttpFail::Connect(m) => Fail::Offline(m),
            other => Fail::Retry(other.to_string()),
        }
    }
}

/// Sends the outbox and pulls events for one store.
pub struct SyncRunner {
    store: Arc<Store>,
    cfg: SyncConfig,
    http: HttpClient,
    platform: PlatformClient,
    listener: Arc<dyn Listener>,
    tee: Arc<Tee>,
    reference_checked: std::sync::Mutex<Option<Instant>>,
    wake: Notify,
    running: tokio::sync::Mutex<()>,
    token: std::sync::Mutex<Option<String>>,
    plan_listener: std::sync::Mutex<Option<Arc<dyn PlanListener>>>,
}

/// Hears of a new reminder plan the runner made after a sync changed something; applies its add / replace /
/// cancel diff to the phone's scheduled notifications.
pub trait PlanListener: Send + Sync {
    fn on_plan(&self, plan: Plan);
}

/// The background loop; dropping it (or [`SyncHandle::stop`]) ends the loop.
pub struct SyncHandle {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl SyncHandle {
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

fn sha256_hex(b: &[u8]) -> String {
    hex::encode(digest::digest(&digest::SHA256, b).as_ref())
}

/// `base · 2^failures`, capped, times a random factor in [0.5, 1.5).
pub fn backoff_delay(base: Duration, max: Duration, failures: u32) -> Duration {
    let exp = base.saturating_mul(1u32 << failures.min(20)).min(max);
    let mut b = [0u8; 2];
    let r = if SystemRandom::new().fill(&mut b).is_ok() { u16::from_le_bytes(b) as f64 / 65536.0 } else { 0.5 };
    exp.mul_f64(0.5 + r)
}

impl SyncRunner {
    pub fn new(store: Arc<Store>, cfg: SyncConfig, listener: Arc<dyn Listener>) -> Result<Arc<SyncRunner>> {
        // The one validated client: https (or loopback IP), no redirects, bounded bodies.
        let http = HttpClient::new(
            &cfg.base_url,
            cfg.request_timeout.min(Duration::from_secs(10)),
            cfg.request_timeout,
            MAX_RESPONSE,
        )?;
        let platform = PlatformClient::with_config(super::ClientConfig {
            base_url: cfg.base_url.clone(),
            connect_timeout: cfg.request_timeout.min(Duration::from_secs(10)),
            timeout: cfg.request_timeout,
            max_response_bytes: MAX_RESPONSE,
        })?;
        let tee =
            Arc::new(Tee { inner: listener, recent: std::sync::Mutex::new(VecDeque::new()), store: store.clone() });
        Ok(Arc::new(SyncRunner {
            store,
            cfg,
            http,
            platform,
            listener: tee.clone(),
            tee,
            reference_checked: std::sync::Mutex::new(None),
            wake: Notify::new(),
            running: tokio::sync::Mutex::new(()),
            token: std::sync::Mutex::new(None),
            plan_listener: std::sync::Mutex::new(None),
        }))
    }

    /// Who hears of the reminder plans the runner makes after a run that changed something (the shell, to
    /// hand the diff to the OS). Without one the runner does not plan (a plan's diff must reach the OS: the
    /// next explicit [`remind::plan`] has it then).
    pub fn set_plan_listener(&self, listener: Option<Arc<dyn PlanListener>>) {
        if let Ok(mut g) = self.plan_listener.lock() {
            *g = listener;
        }
    }

    /// After a run that changed something (events, sent or refused operations, licences, catalog or calendar
    /// updates, revocations): a new plan, handed to the plan listener. The plan made, if any.
    fn replan_if_changed(&self, r: &RunReport) -> Option<Plan> {
        if !r.changed_something() {
            return None;
        }
        let listener = self.plan_listener.lock().ok()?.clone()?;
        let plan = remind::plan(&self.store).ok()?;
        let p = plan.clone();
        // A panicking foreign callback must not take the sync task down.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || listener.on_plan(p)));
        Some(plan)
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// Wakes the background loop now (something was queued, the network came back).
    pub fn nudge(&self) {
        self.wake.notify_one();
    }

    fn req(&self, m: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let r = self.http.request(m, path);
        match self.token.lock().ok().and_then(|g| g.clone()) {
            Some(t) => r.bearer_auth(t),
            None => r,
        }
    }

    /// The token: the configured one, else the device registration's (read at the start of each run).
    fn refresh_token(&self) {
        let t = self.cfg.token.clone().or_else(|| super::registration(&self.store).ok().flatten().map(|r| r.token));
        if let Ok(mut g) = self.token.lock() {
            *g = t;
        }
    }

    /// Reads a JSON response: 2xx → value; 4xx (not 408/429) → refused; else retry.
    fn json_response(reply: HttpReply) -> std::result::Result<Value, Fail> {
        let (success, code, bytes) = (reply.is_success(), reply.status, reply.body);
        if success {
            return serde_json::from_slice(&bytes).map_err(|e| Fail::Retry(format!("bad response: {e}")));
        }
        // The platform words a refusal in both languages (`message`, `message_zh`); one alone stands for both.
        let message = serde_json::from_slice::<Value>(&bytes)
            .ok()
            .and_then(|v| {
                let en = v.get("message").and_then(Value::as_str).map(str::to_string);
                let zh = v.get("message_zh").and_then(Value::as_str).map(str::to_string);
                match (zh, en) {
                    (Some(z), Some(e)) => Some(Text::new(z, e)),
                    (z, e) => z.or(e).map(|one| Text::new(one.clone(), one)),
                }
            })
            .unwrap_or_else(|| {
                let raw = String::from_utf8_lossy(&bytes[..bytes.len().min(300)]).into_owned();
                Text::new(raw.clone(), raw)
            });
        // 401: the device is not (or no longer) registered; that is fixed by registering, not by
        // changing the request, so it waits like a network failure.
        if (400..500).contains(&code) && code != 408 && code != 429 && code != 401 {
            Err(Fail::Refused { status: code, message })
        } else {
            Err(Fail::Retry(format!("HTTP {code}: {}", message.en)))
        }
    }

    async fn upload(&self, up: &Upload) -> std::result::Result<(), Fail> {
        // No status round trip first: send from 0 and let the platform answer 409 with what it holds
        // (an earlier attempt's chunks), then resume there. Only the chunk being sent is read and
        // decrypted; the store authenticates every chunk, and the platform checks each chunk's and the
        // whole file's SHA-256 (a mismatch there is refused, so it is quarantined, not resent forever).
        let path = format!("/v1/uploads/{}", up.upload_id);
        let mut offset = 0u64;
        let info = self.store.attachment_info(&up.attachment_id).map_err(|e| attachment_fail(&up.name, e))?;
        if info.size != up.size || info.sha256 != up.sha256 {
            return Err(Fail::Refused {
                status: 0,
                message: Text::new(
                    format!("手机上的附件“{}”在排队后被更改，请重新添加后再提交", up.name),
                    format!(
                        "the attachment {} changed on this phone after it was queued: add it again and resubmit",
                        up.name
                    ),
                ),
            });
        }
        let chunk = self.cfg.chunk_size.clamp(1024, MAX_RANGE);
        loop {
            if offset > up.size {
                offset = 0;
            }
            let piece = self
                .store
                .read_attachment_range(&up.attachment_id, offset, chunk)
                .map_err(|e| attachment_fail(&up.name, e))?;
            let piece_len = piece.len();
            let resp = self
                .req(reqwest::Method::PUT, &path)
                .query(&[("offset", offset.to_string()), ("size", up.size.to_string()), ("sha256", up.sha256.clone())])
                .header("x-chunk-sha256", sha256_hex(&piece))
                .header("x-file-name", hex::encode(up.name.as_bytes()))
                .body(piece);
            let resp = self.http.send(resp).await?;
            if resp.status == 409 {
                // The platform holds a different amount (an earlier attempt's chunk landed): resume there.
                let v: Value =
                    serde_json::from_slice(&resp.body).map_err(|e| Fail::Retry(format!("bad response: {e}")))?;
                offset = v.get("received").and_then(Value::as_u64).unwrap_or(0);
                continue;
            }
            let v = Self::json_response(resp)?;
            if v.get("complete").and_then(Value::as_bool) == Some(true) {
                return Ok(());
            }
            let got = v.get("received").and_then(Value::as_u64).unwrap_or(offset);
            if got <= offset && piece_len > 0 {
                return Err(Fail::Retry("upload made no progress".into()));
            }
            offset = got;
        }
    }

    async fn send_op(&self, op: &Op) -> std::result::Result<Value, Fail> {
        for up in &op.uploads {
            self.upload(up).await?;
        }
        let path = match op.kind {
            OpKind::Submit => "/v1/cases".to_string(),
            OpKind::RevokeGrant => "/v1/grants/revoke".to_string(),
            OpKind::RevokeDelegation => "/v1/delegations/revocations".to_string(),
            kind => {
                let case = cases::get(&self.store, &op.case_id)?;
                let pid = case.platform_id.ok_or_else(|| Fail::Retry("case not yet on the platform".into()))?;
                match kind {
                    OpKind::Supplement => format!("/v1/cases/{pid}/supplements"),
                    OpKind::Rate => format!("/v1/cases/{pid}/rating"),
                    OpKind::Urge => format!("/v1/cases/{pid}/urge"),
                    _ => format!("/v1/cases/{pid}/complaints"),
                }
            }
        };
        let mut body = op.body.clone();
        if let (true, Some(o)) = (op.kind.is_case_op(), body.as_object_mut()) {
            let attachments = op
                .uploads
                .iter()
                .map(|u| json!({ "upload_id": u.upload_id, "sha256": u.sha256, "size": u.size, "name": u.name }))
                .collect();
            o.insert("attachments".into(), Value::Array(attachments));
        }
        let resp = self.req(reqwest::Method::POST, &path).header("idempotency-key", &op.idempotency_key).json(&body);
        Self::json_response(self.http.send(resp).await?)
    }

    /// Removes the operation and lets its owner record the platform's answer (cases, or the principal's
    /// delegation; a grant's revocation was shown when it was made), in one transaction.
    fn finish_op(&self, op: &Op, answer: &Value) -> Result<Option<Notice>> {
        self.store.transaction(|t| {
            t.delete(outbox::COLLECTION, &op.id)?;
            match op.kind {
                OpKind::RevokeGrant => Ok(None),
                OpKind::RevokeDelegation => zhangban_agent::principal::revocation_sent_in(t, &op.case_id).map(|_| None),
                _ => cases::delivered_in(t, op, answer),
            }
        })
    }

    /// Quarantines a refused operation and lets cases show the refusal, in one transaction. A refused
    /// revocation stays in the outbox's refused list for the person to see (no case to mark).
    fn quarantine(&self, op: &Op, status: u16, message: &Text) -> Result<Option<Notice>> {
        let problem = Problem::new(status, message, op.kind.as_str());
        self.store.transaction(|t| {
            outbox::quarantine_in(t, op, problem.clone())?;
            if op.kind.is_case_op() {
                cases::refused_in(t, op, &problem).map(Some)
            } else {
                Ok(None)
            }
        })
    }

    /// Agent mode (ADR 0045): the operations of a principal whose mandate this phone knows ended (revoked,
    /// expired by the clock, single use and decided: `acting`) are not sent — the platform would refuse them
    /// (`403 proxy_refused`), and their attachments would be uploaded after the principal withdrew. Each moves
    /// to the quarantine at once with why ([`zhangban_base::acting::not_sent_text`], refused on this phone:
    /// status 0; the case shows it, `cases::held_in`, no notice), counted in `quarantined`; the rest is returned
    /// to be sent. What the phone has not heard of yet still goes out and the platform refuses it (ADR 0043, 5).
    fn hold_ended(&self, ops: Vec<Op>, report: &mut RunReport) -> Vec<Op> {
        let ended = match zhangban_base::acting::ended(&self.store, self.store.now()) {
            Ok(e) if !e.is_empty() => e,
            Ok(_) => return ops,
            Err(_) => {
                report.failures += 1;
                return ops;
            }
        };
        let mut send = Vec::with_capacity(ops.len());
        for op in ops {
            let Some(&(end, _)) = ended.get(&op.subject) else {
                send.push(op);
                continue;
            };
            let problem = Problem::new(0, &zhangban_base::acting::not_sent_text(end), op.kind.as_str());
            let held = self.store.transaction(|t| {
                outbox::quarantine_in(t, &op, problem.clone())?;
                if op.kind.is_case_op() {
                    cases::held_in(t, &op, &problem)?;
                }
                Ok(())
            });
            match held {
                Ok(()) => report.quarantined += 1,
                Err(_) => report.failures += 1,
            }
        }
        send
    }

    /// One time-bounded run: send what is pending, then pull events (the loop's step, and "sync now"). When
    /// the run changed something and a plan listener is set, the reminders are planned again for it.
    pub async fn run_once(self: &Arc<Self>) -> RunReport {
        let report = self.run_within(self.cfg.run_budget, false).await;
        self.replan_if_changed(&report);
        report
    }

    /// What the OS's background task calls: one run that ends by `budget` (the reference data checked
    /// whatever the interval), then a new reminder plan. The notices of the run come back as reminders.
    pub async fn run_background(self: &Arc<Self>, budget: Duration) -> BackgroundReport {
        let started = Instant::now();
        if let Ok(mut g) = self.tee.recent.lock() {
            g.clear();
        }
        // Planning takes milliseconds; keep a tenth of the budget (at most a second) for it.
        let run_budget = budget.saturating_sub((budget / 10).min(Duration::from_secs(1)));
        let run = match tokio::time::timeout(run_budget, self.run_within(run_budget, true)).await {
            Ok(r) => r,
            Err(_) => RunReport { budget_exhausted: true, ..RunReport::default() },
        };
        let recent: Vec<Notice> = self.tee.recent.lock().map(|mut g| g.drain(..).collect()).unwrap_or_default();
        let notices = recent.iter().map(|n| Reminder::from_notice(n, &n.subject)).collect();
        let (plan, plan_error) = match remind::plan(&self.store) {
            Ok(p) => (Some(p), None),
            Err(e) => (None, Some(e.to_string())),
        };
        BackgroundReport { run, notices, plan, plan_error, elapsed_ms: started.elapsed().as_millis() as u64 }
    }

    /// The catalog and the signed calendar update, when `force`d or `reference_interval` has passed.
    async fn refresh_reference(&self, report: &mut RunReport, force: bool) {
        let due = self
            .reference_checked
            .lock()
            .map(|g| g.is_none_or(|t| t.elapsed() >= self.cfg.reference_interval))
            .unwrap_or(true);
        if !force && !due {
            return;
        }
        let mut errors = Vec::new();
        match self.platform.fetch_catalog(&self.store).await {
            Ok(u) => report.catalog_updated = !u.up_to_date,
            Err(e) => errors.push(format!("catalog: {e}")),
        }
        match self.fetch_calendar().await {
            Ok(updated) => report.calendar_updated = updated,
            Err(e) => errors.push(format!("calendar: {e}")),
        }
        if errors.is_empty() {
            if let Ok(mut g) = self.reference_checked.lock() {
                *g = Some(Instant::now());
            }
        } else {
            report.failures += errors.len() as u32;
            report.reference_error = Some(errors.join("; "));
        }
    }

    /// `GET /v1/calendar?since_version=N`: a newer signed update is verified with the pinned key and kept
    /// (a forged, unsigned or older one is refused and changes nothing). True when one was applied.
    async fn fetch_calendar(&self) -> Result<bool> {
        let have = crate::calendar::update::applied_version(&self.store)?.unwrap_or(0);
        let req = self.req(reqwest::Method::GET, "/v1/calendar").query(&[("since_version", have.to_string())]);
        let reply = self.http.send(req).await?;
        if !reply.is_success() {
            return Err(Error::Network(format!("calendar update: HTTP {}", reply.status)));
        }
        let v: Value = serde_json::from_slice(&reply.body)
            .map_err(|e| Error::Network(format!("invalid calendar update from the platform: {e}")))?;
        if v.get("up_to_date").and_then(Value::as_bool) == Some(true) {
            return Ok(false);
        }
        crate::calendar::update::apply(&self.store, &reply.body)?;
        Ok(true)
    }

    async fn run_within(self: &Arc<Self>, budget: Duration, force_reference: bool) -> RunReport {
        let _guard = self.running.lock().await;
        self.refresh_token();
        let deadline = Instant::now() + budget;
        let mut report = RunReport::default();
        // Revocations an older version queued outside the one outbox join it before anything is sent.
        if crate::wallet::migrate_legacy_outbox(&self.store).is_err()
            || zhangban_agent::principal::queue_legacy_revocations(&self.store).is_err()
        {
            report.failures += 1;
        }
        // Agent mode: the accesses made since the last report go first, so the principal's phone hears of the
        // filling before the receipt of the submission it led to (they are reported again after the run's
        // own steps, in `agent_step`). At most `ACCESS_BATCHES_FIRST` reports here: after days offline the
        // backlog (every form edit is one entry) could use a background run's whole budget before the outbox,
        // the events and the revocation list; the rest goes after them.
        if zhangban_agent::agent::is_agent_phone(&self.store).unwrap_or(false) {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.report_accesses(&mut report, Some(ACCESS_BATCHES_FIRST))).await {
                Ok(Ok(())) => {}
                Ok(Err(Fail::Offline(_))) => {
                    report.failures += 1;
                    report.offline = true;
                }
                Ok(Err(_)) => report.failures += 1,
                Err(_) => report.budget_exhausted = true,
            }
        }
        let mut tries: HashMap<String, u32> = HashMap::new();
        'outer: loop {
            if report.offline {
                break;
            }
            if Instant::now() >= deadline {
                report.budget_exhausted = true;
                break;
            }
            // A restored store waits for the platform to move the old phone's cases here (see
            // `outbox::HOLD_SETTING`); events are still pulled.
            if !matches!(self.store.setting(outbox::HOLD_SETTING), Ok(None)) {
                report.held = true;
                break;
            }
            let ops = match outbox::pending(&self.store) {
                Ok(o) => o,
                Err(_) => break,
            };
            let ops = self.hold_ended(ops, &mut report);
            // One operation per case (the oldest), skipping cases whose earlier operation was refused,
            // and operations that already used their attempts in this run.
            let blocked: HashSet<String> = outbox::quarantined(&self.store)
                .map(|q| q.into_iter().map(|o| o.case_id).collect())
                .unwrap_or_default();
            let mut seen = HashSet::new();
            let batch: Vec<Op> = ops
                .into_iter()
                .filter(|o| seen.insert(o.case_id.clone()))
                .filter(|o| !blocked.contains(&o.case_id))
                .filter(|o| tries.get(&o.id).copied().unwrap_or(0) < self.cfg.attempts_per_run)
                .collect();
            if batch.is_empty() {
                break;
            }
            // A failed attempt goes back to the end of this queue (its attempts left), so retries keep
            // every slot busy instead of waiting for the slowest request of a pass; the outbox is listed
            // again only when the queue has drained, for operations that became sendable meanwhile.
            let mut queue: VecDeque<Op> = batch.into();
            let mut set = tokio::task::JoinSet::new();
            let mut offline = false;
            loop {
                while set.len() < self.cfg.concurrency.max(1) && !offline && Instant::now() < deadline {
                    let Some(op) = queue.pop_front() else { break };
                    *tries.entry(op.id.clone()).or_default() += 1;
                    let me = self.clone();
                    let left = deadline.saturating_duration_since(Instant::now());
                    set.spawn(async move {
                        let r = match tokio::time::timeout(left, me.send_op(&op)).await {
                            Ok(r) => r,
                            Err(_) => Err(Fail::Retry("run budget reached".into())),
                        };
                        (op, r)
                    });
                }
                let Some(joined) = set.join_next().await else { break };
                let Ok((op, r)) = joined else { continue };
                let mut retry = |op: &Op, m: &str| {
                    if let Ok(Some(op)) = outbox::note_failure(&self.store, op, m) {
                        if !offline && tries.get(&op.id).copied().unwrap_or(0) < self.cfg.attempts_per_run {
                            queue.push_back(op);
                        }
                    }
                };
                match r {
                    Ok(answer) => match self.finish_op(&op, &answer) {
                        Ok(n) => {
                            report.sent += 1;
                            match op.kind {
                                OpKind::Submit => report.receipts += 1,
                                OpKind::RevokeDelegation => report.revocations_sent += 1,
                                _ => {}
                            }
                            if let Some(n) = n {
                                self.listener.on_notice(n);
                            }
                        }
                        Err(e) => {
                            report.failures += 1;
                            retry(&op, &e.to_string());
                        }
                    },
                    Err(Fail::Refused { status, message }) => {
                        report.quarantined += 1;
                        if let Ok(Some(n)) = self.quarantine(&op, status, &message) {
                            self.listener.on_notice(n);
                        }
                    }
                    Err(Fail::Retry(m)) => {
                        report.failures += 1;
                        retry(&op, &m);
                    }
                    Err(Fail::Offline(m)) => {
                        report.failures += 1;
                        report.offline = true;
                        offline = true;
                        let _ = outbox::note_failure(&self.store, &op, &m);
                    }
                }
            }
            if offline {
                break 'outer;
            }
        }
        let mut reached = false;
        if !report.offline && Instant::now() < deadline {
            match tokio::time::timeout(deadline.saturating_duration_since(Instant::now()), self.pull_events()).await {
                Ok(Ok(n)) => {
                    report.events_applied = n;
                    reached = true;
                }
                Ok(Err(Fail::Offline(_))) => report.offline = true,
                Ok(Err(_)) => report.failures += 1,
                Err(_) => report.budget_exhausted = true,
            }
        }
        if !report.offline && Instant::now() < deadline {
            match tokio::time::timeout(deadline.saturating_duration_since(Instant::now()), self.agent_step(&mut report))
                .await
            {
                Ok(Ok(())) => {}
                Ok(Err(Fail::Offline(_))) => report.offline = true,
                Ok(Err(_)) => report.failures += 1,
                Err(_) => report.budget_exhausted = true,
            }
        }
        // Retention runs offline too: an ended mandate's data is erased on time without signal.
        match zhangban_agent::agent::sweep(&self.store) {
            Ok(erased) => report.principals_erased = erased.len() as u32,
            Err(_) => report.failures += 1,
        }
        if !report.offline && Instant::now() < deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            let d =
                super::issuance::deliver_pending(&self.store, &self.cfg.base_url, self.listener.as_ref(), left).await;
            report.licences_imported = d.imported;
            report.failures += d.failures;
        }
        if reached {
            let left = deadline.saturating_duration_since(Instant::now());
            let mut r = std::mem::take(&mut report);
            if tokio::time::timeout(left, self.refresh_reference(&mut r, force_reference)).await.is_err() {
                r.budget_exhausted = true;
            }
            report = r;
            let _ = self.store.set_setting(remind::LAST_SYNC_KEY, &self.store.now().to_string());
        }
        if reached && Instant::now() < deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.report_backup_generation()).await {
                Ok(Ok(g)) => report.backup_generation_reported = g,
                Ok(Err(_)) => report.failures += 1,
                Err(_) => report.budget_exhausted = true,
            }
        }
        report.remaining = outbox::pending(&self.store).map(|v| v.len() as u32).unwrap_or(0);
        // The run's outbox and settings changes bound to the rollback anchor (ADR 0036): files put back from
        // before this run are refused. Best effort: a vault that fails now leaves it to the next lock.
        let _ = self.store.bind_changes();
        report
    }

    /// Tells the platform the backup generation this phone reached since it last did (a backup made
    /// offline is reported at the next run); 0 when there was nothing new.
    async fn report_backup_generation(&self) -> Result<u64> {
        let Some(mark) = zhangban_backup::unreported_generation(&self.store).map_err(backup_error)? else {
            return Ok(0);
        };
        self.platform.report_backup_generation(&self.store, &mark).await?;
        zhangban_backup::note_reported(&self.store, mark.generation).map_err(backup_error)?;
        Ok(mark.generation)
    }

    /// Agent mode over the network: an agent's phone fetches the platform's revocation list since its
    /// cursor and stops using those mandates at once. (A principal's revocations go through the outbox.)
    async fn agent_step(&self, report: &mut RunReport) -> std::result::Result<(), Fail> {
        if !zhangban_agent::agent::is_agent_phone(&self.store)? {
            return Ok(());
        }
        loop {
            let since = self
                .store
                .get_opt(STATE_COLLECTION, REVOCATIONS_CURSOR)?
                .map(|r| r.json::<Value>())
                .transpose()?
                .and_then(|v| v.get("cursor").and_then(Value::as_i64))
                .unwrap_or(0);
            let req = self.req(reqwest::Method::GET, "/v1/agents/revocations").query(&[("since", since.to_string())]);
            let v = Self::json_response(self.http.send(req).await?)?;
            let ids: Vec<String> = v
                .get("revoked")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(|r| r.get("mandate_id")?.as_str().map(str::to_string)).collect())
                .unwrap_or_default();
            let next = v.get("next").and_then(Value::as_i64).unwrap_or(since);
            report.revocations_applied += zhangban_agent::agent::apply_revocations(&self.store, &ids)?.len() as u32;
            self.store.put_json(STATE_COLLECTION, REVOCATIONS_CURSOR, SELF_SUBJECT, &json!({ "cursor": next }))?;
            if ids.is_empty() || next <= since {
                break;
            }
        }
        self.report_accesses(report, None).await
    }

    /// Agent mode: reports the `agent.access` entries after the kept cursor (`zhangban_agent::report`),
    /// signed by the device key, a bounded batch at a time; the cursor moves only once the platform took a
    /// batch (it keeps each entry once, so a batch resent after a lost answer is not relayed twice). All of
    /// them, or at most `batches` reports.
    ///
    /// A report the platform refuses for good (a 4xx other than 401, 408, 429: its certificate ended, a mandate
    /// it does not take) does not block the queue (ADR 0045): its range is kept for the agent with the
    /// platform's reason (`report::not_delivered`), the cursor moves past it and it is counted in
    /// `accesses_undelivered`. After the phone's certificate changed (renewed), each kept range goes once more.
    async fn report_accesses(&self, report: &mut RunReport, batches: Option<usize>) -> std::result::Result<(), Fail> {
        use zhangban_agent::report as access_report;
        let signer = zhangban_wallet::device::store_signer(self.store.clone())?;
        for _ in 0..batches.unwrap_or(usize::MAX) {
            if let Some((kept, p)) = access_report::prepare_resend(&self.store, signer.as_ref())? {
                match self.post_access_report(&p).await {
                    Ok(()) => {
                        report.accesses_reported += p.entries as u32;
                        access_report::resent(&self.store, &kept, &p)?;
                    }
                    Err(Fail::Refused { status, message }) => {
                        access_report::refused_again(&self.store, &kept, status, &message)?
                    }
                    Err(e) => return Err(e),
                }
                continue;
            }
            let Some(p) = access_report::prepare(&self.store, signer.as_ref())? else { return Ok(()) };
            match self.post_access_report(&p).await {
                Ok(()) => {
                    report.accesses_reported += p.entries as u32;
                    access_report::reported(&self.store, p.through)?;
                }
                Err(Fail::Refused { status, message }) => {
                    access_report::not_delivered(&self.store, &p, status, &message)?;
                    report.accesses_undelivered += p.entries as u32;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// `POST /v1/agents/access` with a prepared report (nothing when all its entries were passed over).
    async fn post_access_report(&self, p: &zhangban_agent::report::PreparedReport) -> std::result::Result<(), Fail> {
        if let Some(body) = &p.body {
            let req = self.req(reqwest::Method::POST, "/v1/agents/access").json(body);
            Self::json_response(self.http.send(req).await?)?;
        }
        Ok(())
    }

    /// The stored events cursor.
    pub fn events_cursor(&self) -> Result<u64> {
        Ok(self
            .store
            .get_opt(STATE_COLLECTION, EVENTS_CURSOR)?
            .map(|r| r.json::<Value>())
            .transpose()?
            .and_then(|v| v.get("cursor").and_then(Value::as_u64))
            .unwrap_or(0))
    }

    async fn pull_events(&self) -> std::result::Result<u32, Fail> {
        let mut applied = 0u32;
        loop {
            let since = self.events_cursor()?;
            let resp = self
                .req(reqwest::Method::GET, "/v1/events")
                .query(&[("since", since.to_string()), ("limit", self.cfg.events_page.to_string())]);
            let resp = self.http.send(resp).await?;
            let v = Self::json_response(resp)?;
            let events: Vec<PlatformEvent> = serde_json::from_value(v.get("events").cloned().unwrap_or(Value::Null))
                .map_err(|e| Fail::Retry(format!("bad events: {e}")))?;
            let next = v.get("next").and_then(Value::as_u64).unwrap_or(since);
            if events.is_empty() || next <= since {
                return Ok(applied);
            }
            let notices = self.apply_events(&events, next)?;
            applied += notices.len() as u32;
            for n in notices {
                self.listener.on_notice(n);
            }
        }
    }

    /// Applies a page of events and moves the cursor, in one transaction; returns the notices to raise.
    pub fn apply_events(&self, events: &[PlatformEvent], next: u64) -> Result<Vec<Notice>> {
        // A principal's phone keeps only what the platform signed about it (zhangban_agent::RelayedActivity).
        let relayed = events.iter().any(|e| e.data.get("principal_view").and_then(Value::as_bool) == Some(true));
        let my_key = if relayed { zhangban_wallet::device::device_public_key(&self.store)? } else { Vec::new() };
        let root = zhangban_wallet::trust::pinned_root_key();
        self.store.transaction(|t| {
            let mut notices = Vec::new();
            for ev in events {
                if t.get_opt(cases::COLLECTION, &ev.client_ref)?.is_none() {
                    // Not a case of this phone: on a principal's phone, what an agent did for them.
                    if ev.data.get("principal_view").and_then(Value::as_bool) == Some(true) {
                        let signed = ev.data.get("signed").and_then(Value::as_str).unwrap_or_default();
                        match zhangban_agent::activity_from_relayed(ev.seq, signed, &root, &my_key) {
                            Ok(entry) => zhangban_agent::principal::record_activity_in(t, &entry)?,
                            // Unsigned, altered, or about someone else: not kept; on record why.
                            Err(e) => {
                                t.audit(&zhangban_base::audit::NewEntry {
                                actor: "platform",
                                action: "agent.activity_refused",
                                subject: SELF_SUBJECT,
                                target: &ev.seq.to_string(),
                                    detail: json!({ "kind": ev.kind.chars().take(50).collect::<String>(), "reason": e.message_en() }),
                                })?;
                            }
                        }
                    }
                    continue;
                }
                if let Some(n) = cases::update_in(t, &ev.client_ref, |c| Ok(apply_event(c, ev)))? {
                    if n.kind == NoticeKind::LicenceIssued {
                        super::issuance::queue_in(t, &ev.client_ref)?;
                    }
                    notices.push(n);
                }
            }
            t.put_json(
                STATE_COLLECTION,
                EVENTS_CURSOR,
                SELF_SUBJECT,
                &json!({ "cursor": next }),
                PutOptions::default(),
            )?;
            Ok(notices)
        })
    }

    /// Runs in the background until stopped. See the module docs for the waiting rules.
    pub fn spawn(self: &Arc<Self>) -> SyncHandle {
        let (tx, mut rx) = watch::channel(false);
        let me = self.clone();
        let task = tokio::spawn(async move {
            let mut failures = 0u32;
            loop {
                if *rx.borrow() {
                    break;
                }
                let report = me.run_once().await;
                let delay = if report.offline || (report.failures > 0 && report.sent == 0) {
                    failures = failures.saturating_add(1);
                    backoff_delay(me.cfg.backoff_base, me.cfg.backoff_max, failures - 1)
                } else if report.remaining > 0 {
                    failures = 0;
                    // Progress was made but work is left (budget or per-run attempts): a short pause.
                    backoff_delay(me.cfg.backoff_base, me.cfg.backoff_max, 0)
                } else {
                    failures = 0;
                    me.cfg.idle_interval
                };
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = me.wake.notified() => {}
                    _ = rx.changed() => break,
                }
            }
        });
        SyncHandle { stop: tx, task }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::notify::Recorder;
    use crate::store::{FileVault, KeyVault};

    fn store() -> (tempfile::TempDir, Arc<Store>) {
        let dir = tempfile::tempdir().expect("tmp");
        let vault: Arc<dyn KeyVault> =
            Arc::new(FileVault::open_or_create(&dir.path().join("vault.key")).expect("vault"));
        let store = Arc::new(Store::create(&dir.path().join("s"), vault, None).expect("store"));
        (dir, store)
    }

    /// A raw HTTP server on loopback answering every request with `head` then `body` (and then keeping the
    /// connection open for `linger`); counts connections.
    async fn server(head: String, body: Vec<u8>, linger: Duration) -> (String, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let hits = Arc::new(AtomicUsize::new(0));
        let h = hits.clone();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                h.fetch_add(1, Ordering::SeqCst);
                let (head, body) = (head.clone(), body.clone());
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 16 * 1024];
                    let _ = sock.read(&mut buf).await;
                    let _ = sock.write_all(head.as_bytes()).await;
                    let _ = sock.write_all(&body).await;
                    tokio::time::sleep(linger).await;
                    let _ = sock.shutdown().await;
                });
            }
        });
        (format!("http://{addr}"), hits)
    }

    #[test]
    fn the_runner_refuses_plain_http_to_another_host() {
        let (_d, store) = store();
        for bad in ["http://gov.example.cn", "http://127.0.0.1:80@example.com", "http://localhost:8080"] {
            let r = SyncRunner::new(store.clone(), SyncConfig::new(bad), Arc::new(Recorder::default()));
            assert!(matches!(r, Err(Error::Validation { ref field, .. }) if field == "base_url"), "{bad}");
        }
    }

    #[tokio::test]
    async fn the_runner_follows_no_redirect() {
        let (_d, store) = store();
        // B is another origin; A redirects every request (a 307 would re-send a POST body there).
        let (b, b_hits) = server(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 28\r\nconnection: close\r\n\r\n"
                .into(),
            br#"{"events":[],"next":0,"x":1}"#.to_vec(),
            Duration::ZERO,
        )
        .await;
        let (a, a_hits) = server(
            format!("HTTP/1.1 307 Temporary Redirect\r\nlocation: {b}/v1/events\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"),
            Vec::new(),
            Duration::ZERO,
        )
        .await;
        let mut cfg = SyncConfig::new(a);
        cfg.token = Some("secret-token".into());
        cfg.request_timeout = Duration::from_secs(2);
        let runner = SyncRunner::new(store, cfg, Arc::new(Recorder::default())).expect("runner");
        let report = runner.run_once().await;
        assert!(a_hits.load(Ordering::SeqCst) >= 1);
        assert_eq!(b_hits.load(Ordering::SeqCst), 0, "the redirect was followed to another origin");
        assert!(report.failures >= 1, "a redirect is a failed pull: {report:?}");
    }

    #[tokio::test]
    async fn an_oversized_body_is_cut_off_as_it_streams() {
        let (_d, store) = store();
        // No Content-Length; more than the bound, then the connection stays open.
        let (a, _) = server(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n".into(),
            vec![b' '; MAX_RESPONSE + 64 * 1024],
            Duration::from_secs(30),
        )
        .await;
        let mut cfg = SyncConfig::new(a);
        cfg.request_timeout = Duration::from_secs(8);
        let runner = SyncRunner::new(store, cfg, Arc::new(Recorder::default())).expect("runner");
        let started = Instant::now();
        let report = runner.run_once().await;
        assert!(report.failures >= 1, "{report:?}");
        // Reading the whole body first would wait for the timeout (8 s).
        assert!(started.elapsed() < Duration::from_secs(4), "took {:?}", started.elapsed());
    }
}
