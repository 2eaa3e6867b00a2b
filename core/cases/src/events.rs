//! Applying the platform's events to local cases (once each).

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Case, CaseState, DeferredMaterial, Pause, SupplementRequest, TimelineEntry};
use crate::notify::{Notice, NoticeKind};
use zhangban_base::Text;

/// One event from `GET /v1/events` (see `docs/platform-api.md`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlatformEvent {
    pub seq: u64,
    /// The platform's case id.
    pub case_id: String,
    /// The device's case id, echoed from the submission.
    pub client_ref: String,
    pub kind: String,
    /// Unix seconds.
    pub at: i64,
    pub actor: String,
    #[serde(default)]
    pub data: Value,
}

fn s(v: &Value, k: &str) -> Option<String> {
    v.get(k).and_then(Value::as_str).map(|x| x.chars().take(500).collect())
}

fn date(v: &Value, k: &str) -> Option<NaiveDate> {
    v.get(k).and_then(Value::as_str).and_then(|x| NaiveDate::parse_from_str(x, "%Y-%m-%d").ok())
}

fn strings(v: &Value, k: &str) -> Vec<String> {
    v.get(k)
        .and_then(Value::as_array)
        .map(|a| a.iter().take(50).filter_map(Value::as_str).map(|x| x.chars().take(200).collect()).collect())
        .unwrap_or_default()
}

/// Applies one event to `case`. Returns `None` when it was already applied (its `seq` is not newer)
/// or is unknown; otherwise the notice to raise. An event that does not fit the local state is still
/// applied (the platform is authoritative) and noted in the timeline.
pub fn apply_event(case: &mut Case, ev: &PlatformEvent) -> Option<Notice> {
    if ev.seq <= case.last_event_seq {
        return None;
    }
    case.last_event_seq = ev.seq;
    // The event names the platform's case: a case whose submission answer was lost learns its id here
    // (licence issuance asks for the licence of that case).
    if case.platform_id.is_none() && !ev.case_id.is_empty() && ev.case_id.len() <= 64 {
        case.platform_id = Some(ev.case_id.clone());
    }
    let d = &ev.data;
    let day = date(d, "on").or_else(|| chrono::DateTime::from_timestamp(ev.at, 0).map(|t| t.date_naive()));
    let before = case.state;
    let mut kind = NoticeKind::StateChanged;
    let (to, note_zh, note_en): (CaseState, String, String) = match ev.kind.as_str() {
        "accepted" => {
            case.accepted_on = date(d, "accepted_on").or(day);
            case.promised_days = d.get("promised_days").and_then(Value::as_u64).map(|n| n.min(3650) as u32);
            if let Some(rec) = s(d, "receipt") {
                case.receipt.get_or_insert(rec);
            }
            if let Some(arr) = d.get("deferred").and_then(Value::as_array) {
                for item in arr.iter().take(50) {
                    let (Some(m), due) = (s(item, "material"), date(item, "due")) else { continue };
                    match case.deferred.iter_mut().find(|x| x.material == m) {
                        Some(x) => x.due = due,
                        None => case.deferred.push(DeferredMaterial { material: m, due, supplied: false }),
                    }
                }
            }
            let days = case.promised_days.unwrap_or(0);
            (
                CaseState::Accepted,
                format!("已受理，承诺 {days} 个工作日内办结"),
                format!("accepted; promised within {days} working days"),
            )
        }
        "in_review" => (CaseState::InReview, "审查中".into(), "in review".into()),
        "suspended" => {
            if let Some(from) = day {
                case.pauses.push(Pause { from, to: None });
            }
            let r = s(d, "reason").unwrap_or_default();
            (CaseState::Suspended, format!("中止计时：{r}"), format!("suspended: {r}"))
        }
        "resumed" => {
            if let Some(p) = case.pauses.iter_mut().rev().find(|p| p.to.is_none()) {
                p.to = day.or(Some(p.from));
            }
            (CaseState::InReview, "恢复审查，继续计时".into(), "resumed; the clock runs again".into())
        }
        "supplement_requested" => {
            let due = date(d, "due")?;
            let items = strings(d, "items");
            kind = NoticeKind::SupplementRequested;
            case.supplement = Some(SupplementRequest {
                request_id: s(d, "request_id").unwrap_or_else(|| ev.seq.to_string()),
                items: items.clone(),
                note: s(d, "note").unwrap_or_default(),
                due,
                supplied: false,
            });
            (
                CaseState::SupplementRequested,
                format!("需补正：{}，请于 {due} 前提交", items.join("、")),
                format!("supplement requested: {} by {due}", items.join(", ")),
            )
        }
        "supplement_received" => (CaseState::InReview, "补正材料已收到".into(), "supplement received".into()),
        "deferred_received" => {
            case.deferred.iter_mut().for_each(|x| x.supplied = true);
            (case.state, "容缺材料已收到".into(), "deferred material received".into())
        }
        "approved" => {
            case.result = s(d, "result");
            let lic = d.get("licence").filter(|l| !l.is_null()).cloned();
            if lic.is_some() {
                kind = NoticeKind::LicenceIssued;
            }
            if lic.is_some() && case.licence_delivery.is_none() {
                case.licence_delivery = Some(super::LicenceDelivery::pending());
            }
            case.licence = lic;
            (CaseState::Approved, "准予许可".into(), "approved".into())
        }
        "rejected" => {
            case.reason = s(d, "reason");
            let r = case.reason.clone().unwrap_or_default();
            (CaseState::Rejected, format!("不予许可：{r}"), format!("rejected: {r}"))
        }
        "terminated" => {
            case.reason = s(d, "reason");
            let r = case.reason.clone().unwrap_or_default();
            (CaseState::Terminated, format!("已终止：{r}"), format!("terminated: {r}"))
        }
        "completed" => {
            case.completed_on = day;
            if let Some(r) = s(d, "result") {
                case.result = Some(r);
            }
            (CaseState::Completed, "已办结".into(), "completed".into())
        }
        "rating_recorded" | "complaint_recorded" | "urge_recorded" => {
            case.timeline.push(TimelineEntry {
                at: ev.at,
                actor: ev.actor.clone(),
                state: case.state,
                note: match ev.kind.as_str() {
                    "rating_recorded" => Text::new("平台已记录评价", "the platform recorded the rating"),
                    "complaint_recorded" => Text::new("平台已受理反映", "the platform took the complaint"),
                    _ => Text::new("平台已收到催办", "the platform received the urge"),
                },
            });
            return None;
        }
        _ => return None,
    };
    let fits = before == to || before.can_move_to(to);
    case.state = to;
    let mut note = Text::new(note_zh.clone(), note_en.clone());
    if !fits {
        note.zh.push_str(&format!("（平台状态变更：{} → {}）", before.as_str(), to.as_str()));
        note.en.push_str(&format!(" (platform moved it: {} → {})", before.as_str(), to.as_str()));
    }
    case.timeline.push(TimelineEntry { at: ev.at, actor: ev.actor.clone(), state: to, note });
    Some(Notice {
        kind,
        case_id: case.id.clone(),
        subject: case.subject.clone(),
        state: to.as_str().into(),
        title_zh: format!("{}：{}", case.title, to.label_zh()),
        title_en: format!("{}: {}", case.title_text().en, to.label_en()),
        body_zh: note_zh,
        body_en: note_en,
        at: ev.at,
    })
}
