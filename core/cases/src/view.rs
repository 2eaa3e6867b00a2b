//! What a case screen shows, in one call: [`view`] gives a [`CaseView`] (whose case, its state, the
//! promised date in working days, the bilingual timeline, what is needed now — worded here, in Chinese and
//! English — and the actions the person may take). The case list is [`list_summaries`]. Both shells render
//! these records as they are; they word nothing and decide nothing about a case themselves.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::{progress, Case, CaseState, LicenceDelivery, Need};
use crate::calendar::{self, Calendar, Rules};
use crate::store::Store;
use crate::{Result, Text};

/// A case as a list shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct CaseSummary {
    pub id: String,
    /// Whose case (a subject id: the person's own, or an agent's principal).
    pub subject: String,
    /// The title in both languages (the shells pick one).
    pub title: Text,
    pub item_codes: Vec<String>,
    pub state: CaseState,
    /// The state as a person reads it.
    pub state_text: Text,
    /// The platform's receipt number (受理回执号), once it has the case.
    pub receipt: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// The platform refused something of this case: its reason, in both languages as the platform worded it.
    pub problem: Option<Text>,
    /// The form draft it was submitted from, if any.
    pub draft_id: Option<String>,
    /// The query code (查询码) given with the receipt: receipt number + applicant's ID number + this code
    /// follow the case from another phone (an agent writes it on the principal's paper receipt).
    pub query_code: Option<String>,
}

impl From<&Case> for CaseSummary {
    fn from(c: &Case) -> Self {
        CaseSummary {
            id: c.id.clone(),
            subject: c.subject.clone(),
            title: c.title_text(),
            item_codes: c.item_codes.clone(),
            state: c.state,
            state_text: c.state.label(),
            receipt: c.receipt.clone(),
            created_at: c.created_at,
            problem: c.problem.as_ref().map(|p| p.text()),
            draft_id: c.draft_id.clone(),
            query_code: c.query_code.clone(),
        }
    }
}

/// One step of the timeline as a screen shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct TimelineItem {
    /// Unix seconds.
    pub at: i64,
    /// `"self"`, `"device"`, `"platform"`, `"clerk:<name>"`.
    pub actor: String,
    pub state: CaseState,
    pub state_text: Text,
    pub note: Text,
}

/// Kinds of [`NeededItem`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
#[serde(rename_all = "snake_case")]
pub enum NeedKind {
    /// 补正: supply what the clerk asked for (action `supplement`).
    Supplement,
    /// 容缺: supply the material committed to (action `supplement`).
    Deferred,
    /// The platform refused the submission: change and resubmit, or give up (actions `resubmit`, `discard`).
    Fix,
    /// The licence of the approved case could not be issued into the wallet.
    Licence,
    /// Rate the service (action `rate`).
    Rate,
}

/// One thing the person must do now, worded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct NeededItem {
    pub kind: NeedKind,
    pub text: Text,
    /// By when, if there is a due date.
    pub due: Option<NaiveDate>,
    /// Working days from today to `due` (negative: late by that many).
    pub working_days_left: Option<i64>,
}

/// What the person may do with the case now (each is the precondition of the core call of that name).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct CaseActions {
    /// `supply`: a 补正 request or a 容缺 material is open.
    pub supplement: bool,
    /// `resubmit`: the platform refused the submission.
    pub resubmit: bool,
    /// `discard`: the platform refused something of this case.
    pub discard: bool,
    /// `rate`: completed, not yet rated, within the rating period.
    pub rate: bool,
    /// `complain`: the platform holds the case (a receipt number).
    pub complain: bool,
}

/// Everything a case screen shows, for one day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct CaseView {
    pub summary: CaseSummary,
    /// Promised completion date (承诺办结日期), after acceptance: `promised_days` working days, suspensions
    /// excluded.
    pub promised_date: Option<NaiveDate>,
    /// Working days from today to the promised date (negative: overdue by that many); `None` once decided.
    pub working_days_left: Option<i64>,
    /// The dates rest on a year without official calendar data (Monday–Friday assumed).
    pub provisional: bool,
    pub overdue: bool,
    /// The deadline as a person reads it ("承诺 2024-02-21 前办结，还剩 4 个工作日"), with the overdue and
    /// provisional caveats; `None` before acceptance.
    pub deadline_text: Option<Text>,
    pub needed_now: Vec<NeededItem>,
    /// Oldest first.
    pub timeline: Vec<TimelineItem>,
    pub actions: CaseActions,
    /// The issued licence as the platform offered it, if any.
    pub licence: Option<serde_json::Value>,
    /// Its delivery into the wallet by the sync loop: `pending`, `imported`, `refused` (None: no licence).
    pub licence_delivery: Option<String>,
    /// The wallet's licence id once imported.
    pub wallet_licence_id: Option<String>,
}

/// The wording of what is needed now.
fn worded(n: &Need) -> NeededItem {
    let (kind, text, due, working_days_left) = match n {
        Need::Supplement { items, note, due, working_days_left } => (
            NeedKind::Supplement,
            Text::new(
                format!(
                    "请补正：{}{}",
                    items.join("、"),
                    if note.is_empty() { String::new() } else { format!("（{note}）") }
                ),
                format!(
                    "Supply: {}{}",
                    items.join(", "),
                    if note.is_empty() { String::new() } else { format!(" ({note})") }
                ),
            ),
            Some(*due),
            Some(*working_days_left),
        ),
        Need::Deferred { material, due, working_days_left } => (
            NeedKind::Deferred,
            Text::new(format!("容缺材料待补交：{material}"), format!("Deferred material to supply: {material}")),
            Some(*due),
            Some(*working_days_left),
        ),
        Need::Fix { message } => (
            NeedKind::Fix,
            Text::new(
                format!("平台拒收，请修改后重新提交：{}", message.zh),
                format!("Refused by the platform; change and resubmit: {}", message.en),
            ),
            None,
            None,
        ),
        Need::Licence { message } => (
            NeedKind::Licence,
            Text::new(format!("电子证照未能领取：{message}"), format!("The licence could not be issued: {message}")),
            None,
            None,
        ),
        Need::Rate { until } => (
            NeedKind::Rate,
            Text::new("请对本次服务进行评价（好差评）", "Please rate this service"),
            Some(*until),
            None,
        ),
    };
    NeededItem { kind, text, due, working_days_left }
}

/// The wording of the deadline line.
fn deadline(promised: Option<NaiveDate>, left: Option<i64>, overdue: bool, provisional: bool) -> Option<Text> {
    let d = promised?;
    let mut t = match left {
        Some(n) if overdue => Text::new(
            format!("已超过承诺办结日 {d}（逾期 {} 个工作日）", n.abs()),
            format!("past the promised date {d} (overdue by {} working days)", n.abs()),
        ),
        Some(n) => {
            Text::new(format!("承诺 {d} 前办结，还剩 {n} 个工作日"), format!("promised by {d}: {n} working days left"))
        }
        None => Text::new(format!("承诺办结日 {d}"), format!("promised by {d}")),
    };
    if provisional {
        t.zh.push_str("（该年官方节假日未公布，暂按周一至周五计算）");
        t.en.push_str(" (provisional: no official holidays for that year yet, Monday–Friday assumed)");
    }
    Some(t)
}

/// The screen of `case` on `today`, counted with `cal` and `rules`.
pub fn case_view(case: &Case, cal: &Calendar, rules: &Rules, today: NaiveDate) -> Result<CaseView> {
    let p = progress(case, cal, rules, today)?;
    let provisional = p.promised_date.as_ref().is_some_and(|d| d.provisional)
        || p.working_days_left.as_ref().is_some_and(|d| d.provisional);
    let needed_now: Vec<NeededItem> = p.needed_now.iter().map(worded).collect();
    let has = |k: NeedKind| needed_now.iter().any(|n| n.kind == k);
    let actions = CaseActions {
        supplement: has(NeedKind::Supplement) || has(NeedKind::Deferred),
        resubmit: case.problem.is_some() && case.state == CaseState::Queued,
        discard: case.problem.is_some(),
        rate: has(NeedKind::Rate),
        complain: case.receipt.is_some() && case.state != CaseState::Withdrawn,
    };
    let promised_date = p.promised_date.map(|d| d.value);
    let working_days_left = p.working_days_left.map(|d| d.value);
    Ok(CaseView {
        summary: CaseSummary::from(case),
        promised_date,
        working_days_left,
        provisional,
        overdue: p.overdue,
        deadline_text: deadline(promised_date, working_days_left, p.overdue, provisional),
        needed_now,
        timeline: p
            .timeline
            .into_iter()
            .map(|e| TimelineItem {
                at: e.at,
                actor: e.actor,
                state: e.state,
                state_text: e.state.label(),
                note: e.note,
            })
            .collect(),
        actions,
        licence: case.licence.clone(),
        licence_delivery: case.licence_delivery.as_ref().map(|d| d.as_str().to_string()),
        wallet_licence_id: match &case.licence_delivery {
            Some(LicenceDelivery::Imported { licence_id, .. }) => Some(licence_id.clone()),
            _ => None,
        },
    })
}

/// The screen of a stored case on `today` (`None`: the store clock's day), counted with the official
/// calendar and its verified updates (a stored update that fails verification is an error, not a fallback).
/// A plain call: a principal's case is refused ([`Store::plain_access`]); the shells open cases through
/// `zhangban_agent::agent::view_case`, which shows a principal's under their mandate.
pub fn view(store: &Store, case_id: &str, today: Option<NaiveDate>) -> Result<CaseView> {
    let case = super::get(store, case_id)?;
    store.plain_access(&case.subject)?;
    view_of(store, &case, today)
}

/// The screen of `case`, already loaded and already allowed (agent mode's check for a principal's).
pub fn view_of(store: &Store, case: &Case, today: Option<NaiveDate>) -> Result<CaseView> {
    let cal = calendar::update::load(store)?;
    case_view(case, &cal, &Rules::default(), today.unwrap_or_else(|| store.today()))
}

/// The case list of one subject, newest first. A plain call: a principal's list is refused
/// ([`Store::plain_access`]; agent mode lists them).
pub fn list_summaries(store: &Store, subject: &str) -> Result<Vec<CaseSummary>> {
    store.plain_access(subject)?;
    Ok(super::list(store, subject)?.iter().map(CaseSummary::from).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::Calendar;
    use crate::outbox::Problem;
    use serde_json::json;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date")
    }

    fn case(state: CaseState) -> Case {
        Case {
            id: "c1".into(),
            subject: "principal-1".into(),
            title: "个体工商户设立登记".into(),
            title_en: String::new(),
            item_codes: vec!["GT-001".into()],
            state,
            values: json!({}),
            attachments: vec![],
            receipt: None,
            platform_id: None,
            created_at: 0,
            accepted_on: None,
            promised_days: None,
            pauses: vec![],
            supplement: None,
            deferred: vec![],
            result: None,
            reason: None,
            completed_on: None,
            licence: None,
            licence_delivery: None,
            timeline: vec![],
            problem: None,
            rating: None,
            complaints: vec![],
            urged_at: None,
            agent: None,
            query_code: None,
            last_event_seq: 0,
            draft_id: None,
            materials: vec![],
        }
    }

    fn view_on(c: &Case, day: &str) -> CaseView {
        case_view(c, &Calendar::bundled(), &Rules::default(), d(day)).expect("view")
    }

    #[test]
    fn promised_date_and_days_left_count_working_days_across_spring_festival() {
        // Accepted Thursday 8 Feb 2024, 5 working days: 9 Feb, then the holiday to 17 Feb, 18 Feb (调休),
        // 19, 20, 21 → 21 Feb. On Friday 9 Feb four working days are left.
        let mut c = case(CaseState::Accepted);
        c.receipt = Some("ZB1".into());
        c.accepted_on = Some(d("2024-02-08"));
        c.promised_days = Some(5);
        let v = view_on(&c, "2024-02-09");
        assert_eq!(v.promised_date, Some(d("2024-02-21")));
        assert_eq!(v.working_days_left, Some(4));
        assert!(!v.provisional && !v.overdue);
        assert_eq!(v.summary.subject, "principal-1", "whose case it is");
        assert_eq!(v.summary.state_text, Text::new("已受理", "Accepted"));
        assert_eq!(
            v.deadline_text,
            Some(Text::new("承诺 2024-02-21 前办结，还剩 4 个工作日", "promised by 2024-02-21: 4 working days left"))
        );
        let late = view_on(&c, "2024-02-26");
        assert!(late.overdue);
        assert_eq!(late.working_days_left, Some(-3));
        assert_eq!(late.deadline_text.map(|t| t.zh), Some("已超过承诺办结日 2024-02-21（逾期 3 个工作日）".into()));
        // A year without official data is counted Monday–Friday and said so.
        c.accepted_on = Some(d("2031-03-03"));
        let guess = view_on(&c, "2031-03-04");
        assert!(guess.provisional);
        assert!(guess.deadline_text.is_some_and(|t| t.zh.contains("暂按周一至周五") && t.en.contains("provisional")));
        // Before acceptance there is no deadline to word.
        assert_eq!(view_on(&case(CaseState::Queued), "2031-03-04").deadline_text, None);
    }

    #[test]
    fn a_supplement_request_is_worded_in_both_languages_and_allows_supplying() {
        let mut c = case(CaseState::SupplementRequested);
        c.receipt = Some("ZB1".into());
        c.supplement = Some(crate::SupplementRequest {
            request_id: "R1".into(),
            items: vec!["身份证复印件".into(), "租赁合同".into()],
            note: "须加盖公章".into(),
            due: d("2024-03-01"),
            supplied: false,
        });
        let v = view_on(&c, "2024-02-26");
        assert_eq!(v.needed_now.len(), 1);
        let n = &v.needed_now[0];
        assert_eq!(n.kind, NeedKind::Supplement);
        assert_eq!(n.text.zh, "请补正：身份证复印件、租赁合同（须加盖公章）");
        assert_eq!(n.text.en, "Supply: 身份证复印件, 租赁合同 (须加盖公章)");
        assert_eq!((n.due, n.working_days_left), (Some(d("2024-03-01")), Some(4)));
        assert_eq!(
            v.actions,
            CaseActions { supplement: true, resubmit: false, discard: false, rate: false, complain: true }
        );
        // Once supplied nothing is needed and nothing can be supplied.
        if let Some(s) = c.supplement.as_mut() {
            s.supplied = true;
        }
        let v = view_on(&c, "2024-02-26");
        assert!(v.needed_now.is_empty() && !v.actions.supplement);
    }

    #[test]
    fn a_refused_submission_can_be_fixed_or_given_up_but_not_complained_about() {
        let mut c = case(CaseState::Queued);
        c.problem = Some(Problem {
            status: 422,
            message: "unknown item".into(),
            message_zh: String::new(),
            op: "submit".into(),
        });
        let v = view_on(&c, "2024-02-26");
        assert_eq!(v.needed_now.iter().map(|n| n.kind).collect::<Vec<_>>(), [NeedKind::Fix]);
        assert!(v.needed_now[0].text.zh.contains("重新提交") && v.needed_now[0].text.en.contains("unknown item"));
        assert_eq!(
            v.actions,
            CaseActions { supplement: false, resubmit: true, discard: true, rate: false, complain: false }
        );
        assert_eq!(v.summary.problem, Some(Text::new("unknown item", "unknown item")));
        // A refused follow-up of an accepted case is given up, not resubmitted.
        c.state = CaseState::Accepted;
        c.receipt = Some("ZB1".into());
        let v = view_on(&c, "2024-02-26");
        assert!(!v.actions.resubmit && v.actions.discard && v.actions.complain);
    }

    #[test]
    fn a_completed_case_asks_for_a_rating_until_the_window_closes() {
        let mut c = case(CaseState::Completed);
        c.receipt = Some("ZB1".into());
        c.completed_on = Some(d("2025-03-03"));
        let v = view_on(&c, "2025-03-04");
        assert_eq!(v.needed_now.iter().map(|n| n.kind).collect::<Vec<_>>(), [NeedKind::Rate]);
        let until = v.needed_now[0].due.expect("until");
        assert_eq!(v.needed_now[0].text, Text::new("请对本次服务进行评价（好差评）", "Please rate this service"));
        assert!(v.actions.rate && v.working_days_left.is_none());
        let late = view_on(&c, &(until + chrono::Duration::days(1)).to_string());
        assert!(late.needed_now.is_empty() && !late.actions.rate);
        c.rating = Some(crate::Rating { level: crate::RatingLevel::Satisfied, reason: None, at: 0 });
        assert!(!view_on(&c, "2025-03-04").actions.rate, "rated once");
    }

    #[test]
    fn timeline_notes_are_bilingual_and_old_single_strings_are_split() {
        let mut c = case(CaseState::Queued);
        c.timeline.push(crate::TimelineEntry {
            at: 1,
            actor: "self".into(),
            state: CaseState::Queued,
            note: Text::new("已提交", "submitted"),
        });
        let v = view_on(&c, "2025-03-04");
        assert_eq!(v.timeline[0].note, Text::new("已提交", "submitted"));
        assert_eq!(v.timeline[0].state_text.zh, "待提交（已保存在本机）");
        let old: crate::TimelineEntry = serde_json::from_value(
            json!({ "at": 1, "actor": "self", "state": "queued", "note": "已补交材料，等待发送 / material supplied, queued" }),
        )
        .expect("old entry");
        assert_eq!(old.note, Text::new("已补交材料，等待发送", "material supplied, queued"));
        let one: crate::TimelineEntry = serde_json::from_value(
            json!({ "at": 1, "actor": "platform", "state": "queued", "note": "平台已记录评价" }),
        )
        .expect("one language");
        assert_eq!(one.note, Text::new("平台已记录评价", "平台已记录评价"));
    }

    #[test]
    fn a_licence_refused_by_the_platform_is_needed_now() {
        let mut c = case(CaseState::Approved);
        c.receipt = Some("ZB1".into());
        c.licence_delivery = Some(LicenceDelivery::Refused { status: 422, message: "uscc mismatch".into(), at: 0 });
        let v = view_on(&c, "2025-03-04");
        assert_eq!(v.needed_now[0].kind, NeedKind::Licence);
        assert!(v.needed_now[0].text.en.contains("uscc mismatch"));
        assert_eq!((v.licence_delivery.as_deref(), v.wallet_licence_id), (Some("refused"), None));
    }
}
