//! The 待办 home: everything the first screen shows, in one call.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use zhangban_base::store::{Store, SELF_SUBJECT};
use zhangban_base::{Result, Text};
use zhangban_cases::{Case, CaseState};

use crate::sources::{self, Snapshot};
use crate::{date_of, settings, Reminder, LAST_SYNC_KEY};

/// The needs of one subject (the person, or one of an agent's principals).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct PrincipalNeeds {
    pub subject: String,
    /// `本人 / Me` for the person; the principal's name otherwise.
    pub label: Text,
    /// The most urgent of this subject's needs (at most [`PER_SUBJECT`]).
    pub needs: Vec<Reminder>,
    /// How many needs this subject has in all.
    pub needs_total: u32,
}

/// How many needs of each subject the home carries (the rest are counted).
pub const PER_SUBJECT: usize = 3;

/// A case still under way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct ActiveCase {
    pub case_id: String,
    pub subject: String,
    pub title: Text,
    pub state: CaseState,
    pub state_label: Text,
    pub receipt: Option<String>,
    /// 承诺办结日期, once accepted.
    pub promised_date: Option<NaiveDate>,
    /// Working days from today to the promised date (negative: overdue by that many); none while the case
    /// is not accepted.
    pub working_days_left: Option<i64>,
    /// `working_days_left` worded ("剩余 1 个工作日 / 1 working day left", or overdue by so many).
    pub working_days_text: Option<Text>,
    pub overdue: bool,
    /// The promised date rests on assumed (Monday–Friday) working days.
    pub provisional: bool,
}

/// A licence ending within the longest licence lead time, or ended in the last 90 days.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct ExpiringLicence {
    pub licence_id: String,
    pub name: Text,
    pub valid_until: NaiveDate,
    /// Negative: expired that many days ago.
    pub days_left: i64,
    /// The catalog item that renews it ([`crate::open_renewal`] opens its draft).
    pub renewal_item: Option<String>,
    pub renewal_name: Option<Text>,
}

/// A draft not yet submitted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct DraftLine {
    pub draft_id: String,
    pub subject: String,
    /// Item or bundle code.
    pub target: String,
    pub name: Text,
    pub updated_at: i64,
}

/// The 待办 home. A screen's worth: each list holds at most the setting `home_max` entries, the most
/// urgent first, and says how many there are in all (an agent's phone may have thousands of cases).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Home {
    pub at: i64,
    /// What needs the person now, most urgent first (at most `home_max`).
    pub needs: Vec<Reminder>,
    pub needs_total: u32,
    /// The same needs per subject, the subject with the most urgent need first (an agent's principals;
    /// one entry when all are the person's own).
    pub principals: Vec<PrincipalNeeds>,
    /// Cases under way: overdue first, then by working days left (at most `home_max`).
    pub cases: Vec<ActiveCase>,
    pub cases_total: u32,
    pub licences: Vec<ExpiringLicence>,
    /// Drafts in progress, the latest edited first (at most `home_max`).
    pub drafts: Vec<DraftLine>,
    pub drafts_total: u32,
    /// Outgoing operations waiting to be sent, and refused ones; an ended principal's are not among them (they
    /// will not be sent: ADR 0045), their line on the home counts them.
    pub outbox_pending: u32,
    pub outbox_refused: u32,
    /// The counts a screen shows, worded here so no shell builds a plural: needs beyond `needs` ("还有 3 项 /
    /// 3 more"), cases beyond `cases`, drafts beyond `drafts`, and the operations waiting to be sent
    /// ("待发送 1 项 / 1 item waiting to be sent"); none when there is nothing to count.
    pub needs_more: Option<Text>,
    pub cases_more: Option<Text>,
    pub drafts_more: Option<Text>,
    pub outbox_text: Option<Text>,
    /// The last sync run that reached the platform (Unix seconds).
    pub last_sync_at: Option<i64>,
    pub trust_list_age_secs: Option<i64>,
    pub status_list_age_secs: Option<i64>,
    /// The last year the working-day calendar has official data for.
    pub calendar_last_year: Option<i32>,
}

fn by_urgency(a: &Reminder, b: &Reminder) -> std::cmp::Ordering {
    b.urgency.cmp(&a.urgency).then(a.fire_at.cmp(&b.fire_at)).then(a.id.cmp(&b.id))
}

/// The 待办 home at the store's clock time.
pub fn home(store: &Arc<Store>) -> Result<Home> {
    let snap = Snapshot::load(store, settings(store)?)?;
    let found = sources::collect(&snap)?;
    let max = snap.settings.home_max as usize;
    // Sorted by reference: only what the home carries is copied (an agent's phone has thousands of needs).
    let mut all: Vec<&Reminder> = found.iter().filter_map(|f| f.need.as_ref()).collect();
    zhangban_base::sort::sort_by(&mut all, |a, b| by_urgency(a, b));
    let mut groups: Vec<PrincipalNeeds> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    for n in &all {
        let i = *index.entry(n.subject.as_str()).or_insert_with(|| {
            let label = if n.subject == SELF_SUBJECT {
                Text::new("本人", "Me")
            } else {
                let l = snap.labels.get(&n.subject).cloned().unwrap_or_else(|| n.subject.clone());
                Text::new(l.clone(), l)
            };
            groups.push(PrincipalNeeds { subject: n.subject.clone(), label, needs: vec![], needs_total: 0 });
            groups.len() - 1
        });
        let g = &mut groups[i];
        g.needs_total += 1;
        if g.needs.len() < PER_SUBJECT {
            g.needs.push((*n).clone());
        }
    }
    let needs_total = all.len() as u32;
    let needs: Vec<Reminder> = all.iter().take(max).map(|r| (*r).clone()).collect();
    let (cases, cases_total) = active_cases(&snap, &found, max);
    let max_lead = snap.settings.licence_leads.iter().copied().max().unwrap_or(30) as i64;
    let mut licences: Vec<ExpiringLicence> = snap
        .licences
        .iter()
        .filter(|l| !matches!(l.status, zhangban_wallet::LicenceStatus::Revoked))
        .filter_map(|l| {
            let end = date_of(l.valid_until);
            let days_left = (end - snap.today).num_days();
            if days_left > max_lead || days_left < -90 {
                return None;
            }
            let item = snap.catalog.renewal_item(l.licence_type.key());
            Some(ExpiringLicence {
                licence_id: l.licence_id.clone(),
                name: l.type_name.clone(),
                valid_until: end,
                days_left,
                renewal_item: item.map(|i| i.code.clone()),
                renewal_name: item.map(|i| i.name.clone()),
            })
        })
        .collect();
    zhangban_base::sort::sort_by(&mut licences, |a, b| {
        a.days_left.cmp(&b.days_left).then(a.licence_id.cmp(&b.licence_id))
    });
    licences.truncate(max);
    let mut open: Vec<_> = zhangban_forms::session::list_all(store)?
        .into_iter()
        .filter(|d| !d.submitted && !snap.ended.contains_key(&d.subject))
        .collect();
    let drafts_total = open.len() as u32;
    zhangban_base::sort::sort_by(&mut open, |a, b| b.updated_at.cmp(&a.updated_at).then(a.id.cmp(&b.id)));
    open.truncate(max);
    let drafts: Vec<DraftLine> = open
        .into_iter()
        .map(|d| DraftLine {
            name: snap
                .catalog
                .target(&d.target)
                .map(|t| t.name().clone())
                .unwrap_or_else(|_| Text::new(&*d.target, &*d.target)),
            draft_id: d.id,
            subject: d.subject,
            target: d.target,
            updated_at: d.updated_at,
        })
        .collect();
    let (trust, status) = match &snap.wallet {
        Some(w) => {
            // The licences' own status lists (ADR 0039), from the summaries just read: none read again.
            let c = w.cache_info_for(&snap.licences, snap.now)?;
            (c.trust_age_secs, c.status_age_secs)
        }
        None => (None, None),
    };
    let (needs_shown, cases_shown, drafts_shown) = (needs.len(), cases.len(), drafts.len());
    // An ended principal's operations will not be sent (ADR 0045): not counted as waiting nor as refused here;
    // their ended line counts them ("…项操作未发送，也不会再发送").
    let mine = |o: &&zhangban_base::outbox::Op| !snap.ended.contains_key(&o.subject);
    let pending = snap.pending.iter().filter(mine).count() as u32;
    let refused = snap.refused.iter().filter(mine).count() as u32;
    Ok(Home {
        at: snap.now,
        needs,
        needs_total,
        principals: groups,
        cases,
        cases_total,
        licences,
        drafts,
        drafts_total,
        needs_more: more(needs_total, needs_shown),
        cases_more: more(cases_total, cases_shown),
        drafts_more: more(drafts_total, drafts_shown),
        outbox_text: (pending > 0).then(|| {
            Text::count(
                i64::from(pending),
                "待发送 {n} 项",
                "{n} item waiting to be sent",
                "{n} items waiting to be sent",
            )
        }),
        outbox_pending: pending,
        outbox_refused: refused,
        last_sync_at: store.setting_or_unset(LAST_SYNC_KEY)?.and_then(|v| v.parse().ok()),
        trust_list_age_secs: trust,
        status_list_age_secs: status,
        calendar_last_year: snap.calendar.covered_years().last().copied(),
    })
}

/// "还有 3 项 / 3 more" when `total` is more than the `shown`.
fn more(total: u32, shown: usize) -> Option<Text> {
    let rest = i64::from(total) - shown as i64;
    (rest > 0).then(|| Text::count(rest, "还有 {n} 项", "{n} more", "{n} more"))
}

/// Working days left, worded: "剩余 3 个工作日 / 3 working days left", or overdue by so many.
pub fn working_days_text(left: i64) -> Text {
    if left < 0 {
        Text::count(-left, "已超期 {n} 个工作日", "Overdue by {n} working day", "Overdue by {n} working days")
    } else {
        Text::count(left, "剩余 {n} 个工作日", "{n} working day left", "{n} working days left")
    }
}

/// The cases under way, overdue first, then by working days left (at most `max`), and how many there are.
fn active_cases(s: &Snapshot, found: &sources::Findings, max: usize) -> (Vec<ActiveCase>, u32) {
    // An ended principal's cases are no longer the agent's to follow (ADR 0043).
    let mut all: Vec<(&Case, sources::Progress)> = s
        .cases
        .iter()
        .zip(&found.cases)
        .filter(|(c, _)| !s.ended.contains_key(&c.subject))
        .filter_map(|(c, f)| f.progress.map(|p| (c.as_ref(), p)))
        .collect();
    zhangban_base::sort::sort_by(&mut all, |(a, pa), (b, pb)| {
        pb.overdue
            .cmp(&pa.overdue)
            .then(pa.working_days_left.unwrap_or(i64::MAX).cmp(&pb.working_days_left.unwrap_or(i64::MAX)))
            .then(a.id.cmp(&b.id))
    });
    let total = all.len() as u32;
    let out = all
        .into_iter()
        .take(max)
        .map(|(c, p)| ActiveCase {
            case_id: c.id.clone(),
            subject: c.subject.clone(),
            title: c.title_text(),
            state: c.state,
            state_label: c.state.label(),
            receipt: c.receipt.clone(),
            promised_date: p.promised_date,
            working_days_left: p.working_days_left,
            working_days_text: p.working_days_left.map(working_days_text),
            overdue: p.overdue,
            provisional: p.provisional,
        })
        .collect();
    (out, total)
}
