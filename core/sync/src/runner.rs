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
//! * [`SyncRunner::spawn`] runs it in the background (tokio): after a failing run it waits with
//!   exponential backoff and jitter, when idle it waits `idle_interval` or until [`SyncRunner::nudge`];
//!   it never spins while offline.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ring::digest;
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::{watch, Notify};

use crate::cases::{self, apply_event, PlatformEvent, Problem};
use crate::notify::{Listener, Notice, NoticeKind};
use crate::outbox::{self, Op, OpKind, Upload};
use crate::store::{PutOptions, Store, MAX_RANGE, SELF_SUBJECT};
use crate::{Error, Result};

const STATE_COLLECTION: &str = "sync_state";
const EVENTS_CURSOR: &str = "events_cursor";
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
        }
    }
}

/// What one run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
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
}

enum Fail {
    /// No connection could be made: stop this run.
    Offline(String),
    /// Try again later with the same key.
    Retry(String),
    /// The platform refused: quarantine.
    Refused { status: u16, message: String },
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
            message: format!(
                "手机上的附件“{name}”已损坏或已删除，请重新添加后再提交 / the attachment {name} on this phone is damaged or gone: add it again and resubmit"
            ),
        },
        other => other.into(),
    }
}

fn classify(e: reqwest::Error) -> Fail {
    if e.is_connect() {
        Fail::Offline(e.to_string())
    } else {
        Fail::Retry(e.to_string())
    }
}

/// Sends the outbox and pulls events for one store.
pub struct SyncRunner {
    store: Arc<Store>,
    cfg: SyncConfig,
    http: reqwest::Client,
    listener: Arc<dyn Listener>,
    wake: Notify,
    running: tokio::sync::Mutex<()>,
    token: std::sync::Mutex<Option<String>>,
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
        let http = super::tls::client_builder()?
            .timeout(cfg.request_timeout)
            .connect_timeout(cfg.request_timeout.min(Duration::from_secs(10)))
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| Error::Internal(format!("http client: {e}")))?;
        Ok(Arc::new(SyncRunner {
            store,
            cfg,
            http,
            listener,
            wake: Notify::new(),
            running: tokio::sync::Mutex::new(()),
            token: std::sync::Mutex::new(None),
        }))
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// Wakes the background loop now (something was queued, the network came back).
    pub fn nudge(&self) {
        self.wake.notify_one();
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.cfg.base_url, path)
    }

    fn req(&self, m: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let r = self.http.request(m, self.url(path));
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
    async fn json_response(resp: reqwest::Response) -> std::result::Result<Value, Fail> {
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(classify)?;
        if bytes.len() > MAX_RESPONSE {
            return Err(Fail::Retry("response too large".into()));
        }
        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(|e| Fail::Retry(format!("bad response: {e}")));
        }
        let message = serde_json::from_slice::<Value>(&bytes)
            .ok()
            .and_then(|v| {
                let en = v.get("message").and_then(Value::as_str).map(str::to_string);
                let zh = v.get("message_zh").and_then(Value::as_str).map(str::to_string);
                match (zh, en) {
                    (Some(z), Some(e)) => Some(format!("{z} / {e}")),
                    (z, e) => z.or(e),
                }
            })
            .unwrap_or_else(|| String::from_utf8_lossy(&bytes[..bytes.len().min(300)]).into_owned());
        let code = status.as_u16();
        // 401: the device is not (or no longer) registered; that is fixed by registering, not by
        // changing the request, so it waits like a network failure.
        if status.is_client_error() && code != 408 && code != 429 && code != 401 {
            Err(Fail::Refused { status: code, message })
        } else {
            Err(Fail::Retry(format!("HTTP {code}: {message}")))
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
                message: format!(
                    "手机上的附件“{}”在排队后被更改，请重新添加后再提交 / the attachment {} changed on this phone after it was queued: add it again and resubmit",
                    up.name, up.name
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
                .body(piece)
                .send()
                .await
                .map_err(classify)?;
            if resp.status() == reqwest::StatusCode::CONFLICT {
                // The platform holds a different amount (an earlier attempt's chunk landed): resume there.
                let v: Value = resp.json().await.map_err(classify)?;
                offset = v.get("received").and_then(Value::as_u64).unwrap_or(0);
                continue;
            }
            let v = Self::json_response(resp).await?;
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
        let attachments: Vec<Value> = op
            .uploads
            .iter()
            .map(|u| json!({ "upload_id": u.upload_id, "sha256": u.sha256, "size": u.size, "name": u.name }))
            .collect();
        let mut body = op.body.clone();
        if let Some(o) = body.as_object_mut() {
            o.insert("attachments".into(), Value::Array(attachments));
        }
        let path = match op.kind {
            OpKind::Submit => "/v1/cases".to_string(),
            kind => {
                let case = cases::get(&self.store, &op.case_id)?;
                let pid = case.platform_id.ok_or_else(|| Fail::Retry("case not yet on the platform".into()))?;
                match kind {
                    OpKind::Supplement => format!("/v1/cases/{pid}/supplements"),
                    OpKind::Rate => format!("/v1/cases/{pid}/rating"),
                    _ => format!("/v1/cases/{pid}/complaints"),
                }
            }
        };
        let resp = self
            .req(reqwest::Method::POST, &path)
            .header("idempotency-key", &op.idempotency_key)
            .json(&body)
            .send()
            .await
            .map_err(classify)?;
        Self::json_response(resp).await
    }

    /// Removes the operation and lets cases record the platform's answer, in one transaction.
    fn finish_op(&self, op: &Op, answer: &Value) -> Result<Option<Notice>> {
        self.store.transaction(|t| {
            t.delete(outbox::COLLECTION, &op.id)?;
            cases::delivered_in(t, op, answer)
        })
    }

    /// Quarantines a refused operation and lets cases show the refusal, in one transaction.
    fn quarantine(&self, op: &Op, status: u16, message: &str) -> Result<Notice> {
        let problem = Problem { status, message: message.chars().take(500).collect(), op: op.kind.as_str().into() };
        self.store.transaction(|t| {
            outbox::quarantine_in(t, op, problem.clone())?;
            cases::refused_in(t, op, &problem)
        })
    }

    /// One time-bounded run: send what is pending, then pull events.
    pub async fn run_once(self: &Arc<Self>) -> RunReport {
        let _guard = self.running.lock().await;
        self.refresh_token();
        let deadline = Instant::now() + self.cfg.run_budget;
        let mut report = RunReport::default();
        let mut tries: HashMap<String, u32> = HashMap::new();
        'outer: loop {
            if Instant::now() >= deadline {
                report.budget_exhausted = true;
                break;
            }
            let ops = match outbox::pending(&self.store) {
                Ok(o) => o,
                Err(_) => break,
            };
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
                            if op.kind == OpKind::Submit {
                                report.receipts += 1;
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
                        if let Ok(n) = self.quarantine(&op, status, &message) {
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
        if !report.offline && Instant::now() < deadline {
            match tokio::time::timeout(deadline.saturating_duration_since(Instant::now()), self.pull_events()).await {
                Ok(Ok(n)) => report.events_applied = n,
                Ok(Err(Fail::Offline(_))) => report.offline = true,
                Ok(Err(_)) => report.failures += 1,
                Err(_) => report.budget_exhausted = true,
            }
        }
        if !report.offline && Instant::now() < deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            let d =
                super::issuance::deliver_pending(&self.store, &self.cfg.base_url, self.listener.as_ref(), left).await;
            report.licences_imported = d.imported;
            report.failures += d.failures;
        }
        report.remaining = outbox::pending(&self.store).map(|v| v.len() as u32).unwrap_or(0);
        report
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
                .query(&[("since", since.to_string()), ("limit", self.cfg.events_page.to_string())])
                .send()
                .await
                .map_err(classify)?;
            let v = Self::json_response(resp).await?;
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
        self.store.transaction(|t| {
            let mut notices = Vec::new();
            for ev in events {
                if t.get_opt(cases::COLLECTION, &ev.client_ref)?.is_none() {
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
