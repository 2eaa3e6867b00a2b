//! Cases followed by their receipt (凭回执查询): a case filed at a counter (一窗受理) or by an agent on another
//! phone joins this phone's list with its timeline and deadlines; its later events arrive like those of the
//! phone's own cases (the platform lists them for this phone once it follows the case).

use serde::{Deserialize, Serialize};

use super::events::{apply_event, PlatformEvent};
use super::{put_case, Case, CaseState, TimelineEntry, COLLECTION};
use crate::store::Store;
use crate::{Error, Result, Text};

/// Most events a followed case may bring at once.
pub const MAX_FOLLOW_EVENTS: usize = 1000;

/// The platform's answer to `POST /v1/cases/follow` (docs/platform-api.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FollowedView {
    pub case_id: String,
    /// The case's reference on the platform's side; the local case id (events name it).
    pub client_ref: String,
    pub receipt: String,
    pub title: String,
    #[serde(default)]
    pub item_codes: Vec<String>,
    pub submitted_at: i64,
    #[serde(default)]
    pub events: Vec<PlatformEvent>,
}

fn bad(what: &str) -> Error {
    Error::Network(format!("invalid followed case from the platform: {what}"))
}

/// Adds the followed case to the list of `subject` (or returns it when it is followed already) with every
/// event so far applied, so its state, timeline and deadlines are what the platform says.
pub fn insert_followed(store: &Store, subject: &str, v: &FollowedView) -> Result<Case> {
    let ok_ref =
        |s: &str| !s.is_empty() && s.len() <= 64 && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_".contains(c));
    if !ok_ref(&v.client_ref) || !ok_ref(&v.case_id) {
        return Err(bad("id"));
    }
    if v.receipt.is_empty() || v.receipt.len() > 32 || v.title.chars().count() > 200 || v.item_codes.len() > 20 {
        return Err(bad("receipt, title or items"));
    }
    if v.events.len() > MAX_FOLLOW_EVENTS || v.events.iter().any(|e| e.case_id != v.case_id) {
        return Err(bad("events"));
    }
    store.transaction(|t| {
        if let Some(r) = t.get_opt(COLLECTION, &v.client_ref)? {
            return r.json::<Case>();
        }
        let mut case = Case {
            id: v.client_ref.clone(),
            subject: subject.to_string(),
            title: v.title.clone(),
            // The platform words it in Chinese only: it stands for both.
            title_en: String::new(),
            item_codes: v.item_codes.clone(),
            state: CaseState::Submitted,
            values: serde_json::json!({}),
            attachments: Vec::new(),
            receipt: Some(v.receipt.clone()),
            platform_id: Some(v.case_id.clone()),
            created_at: v.submitted_at,
            accepted_on: None,
            promised_days: None,
            pauses: Vec::new(),
            supplement: None,
            deferred: Vec::new(),
            result: None,
            reason: None,
            completed_on: None,
            licence: None,
            licence_delivery: None,
            timeline: vec![TimelineEntry {
                at: v.submitted_at,
                actor: "platform".into(),
                state: CaseState::Submitted,
                note: Text::new(format!("凭回执 {} 关注", v.receipt), format!("followed by receipt {}", v.receipt)),
            }],
            problem: None,
            rating: None,
            complaints: Vec::new(),
            last_event_seq: 0,
            draft_id: None,
            materials: Vec::new(),
            agent: None,
            urged_at: None,
            query_code: None,
        };
        let mut events = v.events.clone();
        zhangban_base::sort::sort_by_key(&mut events, |e| e.seq);
        for ev in &events {
            apply_event(&mut case, ev);
        }
        put_case(t, &case)?;
        Ok(case)
    })
}
