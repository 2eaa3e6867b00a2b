//! The sync loop delivers the licence of an approved case into the wallet, once per case.
//!
//! * When the runner applies an `approved` event that carries a licence offer, it queues the case here
//!   ([`queue_in`], a record in collection `licence_queue` tagged `pending`) in the same transaction, and
//!   the case's [`LicenceDelivery`] becomes `Pending`.
//! * After pulling events, each run calls [`deliver_pending`]: for every queued case it requests the
//!   device-bound licence (`PlatformClient::request_licence`: nonce, proof of possession, issue, every
//!   wallet import check) and records the outcome on the case and drops the queue entry in one
//!   transaction. No network, a timeout, 5xx or a device not registered yet: the case stays queued and
//!   the next run tries again (the runner's backoff applies). A refusal (4xx) is kept on the case
//!   (`Refused`, shown in `progress().needed_now`) and raised to the listener; so is a licence the wallet
//!   will not import after [`MAX_IMPORT_ATTEMPTS`] tries.
//! * Once per case across restarts: the queue entry and the case are written together, and before the
//!   request the case records `started_at`. Should the app stop after the wallet imported the licence
//!   but before the case was updated, the next attempt finds that licence in the wallet (same type, the
//!   offered elements, imported since `started_at`) and records it instead of asking again.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use super::PlatformClient;
use crate::cases::{self, Case, LicenceDelivery, TimelineEntry};
use crate::notify::{Listener, Notice, NoticeKind};
use crate::store::{PutOptions, Store, Txn};
use crate::wallet::{ElementValue, LicenceType, Wallet};
use crate::{audit, Error, Result};

pub const QUEUE_COLLECTION: &str = "licence_queue";
const PENDING: &str = "pending";
/// Tries of a licence the wallet refuses to import (bad signature, wrong device…) before the case shows
/// it as refused. Network failures are retried without limit.
pub const MAX_IMPORT_ATTEMPTS: u32 = 5;

/// Queues the licence delivery of `case_id` (inside the transaction that applied its approval).
pub fn queue_in(t: &mut Txn<'_>, case_id: &str) -> Result<()> {
    let c: Case = t.get(cases::COLLECTION, case_id)?.json()?;
    t.put_json(
        QUEUE_COLLECTION,
        case_id,
        &c.subject,
        &json!({ "case_id": case_id }),
        PutOptions { tag: Some(PENDING), lookup: None },
    )
}

/// Case ids waiting for their licence.
pub fn queued(store: &Store) -> Result<Vec<String>> {
    Ok(store.list_tagged(QUEUE_COLLECTION, PENDING)?.into_iter().map(|r| r.id).collect())
}

/// What one [`deliver_pending`] call did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryReport {
    pub imported: u32,
    pub refused: u32,
    /// Attempts that failed and will be retried.
    pub failures: u32,
}

enum Outcome {
    Done(Option<Notice>),
    /// Retry later; `stop`: the platform is unreachable, stop this round.
    Retry {
        error: String,
        stop: bool,
    },
}

/// Delivers every queued licence, within `budget`.
pub async fn deliver_pending(
    store: &Arc<Store>,
    base_url: &str,
    listener: &dyn Listener,
    budget: Duration,
) -> DeliveryReport {
    let mut report = DeliveryReport::default();
    let ids = match queued(store) {
        Ok(ids) if !ids.is_empty() => ids,
        Ok(_) => return report,
        Err(_) => {
            report.failures += 1;
            return report;
        }
    };
    let (client, wallet) = match (PlatformClient::new(base_url), Wallet::open(store.clone())) {
        (Ok(c), Ok(w)) => (c, w),
        _ => {
            report.failures += 1;
            return report;
        }
    };
    let deadline = Instant::now() + budget;
    for id in ids {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        let outcome = match tokio::time::timeout(left, deliver_one(store, &client, &wallet, &id)).await {
            Ok(Ok(o)) => o,
            Ok(Err(e)) => Outcome::Retry { error: e.to_string(), stop: false },
            Err(_) => Outcome::Retry { error: "run budget reached".into(), stop: true },
        };
        match outcome {
            Outcome::Done(Some(n)) => {
                if n.kind == NoticeKind::Refused {
                    report.refused += 1;
                } else {
                    report.imported += 1;
                }
                listener.on_notice(n);
            }
            Outcome::Done(None) => {}
            Outcome::Retry { error, stop } => {
                report.failures += 1;
                let _ = note_failure(store, &id, &error);
                if stop {
                    break;
                }
            }
        }
    }
    report
}

fn note_failure(store: &Store, case_id: &str, error: &str) -> Result<()> {
    store.transaction(|t| {
        if t.get_opt(cases::COLLECTION, case_id)?.is_none() {
            return Ok(());
        }
        cases::update_in(t, case_id, |c| {
            // `started_at` is kept: whether the failed attempt reached the wallet is checked next time.
            if let Some(LicenceDelivery::Pending { attempts, last_error, .. }) = &mut c.licence_delivery {
                *attempts = attempts.saturating_add(1);
                *last_error = Some(error.chars().take(300).collect());
            }
            Ok(())
        })
    })
}

/// A licence of this type with the offered elements, imported at or after `since` (an attempt that
/// completed in the wallet but not on the case).
fn imported_since(
    wallet: &Wallet,
    t: LicenceType,
    elements: &BTreeMap<String, ElementValue>,
    since: i64,
) -> Result<Option<String>> {
    let now = wallet.store().now();
    for l in wallet.licences(now)? {
        if l.licence_type != t || l.imported_at < since {
            continue;
        }
        let detail = wallet.licence(&l.licence_id, now)?;
        if elements.iter().all(|(k, v)| detail.elements.iter().any(|e| &e.key == k && &e.value == v)) {
            return Ok(Some(l.licence_id));
        }
    }
    Ok(None)
}

fn finish(store: &Store, case_id: &str, result: std::result::Result<String, (u16, String)>) -> Result<Notice> {
    let at = store.now();
    store.transaction(|t| {
        t.delete(QUEUE_COLLECTION, case_id)?;
        let notice = cases::update_in(t, case_id, |c| {
            let (kind, delivery, zh, en) = match &result {
                Ok(id) => (
                    NoticeKind::LicenceIssued,
                    LicenceDelivery::Imported { licence_id: id.clone(), at },
                    format!("电子证照已存入证照夹（{id}）"),
                    format!("the licence is in the wallet ({id})"),
                ),
                Err((status, message)) => (
                    NoticeKind::Refused,
                    LicenceDelivery::Refused { status: *status, message: message.clone(), at },
                    format!("电子证照未能领取：{message}"),
                    format!("the licence could not be issued: {message}"),
                ),
            };
            c.licence_delivery = Some(delivery);
            let note = zhangban_base::Text::new(zh.clone(), en.clone());
            c.timeline.push(TimelineEntry { at, actor: "device".into(), state: c.state, note });
            Ok(Notice {
                kind,
                case_id: c.id.clone(),
                subject: c.subject.clone(),
                state: c.state.as_str().into(),
                title_zh: format!("{}：{}", c.title, if result.is_ok() { "证照已存入证照夹" } else { "证照未能领取" }),
                title_en: format!(
                    "{}: {}",
                    c.title_text().en,
                    if result.is_ok() { "licence in the wallet" } else { "licence not issued" }
                ),
                body_zh: zh,
                body_en: en,
                at,
            })
        })?;
        let subject: Case = t.get(cases::COLLECTION, case_id)?.json()?;
        t.audit(&audit::NewEntry {
            actor: "device",
            action: if result.is_ok() { "case.licence_imported" } else { "case.licence_refused" },
            subject: &subject.subject,
            target: case_id,
            detail: match &result {
                Ok(id) => json!({ "licence_id": id }),
                Err((status, message)) => json!({ "status": status, "message": message }),
            },
        })?;
        Ok(notice)
    })
}

async fn deliver_one(store: &Arc<Store>, client: &PlatformClient, wallet: &Wallet, case_id: &str) -> Result<Outcome> {
    let case = match cases::get(store, case_id) {
        Ok(c) => c,
        Err(Error::NotFound { .. } | Error::Shredded { .. }) => {
            store.delete(QUEUE_COLLECTION, case_id)?;
            return Ok(Outcome::Done(None));
        }
        Err(e) => return Err(e),
    };
    let (attempts, started_at) = match &case.licence_delivery {
        Some(LicenceDelivery::Pending { attempts, started_at, .. }) => (*attempts, *started_at),
        // Already delivered or refused (a queue entry left behind): nothing to do.
        Some(_) => {
            store.delete(QUEUE_COLLECTION, case_id)?;
            return Ok(Outcome::Done(None));
        }
        None => (0, None),
    };
    let Some((t, elements)) = cases::licence_offer(&case) else {
        let msg = "批准结果中没有可领取的证照信息 / the approval names no licence the wallet can request";
        return Ok(Outcome::Done(Some(finish(store, case_id, Err((0, msg.into())))?)));
    };
    if let Some(since) = started_at {
        if let Some(id) = imported_since(wallet, t, &elements, since)? {
            return Ok(Outcome::Done(Some(finish(store, case_id, Ok(id))?)));
        }
    }
    // Remember that an attempt started (see the module docs), then ask.
    let started = store.now();
    store.transaction(|tx| {
        cases::update_in(tx, case_id, |c| {
            if let Some(LicenceDelivery::Pending { started_at, .. }) = &mut c.licence_delivery {
                *started_at = Some(started);
            } else if c.licence_delivery.is_none() {
                c.licence_delivery =
                    Some(LicenceDelivery::Pending { attempts: 0, last_error: None, started_at: Some(started) });
            }
            Ok(())
        })
    })?;
    if attempts > 0 {
        // An earlier try failed: the cached trust or status list may be what is out of date.
        if let Err(e @ Error::Network(_)) = client.refresh_wallet_lists(wallet).await {
            return Ok(Outcome::Retry { error: e.to_string(), stop: true });
        }
    }
    let Some(platform_id) = case.platform_id.clone() else {
        return Ok(Outcome::Retry { error: "case not yet on the platform".into(), stop: false });
    };
    match client.request_licence(wallet, t, Some(&platform_id)).await {
        Ok(summary) => Ok(Outcome::Done(Some(finish(store, case_id, Ok(summary.licence_id))?))),
        Err(Error::Rejected { status, message }) => {
            Ok(Outcome::Done(Some(finish(store, case_id, Err((status, message.chars().take(500).collect())))?)))
        }
        Err(e @ Error::Network(_)) => Ok(Outcome::Retry { error: e.to_string(), stop: true }),
        // Not registered yet, or the store is locked: wait, it is not the licence's fault.
        Err(e @ (Error::Validation { .. } | Error::Locked { .. })) => {
            Ok(Outcome::Retry { error: e.to_string(), stop: true })
        }
        Err(e) if attempts + 1 < MAX_IMPORT_ATTEMPTS => Ok(Outcome::Retry { error: e.to_string(), stop: false }),
        Err(e) => Ok(Outcome::Done(Some(finish(store, case_id, Err((0, e.message_zh())))?))),
    }
}
