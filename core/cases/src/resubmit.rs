//! Fixing what the platform refused.
//!
//! A submission the platform refused (4xx) sits quarantined in the outbox and the case shows the
//! reason ([`super::Problem`], [`super::Need::Fix`]). The person either
//! * changes it and sends it again ([`resubmit`]): in ONE transaction the quarantined operation is
//!   replaced by a new one with a **new idempotency key** (the platform refused the old body, and a
//!   replayed key would return that refusal or be refused as a different body), the case takes the new
//!   contents, its problem is cleared, and the timeline and the audit log record it; or
//! * gives up ([`discard`]): the quarantined operations are dropped in one transaction; a case whose
//!   submission never reached the platform becomes [`CaseState::Withdrawn`]. A refused follow-up
//!   (supplement, rating, complaint) is dropped, the case keeps its state, and what the follow-up had
//!   recorded on the case is undone (the supplement is needed again, the rating or complaint can be
//!   given again).

use serde_json::{json, Map, Value};

use super::{get, submit_body, update_in, Case, CaseState, Submission, TimelineEntry};
use crate::outbox::{self, Op, OpKind};
use crate::store::Store;
use crate::{audit, Error, Result};
use zhangban_base::Text;

/// How the form values change when a refused submission is sent again.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum ValuesChange {
    /// Keep the values as they were.
    #[default]
    Keep,
    /// A JSON merge patch (RFC 7386) over the old values: keys set, `null` removes a key.
    Patch(Value),
    /// New values replacing the old ones (an object).
    Replace(Value),
}

/// What the person changed before sending a refused submission again. `None` keeps the old part.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fix {
    /// e.g. the platform no longer offers the item chosen.
    pub item_codes: Option<Vec<String>>,
    pub title: Option<String>,
    pub values: ValuesChange,
    /// The complete new list of attachment ids.
    pub attachments: Option<Vec<String>>,
}

impl Fix {
    /// A fix as a screen gives it: `values` a JSON merge patch over the old values (or, with
    /// `replace_values`, the new values; `None` keeps them); `item_codes` / `attachments`: `None` keeps
    /// the old ones.
    pub fn new(
        values: Option<Value>,
        replace_values: bool,
        item_codes: Option<Vec<String>>,
        attachments: Option<Vec<String>>,
    ) -> Fix {
        let values = match values {
            None => ValuesChange::Keep,
            Some(v) if replace_values => ValuesChange::Replace(v),
            Some(v) => ValuesChange::Patch(v),
        };
        Fix { item_codes, title: None, values, attachments }
    }
}

/// RFC 7386 merge patch. Recursion is bounded by the nesting serde_json accepts (128).
fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(t) = target {
        for (k, v) in p {
            if v.is_null() {
                t.remove(k);
            } else {
                merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    }
}

fn not_refused() -> Error {
    Error::validation(
        "case",
        "该办件没有被平台拒收的提交，无需重新提交。",
        "this case has no submission refused by the platform to send again.",
    )
}

fn quarantined_of(t: &mut crate::store::Txn<'_>, case_id: &str) -> Result<Vec<Op>> {
    let mut ops: Vec<Op> = t
        .list_tagged(outbox::COLLECTION, outbox::QUARANTINED)?
        .iter()
        .map(|r| r.json::<Op>())
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .filter(|o| o.case_id == case_id)
        .collect();
    zhangban_base::sort::sort_by_key(&mut ops, |o| o.order);
    Ok(ops)
}

/// Sends a refused submission again with the person's changes. Returns the case as stored.
///
/// Fails with a validation error naming the field when the changed submission is invalid, and with
/// field `case` when the case has no refused submission. Nothing is changed on failure.
pub fn resubmit(store: &Store, case_id: &str, fix: &Fix) -> Result<Case> {
    resubmit_as(store, case_id, fix, None)
}

/// [`resubmit`] for a principal's case on an agent's phone: `proxy` (made by `zhangban-agent` after its
/// scope check) carries the mandate for the platform to check again and names the agent as the actor.
/// Without one a principal's case is refused ([`super::require_proxy`]).
pub fn resubmit_as(store: &Store, case_id: &str, fix: &Fix, proxy: Option<&super::Proxy>) -> Result<Case> {
    let case = get(store, case_id)?;
    if case.state != CaseState::Queued || case.receipt.is_some() {
        return Err(not_refused());
    }
    let mut values = case.values.clone();
    match &fix.values {
        ValuesChange::Keep => {}
        ValuesChange::Patch(p) => {
            if !p.is_object() {
                return Err(Error::validation("values", "修改内容须为对象。", "a values patch must be a JSON object."));
            }
            merge_patch(&mut values, p);
        }
        ValuesChange::Replace(v) => values = v.clone(),
    }
    let sub = Submission {
        item_codes: fix.item_codes.clone().unwrap_or_else(|| case.item_codes.clone()),
        title: fix.title.clone().unwrap_or_else(|| case.title.clone()),
        values,
        attachments: fix.attachments.clone().unwrap_or_else(|| case.attachments.clone()),
        deferred_materials: case.deferred.iter().map(|d| d.material.clone()).collect(),
        materials: case.materials.clone(),
        // A new title (a fix names one, in Chinese) drops the English of the old one.
        title_en: if fix.title.is_some() { String::new() } else { case.title_en.clone() },
    };
    sub.validate(store)?;
    // A principal's refused case is resubmitted only through the agent layer (its scope check).
    super::require_proxy(store, &case.subject, proxy)?;
    let actor = proxy.map_or_else(|| "self".to_string(), |p| p.agent_id.clone());
    let mut changed = Vec::new();
    if sub.item_codes != case.item_codes {
        changed.push("item_codes");
    }
    if sub.title != case.title {
        changed.push("title");
    }
    if sub.values != case.values {
        changed.push("values");
    }
    if sub.attachments != case.attachments {
        changed.push("attachments");
    }
    let body = submit_body(&case.id, &sub, proxy)?;
    let key = outbox::new_key();
    let uploads = outbox::prepare_uploads(store, &case.subject, &sub.attachments, &key)?;
    let now = store.now();
    store.transaction(|t| {
        let old = quarantined_of(t, case_id)?;
        let Some(old_submit) = old.iter().find(|o| o.kind == OpKind::Submit) else {
            return Err(not_refused());
        };
        t.delete(outbox::COLLECTION, &old_submit.id)?;
        let op = outbox::enqueue(t, &case.subject, case_id, OpKind::Submit, key, body, uploads)?;
        let stored = update_in(t, case_id, |c| {
            c.item_codes = sub.item_codes.clone();
            c.title = sub.title.clone();
            c.title_en = sub.title_en.clone();
            c.values = sub.values.clone();
            c.attachments = sub.attachments.clone();
            c.problem = None;
            let what = if changed.is_empty() { "未修改内容".to_string() } else { changed.join("、") };
            c.timeline.push(TimelineEntry {
                at: now,
                actor: actor.clone(),
                state: c.state,
                note: Text::new(
                    format!("已修改（{what}）并重新提交，等待发送"),
                    format!(
                        "changed ({}) and submitted again, queued",
                        if changed.is_empty() { "nothing".to_string() } else { changed.join(", ") }
                    ),
                ),
            });
            Ok(c.clone())
        })?;
        t.audit(&audit::NewEntry {
            actor: &actor,
            action: "case.resubmit",
            subject: &case.subject,
            target: case_id,
            detail: json!({
                "replaced_op": old_submit.id,
                "refused_status": old_submit.problem.as_ref().map(|p| p.status),
                "new_op": op.id,
                "changed": changed,
            }),
        })?;
        Ok(stored)
    })
}

/// Gives up on what the platform refused for this case. A submission that never reached the platform
/// leaves the case [`CaseState::Withdrawn`]; refused follow-ups are dropped and the case keeps its state.
pub fn discard(store: &Store, case_id: &str, reason: &str) -> Result<Case> {
    let reason = reason.trim();
    super::check_text("reason", reason, 0, super::MAX_REASON_CHARS)?;
    let now = store.now();
    store.transaction(|t| {
        let ops = quarantined_of(t, case_id)?;
        if ops.is_empty() {
            return Err(Error::validation(
                "case",
                "该办件没有被平台拒收的请求。",
                "this case has no request refused by the platform.",
            ));
        }
        for o in &ops {
            t.delete(outbox::COLLECTION, &o.id)?;
        }
        let withdrawn = ops.iter().any(|o| o.kind == OpKind::Submit);
        let stored = update_in(t, case_id, |c| {
            c.problem = None;
            if withdrawn && c.state.can_move_to(CaseState::Withdrawn) {
                c.state = CaseState::Withdrawn;
            }
            for o in &ops {
                undo_follow_up(c, o);
            }
            let why = if reason.is_empty() { String::new() } else { format!("：{reason}") };
            let kinds: Vec<&str> = ops.iter().map(|o| o.kind.as_str()).collect();
            c.timeline.push(TimelineEntry {
                at: now,
                actor: "self".into(),
                state: c.state,
                note: if withdrawn {
                    Text::new(format!("已放弃被拒收的申请{why}"), "gave up the refused submission")
                } else {
                    Text::new(
                        format!("已放弃被拒收的请求（{}）{why}", kinds.join("、")),
                        format!("gave up the refused request ({})", kinds.join(", ")),
                    )
                },
            });
            Ok(c.clone())
        })?;
        t.audit(&audit::NewEntry {
            actor: "self",
            action: "case.discard",
            subject: &stored.subject,
            target: case_id,
            detail: json!({
                "ops": ops.iter().map(|o| o.id.as_str()).collect::<Vec<_>>(),
                "kinds": ops.iter().map(|o| o.kind.as_str()).collect::<Vec<_>>(),
                "withdrawn": withdrawn,
                "reason": reason,
            }),
        })?;
        Ok(stored)
    })
}

/// What a dropped follow-up had recorded on the case did not happen on the platform: undo it, so the
/// person can supply, rate or complain again.
fn undo_follow_up(c: &mut Case, op: &Op) {
    match op.kind {
        OpKind::Supplement => match op.body.get("request_id").and_then(Value::as_str) {
            Some(rid) => {
                if let Some(s) = c.supplement.as_mut().filter(|s| s.request_id == rid) {
                    s.supplied = false;
                }
            }
            None => c.deferred.iter_mut().for_each(|d| d.supplied = false),
        },
        OpKind::Rate => c.rating = None,
        OpKind::Complain => {
            let id = op.body.get("complaint_id").and_then(Value::as_str);
            c.complaints.retain(|x| Some(x.id.as_str()) != id);
        }
        OpKind::Urge => c.urged_at = None,
        OpKind::Submit | OpKind::RevokeGrant | OpKind::RevokeDelegation => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_patch_follows_rfc_7386() {
        let mut v = json!({ "a": "b", "c": { "d": "e", "f": "g" }, "keep": 1 });
        merge_patch(&mut v, &json!({ "a": "z", "c": { "f": null, "x": [1] }, "new": true }));
        assert_eq!(v, json!({ "a": "z", "c": { "d": "e", "x": [1] }, "keep": 1, "new": true }));
        let mut v = json!({ "a": [1, 2] });
        merge_patch(&mut v, &json!({ "a": { "b": 1 } }));
        assert_eq!(v, json!({ "a": { "b": 1 } }));
    }
}
