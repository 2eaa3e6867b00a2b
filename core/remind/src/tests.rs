//! Time-travel tests of the reminder engine with the injected clock: the 2024 Spring Festival and the
//! 2024 劳动节 调休 weekend, quiet hours, restarts, the cap of 60, merging, the diff, the home.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use chrono::NaiveDate;
use serde_json::json;
use zhangban_base::clock::{Clock, FixedClock};
use zhangban_base::store::{FileVault, KeyVault, PinPolicy, PutOptions, Store};
use zhangban_cases::{self as cases, PlatformEvent, Submission};

use super::*;

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("date")
}

/// Unix time of a local (Asia/Shanghai) time.
fn local(y: i32, m: u32, d: u32, h: u32, min: u32) -> i64 {
    at_minute(day(y, m, d), h * 60 + min)
}

fn open(dir: &Path, clock: Arc<FixedClock>) -> Arc<Store> {
    let vault: Arc<dyn KeyVault> = Arc::new(FileVault::open_or_create(&dir.join("vault.key")).expect("vault"));
    let db = dir.join("s");
    let s = if db.exists() {
        Store::open_with(&db, vault, clock)
    } else {
        Store::create_with(&db, vault, None, &PinPolicy::default(), clock)
    };
    Arc::new(s.expect("store"))
}

/// A fresh folder and a store in it on a clock standing at `at` (Unix seconds).
fn fixture(at: i64) -> (tempfile::TempDir, Arc<FixedClock>, Arc<Store>) {
    let dir = tempfile::tempdir().expect("tmp");
    let clock = Arc::new(FixedClock::at(at));
    let store = open(dir.path(), clock.clone());
    (dir, clock, store)
}

fn new_case(store: &Store, subject: &str, title: &str) -> String {
    let sub = Submission {
        item_codes: vec!["GA-002".into()],
        title: title.into(),
        values: json!({}),
        ..Submission::default()
    };
    let mut case = cases::submit(store, "self", &sub).expect("submit");
    if subject != "self" {
        // A principal's case is submitted through the agent layer (a proxy); here it is simply stored as
        // the sync runner leaves it.
        case.subject = subject.into();
        store
            .transaction(|t| {
                t.delete(cases::COLLECTION, &case.id)?;
                t.put_json(
                    cases::COLLECTION,
                    &case.id,
                    subject,
                    &case,
                    PutOptions { tag: Some("queued"), lookup: None },
                )
            })
            .expect("principal's case");
    }
    case.id
}

fn event(store: &Store, case_id: &str, seq: u64, kind: &str, at: i64, data: serde_json::Value) {
    let ev = PlatformEvent {
        seq,
        case_id: format!("P-{case_id}"),
        client_ref: case_id.into(),
        kind: kind.into(),
        at,
        actor: "clerk".into(),
        data,
    };
    store.transaction(|t| cases::update_in(t, case_id, |c| Ok(cases::apply_event(c, &ev)))).expect("event");
}

/// A simulated OS scheduler: applies a plan's diff and fires what falls due.
#[derive(Default)]
struct Os {
    scheduled: BTreeMap<String, Reminder>,
    /// (id, local time it fired, the reminder)
    fired: Vec<(String, i64, Reminder)>,
}

impl Os {
    fn apply(&mut self, p: &Plan) {
        for id in &p.cancel {
            self.scheduled.remove(id);
        }
        for r in p.add.iter().chain(&p.replace) {
            self.scheduled.insert(r.id.clone(), r.clone());
        }
        let mine: Vec<&String> = self.scheduled.keys().collect();
        let mut planned: Vec<&String> = p.pending.iter().map(|r| &r.id).collect();
        planned.sort();
        // The diff alone keeps the OS in step with the plan.
        let still: Vec<&String> = mine.into_iter().filter(|id| p.pending.iter().any(|r| &&r.id == id)).collect();
        assert_eq!(still, planned, "the diff did not lead to the plan");
    }
    /// Fires everything due before `until`.
    fn fire_until(&mut self, until: i64) {
        let due: Vec<String> = self.scheduled.values().filter(|r| r.fire_at < until).map(|r| r.id.clone()).collect();
        for id in due {
            if let Some(r) = self.scheduled.remove(&id) {
                self.fired.push((id, r.fire_at, r));
            }
        }
    }
    /// Every reminder shown, digests unpacked: id → when.
    fn shown(&self) -> HashMap<String, i64> {
        let mut out = HashMap::new();
        for (id, at, r) in &self.fired {
            assert!(out.insert(id.clone(), *at).is_none(), "{id} shown twice");
            for m in &r.merged {
                assert!(out.insert(m.clone(), *at).is_none(), "{m} shown twice");
            }
        }
        out
    }
}

/// Runs the clock from `from` to `to` in `step` seconds, planning at each step like a background task.
fn travel(store: &Arc<Store>, clock: &FixedClock, os: &mut Os, from: i64, to: i64, step: i64) {
    let mut t = from;
    while t <= to {
        clock.set(t);
        let p = plan(store).expect("plan");
        assert!(p.pending.len() <= 60);
        assert!(p.next_wakeup > t);
        os.apply(&p);
        os.fire_until(t + step);
        t += step;
    }
}

fn check_quiet(os: &Os) {
    let s = Settings::default();
    for (id, at, r) in &os.fired {
        assert!(
            r.urgency == Urgency::Urgent || !s.is_quiet(minute_of(*at)),
            "{id} fired at {} local minute {} in quiet hours",
            date_of(*at),
            minute_of(*at)
        );
    }
}

#[test]
fn spring_festival_2024_every_reminder_on_the_right_working_day() {
    let (_dir, clock, store) = fixture(local(2024, 2, 1, 10, 0));
    let c = new_case(&store, "self", "居民身份证换领");
    event(
        &store,
        &c,
        1,
        "accepted",
        local(2024, 2, 1, 10, 0),
        json!({"accepted_on": "2024-02-01", "promised_days": 20}),
    );
    // 补正 due Monday 19 February, the first working day after the holiday (10–17 February off; Sunday 4
    // and Sunday 18 February are 调休 working days).
    event(
        &store,
        &c,
        2,
        "supplement_requested",
        local(2024, 2, 1, 11, 0),
        json!({"request_id": "r1", "due": "2024-02-19", "items": ["近期免冠照片"], "note": "照片不清晰"}),
    );
    let mut os = Os::default();
    travel(&store, &clock, &mut os, local(2024, 2, 1, 11, 30), local(2024, 2, 22, 23, 30), 3600);
    let shown = os.shown();
    let g = format!("supplement:{c}:{}", super::sources::short("r1"));
    // 3 working days before 19 Feb: 18 (Sun, 调休 workday), 9 (Fri), 8 (Thu) → the 8th.
    assert_eq!(shown.get(&format!("{g}:w3")).map(|t| date_of(*t)), Some(day(2024, 2, 8)), "{shown:?}");
    // 1 working day before: Sunday the 18th, a 调休 working day — not Friday the 9th.
    assert_eq!(shown.get(&format!("{g}:w1")).map(|t| date_of(*t)), Some(day(2024, 2, 18)));
    assert_eq!(shown.get(&format!("{g}:due")).copied(), Some(local(2024, 2, 19, 9, 0)));
    // Missed: the next working day after the due date.
    assert_eq!(shown.get(&format!("{g}:missed")).map(|t| date_of(*t)), Some(day(2024, 2, 20)));
    // Nothing fired on a holiday or a plain weekend day.
    let cal = zhangban_calendar::Calendar::bundled();
    for (id, at, _) in &os.fired {
        if id.starts_with("supplement:") {
            assert!(cal.is_working_day(date_of(*at)).value, "{id} fired on {} (not a working day)", date_of(*at));
        }
    }
    // The promised date: 20 working days after 1 Feb, the holiday skipped.
    let pd = cal.add_working_days(day(2024, 2, 1), 20, &[]).expect("pd").value;
    assert_eq!(pd, day(2024, 3, 5));
    check_quiet(&os);
}

#[test]
fn labour_day_tiaoxiu_weekend_and_overdue_with_urge() {
    let (_dir, clock, store) = fixture(local(2024, 4, 22, 9, 30));
    let c = new_case(&store, "self", "企业设立登记");
    // Accepted 22 April, promised in 5 working days: 23, 24, 25, 26 April, Sunday 28 April (调休) → the 28th.
    event(
        &store,
        &c,
        1,
        "accepted",
        local(2024, 4, 22, 9, 30),
        json!({"accepted_on": "2024-04-22", "promised_days": 5,
               "deferred": [{"material": "公司章程", "due": "2024-05-06"}]}),
    );
    let mut os = Os::default();
    travel(&store, &clock, &mut os, local(2024, 4, 22, 10, 0), local(2024, 5, 8, 12, 0), 3 * 3600);
    let shown = os.shown();
    let g = format!("deferred:{c}:{}", super::sources::short("公司章程"));
    // 容缺 due Monday 6 May (1–5 May off): 1 working day before is Tuesday 30 April; 3 before: Sunday 28 April.
    assert_eq!(shown.get(&format!("{g}:w1")).map(|t| date_of(*t)), Some(day(2024, 4, 30)), "{shown:?}");
    assert_eq!(shown.get(&format!("{g}:w3")).map(|t| date_of(*t)), Some(day(2024, 4, 28)));
    assert_eq!(shown.get(&format!("{g}:missed")).map(|t| date_of(*t)), Some(day(2024, 5, 7)));
    // Promised 28 April (Sunday, 调休); overdue from the next working day, Monday 29 April.
    let overdue = format!("promised:{c}:overdue");
    assert_eq!(shown.get(&overdue).map(|t| date_of(*t)), Some(day(2024, 4, 29)));
    check_quiet(&os);
    // 催办 from the overdue reminder: queued in the outbox; the next plan words it as urged, no action.
    clock.set(local(2024, 5, 8, 12, 0));
    let before = plan(&store).expect("plan");
    assert!(before.pending.iter().all(|r| r.id != overdue), "shown already, not scheduled again");
    let h = home(&store).expect("home");
    let need = h.needs.iter().find(|n| n.id == format!("promised:{c}")).expect("overdue need");
    assert_eq!(need.action, Some(ReminderAction::Urge));
    urge(&store, &c).expect("urge");
    let ops = zhangban_base::outbox::pending(&store).expect("ops");
    assert!(ops.iter().any(|o| o.kind == zhangban_base::outbox::OpKind::Urge && o.case_id == c));
    assert!(urge(&store, &c).is_err(), "once a day");
    let h = home(&store).expect("home");
    let need = h.needs.iter().find(|n| n.id == format!("promised:{c}")).expect("overdue need");
    assert_eq!(need.action, None);
    assert!(need.body.zh.contains("已催办"));
    assert!(h.cases.iter().any(|a| a.case_id == c && a.overdue && a.working_days_left.is_some_and(|l| l < 0)));
}

#[test]
fn quiet_hours_hold_non_urgent_reminders_but_not_urgent_ones() {
    // 23:30 on Wednesday 6 March 2024.
    let (_dir, clock, store) = fixture(local(2024, 3, 6, 23, 30));
    let a = new_case(&store, "self", "生育登记");
    event(
        &store,
        &a,
        1,
        "accepted",
        local(2024, 3, 1, 9, 0),
        json!({"accepted_on": "2024-03-01", "promised_days": 20}),
    );
    // Brought by a sync late in the evening: due today (urgent) …
    event(
        &store,
        &a,
        2,
        "supplement_requested",
        local(2024, 3, 6, 23, 0),
        json!({"request_id": "x", "due": "2024-03-06", "items": ["户口簿"]}),
    );
    // … and a submission queued a day and a half ago that never went out (not urgent).
    let b = new_case(&store, "self", "异地就医备案");
    let _ = b;
    let ops = zhangban_base::outbox::pending(&store).expect("ops");
    assert_eq!(ops.len(), 2);
    clock.set(local(2024, 3, 7, 23, 30));
    let p = plan(&store).expect("plan");
    let now = clock.now_secs();
    let due = p.pending.iter().find(|r| r.id.ends_with(":missed") || r.id.ends_with(":due")).expect("supplement");
    assert_eq!(due.urgency, Urgency::Urgent);
    assert_eq!(due.fire_at, now, "urgent: shown at once, quiet hours or not");
    let stuck: Vec<&Reminder> = p.pending.iter().filter(|r| r.source == ReminderSource::Outbox).collect();
    assert!(!stuck.is_empty());
    for r in stuck {
        assert_eq!(r.fire_at, local(2024, 3, 8, 8, 0), "held to the end of the quiet hours");
    }
}

#[test]
fn a_restart_gives_the_same_ids_and_an_empty_diff() {
    let dir = tempfile::tempdir().expect("tmp");
    let clock = Arc::new(FixedClock::at(local(2024, 6, 3, 10, 0)));
    let ids = {
        let store = open(dir.path(), clock.clone());
        for i in 0..5 {
            let c = new_case(&store, "self", &format!("事项 {i}"));
            event(
                &store,
                &c,
                1,
                "accepted",
                local(2024, 6, 3, 9, 0),
                json!({"accepted_on": "2024-06-03", "promised_days": 10 + i}),
            );
            event(
                &store,
                &c,
                2,
                "supplement_requested",
                local(2024, 6, 3, 9, 30),
                json!({"request_id": format!("r{i}"), "due": format!("2024-06-{:02}", 12 + i), "items": ["材料"]}),
            );
        }
        let p = plan(&store).expect("plan");
        assert!(!p.add.is_empty());
        assert!(p.replace.is_empty() && p.cancel.is_empty());
        let again = plan(&store).expect("plan");
        assert!(again.add.is_empty() && again.replace.is_empty() && again.cancel.is_empty(), "{again:?}");
        p.pending.iter().map(|r| r.id.clone()).collect::<Vec<_>>()
    };
    // The app is killed and started again: a new store object over the same files.
    let store = open(dir.path(), clock.clone());
    let p = plan(&store).expect("plan");
    assert_eq!(p.pending.iter().map(|r| r.id.clone()).collect::<Vec<_>>(), ids);
    assert!(p.add.is_empty() && p.replace.is_empty() && p.cancel.is_empty(), "{p:?}");
    // After a reinstall of the plan (the OS lost it), everything comes again as add, with the same ids.
    reset_plan(&store).expect("reset");
    let p = plan(&store).expect("plan");
    assert_eq!(p.add.iter().map(|r| r.id.clone()).collect::<Vec<_>>(), ids);
}

#[test]
fn two_hundred_due_items_give_at_most_sixty_soonest_first() {
    let (_dir, clock, store) = fixture(local(2024, 9, 2, 10, 0));
    let s = Settings { merge_at: 60, ..Settings::default() }; // little merging here: count single reminders
    set_settings(&store, &s).expect("settings");
    let first = day(2024, 9, 9);
    for i in 0..200u32 {
        let c = new_case(&store, "self", &format!("事项 {i}"));
        event(
            &store,
            &c,
            1,
            "accepted",
            local(2024, 9, 2, 9, 0),
            json!({"accepted_on": "2024-09-02", "promised_days": 40}),
        );
        let due = first + chrono::Duration::days(i64::from(i % 30));
        event(
            &store,
            &c,
            2,
            "supplement_requested",
            local(2024, 9, 2, 9, 30),
            json!({"request_id": format!("r{i}"), "due": due.to_string(), "items": ["材料"]}),
        );
    }
    let p = plan(&store).expect("plan");
    assert_eq!(p.pending.len(), 60);
    assert!(p.left_for_later > 0);
    assert!(p.pending.windows(2).all(|w| w[0].fire_at <= w[1].fire_at), "soonest first");
    // Nothing left out is sooner than the last one planned.
    let snap = sources::Snapshot::load(&store, settings(&store).expect("s")).expect("snap");
    let last = p.pending.last().map(|r| r.fire_at).unwrap_or(0);
    // Every reminder sooner than the last one planned is planned (the 200 unsent submissions, all at
    // 10:00 the next day, are one digest).
    let planned: std::collections::HashSet<&str> = p.pending.iter().map(|r| r.id.as_str()).collect();
    let now = clock.now_secs();
    let found = sources::collect(&snap).expect("c");
    for r in found.iter().flat_map(|f| &f.stages) {
        if r.source == ReminderSource::Supplement && r.fire_at > now && r.fire_at < last {
            assert!(planned.contains(r.id.as_str()), "{} ({}) left out, yet sooner than {last}", r.id, r.fire_at);
        }
    }
    assert!(p.next_wakeup <= local(2024, 9, 3, 8, 0));
    // And the home counts all 200 needs and carries a screen's worth (home_max), most urgent first.
    let h = home(&store).expect("home");
    assert!(h.needs_total >= 200, "{}", h.needs_total);
    assert_eq!(h.needs.len(), 50);
    assert!(h.needs.windows(2).all(|w| w[0].urgency >= w[1].urgency));
}

#[test]
fn several_at_once_are_merged_and_answering_cancels() {
    let (_dir, _clock, store) = fixture(local(2024, 10, 8, 10, 0));
    let principal = store.create_subject(zhangban_base::store::SubjectKind::Principal, "李奶奶").expect("subject");
    let mut ids = Vec::new();
    for (i, subject) in ["self", "self", principal.as_str()].iter().enumerate() {
        let c = new_case(&store, subject, &format!("事项 {i}"));
        event(
            &store,
            &c,
            1,
            "accepted",
            local(2024, 10, 8, 9, 0),
            json!({"accepted_on": "2024-10-08", "promised_days": 20}),
        );
        event(
            &store,
            &c,
            2,
            "supplement_requested",
            local(2024, 10, 8, 9, 30),
            json!({"request_id": "r", "due": "2024-10-18", "items": ["照片"]}),
        );
        ids.push(c);
    }
    let p = plan(&store).expect("plan");
    // 3 working days before 18 October: the 15th, 09:00 — all three together.
    // (The three submissions, unsent for a day, are merged too: at 10:00 on the 9th.)
    let d = p
        .pending
        .iter()
        .find(|r| r.source == ReminderSource::Digest && r.merged[0].starts_with("supplement"))
        .expect("digest");
    assert_eq!(d.fire_at, local(2024, 10, 15, 9, 0));
    assert_eq!(d.merged.len(), 3);
    assert_eq!(d.title.en, "3 things need you today");
    assert_eq!(d.title.zh, "今天有 3 件事需要您处理");
    assert_eq!(d.link.screen, Screen::Home);
    // The principal's reminders say whose they are.
    let h = home(&store).expect("home");
    assert_eq!(h.principals.len(), 2);
    let lp = h.principals.iter().find(|g| g.subject == principal).expect("principal");
    assert_eq!(lp.label.zh, "李奶奶");
    assert!(lp.needs[0].body.zh.starts_with("为李奶奶："), "{:?}", lp.needs[0].body);
    // Answering one request cancels its own reminders and shrinks the digest.
    cases::supply(&store, &ids[0], json!({}), &[], "").expect("supply");
    let p2 = plan(&store).expect("plan");
    let gone = format!("supplement:{}:", ids[0]);
    assert!(p2.pending.iter().all(|r| !r.id.starts_with(&gone) && r.merged.iter().all(|m| !m.starts_with(&gone))));
    assert!(p2.cancel.contains(&d.id) || p2.replace.iter().any(|r| r.id == d.id), "{p2:?}");
    assert!(p2.cancel.iter().any(|id| id.starts_with(&gone)) || p2.cancel.contains(&d.id));
}

#[test]
fn calendar_running_out_is_reminded_and_deadlines_after_it_are_provisional() {
    // 6 December 2026: the bundled data ends with 2026.
    let (_dir, _clock, store) = fixture(local(2026, 12, 6, 10, 0));
    let c = new_case(&store, "self", "退休");
    event(
        &store,
        &c,
        1,
        "accepted",
        local(2026, 12, 4, 9, 0),
        json!({"accepted_on": "2026-12-04", "promised_days": 30}),
    );
    let h = home(&store).expect("home");
    let case = h.cases.iter().find(|a| a.case_id == c).expect("case");
    assert!(case.provisional, "a promised date in 2027 rests on assumed data");
    let cal = h.needs.iter().find(|n| n.source == ReminderSource::Calendar).expect("calendar need");
    assert_eq!(cal.id, "calendar:2027");
    assert_eq!(cal.urgency, Urgency::Normal, "a deadline depends on it");
    assert_eq!(h.calendar_last_year, Some(2026));
    assert!(plan(&store).expect("plan").pending.iter().any(|r| r.id == "calendar:2027"));
}

#[test]
fn licence_expiry_stages_link_to_the_renewal_item() {
    let (_dir, _clock, store) = fixture(local(2026, 12, 6, 10, 0));
    let mut snap = sources::Snapshot::load(&store, Settings::default()).expect("snap");
    let until = local(2026, 12, 20, 23, 59);
    snap.licences.push(zhangban_wallet::LicenceSummary {
        licence_id: "L1".into(),
        licence_type: zhangban_wallet::LicenceType::ResidentId,
        type_name: zhangban_base::Text::new("居民身份证", "Resident ID card"),
        issuer: zhangban_wallet::IssuerInfo {
            kid: "k".into(),
            uscc: "u".into(),
            name_zh: "公安局".into(),
            name_en: "PSB".into(),
        },
        valid_from: 0,
        valid_until: until,
        status: zhangban_wallet::LicenceStatus::Expiring,
        status_text: zhangban_wallet::LicenceStatus::Expiring.text(),
        status_age_secs: Some(0),
        imported_at: 0,
    });
    let found = sources::collect(&snap).expect("collect");
    let f = found.iter().find(|f| f.group == "licence:L1").expect("licence");
    let days: Vec<(String, NaiveDate)> = f.stages.iter().map(|r| (r.id.clone(), date_of(r.fire_at))).collect();
    assert_eq!(
        days,
        vec![
            ("licence:L1:d30".into(), day(2026, 11, 20)),
            ("licence:L1:d7".into(), day(2026, 12, 13)),
            ("licence:L1:d1".into(), day(2026, 12, 19)),
            ("licence:L1:expired".into(), day(2026, 12, 21)),
        ]
    );
    let need = f.need.as_ref().expect("need");
    assert_eq!(need.link.screen, Screen::Renewal);
    assert_eq!(need.link.uri, "zhangban://renewal/L1");
    assert_eq!(need.action, Some(ReminderAction::Renew));
    assert!(need.body.zh.contains("居民身份证换领"), "{:?}", need.body);
    assert_eq!(need.urgency, Urgency::Low, "14 days left: beyond the 7-day lead");
}

fn grant(id: &str, issued_at: i64, expires_at: i64, revoked_at: Option<i64>) -> zhangban_wallet::GrantRecord {
    zhangban_wallet::GrantRecord {
        grant_id: id.into(),
        licence_id: "L1".into(),
        recipient: "某某酒店".into(),
        purpose: "入住登记".into(),
        elements: vec!["name".into()],
        issued_at,
        expires_at,
        single_use: false,
        revoked_at,
        text: String::new(),
    }
}

#[test]
fn a_grant_about_to_expire_is_reminded_once_its_lead_starts_and_never_when_revoked_short_or_over() {
    let now = local(2026, 12, 6, 10, 0);
    let (_dir, _clock, store) = fixture(now);
    let mut snap = sources::Snapshot::load(&store, Settings::default()).expect("snap");
    let (h, d) = (3600, 86_400);
    snap.grants = vec![
        grant("soon", now - 10 * d, now + 5 * h, None), // inside its 24 h lead: needed now
        grant("later", now - d, now + 3 * d, None),     // lead starts 2 days from now: scheduled only
        grant("revoked", now - d, now + 5 * h, Some(now - h)),
        grant("over", now - 10 * d, now - h, None),
        grant("short", now - h, now + 10 * h, None), // shorter than the lead: no reminder at all
    ];
    let found = sources::collect(&snap).expect("collect");
    let groups: Vec<&str> = found.iter().filter(|f| f.group.starts_with("grant:")).map(|f| f.group.as_str()).collect();
    assert_eq!(groups, vec!["grant:soon", "grant:later"]);

    let soon = found.iter().find(|f| f.group == "grant:soon").expect("soon");
    assert_eq!(soon.stages.len(), 1);
    assert_eq!(soon.stages[0].id, "grant:soon:h24");
    assert_eq!(soon.stages[0].fire_at, now + 5 * h - 24 * h);
    let need = soon.need.as_ref().expect("needed now");
    assert_eq!(need.id, "grant:soon");
    assert_eq!(need.source, ReminderSource::GrantExpiry);
    assert_eq!(need.link.screen, Screen::Grant);
    assert!(need.body.zh.contains("某某酒店") && need.body.zh.contains("入住登记"), "{:?}", need.body);
    assert!(need.body.en.contains("grant again"), "{:?}", need.body);

    let later = found.iter().find(|f| f.group == "grant:later").expect("later");
    assert!(later.need.is_none(), "its lead starts in two days");
    assert_eq!(later.stages[0].fire_at, now + 3 * d - 24 * h);

    // A longer lead (a setting) brings the later grant's reminder forward into now.
    snap.settings.grant_lead_hours = 80;
    let found = sources::collect(&snap).expect("collect");
    let later = found.iter().find(|f| f.group == "grant:later").expect("later");
    assert_eq!(later.stages[0].id, "grant:later:h80");
    assert!(later.need.is_some());
}

#[test]
fn settings_are_bounded_and_quiet_hours_wrap_midnight() {
    let s = Settings::default();
    assert!(s.is_quiet(23 * 60) && s.is_quiet(0) && s.is_quiet(7 * 60 + 59));
    assert!(!s.is_quiet(8 * 60) && !s.is_quiet(21 * 60 + 59));
    let bad = Settings { max_pending: 61, ..Settings::default() };
    assert!(matches!(bad.validate(), Err(Error::Validation { ref field, .. }) if field == "settings.max_pending"));
    let bad = Settings { quiet_start_minute: 24 * 60, ..Settings::default() };
    assert!(bad.validate().is_err());
    let none = Settings { quiet_start_minute: 0, quiet_end_minute: 0, ..Settings::default() };
    assert!(!none.is_quiet(3 * 60));
    assert_eq!(channels().len(), 4);
    assert_eq!(channels()[3].id, "zb.remind.urgent");
}

#[test]
fn a_sync_notice_is_a_reminder_with_a_stable_id() {
    let n = Notice {
        kind: NoticeKind::SupplementRequested,
        case_id: "c1".into(),
        subject: "self".into(),
        state: "supplement_requested".into(),
        title_zh: "需补正".into(),
        title_en: "Supplement".into(),
        body_zh: "b".into(),
        body_en: "b".into(),
        at: 5,
    };
    let r = Reminder::from_notice(&n, "self");
    assert_eq!(r.id, "event:c1:supplement");
    assert_eq!(r.urgency, Urgency::High);
    assert_eq!(r.link.uri, "zhangban://case/c1");
    assert_eq!(Reminder::from_notice(&n, "self").id, r.id);
}

#[test]
fn the_kept_state_follows_every_write_a_new_case_an_event_a_label_another_store_object() {
    let (dir, clock, store) = fixture(local(2024, 10, 8, 10, 0));
    let principal = store.create_subject(zhangban_base::store::SubjectKind::Principal, "李奶奶").expect("subject");
    let supplement = |c: &str| {
        event(
            &store,
            c,
            1,
            "accepted",
            local(2024, 10, 8, 9, 0),
            json!({"accepted_on": "2024-10-08", "promised_days": 20}),
        );
        event(
            &store,
            c,
            2,
            "supplement_requested",
            local(2024, 10, 8, 9, 30),
            json!({"request_id": "r", "due": "2024-10-18", "items": ["照片"]}),
        );
    };
    let a = new_case(&store, "self", "甲");
    supplement(&a);
    let b = new_case(&store, &principal, "乙");
    supplement(&b);
    let sup = |h: &Home| -> Vec<String> {
        let mut v: Vec<String> =
            h.needs.iter().filter(|n| n.source == ReminderSource::Supplement).map(|n| n.link.id.clone()).collect();
        v.sort();
        v
    };
    let h = home(&store).expect("home");
    let mut both = vec![a.clone(), b.clone()];
    both.sort();
    assert_eq!(sup(&h), both);
    assert_eq!(home(&store).expect("home"), h, "unchanged: the same home from the kept state");
    // A new case written after: read on the next call.
    let c = new_case(&store, "self", "丙");
    supplement(&c);
    assert!(sup(&home(&store).expect("home")).contains(&c));
    // An event on one case (completed): its findings are reckoned again, the others' kept.
    event(&store, &a, 3, "completed", local(2024, 10, 8, 11, 0), json!({}));
    let h = home(&store).expect("home");
    assert!(!sup(&h).contains(&a) && sup(&h).contains(&b) && sup(&h).contains(&c), "{:?}", sup(&h));
    assert!(h.cases.iter().all(|x| x.case_id != a));
    // A new principal (the labels changed: every finding reckoned again) and their case.
    let other = store.create_subject(zhangban_base::store::SubjectKind::Principal, "王大爷").expect("subject");
    let d = new_case(&store, &other, "丁");
    supplement(&d);
    let h = home(&store).expect("home");
    let nd = h.needs.iter().find(|n| n.link.id == d && n.source == ReminderSource::Supplement).expect("need");
    assert!(nd.body.zh.starts_with("为王大爷："), "{:?}", nd.body);
    // Another store object over the same files sees what this one wrote, and this one what it writes.
    let second = open(dir.path(), clock.clone());
    assert_eq!(sup(&home(&second).expect("home")), sup(&h));
    cases::supply(&second, &c, json!({}), &[], "").expect("supply");
    assert!(!sup(&home(&store).expect("home")).contains(&c), "a write through another connection is seen");
    assert!(!sup(&home(&second).expect("home")).contains(&c));
}

#[test]
fn a_principals_delegation_running_out_is_reminded_on_the_agents_phone() {
    use zhangban_base::deadline::{self, Deadline, DeadlineKind};
    let (_dir, clock, store) = fixture(local(2024, 10, 8, 10, 0));
    let p = store.create_subject(zhangban_base::store::SubjectKind::Principal, "李秀英").expect("subject");
    // What agent mode publishes with the principal's record (here written directly).
    let d = Deadline { kind: DeadlineKind::Delegation, name: "李秀英".into(), ends_at: local(2024, 10, 20, 18, 0) };
    let id = format!("delegation:{p}");
    store.transaction(|t| deadline::publish(t, &id, &p, Some(&d))).expect("publish");
    let plan1 = plan(&store).expect("plan");
    let at = |stage: &str| plan1.pending.iter().find(|r| r.id == format!("{id}:{stage}")).map(|r| r.fire_at);
    assert_eq!(at("d3"), Some(local(2024, 10, 17, 9, 0)));
    assert_eq!(at("d1"), Some(local(2024, 10, 19, 9, 0)));
    assert_eq!(at("ended"), Some(local(2024, 10, 20, 18, 0)));
    let r = plan1.pending.iter().find(|r| r.id == format!("{id}:d1")).expect("d1");
    assert_eq!((r.source, r.urgency, r.subject.as_str()), (ReminderSource::Delegation, Urgency::High, p.as_str()));
    assert_eq!(r.link.uri, format!("zhangban://principal/{p}"));
    assert!(r.body.zh.contains("李秀英的授权委托将于 2024-10-20 到期"), "{:?}", r.body);
    assert!(home(&store).expect("home").needs.iter().all(|n| n.source != ReminderSource::Delegation), "not yet");
    // Three days before: the need shows on the home, under the principal.
    clock.set(local(2024, 10, 17, 12, 0));
    let h = home(&store).expect("home");
    let g = h.principals.iter().find(|g| g.subject == p).expect("principal's needs");
    assert_eq!(g.label.zh, "李秀英");
    assert!(g.needs[0].body.en.contains("in 3 days"), "{:?}", g.needs[0].body);
    // Ended: urgent wording, still shown for a week.
    clock.set(local(2024, 10, 21, 9, 0));
    let n = home(&store).expect("home").needs.into_iter().find(|n| n.id == id).expect("ended need");
    assert_eq!(n.title.zh, "委托已到期");
    clock.set(local(2024, 10, 28, 19, 0));
    assert!(home(&store).expect("home").needs.iter().all(|n| n.id != id), "a week after: gone");
    // Withdrawn (revoked or used): its reminders are cancelled.
    clock.set(local(2024, 10, 8, 11, 0));
    store.transaction(|t| deadline::publish(t, &id, &p, None)).expect("withdraw");
    let plan2 = plan(&store).expect("plan");
    assert!(plan2.pending.iter().all(|r| !r.id.starts_with(&id)));
    assert!(plan2.cancel.contains(&format!("{id}:d3")), "{:?}", plan2.cancel);
}

#[test]
fn the_home_carries_a_screens_worth_and_counts_the_rest() {
    let (_dir, _clock, store) = fixture(local(2024, 10, 8, 10, 0));
    let mut s = settings(&store).expect("settings");
    s.home_max = 4;
    set_settings(&store, &s).expect("settings");
    for i in 0..6 {
        let c = new_case(&store, "self", &format!("事项 {i}"));
        event(
            &store,
            &c,
            1,
            "accepted",
            local(2024, 10, 8, 9, 0),
            json!({"accepted_on": "2024-10-08", "promised_days": 20}),
        );
        event(
            &store,
            &c,
            2,
            "supplement_requested",
            local(2024, 10, 8, 9, 30),
            json!({"request_id": "r", "due": "2024-10-09", "items": ["照片"]}),
        );
    }
    let h = home(&store).expect("home");
    assert_eq!((h.needs.len(), h.cases.len()), (4, 4));
    assert!(h.needs_total >= 6 && h.cases_total == 6, "{} {}", h.needs_total, h.cases_total);
    assert_eq!(h.principals[0].needs.len(), crate::home::PER_SUBJECT);
    assert_eq!(h.principals[0].needs_total, h.needs_total);
    // Counts and states worded by the core: "还有 2 项 / 2 more", the state as a line ("Supplement
    // requested", not the lower-case word the home once built itself).
    assert_eq!(h.cases_more, Some(Text::new("还有 2 项", "2 more")));
    assert_eq!(h.needs_more.as_ref().map(|t| t.en.clone()), Some(format!("{} more", h.needs_total - 4)));
    for c in &h.cases {
        assert_eq!(c.state_label, Text::new("待补正", "Supplement requested"), "{:?}", c.state_label);
        let left = c.working_days_left.expect("accepted");
        assert_eq!(c.working_days_text, Some(crate::home::working_days_text(left)));
    }
    assert_eq!(crate::home::working_days_text(1).en, "1 working day left");
    assert_eq!(crate::home::working_days_text(-2), Text::new("已超期 2 个工作日", "Overdue by 2 working days"));
    s.home_max = 0;
    assert!(set_settings(&store, &s).is_err());
}

#[test]
fn a_late_reminder_held_back_by_quiet_hours_stays_pending_until_it_fires() {
    // 03:10 in Beijing, December 2026: the calendar has no 2027 data, a reminder due at once — but not
    // urgent, so it waits for the end of the quiet hours (08:00).
    let (_dir, clock, store) = fixture(local(2026, 12, 7, 3, 10));
    let first = plan(&store).expect("plan");
    let cal = first.pending.iter().find(|r| r.id == "calendar:2027").expect("calendar");
    assert_eq!(cal.fire_at, local(2026, 12, 7, 8, 0));
    let again = plan(&store).expect("plan");
    assert!(again.add.is_empty() && again.replace.is_empty() && again.cancel.is_empty(), "{again:?}");
    assert!(again.pending.iter().any(|r| r.id == "calendar:2027" && r.fire_at == cal.fire_at), "still pending");
    // Once it fired it is shown: no longer pending, and not cancelled (it stays in the notification centre).
    clock.set(local(2026, 12, 7, 8, 30));
    let later = plan(&store).expect("plan");
    assert!(later.pending.iter().all(|r| r.id != "calendar:2027"));
    assert!(!later.cancel.contains(&"calendar:2027".to_string()));
}

/// The kept state: a home or plan on a store whose cases collection is unchanged reads none of its rows
/// (the collection's write generation is equal), and a write after such a skip — through this store object
/// or through another connection to the same files — is seen by the next call.
#[test]
fn an_unchanged_store_is_not_rescanned_and_a_write_after_a_skip_is_seen() {
    let (dir, clock, store) = fixture(local(2024, 3, 4, 10, 0));
    let c1 = new_case(&store, "self", "营业执照变更");
    event(
        &store,
        &c1,
        1,
        "accepted",
        local(2024, 3, 4, 10, 0),
        json!({"accepted_on": "2024-03-04", "promised_days": 20}),
    );
    let first = home(&store).expect("home");
    let after_first = sources::counters(&store);
    assert_eq!(after_first.case_scans, 1);
    assert!(after_first.cases_decrypted >= 1 && after_first.cases_reckoned >= 1, "{after_first:?}");
    // Unchanged: neither the home nor the plan reads, decrypts or reckons a case again — also after a write
    // elsewhere in the store (a setting, the plan's own state).
    store.set_setting("unrelated", "1").expect("setting");
    let again = home(&store).expect("home");
    plan(&store).expect("plan");
    plan(&store).expect("plan");
    assert_eq!(again, first);
    assert_eq!(sources::counters(&store), after_first, "an unchanged cases collection was read again");
    // A write after the skip: a supplement request on the case. Seen at once, and only that case is
    // decrypted and reckoned again.
    event(
        &store,
        &c1,
        2,
        "supplement_requested",
        local(2024, 3, 4, 11, 0),
        json!({"request_id": "r9", "due": "2024-03-08", "items": ["股东会决议"], "note": ""}),
    );
    let h = home(&store).expect("home");
    let c = sources::counters(&store);
    assert_eq!(c.case_scans, 1, "a write to one case read the whole collection again: {c:?}");
    assert_eq!(c.case_rows_read, after_first.case_rows_read + 1, "only the written row is read: {c:?}");
    assert_eq!(c.cases_decrypted, after_first.cases_decrypted + 1, "{c:?}");
    assert_eq!(c.cases_reckoned, after_first.cases_reckoned + 1, "{c:?}");
    assert!(
        h.needs.iter().any(|n| n.source == ReminderSource::Supplement && n.body.zh.contains("股东会决议")),
        "the supplement request written after a skip is missing: {:?}",
        h.needs
    );
    // A case written through another connection to the same files (another store object: the sync of a
    // background task) is seen too: the generation lives in the file, not in this object.
    let other = open(dir.path(), clock.clone());
    let c2 = new_case(&other, "self", "户口迁移");
    event(
        &other,
        &c2,
        1,
        "accepted",
        local(2024, 3, 4, 12, 0),
        json!({"accepted_on": "2024-03-04", "promised_days": 5}),
    );
    drop(other);
    let h = home(&store).expect("home");
    assert!(h.cases.iter().any(|a| a.case_id == c2), "a case written by another connection is missing");
    assert_eq!(sources::counters(&store).case_scans, 1, "read from the change log, not the collection");
    // A deleted case leaves the home (a delete leaves no id in the change log: the collection is read again).
    store.delete(cases::COLLECTION, &c2).expect("delete");
    let h = home(&store).expect("home");
    assert!(!h.cases.iter().any(|a| a.case_id == c2), "a deleted case is still shown");
    assert_eq!(sources::counters(&store).case_scans, 2);
}

/// A small deterministic generator (xorshift64*) for the randomized test: no dependency, the same steps on
/// every run for a seed.
struct Steps(u64);

impl Steps {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The plan the findings give against an empty last plan (so two stores' findings can be compared
/// without either writing its plan state).
fn preview(store: &Arc<Store>) -> Plan {
    let snap = sources::Snapshot::load(store, settings(store).expect("settings")).expect("snapshot");
    let found = sources::collect(&snap).expect("findings");
    plan::compute(&snap.settings, snap.now, found.iter(), &plan::State::default()).0
}

/// The kept (incremental) path gives what a full recompute gives, after random writes, deletes, clock steps
/// within a day and across days, calendar updates, new principals and settings changes: one store object
/// keeps its state across the steps (reading only the rows written since, from the change log), a second
/// object over the same files forgets everything before each call. Also checks that the kept path was
/// taken: a write to one case reads one row, not the collection.
#[test]
fn the_kept_path_equals_a_full_recompute_after_random_writes_deletes_days_and_calendar_updates() {
    let key = hex::decode(include_str!("../../base/trust/sandbox-calendar.pk8.hex")).expect("sandbox key");
    let mut incremental_reads = 0;
    for seed in [0x9e37_79b9_7f4a_7c15u64, 42, 2024] {
        let dir = tempfile::tempdir().expect("tmp");
        let clock = Arc::new(FixedClock::at(local(2026, 11, 20, 10, 0)));
        let kept = open(dir.path(), clock.clone());
        let full = open(dir.path(), clock.clone());
        let mut rng = Steps(seed);
        let mut ids: Vec<String> = Vec::new();
        let mut subjects = vec!["self".to_string()];
        let mut seq = 0u64;
        let mut calendar_version = 0u64;
        for step in 0..70 {
            let today = clock.today();
            let pick = |rng: &mut Steps, ids: &[String]| ids[rng.below(ids.len() as u64) as usize].clone();
            let what = if ids.len() < 4 { 0 } else { rng.below(12) };
            let mut case_write = false;
            match what {
                0 | 1 => {
                    // A new case (a principal's one is rewritten: a delete and an insert).
                    let subject = subjects[rng.below(subjects.len() as u64) as usize].clone();
                    let sub = Submission {
                        item_codes: vec!["GA-002".into()],
                        title: format!("件{step}"),
                        values: json!({}),
                        deferred_materials: if rng.below(2) == 0 { vec!["户口簿".into()] } else { vec![] },
                        ..Submission::default()
                    };
                    let id = if subject == "self" {
                        cases::submit(&kept, "self", &sub).expect("submit").id
                    } else {
                        new_case(&kept, &subject, &sub.title)
                    };
                    ids.push(id);
                    case_write = subject == "self";
                }
                2 | 3 => {
                    let c = pick(&mut rng, &ids);
                    seq += 1;
                    let acc = today - chrono::Duration::days(rng.below(25) as i64);
                    let days = 1 + rng.below(30);
                    event(
                        &kept,
                        &c,
                        seq,
                        "accepted",
                        clock.now_secs(),
                        json!({"accepted_on": acc, "promised_days": days}),
                    );
                    case_write = true;
                }
                4 => {
                    let c = pick(&mut rng, &ids);
                    seq += 1;
                    let due = today + chrono::Duration::days(rng.below(20) as i64 - 4);
                    event(
                        &kept,
                        &c,
                        seq,
                        "supplement_requested",
                        clock.now_secs(),
                        json!({"request_id": format!("r{seq}"), "due": due, "items": ["照片"]}),
                    );
                    case_write = true;
                }
                5 => {
                    let c = pick(&mut rng, &ids);
                    let _ = cases::supply(&kept, &c, json!({}), &[], "");
                    case_write = true;
                }
                6 => {
                    let c = pick(&mut rng, &ids);
                    seq += 1;
                    // Completed some days ago (in or out of the rating window), or rejected (no longer watched).
                    if rng.below(2) == 0 {
                        let on = today - chrono::Duration::days(rng.below(20) as i64);
                        event(&kept, &c, seq, "completed", clock.now_secs(), json!({"on": on}));
                    } else {
                        event(&kept, &c, seq, "rejected", clock.now_secs(), json!({"reason": "不符合条件"}));
                    }
                    case_write = true;
                }
                7 => {
                    let c = pick(&mut rng, &ids);
                    kept.delete(cases::COLLECTION, &c).expect("delete");
                    ids.retain(|i| *i != c);
                }
                8 => clock.set(clock.now_secs() + 3600 * (1 + rng.below(7) as i64)),
                9 => clock.set(clock.now_secs() + DAY * (1 + rng.below(20) as i64)),
                10 => {
                    // A calendar update: 2027 (and sometimes 2028) published, each version different.
                    calendar_version += 1;
                    let mut text = format!(
                        "year 2027 测试数据 v{calendar_version}\noff 2027-01-01 2027-01-0{} 元旦\n",
                        1 + calendar_version % 3
                    );
                    if calendar_version % 2 == 0 {
                        text.push_str("year 2028 测试数据\noff 2028-01-01 2028-01-01 元旦\n");
                    }
                    let env = zhangban_calendar::update::sign(
                        &key,
                        zhangban_calendar::update::PLATFORM_KEY_ID,
                        calendar_version,
                        &text,
                    )
                    .expect("sign");
                    zhangban_calendar::update::apply(&kept, &serde_json::to_vec(&env).expect("json")).expect("apply");
                }
                _ => {
                    if rng.below(2) == 0 {
                        let p = kept
                            .create_subject(zhangban_base::store::SubjectKind::Principal, &format!("委托人{step}"))
                            .expect("subject");
                        subjects.push(p);
                    } else {
                        let s = Settings { deadline_leads: vec![1 + rng.below(5) as u32, 1], ..Settings::default() };
                        set_settings(&kept, &s).expect("settings");
                    }
                }
            }
            let before = sources::counters(&kept);
            let h_kept = home(&kept).expect("home");
            let p_kept = preview(&kept);
            sources::forget(&full);
            let h_full = home(&full).expect("home");
            sources::forget(&full);
            let p_full = preview(&full);
            assert_eq!(h_kept, h_full, "seed {seed} step {step} (op {what}): the kept home differs");
            assert_eq!(p_kept, p_full, "seed {seed} step {step} (op {what}): the kept plan differs");
            let after = sources::counters(&kept);
            if case_write && after.case_scans == before.case_scans {
                incremental_reads += 1;
                assert!(after.case_rows_read - before.case_rows_read <= 1, "{before:?} {after:?}");
            }
            // Now and then a real plan through the kept object (its own state written) keeps that path in use.
            if step % 9 == 0 {
                plan(&kept).expect("plan");
            }
        }
    }
    assert!(incremental_reads >= 40, "the kept path was taken only {incremental_reads} times");
}

/// ADR 0043: what agent mode publishes when a principal's mandate ends (here written directly: remind may not
/// depend on agent mode). From then on the home and the plan hold nothing of hers but the one line that says so
/// and what to hand back; the owner's own needs stay; a later mandate (published again, not ended) brings her back.
#[test]
fn an_ended_principal_leaves_the_home_and_the_plan_at_once() {
    use zhangban_base::acting::{self, Acting, End};
    let (_dir, clock, store) = fixture(local(2024, 10, 8, 10, 0));
    let p = store.create_subject(zhangban_base::store::SubjectKind::Principal, "李秀英").expect("subject");
    let supplement = |c: &str| {
        event(&store, c, 1, "accepted", local(2024, 10, 8, 9, 0), json!({"promised_days": 20, "receipt": "ZB1"}));
        event(
            &store,
            c,
            2,
            "supplement_requested",
            local(2024, 10, 8, 9, 30),
            json!({"request_id": "r", "due": "2024-10-18", "items": ["照片"]}),
        );
    };
    let mine = new_case(&store, "self", "甲");
    supplement(&mine);
    let hers = new_case(&store, &p, "乙");
    supplement(&hers);
    let valid = Acting { valid_until: local(2024, 11, 7, 10, 0), ended: None };
    store.transaction(|t| acting::publish(t, &p, Some(&valid))).expect("publish");
    let of = |h: &Home| h.needs.iter().filter(|n| n.subject == p).map(|n| n.id.clone()).collect::<Vec<_>>();
    let h = home(&store).expect("home");
    assert!(of(&h).iter().any(|id| id.starts_with(&format!("supplement:{hers}:"))), "{:?}", of(&h));
    assert!(h.cases.iter().any(|c| c.case_id == hers));
    let before = plan(&store).expect("plan");
    assert!(before.pending.iter().any(|r| r.subject == p));

    // Revoked.
    clock.set(local(2024, 10, 9, 10, 0));
    let revoked = Acting { ended: Some((End::Revoked, clock.now_secs())), ..valid.clone() };
    store.transaction(|t| acting::publish(t, &p, Some(&revoked))).expect("publish");
    let h = home(&store).expect("home");
    assert_eq!(of(&h), vec![format!("ended:{p}")]);
    let n = h.needs.iter().find(|n| n.subject == p).expect("the end line");
    assert_eq!((n.source, n.urgency, n.link.screen), (ReminderSource::Delegation, Urgency::Normal, Screen::Home));
    assert_eq!(n.title.zh, "委托已撤销");
    assert_eq!(
        n.body.zh,
        "委托人已撤销委托，不能再为李秀英办理。1 件办件尚未办结：请把代收的材料交还委托人并告知进度，今后由其本人跟进。"
    );
    assert!(h.cases.iter().all(|c| c.subject != p), "{:?}", h.cases);
    assert!(h.needs.iter().any(|n| n.link.id == mine), "the owner's own need stays");
    let after = plan(&store).expect("plan");
    assert!(after.pending.iter().all(|r| r.subject != p), "{:?}", after.pending);
    assert!(after.cancel.iter().any(|id| id.starts_with(&format!("supplement:{hers}:"))), "{:?}", after.cancel);
    // A week after the end the line goes too (the retention sweep erases her by then).
    clock.set(local(2024, 10, 16, 10, 1));
    assert!(of(&home(&store).expect("home")).is_empty());
    // A new mandate (the record published again, not ended): she is back.
    store
        .transaction(|t| acting::publish(t, &p, Some(&Acting { valid_until: local(2024, 12, 1, 0, 0), ended: None })))
        .expect("publish");
    assert!(home(&store).expect("home").cases.iter().any(|c| c.case_id == hers));
    // Expired by the clock: no write needed.
    clock.set(local(2024, 12, 1, 0, 1));
    let h = home(&store).expect("home");
    assert_eq!(of(&h), vec![format!("ended:{p}")]);
    assert_eq!(h.needs.iter().find(|n| n.subject == p).map(|n| n.title.zh.as_str()), Some("委托已到期"));
}

/// ADR 0045: an ended principal's operations still on the phone (queued, or refused) are not what the agent has
/// waiting to send or to fix: the home's outbox counts and "待发送 n 项" leave them out at once (revoked, or
/// expired by the clock with no write), and her one line says they were not and will not be sent. Before, the
/// home said "待发送 3 项" for operations the platform would refuse. The owner's own operation is still counted.
#[test]
fn attack_an_ended_principals_queued_operations_are_counted_as_waiting_to_be_sent() {
    use zhangban_base::acting::{self, Acting, End};
    use zhangban_base::outbox::{self, OpKind, Problem};
    let (_dir, clock, store) = fixture(local(2024, 10, 8, 10, 0));
    let p = store.create_subject(zhangban_base::store::SubjectKind::Principal, "李秀英").expect("subject");
    let n = std::cell::Cell::new(0);
    // Operations about cases not on this phone (the rules link to the case only).
    let queue = |subject: &str| {
        n.set(n.get() + 1);
        let case = format!("case-{}", n.get());
        store
            .transaction(|t| {
                outbox::enqueue(t, subject, &case, OpKind::Urge, outbox::new_key(), json!({}), vec![]).map(|_| ())
            })
            .expect("queue");
    };
    queue("self");
    queue(&p);
    queue(&p);
    // One of hers the platform refused already (sent before the phone heard of the end).
    let refused = store
        .transaction(|t| outbox::enqueue(t, &p, "case-9", OpKind::Urge, outbox::new_key(), json!({}), vec![]))
        .expect("queue");
    let why = Text::new("代办被拒绝（revoked）", "proxy refused (revoked)");
    store.transaction(|t| outbox::quarantine_in(t, &refused, Problem::new(403, &why, "urge"))).expect("quarantine");
    let valid = Acting { valid_until: local(2024, 11, 7, 10, 0), ended: None };
    store.transaction(|t| acting::publish(t, &p, Some(&valid))).expect("publish");
    let h = home(&store).expect("home");
    assert_eq!((h.outbox_pending, h.outbox_refused), (3, 1));
    assert_eq!(outbox::waiting_count(&store).expect("count"), 3);
    assert_eq!(h.outbox_text.as_ref().map(|t| t.zh.as_str()), Some("待发送 3 项"));

    let counted_apart = |h: &Home, title: &str| {
        assert_eq!((h.outbox_pending, h.outbox_refused), (1, 0), "{title}: only the owner's operation waits");
        assert_eq!(outbox::waiting_count(&store).expect("count"), 1, "{title}");
        assert_eq!(h.outbox_text.as_ref().map(|t| t.zh.as_str()), Some("待发送 1 项"));
        let line = h.needs.iter().find(|n| n.subject == p).expect("her line");
        assert_eq!(line.title.zh, title);
        assert!(line.body.zh.ends_with("本机上为其排队的 3 项操作未发送，也不会再发送。"), "{:?}", line.body);
        assert!(line.body.en.ends_with(" 3 operations queued for them on this phone were not sent and will not be."));
    };
    // Revoked.
    clock.set(local(2024, 10, 9, 10, 0));
    let revoked = Acting { ended: Some((End::Revoked, clock.now_secs())), ..valid.clone() };
    store.transaction(|t| acting::publish(t, &p, Some(&revoked))).expect("publish");
    counted_apart(&home(&store).expect("home"), "委托已撤销");
    // Expired by the clock: no write needed.
    store.transaction(|t| acting::publish(t, &p, Some(&valid))).expect("publish");
    assert_eq!(home(&store).expect("home").outbox_pending, 3);
    clock.set(local(2024, 11, 7, 10, 1));
    counted_apart(&home(&store).expect("home"), "委托已到期");
}
