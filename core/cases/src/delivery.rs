//! What the platform's answers to the outbox do to a case. The sync runner only carries operations and
//! answers; these functions, called inside the runner's transaction, make the case's moves (through
//! [`CaseState::can_move_to`]) and word the notices, so "submitted" happens here, in cases.

use serde_json::Value;

use super::{update_in, CaseState, TimelineEntry, COLLECTION};
use crate::notify::{Notice, NoticeKind};
use crate::outbox::{Op, OpKind, Problem};
use crate::store::Txn;
use crate::{Error, Result};
use zhangban_base::Text;

/// Longest receipt number or platform case id kept from an answer.
const MAX_ID_CHARS: usize = 64;

/// The platform accepted operation `op` with `answer`. For a submission the answer must carry the
/// receipt (`receipt`) and the platform's case id (`case_id`): the case records both and moves from
/// `queued` to `submitted`. Any other operation is noted on the timeline as delivered. Returns the
/// notice to raise (none when the case is gone, e.g. erased with its subject).
pub fn delivered_in(t: &mut Txn<'_>, op: &Op, answer: &Value) -> Result<Option<Notice>> {
    if t.get_opt(COLLECTION, &op.case_id)?.is_none() {
        return Ok(None);
    }
    let now = t.now();
    update_in(t, &op.case_id, |c| {
        if op.kind != OpKind::Submit {
            c.timeline.push(TimelineEntry {
                at: now,
                actor: "device".into(),
                state: c.state,
                note: Text::new(
                    format!("已送达平台（{}）", op.kind.as_str()),
                    format!("delivered ({})", op.kind.as_str()),
                ),
            });
            return Ok(None);
        }
        let field =
            |k: &str| answer.get(k).and_then(Value::as_str).map(|s| s.chars().take(MAX_ID_CHARS).collect::<String>());
        let (Some(receipt), Some(pid)) = (field("receipt"), field("case_id")) else {
            return Err(Error::Internal("receipt missing in the platform's answer".into()));
        };
        c.receipt = Some(receipt.clone());
        c.platform_id = Some(pid);
        // 6 digits or nothing: the platform's text is not shown as it came.
        if let Some(q) = field("query_code").filter(|q| q.len() == 6 && q.bytes().all(|b| b.is_ascii_digit())) {
            c.query_code = Some(q);
        }
        c.problem = None;
        // A resubmission of a case the platform already moved on (events may arrive before the answer)
        // keeps its state; only a queued case becomes submitted.
        if c.state.can_move_to(CaseState::Submitted) {
            c.state = CaseState::Submitted;
        }
        c.timeline.push(TimelineEntry {
            at: now,
            actor: "platform".into(),
            state: CaseState::Submitted,
            note: Text::new(format!("平台已接收，回执号 {receipt}"), format!("received, receipt {receipt}")),
        });
        Ok(Some(Notice {
            kind: NoticeKind::Receipt,
            case_id: c.id.clone(),
            subject: c.subject.clone(),
            state: c.state.as_str().into(),
            title_zh: format!("{}：已提交", c.title),
            title_en: format!("{}: submitted", c.title_text().en),
            body_zh: format!("回执号 {receipt}"),
            body_en: format!("receipt {receipt}"),
            at: now,
        }))
    })
}

/// The platform refused operation `op` (4xx) with `problem`: the case shows it and the person is told.
/// The operation itself is quarantined by the caller in the same transaction.
pub fn refused_in(t: &mut Txn<'_>, op: &Op, problem: &Problem) -> Result<Notice> {
    let now = t.now();
    let mut title = String::new();
    let mut state = String::new();
    let mut subject = zhangban_base::store::SELF_SUBJECT.to_string();
    if t.get_opt(COLLECTION, &op.case_id)?.is_some() {
        update_in(t, &op.case_id, |c| {
            c.problem = Some(problem.clone());
            c.timeline.push(TimelineEntry {
                at: now,
                actor: "platform".into(),
                state: c.state,
                note: Text::new(
                    format!("平台拒收：{}", problem.text().zh),
                    format!("refused by the platform: {}", problem.text().en),
                ),
            });
            title = c.title.clone();
            state = c.state.as_str().into();
            subject = c.subject.clone();
            Ok(())
        })?;
    }
    Ok(Notice {
        kind: NoticeKind::Refused,
        case_id: op.case_id.clone(),
        subject,
        state,
        title_zh: format!("{title}：平台拒收"),
        title_en: format!("{title}: refused by the platform"),
        body_zh: problem.text().zh,
        body_en: problem.text().en,
        at: now,
    })
}

/// Operation `op` was not sent: this phone held it back (`problem`, status 0: an agent's principal whose mandate
/// ended, ADR 0045). The case shows why, on its timeline by the device, like a refusal but not worded as the
/// platform's; no notice (nothing is to be done for that principal any more). Nothing when the case is gone.
pub fn held_in(t: &mut Txn<'_>, op: &Op, problem: &Problem) -> Result<()> {
    if t.get_opt(COLLECTION, &op.case_id)?.is_none() {
        return Ok(());
    }
    let now = t.now();
    update_in(t, &op.case_id, |c| {
        c.problem = Some(problem.clone());
        c.timeline.push(TimelineEntry { at: now, actor: "device".into(), state: c.state, note: problem.text() });
        Ok(())
    })
}
