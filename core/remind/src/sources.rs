//! The rules: what each source of deadlines yields, read from one [`Snapshot`] of the store.
//!
//! Every rule gives, per thing it watches (a *group*: one supplement request, one licence…), the need the
//! home shows now (if any) and the *stages* to plan: reminders at fixed moments (3 and 1 working days
//! before a due date, the due day, the working day after: missed). A stage's id is its group and stage
//! name, so it is the same in every plan and after a restart.

use std::collections::HashMap;
use std::sync::{Arc, Weak};

use chrono::{Duration, NaiveDate};
use zhangban_base::acting::{self, End};
use zhangban_base::deadline::Deadline as Published;
use zhangban_base::outbox::{self, Op};
use zhangban_base::store::{Store, Written, SELF_SUBJECT};
use zhangban_base::{Result, Text};
use zhangban_calendar::{Calendar, Rules};
use zhangban_cases::{self as cases, Case, CaseState};
use zhangban_catalog::Catalog;
use zhangban_wallet::{GrantRecord, LicenceStatus, LicenceSummary, Wallet};

use crate::{at_minute, date_of, Link, Reminder, ReminderAction, ReminderSource, Screen, Settings, Urgency, DAY};

/// What the rules read, loaded once per plan or home.
pub struct Snapshot {
    pub now: i64,
    pub today: NaiveDate,
    pub settings: Settings,
    pub calendar: Arc<Calendar>,
    pub rules: Rules,
    pub catalog: Arc<Catalog>,
    /// Cases in the watched states (open ones and those completed within the rating window), oldest first.
    pub cases: Vec<Arc<Case>>,
    pub licences: Vec<LicenceSummary>,
    pub grants: Vec<GrantRecord>,
    pub pending: Vec<Op>,
    pub refused: Vec<Op>,
    /// Subject id → label (a principal's name).
    pub labels: HashMap<String, String>,
    /// The wallet (None when its records could not be read: the other rules still work).
    pub wallet: Option<Wallet>,
    /// What other features published as running out (agent mode: delegations): (id, subject, deadline).
    pub deadlines: Vec<(String, String, Published)>,
    /// Agent mode's principals whose mandate ended (revoked, expired, completed): subject → how and when
    /// (`zhangban_base::acting`). Their needs, cases and drafts leave the home and the plan (ADR 0043).
    pub ended: HashMap<String, (End, i64)>,
    /// The version of each of `cases` (the same order): the case findings are cached per version.
    case_versions: Vec<Vec<u8>>,
    /// Which store object's cache the case findings go to.
    store_key: (String, Weak<Store>),
    /// The generation of the cases collection (and the window) `cases` were read at.
    cases_read_at: (i64, i64),
    /// The calendar update's version (empty: none stored): part of what the case findings depend on.
    calendar_version: Vec<u8>,
}

/// What the engine keeps between calls, per store object: the parsed watched cases, the calendar and the
/// case rules' findings, each with the version of the record it came from ([`Store::scan_changed`]), and the
/// write generation of the collections they were read at ([`Store::generation`]). A call on an unchanged
/// collection reads none of its rows; a call after a write decrypts, parses and reckons again only the
/// records that changed (a sync's event touches one case, not ten thousand); the rest is read from the
/// plaintext columns only.
struct Cache {
    store_id: String,
    /// The store object (two objects over the same files keep their own caches). Held weakly: while the
    /// cache holds it, its allocation is not reused, so a later store object never takes over this cache.
    owner: Weak<Store>,
    /// The cases collection's generation `cases` were read at, and the start of the rating window they were
    /// selected with (None: never read).
    cases_gen: Option<(i64, i64)>,
    cases: HashMap<String, (Vec<u8>, Arc<Case>)>,
    /// The calendar update collection's generation, and the calendar and update version read at it.
    calendar_gen: Option<i64>,
    calendar: Option<(Vec<u8>, Arc<Calendar>)>,
    /// `cases` oldest first, with their versions (rebuilt when the collection is read again).
    sorted: (Vec<Arc<Case>>, Vec<Vec<u8>>),
    /// What every case's findings were reckoned for: the day, the settings, the calendar, the labels.
    found_key: Option<FoundKey>,
    found: HashMap<String, (Vec<u8>, Arc<CaseFindings>)>,
    /// The findings in the order of `sorted`, the generation of the cases they go with, and whether any
    /// rests on assumed working days.
    #[allow(clippy::type_complexity)]
    found_list: Option<((i64, i64), Vec<Arc<CaseFindings>>, bool)>,
    counters: Counters,
}

/// How much work the engine did for one store object since it was first used (for tests and benchmarks:
/// [`counters`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Calls that read the rows of the cases collection (skipped while its generation is unchanged).
    pub case_scans: u64,
    /// Cases decrypted and parsed.
    pub cases_decrypted: u64,
    /// Cases whose rules were reckoned.
    pub cases_reckoned: u64,
    /// Case rows handed back by the store (kept ones of a full scan; written ones of an incremental read).
    pub case_rows_read: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct FoundKey {
    today: NaiveDate,
    settings: Settings,
    calendar_version: Vec<u8>,
    labels: HashMap<String, String>,
}

/// The caches of the store objects used last, the most recent last (a few: an app has one store; tests
/// running side by side have several).
static CACHE: std::sync::Mutex<Vec<Cache>> = std::sync::Mutex::new(Vec::new());
const CACHED_STORES: usize = 16;
/// More cases written than this since the last call (a first sync of an agent's phone): one full pass instead.
const INCREMENTAL_MAX: usize = 500;

/// The cache of this store object (a new one when it has none; the least recently used goes when full).
fn cache_for<'a>(g: &'a mut Vec<Cache>, store_id: &str, owner: &Weak<Store>) -> &'a mut Cache {
    match g.iter().position(|c| c.store_id == store_id && Weak::ptr_eq(&c.owner, owner)) {
        Some(i) => {
            let c = g.remove(i);
            g.push(c);
        }
        None => {
            // The caches of dropped store objects go first, then the least recently used.
            g.retain(|c| c.owner.strong_count() > 0);
            if g.len() >= CACHED_STORES {
                g.remove(0);
            }
            g.push(Cache {
                store_id: store_id.to_string(),
                owner: owner.clone(),
                cases_gen: None,
                cases: HashMap::new(),
                calendar_gen: None,
                calendar: None,
                sorted: (Vec::new(), Vec::new()),
                found_key: None,
                found: HashMap::new(),
                found_list: None,
                counters: Counters::default(),
            });
        }
    }
    let last = g.len() - 1;
    &mut g[last]
}

/// The engine's work counters for this store object (zero before its first home or plan).
pub fn counters(store: &Arc<Store>) -> Counters {
    let g = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    let owner = Arc::downgrade(store);
    g.iter()
        .find(|c| c.store_id == store.store_id() && Weak::ptr_eq(&c.owner, &owner))
        .map(|c| c.counters)
        .unwrap_or_default()
}

/// Drops what the engine keeps for this store object: its next call reads and reckons everything (the
/// tests compare the kept path against it).
#[cfg(test)]
pub(crate) fn forget(store: &Arc<Store>) {
    let mut g = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    let owner = Arc::downgrade(store);
    g.retain(|c| !Weak::ptr_eq(&c.owner, &owner));
}

impl Snapshot {
    pub fn load(store: &Arc<Store>, settings: Settings) -> Result<Snapshot> {
        let now = store.now();
        let today = store.today();
        // One pass over the cases' plaintext columns, decrypting only the open ones and those completed
        // recently enough to be rated (a case completed on day D was last written on or after D) — and of
        // those only the ones written since the last call.
        let rules = Rules::default();
        let days = i64::from(rules.rating_window_days + settings.rating_after_days + 2);
        let since = at_minute(today - Duration::days(days), 0);
        let watched = |_: &str, tag: Option<&str>, at: i64| match tag {
            Some(t) if t == CaseState::Completed.as_str() => at >= since,
            Some(t) => CaseState::UNDER_WAY.iter().any(|s| s.as_str() == t),
            None => false,
        };
        let store_key = (store.store_id().to_string(), Arc::downgrade(store));
        let mut guard = CACHE.lock().unwrap_or_else(|e| e.into_inner());
        let cache = cache_for(&mut guard, &store_key.0, &store_key.1);
        // The calendar with the stored signed update, verified again only when the update changed (a store
        // without one is not asked for it by id: a miss costs the store's full miss check).
        let cal_collection = zhangban_calendar::update::COLLECTION;
        let cal_gen = store.generation(cal_collection)?;
        if cache.calendar_gen != Some(cal_gen) || cache.calendar.is_none() {
            let cal_rows = store.scan_changed(cal_collection, &|_, _, _| true, &|_, _| true)?;
            let version = cal_rows.first().map(|(_, v, _)| v.clone()).unwrap_or_default();
            let calendar = match &cache.calendar {
                Some((v, c)) if *v == version => c.clone(),
                _ if cal_rows.is_empty() => Arc::new((*Calendar::bundled()).clone()),
                _ => Arc::new(zhangban_calendar::update::load(store)?),
            };
            cache.calendar = Some((version, calendar));
            cache.calendar_gen = Some(cal_gen);
        }
        let (calendar_version, calendar) = match &cache.calendar {
            Some((v, c)) => (v.clone(), c.clone()),
            None => (Vec::new(), Arc::new((*Calendar::bundled()).clone())),
        };
        // The cases: not read at all while the collection is as it was (its generation, read before the
        // rows, so a write in between makes the cache older, never newer); else one pass over the
        // plaintext columns, decrypting only what changed. The watched set also depends on the day (a
        // completed case leaves the rating window): another window reads the rows again.
        let cases_gen = store.generation(cases::COLLECTION)?;
        if cache.cases_gen != Some((cases_gen, since)) {
            // Written since the cases were read, in the same window: only those rows (the change log), unless
            // one was deleted or too many were written.
            let written = match cache.cases_gen {
                Some((g, w)) if w == since && g < cases_gen => {
                    let known = &cache.cases;
                    store.scan_written_since(cases::COLLECTION, g, INCREMENTAL_MAX, &watched, &|id, v| {
                        known.get(id).is_some_and(|(k, _)| k.as_slice() == v)
                    })?
                }
                _ => None,
            };
            match written {
                Some(rows) => {
                    cache.counters.case_rows_read += rows.len() as u64;
                    for row in rows {
                        match row {
                            Written::Dropped(id) => {
                                cache.cases.remove(&id);
                            }
                            Written::Kept((id, version, Some(r))) => {
                                cache.counters.cases_decrypted += 1;
                                let case = Arc::new(r?.json::<Case>()?);
                                cache.cases.insert(id, (version, case));
                            }
                            Written::Kept((id, version, None)) => {
                                if let Some(e) = cache.cases.get_mut(&id) {
                                    e.0 = version;
                                }
                            }
                        }
                    }
                }
                None => {
                    let known = &cache.cases;
                    let rows = store.scan_changed(cases::COLLECTION, &watched, &|id, v| {
                        known.get(id).is_some_and(|(k, _)| k.as_slice() == v)
                    })?;
                    cache.counters.case_scans += 1;
                    cache.counters.case_rows_read += rows.len() as u64;
                    let mut fresh: HashMap<String, (Vec<u8>, Arc<Case>)> = HashMap::with_capacity(rows.len());
                    for (id, version, rec) in rows {
                        let case = match rec {
                            Some(r) => {
                                cache.counters.cases_decrypted += 1;
                                Arc::new(r?.json::<Case>()?)
                            }
                            None => match cache.cases.remove(&id) {
                                Some((_, c)) => c,
                                None => continue,
                            },
                        };
                        fresh.insert(id, (version, case));
                    }
                    cache.cases = fresh;
                }
            }
            cache.cases_gen = Some((cases_gen, since));
            let mut sorted: Vec<(Vec<u8>, Arc<Case>)> = cache.cases.values().cloned().collect();
            zhangban_base::sort::sort_by(&mut sorted, |(_, a), (_, b)| {
                a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id))
            });
            let (versions, cases): (Vec<Vec<u8>>, Vec<Arc<Case>>) = sorted.into_iter().unzip();
            cache.sorted = (cases, versions);
        }
        let (cases, case_versions) = cache.sorted.clone();
        let cases_read_at = cache.cases_gen.unwrap_or_default();
        drop(guard);
        // The wallet only when it holds something (counted from the plaintext columns).
        let has_wallet_records = !store.tag_counts(zhangban_wallet::LICENCE_COLLECTION)?.is_empty()
            || !store.tag_counts(zhangban_wallet::GRANT_COLLECTION)?.is_empty();
        let wallet = if has_wallet_records { Some(Wallet::open(store.clone())?) } else { None };
        let (licences, grants) = match &wallet {
            Some(w) => (w.licences(now)?, w.grants(None)?),
            None => (vec![], vec![]),
        };
        let labels = store.subjects()?.into_iter().map(|s| (s.id, s.label)).collect();
        let pending = outbox::pending(store)?;
        let refused = outbox::quarantined(store)?;
        let deadlines = zhangban_base::deadline::list(store)?;
        let ended = acting::ended(store, now)?;
        Ok(Snapshot {
            now,
            today,
            settings,
            calendar,
            rules,
            catalog: Catalog::current(store)?,
            cases,
            licences,
            grants,
            pending,
            refused,
            labels,
            wallet,
            deadlines,
            ended,
            case_versions,
            store_key,
            cases_read_at,
            calendar_version,
        })
    }

    /// "For 李奶奶: " before a principal's reminders (nothing for the person's own).
    fn whose(&self, subject: &str) -> (String, String) {
        if subject == SELF_SUBJECT || subject.is_empty() {
            return (String::new(), String::new());
        }
        let label = self.labels.get(subject).map(String::as_str).unwrap_or(subject);
        (format!("为{label}："), format!("For {label}: "))
    }

    fn case_title(&self, case_id: &str) -> Option<Text> {
        self.cases.iter().find(|c| c.id == case_id).map(|c| c.title_text())
    }
}

/// One watched thing: the need it shows now and the reminders to plan.
#[derive(Debug, Clone)]
pub struct Found {
    pub group: String,
    pub need: Option<Reminder>,
    pub stages: Vec<Reminder>,
}

impl Found {
    /// Whose thing it is (every reminder of a group is the same subject's).
    fn subject(&self) -> Option<&str> {
        self.need.as_ref().or(self.stages.first()).map(|r| r.subject.as_str())
    }
}

const PROVISIONAL_ZH: &str = "（日期按周一至周五推算，节假日安排公布后可能调整）";
const PROVISIONAL_EN: &str = " (reckoned Monday to Friday until the holiday arrangement is published; it may change)";

#[allow(clippy::too_many_arguments)]
fn reminder(
    id: String,
    source: ReminderSource,
    urgency: Urgency,
    subject: &str,
    title: Text,
    body: Text,
    link: Link,
    action: Option<ReminderAction>,
    fire_at: i64,
    due: Option<NaiveDate>,
    provisional: bool,
) -> Reminder {
    let body = if provisional {
        Text::new(format!("{}{PROVISIONAL_ZH}", body.zh), format!("{}{PROVISIONAL_EN}", body.en))
    } else {
        body
    };
    Reminder {
        id,
        source,
        urgency,
        subject: subject.into(),
        title,
        body,
        link,
        action,
        fire_at,
        due,
        provisional,
        merged: vec![],
    }
}

/// The working day `n` working days before `due` (`n = 0`: `due`), and whether that rests on assumed data.
pub fn working_days_before(cal: &Calendar, due: NaiveDate, n: u32) -> (NaiveDate, bool) {
    let mut d = due;
    let mut left = n;
    let mut provisional = !cal.is_covered(due);
    let mut walked = 0;
    while left > 0 && walked < 400 {
        let Some(p) = d.pred_opt() else { break };
        d = p;
        walked += 1;
        let w = cal.is_working_day(d);
        provisional |= w.provisional;
        if w.value {
            left -= 1;
        }
    }
    (d, provisional)
}

/// The first working day after `d`.
fn next_working_day(cal: &Calendar, d: NaiveDate) -> (NaiveDate, bool) {
    match cal.add_working_days(d, 1, &[]) {
        Ok(r) => (r.value, r.provisional),
        Err(_) => (d + Duration::days(1), true),
    }
}

fn plural(n: i64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// Urgency of a due date `left` working days away.
fn deadline_urgency(left: i64) -> Urgency {
    match left {
        i64::MIN..=0 => Urgency::Urgent,
        1 => Urgency::High,
        2..=3 => Urgency::Normal,
        _ => Urgency::Low,
    }
}

struct Deadline<'a> {
    source: ReminderSource,
    group: String,
    case: &'a Case,
    /// 补正材料 / 容缺材料
    what_zh: &'static str,
    what_en: &'static str,
    items_zh: String,
    items_en: String,
    due: NaiveDate,
    /// The due date itself rests on assumed data.
    due_provisional: bool,
}

/// 补正 and 容缺 due dates: `deadline_leads` working days before, the due day, the working day after.
fn deadline(s: &Snapshot, d: Deadline<'_>) -> Found {
    let (pz, pe) = s.whose(&d.case.subject);
    let link = Link::new(Screen::Case, &d.case.id);
    let title = d.case.title_text();
    let (title_zh, title_en) = (&title.zh, &title.en);
    let due = d.due;
    let body = Text::new(
        format!("{pz}{title_zh}：请于 {due} 前补交{}。", d.items_zh),
        format!("{pe}{title_en}: supply {} by {due}.", d.items_en),
    );
    let mut stages = Vec::new();
    let mut leads = s.settings.deadline_leads.clone();
    zhangban_base::sort::sort_by(&mut leads, |a, b| b.cmp(a));
    leads.dedup();
    for n in leads {
        let (day, prov) = working_days_before(&s.calendar, due, n);
        stages.push(reminder(
            format!("{}:w{n}", d.group),
            d.source,
            if n == 1 { Urgency::High } else { Urgency::Normal },
            &d.case.subject,
            Text::new(
                format!("{}：还剩 {n} 个工作日", d.what_zh),
                format!("{}: {n} working day{} left", d.what_en, plural(n.into())),
            ),
            body.clone(),
            link.clone(),
            Some(ReminderAction::Supply),
            at_minute(day, s.settings.remind_minute),
            Some(due),
            prov || d.due_provisional,
        ));
    }
    stages.push(reminder(
        format!("{}:due", d.group),
        d.source,
        Urgency::Urgent,
        &d.case.subject,
        Text::new(format!("{}今天截止", d.what_zh), format!("{} due today", d.what_en)),
        body.clone(),
        link.clone(),
        Some(ReminderAction::Supply),
        at_minute(due, s.settings.remind_minute),
        Some(due),
        d.due_provisional,
    ));
    let (after, prov) = next_working_day(&s.calendar, due);
    let missed_body = Text::new(
        format!("{pz}{title_zh}：{}已于 {due} 截止，请尽快补交并联系办理部门。", d.what_zh),
        format!(
            "{pe}{title_en}: the {} was due {due}; supply it and contact the department now.",
            d.what_en.to_lowercase()
        ),
    );
    stages.push(reminder(
        format!("{}:missed", d.group),
        d.source,
        Urgency::Urgent,
        &d.case.subject,
        Text::new(format!("{}期限已过", d.what_zh), format!("{} deadline missed", d.what_en)),
        missed_body.clone(),
        link.clone(),
        Some(ReminderAction::Supply),
        at_minute(after, s.settings.remind_minute),
        Some(due),
        prov || d.due_provisional,
    ));
    let left = s.calendar.working_days_between(s.today, due, &[]).map(|r| (r.value, r.provisional));
    let (left, lprov) = left.unwrap_or((0, true));
    let need = if s.today > due {
        reminder(
            d.group.clone(),
            d.source,
            Urgency::Urgent,
            &d.case.subject,
            Text::new(format!("{}期限已过", d.what_zh), format!("{} deadline missed", d.what_en)),
            missed_body,
            link,
            Some(ReminderAction::Supply),
            at_minute(after, s.settings.remind_minute),
            Some(due),
            d.due_provisional,
        )
    } else {
        let (tz, te) = if left <= 0 {
            (format!("{}今天截止", d.what_zh), format!("{} due today", d.what_en))
        } else {
            (
                format!("{}：还剩 {left} 个工作日", d.what_zh),
                format!("{}: {left} working day{} left", d.what_en, plural(left)),
            )
        };
        reminder(
            d.group.clone(),
            d.source,
            deadline_urgency(left),
            &d.case.subject,
            Text::new(tz, te),
            body,
            link,
            Some(ReminderAction::Supply),
            at_minute(due, s.settings.remind_minute),
            Some(due),
            lprov || d.due_provisional,
        )
    };
    Found { group: d.group, need: Some(need), stages }
}

/// A short, stable, id-safe digest of a text (material names are Chinese).
pub(crate) fn short(text: &str) -> String {
    hex::encode(&ring::digest::digest(&ring::digest::SHA256, text.as_bytes()).as_ref()[..6])
}

fn case_rules(s: &Snapshot, c: &Case, out: &mut Vec<Found>) -> Result<()> {
    // 补正
    if let (Some(sup), CaseState::SupplementRequested) = (&c.supplement, c.state) {
        if !sup.supplied {
            out.push(deadline(
                s,
                Deadline {
                    source: ReminderSource::Supplement,
                    group: format!("supplement:{}:{}", c.id, short(&sup.request_id)),
                    case: c,
                    what_zh: "补正材料",
                    what_en: "Supplement",
                    items_zh: sup.items.join("、"),
                    items_en: sup.items.join(", "),
                    due: sup.due,
                    due_provisional: !s.calendar.is_covered(sup.due),
                },
            ));
        }
    }
    // 容缺
    if !c.state.is_final() {
        for m in c.deferred.iter().filter(|m| !m.supplied) {
            let Some(due) = c.deferred_due_of(m, &s.calendar, &s.rules)? else { continue };
            out.push(deadline(
                s,
                Deadline {
                    source: ReminderSource::Deferred,
                    group: format!("deferred:{}:{}", c.id, short(&m.material)),
                    case: c,
                    what_zh: "容缺材料",
                    what_en: "Deferred material",
                    items_zh: m.material.clone(),
                    items_en: m.material.clone(),
                    due: due.value,
                    due_provisional: due.provisional,
                },
            ));
        }
    }
    // The promised completion date, while its clock runs.
    if c.state.clock_running() {
        if let (Some(acc), Some(days)) = (c.accepted_on, c.promised_days) {
            let paused = c.paused_ranges(s.today);
            let pd = s.calendar.add_working_days(acc, days, &paused)?;
            out.push(promised(s, c, pd.value, pd.provisional));
        }
    }
    // 好差评
    if c.state == CaseState::Completed && c.rating.is_none() {
        if let Some(done) = c.completed_on {
            let until = done + Duration::days(s.rules.rating_window_days.into());
            let day = done + Duration::days(s.settings.rating_after_days.into());
            if s.today <= until {
                let (pz, pe) = s.whose(&c.subject);
                let r = reminder(
                    format!("rating:{}", c.id),
                    ReminderSource::Rating,
                    Urgency::Low,
                    &c.subject,
                    Text::new("请为办事体验评价", "How was the service? Rate it"),
                    Text::new(
                        format!("{pz}{}已办结，{until} 前可评价（好差评）。", c.title),
                        format!("{pe}{} is completed; rate it by {until}.", c.title_text().en),
                    ),
                    Link::new(Screen::Case, &c.id),
                    Some(ReminderAction::Rate),
                    at_minute(day.min(until), s.settings.remind_minute),
                    Some(until),
                    false,
                );
                out.push(Found { group: r.id.clone(), need: Some(r.clone()), stages: vec![r] });
            }
        }
    }
    Ok(())
}

fn promised(s: &Snapshot, c: &Case, pd: NaiveDate, provisional: bool) -> Found {
    let (pz, pe) = s.whose(&c.subject);
    let group = format!("promised:{}", c.id);
    let link = Link::new(Screen::Case, &c.id);
    let body = Text::new(
        format!("{pz}{}：承诺 {pd} 前办结。", c.title),
        format!("{pe}{}: promised by {pd}.", c.title_text().en),
    );
    let mut stages = Vec::new();
    let mut leads = s.settings.promised_leads.clone();
    zhangban_base::sort::sort_by(&mut leads, |a, b| b.cmp(a));
    leads.dedup();
    for n in &leads {
        let (day, prov) = working_days_before(&s.calendar, pd, *n);
        stages.push(reminder(
            format!("{group}:w{n}"),
            ReminderSource::Promised,
            Urgency::Low,
            &c.subject,
            Text::new(
                format!("承诺办结日还剩 {n} 个工作日"),
                format!("Promised completion in {n} working day{}", plural((*n).into())),
            ),
            body.clone(),
            link.clone(),
            None,
            at_minute(day, s.settings.remind_minute),
            Some(pd),
            prov || provisional,
        ));
    }
    let (after, prov) = next_working_day(&s.calendar, pd);
    let urged = c.urged_at.is_some();
    let overdue = reminder(
        format!("{group}:overdue"),
        ReminderSource::Promised,
        Urgency::High,
        &c.subject,
        Text::new("办件已超过承诺时限", "Case past its promised date"),
        if urged {
            Text::new(
                format!("{pz}{}：承诺 {pd} 前办结，现已超期；已催办。", c.title),
                format!("{pe}{}: promised by {pd}, now overdue; urged.", c.title_text().en),
            )
        } else {
            Text::new(
                format!("{pz}{}：承诺 {pd} 前办结，现已超期，可一键催办。", c.title),
                format!("{pe}{}: promised by {pd}, now overdue. You can urge the department.", c.title_text().en),
            )
        },
        link.clone(),
        (!urged).then_some(ReminderAction::Urge),
        at_minute(after, s.settings.remind_minute),
        Some(pd),
        prov || provisional,
    );
    stages.push(overdue.clone());
    let left = s.calendar.working_days_between(s.today, pd, &c.paused_ranges(s.today)).map(|r| r.value).unwrap_or(0);
    let max_lead = leads.first().copied().unwrap_or(0) as i64;
    let need = if s.today > pd {
        Some(Reminder { id: group.clone(), ..overdue })
    } else if left <= max_lead {
        Some(reminder(
            group.clone(),
            ReminderSource::Promised,
            if left <= 0 { Urgency::Normal } else { Urgency::Low },
            &c.subject,
            if left <= 0 {
                Text::new("今天是承诺办结日", "Promised completion is today")
            } else {
                Text::new(
                    format!("承诺办结日还剩 {left} 个工作日"),
                    format!("Promised completion in {left} working day{}", plural(left)),
                )
            },
            body,
            link,
            None,
            at_minute(pd, s.settings.remind_minute),
            Some(pd),
            provisional,
        ))
    } else {
        None
    };
    Found { group, need, stages }
}

fn licence_rules(s: &Snapshot, l: &LicenceSummary) -> Option<Found> {
    if matches!(l.status, LicenceStatus::Revoked | LicenceStatus::NotYetValid) {
        return None;
    }
    let end = date_of(l.valid_until);
    let group = format!("licence:{}", l.licence_id);
    let renewal = s.catalog.renewal_item(l.licence_type.key());
    let (link, action) = match renewal {
        Some(_) => (Link::new(Screen::Renewal, &l.licence_id), Some(ReminderAction::Renew)),
        None => (Link::new(Screen::Licence, &l.licence_id), None),
    };
    let name = l.type_name.clone();
    let body = match renewal {
        Some(item) => Text::new(
            format!("有效期至 {end}。点此办理“{}”，已为您预填。", item.name.zh),
            format!("Valid until {end}. Tap to apply for {} (prefilled).", item.name.en),
        ),
        None => Text::new(
            format!("有效期至 {end}，请及时向发证机关申请换发。"),
            format!("Valid until {end}; renew it with the issuing authority in time."),
        ),
    };
    let mut stages = Vec::new();
    let mut leads = s.settings.licence_leads.clone();
    zhangban_base::sort::sort_by(&mut leads, |a, b| b.cmp(a));
    leads.dedup();
    for n in &leads {
        let day = end - Duration::days((*n).into());
        stages.push(reminder(
            format!("{group}:d{n}"),
            ReminderSource::LicenceExpiry,
            match n {
                0..=1 => Urgency::High,
                2..=7 => Urgency::Normal,
                _ => Urgency::Low,
            },
            SELF_SUBJECT,
            Text::new(
                format!("{}将于 {n} 天后到期", name.zh),
                format!("{} expires in {n} day{}", name.en, plural((*n).into())),
            ),
            body.clone(),
            link.clone(),
            action,
            at_minute(day, s.settings.remind_minute),
            Some(end),
            false,
        ));
    }
    let expired = reminder(
        format!("{group}:expired"),
        ReminderSource::LicenceExpiry,
        Urgency::High,
        SELF_SUBJECT,
        Text::new(format!("{}已过期", name.zh), format!("{} has expired", name.en)),
        body.clone(),
        link.clone(),
        action,
        at_minute(end + Duration::days(1), s.settings.remind_minute).max(l.valid_until),
        Some(end),
        false,
    );
    stages.push(expired.clone());
    let days_left = (end - s.today).num_days();
    let max_lead = leads.first().copied().unwrap_or(30) as i64;
    let need = if s.now > l.valid_until {
        ((s.today - end).num_days() <= 90).then(|| Reminder { id: group.clone(), ..expired })
    } else if days_left <= max_lead {
        Some(reminder(
            group.clone(),
            ReminderSource::LicenceExpiry,
            match days_left {
                i64::MIN..=1 => Urgency::High,
                2..=7 => Urgency::Normal,
                _ => Urgency::Low,
            },
            SELF_SUBJECT,
            Text::new(
                format!("{}将于 {days_left} 天后到期", name.zh),
                format!("{} expires in {days_left} day{}", name.en, plural(days_left)),
            ),
            body,
            link,
            action,
            l.valid_until,
            Some(end),
            false,
        ))
    } else {
        None
    };
    Some(Found { group, need, stages })
}

fn grant_rules(s: &Snapshot, g: &GrantRecord) -> Option<Found> {
    if g.revoked_at.is_some() || g.expires_at <= s.now {
        return None;
    }
    let lead = i64::from(s.settings.grant_lead_hours) * 3600;
    let fire = g.expires_at - lead;
    if fire <= g.issued_at {
        return None; // a short grant: no reminder before it ends
    }
    let until = date_of(g.expires_at);
    let r = reminder(
        format!("grant:{}:h{}", g.grant_id, s.settings.grant_lead_hours),
        ReminderSource::GrantExpiry,
        Urgency::Low,
        SELF_SUBJECT,
        Text::new("授权用证即将到期", "A licence grant expires soon"),
        Text::new(
            format!("给“{}”的授权（用途：{}）将于 {until} 到期；如仍需要，请重新授权。", g.recipient, g.purpose),
            format!(
                "The grant to {} (purpose: {}) ends on {until}; grant again if still needed.",
                g.recipient, g.purpose
            ),
        ),
        Link::new(Screen::Grant, &g.grant_id),
        None,
        fire,
        Some(until),
        false,
    );
    let need = (s.now >= fire).then(|| Reminder { id: format!("grant:{}", g.grant_id), ..r.clone() });
    Some(Found { group: format!("grant:{}", g.grant_id), need, stages: vec![r] })
}

/// A principal's delegation to this phone's agent running out (agent mode publishes it through
/// `zhangban_base::deadline`: reminders may not depend on agent mode). `delegation_leads` days before the
/// end, then the end itself; the need shows from the longest lead until a week after the end (the
/// retention sweep erases the principal then).
fn delegation_rules(s: &Snapshot, id: &str, subject: &str, d: &Published) -> Option<Found> {
    if s.now > d.ends_at + 7 * DAY {
        return None;
    }
    let end = date_of(d.ends_at);
    let name = &d.name;
    let link = Link::new(Screen::Principal, subject);
    let soon = |lead: i64| {
        let (wz, we) = if lead <= 0 {
            ("今天".to_string(), "today".to_string())
        } else {
            (format!("还有 {lead} 天"), format!("in {lead} day{}", plural(lead)))
        };
        (
            Text::new("委托即将到期", "A delegation ends soon"),
            Text::new(
                format!("{name}的授权委托将于 {end} 到期（{wz}）；如仍需代办，请其重新委托。"),
                format!("{name}'s delegation ends on {end} ({we}); ask for a new one if you still act for them."),
            ),
        )
    };
    let mut stages = Vec::new();
    for lead in &s.settings.delegation_leads {
        let lead = i64::from(*lead);
        let (title, body) = soon(lead);
        stages.push(reminder(
            format!("{id}:d{lead}"),
            ReminderSource::Delegation,
            if lead <= 1 { Urgency::High } else { Urgency::Normal },
            subject,
            title,
            body,
            link.clone(),
            None,
            at_minute(end - Duration::days(lead), s.settings.remind_minute),
            Some(end),
            false,
        ));
    }
    let ended = reminder(
        format!("{id}:ended"),
        ReminderSource::Delegation,
        Urgency::High,
        subject,
        Text::new("委托已到期", "A delegation has ended"),
        Text::new(
            format!("{name}的授权委托已于 {end} 到期，不能再为其代办；如仍需要，请其重新委托。"),
            format!("{name}'s delegation ended on {end}: you can no longer act for them until they delegate again."),
        ),
        link,
        None,
        d.ends_at,
        Some(end),
        false,
    );
    let max_lead = s.settings.delegation_leads.iter().copied().max().unwrap_or(0);
    let need = if s.now >= d.ends_at {
        Some(Reminder { id: id.to_string(), ..ended.clone() })
    } else {
        let left = (end - s.today).num_days();
        (left <= i64::from(max_lead)).then(|| {
            let (title, body) = soon(left);
            let urgency = if left <= 1 { Urgency::High } else { Urgency::Normal };
            Reminder { id: id.to_string(), title, body, urgency, fire_at: s.now, ..ended.clone() }
        })
    };
    stages.push(ended);
    Some(Found { group: id.to_string(), need, stages })
}

fn op_label(op: &Op) -> Text {
    match op.kind {
        outbox::OpKind::Submit => Text::new("申请", "application"),
        outbox::OpKind::Supplement => Text::new("补交材料", "supplied material"),
        outbox::OpKind::Rate => Text::new("评价", "rating"),
        outbox::OpKind::Complain => Text::new("反映", "complaint"),
        outbox::OpKind::Urge => Text::new("催办", "urge"),
        outbox::OpKind::RevokeGrant => Text::new("撤回用证授权", "grant revocation"),
        outbox::OpKind::RevokeDelegation => Text::new("撤销委托", "delegation revocation"),
    }
}

/// Where a reminder about an outgoing operation leads: its case, or the grant it revokes (a revoked
/// delegation has no screen of its own: the home).
fn op_link(op: &Op) -> Link {
    match op.kind {
        outbox::OpKind::RevokeGrant => Link::new(Screen::Grant, op.case_id.trim_start_matches("grant:")),
        outbox::OpKind::RevokeDelegation => Link::new(Screen::Home, ""),
        _ => Link::new(Screen::Case, &op.case_id),
    }
}

fn outbox_rules(s: &Snapshot, op: &Op, refused: bool) -> Found {
    let created = op.order.div_euclid(16).div_euclid(1_000_000);
    let fire = created + i64::from(s.settings.stuck_hours) * 3600;
    let (pz, pe) = s.whose(&op.subject);
    let what = op_label(op);
    let title_of = s.case_title(&op.case_id).unwrap_or_default();
    let r = if refused {
        let reason = op.problem.as_ref().map(|p| p.text()).unwrap_or_default();
        reminder(
            format!("outbox:{}:refused", op.id),
            ReminderSource::Outbox,
            Urgency::High,
            &op.subject,
            Text::new(format!("平台未接受您的{}", what.zh), format!("The platform refused your {}", what.en)),
            Text::new(
                format!("{pz}{}：{}。请修改后重新提交。", title_of.zh, reason.zh),
                format!("{pe}{}: {}. Change it and submit again.", title_of.en, reason.en),
            ),
            op_link(op),
            Some(ReminderAction::Fix),
            fire,
            None,
            false,
        )
    } else {
        let err = op.last_error.as_deref().map(|e| e.chars().take(80).collect::<String>()).unwrap_or_default();
        reminder(
            format!("outbox:{}:stuck", op.id),
            ReminderSource::Outbox,
            Urgency::Normal,
            &op.subject,
            Text::new(format!("{}一天未能发出", what.zh), format!("Your {} has not gone out for a day", what.en)),
            Text::new(
                format!(
                    "{pz}{}：仍保存在本机等待发送{}。请连接网络。",
                    title_of.zh,
                    if err.is_empty() { String::new() } else { format!("（{err}）") }
                ),
                format!(
                    "{pe}{}: still waiting on this phone to be sent{}. Please go online.",
                    title_of.en,
                    if err.is_empty() { String::new() } else { format!(" ({err})") }
                ),
            ),
            op_link(op),
            None,
            fire,
            None,
            false,
        )
    };
    let need = (s.now >= fire).then(|| Reminder { id: format!("outbox:{}", op.id), ..r.clone() });
    Found { group: format!("outbox:{}", op.id), need, stages: vec![r] }
}

fn calendar_rule(s: &Snapshot, any_provisional: bool) -> Option<Found> {
    let last = *s.calendar.covered_years().last()?;
    let next = last + 1;
    let jan1 = NaiveDate::from_ymd_opt(next, 1, 1)?;
    let day = jan1 - Duration::days(s.settings.calendar_lead_days.into());
    let fire = at_minute(day, s.settings.remind_minute);
    let r = reminder(
        format!("calendar:{next}"),
        ReminderSource::Calendar,
        if any_provisional { Urgency::Normal } else { Urgency::Low },
        SELF_SUBJECT,
        Text::new(format!("{next} 年节假日安排尚未同步"), format!("The {next} holiday arrangement is not synced yet")),
        Text::new(
            format!("{next} 年的截止日期暂按周一至周五推算，可能变化；联网后自动更新。"),
            format!("Deadlines in {next} are reckoned Monday to Friday for now and may change; they update when you are online."),
        ),
        Link::new(Screen::Sync, ""),
        None,
        fire,
        Some(jan1),
        true,
    );
    let need = (s.now >= fire || any_provisional).then(|| r.clone());
    Some(Found { group: r.id.clone(), need, stages: vec![r] })
}

/// What a case's rules found, reckoned once per version of the case (and again on another day, or with
/// other settings, calendar or labels).
#[derive(Debug, Clone)]
pub struct CaseFindings {
    pub found: Vec<Found>,
    /// For a case under way: its promised date and working days left (the home's list of cases).
    pub progress: Option<Progress>,
}

/// Where a case under way stands against its promised completion date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub promised_date: Option<NaiveDate>,
    pub working_days_left: Option<i64>,
    pub overdue: bool,
    pub provisional: bool,
}

fn progress(s: &Snapshot, c: &Case) -> Progress {
    let paused = c.paused_ranges(s.today);
    let pd = match (c.accepted_on, c.promised_days) {
        (Some(acc), Some(days)) => s.calendar.add_working_days(acc, days, &paused).ok(),
        _ => None,
    };
    let left = pd.as_ref().and_then(|pd| s.calendar.working_days_between(s.today, pd.value, &paused).ok());
    let overdue = match (&pd, &left) {
        (Some(pd), Some(l)) => l.value < 0 || (l.value == 0 && s.today > pd.value),
        _ => false,
    };
    Progress {
        promised_date: pd.as_ref().map(|p| p.value),
        working_days_left: left.as_ref().map(|l| l.value),
        overdue,
        provisional: pd.as_ref().is_some_and(|p| p.provisional) || left.as_ref().is_some_and(|l| l.provisional),
    }
}

/// What every rule found: the case rules' findings as the engine keeps them (shared, not copied: a home
/// or plan copies only the few reminders it hands over) and the other rules' findings.
pub struct Findings {
    /// In the order of the snapshot's cases.
    pub cases: Vec<Arc<CaseFindings>>,
    rest: Vec<Found>,
    /// The subjects whose mandate ended (the snapshot's `ended`): what their cases' rules found is left out.
    ended: std::collections::HashSet<String>,
}

impl Findings {
    /// Every finding but those of a principal whose mandate ended (only their end notice stays).
    pub fn iter(&self) -> impl Iterator<Item = &Found> {
        self.cases
            .iter()
            .flat_map(|f| f.found.iter())
            .filter(|f| self.ended.is_empty() || f.subject().is_none_or(|s| !self.ended.contains(s)))
            .chain(self.rest.iter())
    }
}

/// The one line the 待办 home keeps for a principal whose mandate ended (ADR 0043): that nothing more may be
/// done for them and, when some of their cases are still under way, that the agent hands back what they
/// hold. A need only (nothing is planned for an ended principal), shown for a week after the end (the
/// retention sweep erases the principal by then, by default).
fn end_rule(s: &Snapshot, subject: &str, end: End, at: i64) -> Option<Found> {
    if s.now > at + 7 * DAY {
        return None;
    }
    let name = s.labels.get(subject).map(String::as_str).unwrap_or(subject);
    let under_way = s.cases.iter().filter(|c| c.subject == subject && !c.state.is_final()).count() as u32;
    // Their operations still on this phone, queued or held back once the end was known (ADR 0045).
    let unsent = s.pending.iter().chain(&s.refused).filter(|o| o.subject == subject).count() as u32;
    let group = format!("ended:{subject}");
    let need = reminder(
        group.clone(),
        ReminderSource::Delegation,
        if under_way > 0 { Urgency::Normal } else { Urgency::Low },
        subject,
        acting::end_title(end),
        acting::end_text(end, name, under_way, unsent),
        Link::new(Screen::Home, ""),
        None,
        at,
        None,
        false,
    );
    Some(Found { group, need: Some(need), stages: vec![] })
}

/// Every rule over the snapshot.
pub fn collect(s: &Snapshot) -> Result<Findings> {
    // The case rules' findings, reckoned again only for the cases written since the last call (and for
    // every case when the day, the settings, the calendar or a principal's label changed).
    let key = FoundKey {
        today: s.today,
        settings: s.settings.clone(),
        calendar_version: s.calendar_version.clone(),
        labels: s.labels.clone(),
    };
    let mut guard = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    let cache = cache_for(&mut guard, &s.store_key.0, &s.store_key.1);
    if cache.found_key.as_ref() != Some(&key) {
        cache.found.clear();
        cache.found_list = None;
        cache.found_key = Some(key);
    }
    let (per_case, any_provisional) = match &cache.found_list {
        // Nothing written and nothing else changed since the last call: the same findings.
        Some((at, list, any)) if *at == s.cases_read_at && list.len() == s.cases.len() => (list.clone(), *any),
        _ => {
            let mut per_case: Vec<Arc<CaseFindings>> = Vec::with_capacity(s.cases.len());
            let mut found: HashMap<String, (Vec<u8>, Arc<CaseFindings>)> = HashMap::with_capacity(s.cases.len());
            for (c, version) in s.cases.iter().zip(&s.case_versions) {
                let f = match cache.found.remove(&c.id) {
                    Some((v, f)) if v == *version => f,
                    _ => {
                        let mut f = Vec::new();
                        case_rules(s, c, &mut f)?;
                        cache.counters.cases_reckoned += 1;
                        let progress = (!c.state.is_final()).then(|| progress(s, c));
                        Arc::new(CaseFindings { found: f, progress })
                    }
                };
                per_case.push(f.clone());
                found.insert(c.id.clone(), (version.clone(), f));
            }
            cache.found = found;
            let any = per_case
                .iter()
                .flat_map(|f| f.found.iter())
                .any(|f| f.need.as_ref().is_some_and(|n| n.provisional) || f.stages.iter().any(|r| r.provisional));
            cache.found_list = Some((s.cases_read_at, per_case.clone(), any));
            (per_case, any)
        }
    };
    drop(guard);
    let mut out: Vec<Found> = Vec::new();
    for l in &s.licences {
        out.extend(licence_rules(s, l));
    }
    for g in &s.grants {
        out.extend(grant_rules(s, g));
    }
    for (id, subject, d) in &s.deadlines {
        out.extend(delegation_rules(s, id, subject, d));
    }
    for op in &s.pending {
        out.push(outbox_rules(s, op, false));
    }
    for op in &s.refused {
        out.push(outbox_rules(s, op, true));
    }
    out.extend(calendar_rule(s, any_provisional));
    // An ended principal's other findings (delegation, outbox) go; their end notice comes instead.
    if !s.ended.is_empty() {
        out.retain(|f| f.subject().is_none_or(|sub| !s.ended.contains_key(sub)));
        let mut ended: Vec<(&String, &(End, i64))> = s.ended.iter().collect();
        zhangban_base::sort::sort_by(&mut ended, |a, b| a.0.cmp(b.0));
        for (subject, (end, at)) in ended {
            out.extend(end_rule(s, subject, *end, *at));
        }
    }
    Ok(Findings { cases: per_case, rest: out, ended: s.ended.keys().cloned().collect() })
}
