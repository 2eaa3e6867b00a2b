//! The plan for the OS: what to schedule as local notifications, and what changed since the last plan.
//!
//! * Every rule's stages are candidates. A stage whose moment has passed was shown if the last plan held
//!   it (the OS fired it); otherwise the latest such stage of its group is shown now (the phone was off,
//!   or a sync just brought it) — never the older ones — worded as things stand now.
//! * Non-urgent reminders never fall in quiet hours: they move to the end of the quiet hours.
//! * Reminders further ahead than `window_days` wait for a later plan (a rolling window).
//! * `merge_at` or more non-urgent reminders at the same moment become one digest ("3 things need you
//!   today"), which links to the home.
//! * At most `max_pending`, soonest first.
//! * The diff against the stored last plan: `add` (new ids), `replace` (same id, changed content or time),
//!   `cancel` (ids no longer wanted — also those already shown, so a resolved reminder leaves the
//!   notification centre). The state is stored, so a restart gives the same ids and an empty diff.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, Weak};

use serde::{Deserialize, Serialize};
use zhangban_base::store::{Store, SELF_SUBJECT};
use zhangban_base::{Result, Text};

use crate::sources::{self, Found, Snapshot};

/// A reminder that may be planned: borrowed from the rules' findings (copied only when planned), at the
/// moment it would be shown.
struct Candidate<'a> {
    fire_at: i64,
    r: Cow<'a, Reminder>,
}

/// A place in the plan: one reminder, or several at the same moment merged into a digest.
enum Slot<'a> {
    One(Candidate<'a>),
    Merged { fire_at: i64, id: String, urgency: Urgency, members: Vec<Candidate<'a>> },
}

impl Slot<'_> {
    fn fire_at(&self) -> i64 {
        match self {
            Slot::One(c) => c.fire_at,
            Slot::Merged { fire_at, .. } => *fire_at,
        }
    }
    fn urgency(&self) -> Urgency {
        match self {
            Slot::One(c) => c.r.urgency,
            Slot::Merged { urgency, .. } => *urgency,
        }
    }
    fn id(&self) -> &str {
        match self {
            Slot::One(c) => &c.r.id,
            Slot::Merged { id, .. } => id,
        }
    }
}

impl Candidate<'_> {
    fn into_reminder(self) -> Reminder {
        let mut r = self.r.into_owned();
        r.fire_at = self.fire_at;
        r
    }
}
use crate::{at_minute, date_of, minute_of, settings, Link, Reminder, ReminderSource, Screen, Settings, Urgency, DAY};

const STATE_COLLECTION: &str = "remind_state";
const STATE_ID: &str = "plan";
/// The earliest next wake-up after a plan (WorkManager's minimum period is 15 minutes).
const MIN_WAKE_SECS: i64 = 15 * 60;

/// What to hand to the OS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Plan {
    /// The time of the plan (Unix seconds, from the store's clock).
    pub now: i64,
    /// Every notification that should be scheduled now, soonest first (at most `max_pending`). A
    /// `fire_at` at or before `now` means: show it now.
    pub pending: Vec<Reminder>,
    /// Since the last plan: schedule these…
    pub add: Vec<Reminder>,
    /// …reschedule these (same id, new content or time)…
    pub replace: Vec<Reminder>,
    /// …and remove these ids (pending or already shown).
    pub cancel: Vec<String>,
    /// When to run the background task next (Unix seconds): tomorrow morning, or earlier when reminders
    /// were left out of this plan by the cap.
    pub next_wakeup: i64,
    /// Reminders due later than the window or beyond the cap: planned by a later run.
    pub left_for_later: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Entry {
    fire_at: i64,
    hash: String,
    /// Shown as part of this digest, not on its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    shown_as: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct State {
    at: i64,
    entries: BTreeMap<String, Entry>,
}

static PLANNING: Mutex<()> = Mutex::new(());
/// The last state read, with its store object (held weakly, so its allocation is not reused by a later
/// store object) and the generation of its collection at the time.
#[allow(clippy::type_complexity)]
static LAST_STATE: Mutex<Option<((String, Weak<Store>), i64, Arc<State>)>> = Mutex::new(None);

fn hash(r: &Reminder) -> String {
    let bytes = serde_json::to_vec(r).unwrap_or_default();
    hex::encode(&ring::digest::digest(&ring::digest::SHA256, &bytes).as_ref()[..8])
}

/// Plans the notifications at the store's clock time and stores the plan (see the module docs).
pub fn plan(store: &Arc<Store>) -> Result<Plan> {
    let _one_at_a_time = PLANNING.lock().unwrap_or_else(|e| e.into_inner());
    let snap = Snapshot::load(store, settings(store)?)?;
    let found = sources::collect(&snap)?;
    let state = last_state(store)?;
    let (plan, next) = compute(&snap.settings, snap.now, found.iter(), &state);
    // Unchanged (a plan made again with nothing new): nothing to write, so the store stays as it was.
    if next.entries != state.entries {
        store.put_json(STATE_COLLECTION, STATE_ID, SELF_SUBJECT, &next)?;
    }
    Ok(plan)
}

/// The last plan's state, parsed again only when it was written since (the generation of its collection):
/// a steady background task plans over an unchanged state.
fn last_state(store: &Arc<Store>) -> Result<Arc<State>> {
    let key = (store.store_id().to_string(), Arc::downgrade(store));
    let generation = store.generation(STATE_COLLECTION)?;
    let mut kept = LAST_STATE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((k, g, st)) = kept.as_ref() {
        if k.0 == key.0 && Weak::ptr_eq(&k.1, &key.1) && *g == generation {
            return Ok(st.clone());
        }
    }
    let st: Arc<State> =
        Arc::new(store.get_opt(STATE_COLLECTION, STATE_ID)?.map(|r| r.json()).transpose()?.unwrap_or_default());
    *kept = Some((key, generation, st.clone()));
    Ok(st)
}

/// Forgets the last plan: the next [`plan`] hands every notification over as `add` again (after a
/// reinstall, or when the OS dropped the scheduled notifications). Ids stay the same, so nothing shows twice.
pub fn reset_plan(store: &Store) -> Result<()> {
    let _one_at_a_time = PLANNING.lock().unwrap_or_else(|e| e.into_inner());
    store.delete(STATE_COLLECTION, STATE_ID)?;
    Ok(())
}

/// Moves a non-urgent moment out of quiet hours (to their end).
fn out_of_quiet(s: &Settings, t: i64) -> i64 {
    let m = minute_of(t);
    if !s.is_quiet(m) {
        return t;
    }
    let day = date_of(t);
    let end_today = at_minute(day, s.quiet_end_minute);
    if end_today > t {
        end_today
    } else {
        at_minute(day + chrono::Duration::days(1), s.quiet_end_minute)
    }
}

fn digest_id(fire_at: i64) -> String {
    format!("digest:{}:{:04}", date_of(fire_at), minute_of(fire_at))
}

fn digest(members: &[&Reminder], fire_at: i64) -> Reminder {
    let n = members.len();
    let urgency = members.iter().map(|r| r.urgency).max().unwrap_or(Urgency::Normal);
    let first = members.first().map(|r| r.subject.clone()).unwrap_or_default();
    let subject = if members.iter().all(|r| r.subject == first) { first } else { String::new() };
    let shown = 3.min(n);
    let zh: Vec<&str> = members[..shown].iter().map(|r| r.title.zh.as_str()).collect();
    let en: Vec<&str> = members[..shown].iter().map(|r| r.title.en.as_str()).collect();
    let more = n - shown;
    let (mz, me) =
        if more > 0 { (format!(" 等 {n} 项"), format!(" and {more} more")) } else { (String::new(), String::new()) };
    Reminder {
        id: digest_id(fire_at),
        source: ReminderSource::Digest,
        urgency,
        subject,
        title: Text::new(format!("今天有 {n} 件事需要您处理"), format!("{n} things need you today")),
        body: Text::new(format!("{}{mz}", zh.join("；")), format!("{}{me}", en.join("; "))),
        link: Link::new(Screen::Home, ""),
        action: None,
        fire_at,
        due: members.iter().filter_map(|r| r.due).min(),
        provisional: members.iter().any(|r| r.provisional),
        merged: members.iter().map(|r| r.id.clone()).collect(),
    }
}

/// The plan at `now` from the rules' findings and the last plan's state; also the state to store.
pub(crate) fn compute<'a>(
    s: &Settings,
    now: i64,
    found: impl Iterator<Item = &'a Found>,
    last: &State,
) -> (Plan, State) {
    let mut kept: BTreeMap<String, Entry> = BTreeMap::new();
    let mut candidates: Vec<Candidate<'a>> = Vec::new();
    // Reminders further ahead than the window wait for a later plan.
    let horizon = now + i64::from(s.window_days) * DAY;
    let mut later: Vec<i64> = Vec::new();
    for f in found {
        let need = f.need.as_ref();
        let mut latest_past: Option<&'a Reminder> = None;
        for st in &f.stages {
            if st.fire_at <= now {
                // The latest past stage (of equal moments, the last listed).
                if latest_past.is_none_or(|l| st.fire_at >= l.fire_at) {
                    latest_past = Some(st);
                }
            } else {
                let fire_at = if st.urgency != Urgency::Urgent { out_of_quiet(s, st.fire_at) } else { st.fire_at };
                if fire_at > horizon {
                    later.push(fire_at);
                } else {
                    candidates.push(Candidate { fire_at, r: Cow::Borrowed(st) });
                }
            }
        }
        // Past stages: those the last plan held were shown (kept, so they are not cancelled); the latest
        // one, if never shown, is shown now.
        if let Some(st) = latest_past {
            let held = last.entries.get(&st.id);
            // Held back by quiet hours when it was handed over late: not shown yet, still pending then.
            let waiting = held.filter(|e| e.shown_as.is_none() && e.fire_at > now).map(|e| e.fire_at);
            match held {
                Some(e) if waiting.is_none() => {
                    kept.insert(st.id.clone(), e.clone());
                }
                _ => {
                    let mut st = st.clone();
                    // Shown late (the phone was off, or a sync just brought it): worded as things stand
                    // now ("20 days left", not the stage's "30 days").
                    if let Some(n) = need {
                        st.title = n.title.clone();
                        st.body = n.body.clone();
                        st.urgency = st.urgency.max(n.urgency);
                    }
                    let fire_at = match waiting {
                        Some(t) => t,
                        None if st.urgency == Urgency::Urgent => now,
                        None => out_of_quiet(s, now),
                    };
                    if fire_at > horizon {
                        later.push(fire_at);
                    } else {
                        candidates.push(Candidate { fire_at, r: Cow::Owned(st) });
                    }
                }
            }
        }
    }
    // Earlier past stages the last plan held are not kept: cancelling them clears an outdated notice
    // ("3 working days left") from the notification centre once a newer stage was shown.
    // Merge non-urgent reminders falling at the same moment.
    let mut by_time: HashMap<i64, Vec<Candidate<'a>>> = HashMap::new();
    let mut singles: Vec<Candidate<'a>> = Vec::new();
    for c in candidates {
        if c.r.urgency == Urgency::Urgent {
            singles.push(c);
        } else {
            by_time.entry(c.fire_at).or_default().push(c);
        }
    }
    // The digests are only named and ranked here; what they say (and the ids they stand for) is written
    // for those that make the plan.
    let mut slots: Vec<Slot<'a>> = singles.into_iter().map(Slot::One).collect();
    for (t, group) in by_time {
        if group.len() >= s.merge_at as usize {
            let urgency = group.iter().map(|c| c.r.urgency).max().unwrap_or(Urgency::Normal);
            slots.push(Slot::Merged { fire_at: t, id: digest_id(t), urgency, members: group });
        } else {
            slots.extend(group.into_iter().map(Slot::One));
        }
    }
    // Soonest first; only the `cap` soonest are sorted (the rest are counted for a later plan).
    let order = |a: &Slot<'_>, b: &Slot<'_>| {
        a.fire_at().cmp(&b.fire_at()).then(b.urgency().cmp(&a.urgency())).then(a.id().cmp(b.id()))
    };
    let cap = s.max_pending as usize;
    if slots.len() > cap {
        slots.select_nth_unstable_by(cap, order);
        later.extend(slots[cap..].iter().map(Slot::fire_at));
        slots.truncate(cap);
    }
    zhangban_base::sort::sort_by(&mut slots, order);
    let mut members_of: Vec<(String, Vec<String>)> = Vec::new();
    let singles: Vec<Reminder> = slots
        .into_iter()
        .map(|slot| match slot {
            Slot::One(c) => c.into_reminder(),
            Slot::Merged { fire_at, mut members, .. } => {
                zhangban_base::sort::sort_by(&mut members, |a, b| {
                    b.r.urgency.cmp(&a.r.urgency).then(a.r.id.cmp(&b.r.id))
                });
                let members: Vec<&Reminder> = members.iter().map(|c| c.r.as_ref()).collect();
                let d = digest(&members, fire_at);
                members_of.push((d.id.clone(), d.merged.clone()));
                d
            }
        })
        .collect();
    let pending = singles;
    // The new state and the diff.
    let mut next = State { at: now, entries: kept };
    let (mut add, mut replace) = (Vec::new(), Vec::new());
    for r in &pending {
        let e = Entry { fire_at: r.fire_at, hash: hash(r), shown_as: None };
        match last.entries.get(&r.id) {
            Some(old) if old.shown_as.is_none() => {
                if old.fire_at != e.fire_at || old.hash != e.hash {
                    replace.push(r.clone());
                }
            }
            _ => add.push(r.clone()),
        }
        next.entries.insert(r.id.clone(), e);
    }
    let planned_digests: HashMap<&str, &Vec<String>> =
        members_of.iter().filter(|(d, _)| next.entries.contains_key(d)).map(|(d, m)| (d.as_str(), m)).collect();
    for (d, members) in &planned_digests {
        let fire_at = next.entries.get(*d).map(|e| e.fire_at).unwrap_or(now);
        for m in members.iter() {
            next.entries.entry(m.clone()).or_insert(Entry {
                fire_at,
                hash: String::new(),
                shown_as: Some((*d).to_string()),
            });
        }
    }
    let mut cancel: Vec<String> = last
        .entries
        .iter()
        .filter(|(id, e)| e.shown_as.is_none() && !next.entries.contains_key(*id))
        .map(|(id, _)| id.clone())
        .collect();
    // A reminder now shown inside a digest is cancelled on its own.
    for (id, e) in &next.entries {
        if e.shown_as.is_some() && last.entries.get(id).is_some_and(|o| o.shown_as.is_none() && o.fire_at > now) {
            cancel.push(id.clone());
        }
    }
    zhangban_base::sort::sort_by(&mut cancel, Ord::cmp);
    cancel.dedup();
    let tomorrow = date_of(now) + chrono::Duration::days(1);
    let mut wake = at_minute(tomorrow, s.remind_minute.saturating_sub(60));
    if let Some(first_later) = later.iter().min() {
        wake = wake.min(*first_later);
    }
    let plan = Plan {
        now,
        pending,
        add,
        replace,
        cancel,
        next_wakeup: wake.max(now + MIN_WAKE_SECS),
        left_for_later: later.len() as u32,
    };
    (plan, next)
}
