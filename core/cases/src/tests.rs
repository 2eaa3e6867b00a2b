//! Case lifecycle tests (no network: platform events applied directly).

use std::sync::Arc;

use chrono::NaiveDate;
use serde_json::json;

use super::*;
use crate::calendar::Calendar;
use crate::outbox;
use crate::store::{FileVault, KeyVault, Store};

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date")
}

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("tmp");
    let vault: Arc<dyn KeyVault> = Arc::new(FileVault::open_or_create(&dir.path().join("vault.key")).expect("vault"));
    let s = Store::create(&dir.path().join("s"), vault, None).expect("store");
    (dir, s)
}

fn submission(s: &Store) -> Submission {
    let photo = s.write_attachment(SELF, "photo.jpg", &mut &b"jpeg bytes"[..]).expect("attachment");
    Submission {
        item_codes: vec!["330100-GT-001".into()],
        title: "个体工商户设立登记".into(),
        values: json!({ "name": "李明", "address": "杭州市西湖区" }),
        attachments: vec![photo.id],
        deferred_materials: vec!["场所使用证明".into()],
        ..Default::default()
    }
}

fn step(
    c: &mut Case,
    (seq, kind, at_day, data): (u64, &str, &str, serde_json::Value),
) -> Option<crate::notify::Notice> {
    let at = d(at_day).and_hms_opt(2, 0, 0).expect("t").and_utc().timestamp();
    let e = PlatformEvent {
        seq,
        case_id: "P1".into(),
        client_ref: c.id.clone(),
        kind: kind.into(),
        at,
        actor: "clerk:王".into(),
        data,
    };
    apply_event(c, &e)
}

#[test]
fn submit_creates_case_and_outbox_op_together() {
    let (_d, s) = store();
    let case = submit(&s, SELF, &submission(&s)).expect("submit");
    assert_eq!(case.state, CaseState::Queued);
    assert_eq!(get(&s, &case.id).expect("stored"), case);
    let ops = outbox::pending(&s).expect("pending");
    assert_eq!(ops.len(), 1);
    assert_eq!(ops[0].case_id, case.id);
    assert_eq!(ops[0].uploads.len(), 1);
    assert_eq!(ops[0].uploads[0].size, 10);
    assert!(ops[0].uploads[0].upload_id.starts_with(&ops[0].idempotency_key));
    assert_eq!(list_in_state(&s, CaseState::Queued).expect("list").len(), 1);
    assert!(s.audit_entries(Some(&case.id)).expect("audit").iter().any(|e| e.action == "case.submit"));
}

#[test]
fn submission_validation_names_the_field() {
    let (_d, s) = store();
    let mut sub = submission(&s);
    sub.item_codes = vec!["ok".into(), "bad code!".into()];
    match submit(&s, SELF, &sub) {
        Err(Error::Validation { field, .. }) => assert_eq!(field, "item_codes[1]"),
        other => panic!("expected validation error, got {other:?}"),
    }
    let mut sub = submission(&s);
    sub.attachments.push("no-such-attachment".into());
    match submit(&s, SELF, &sub) {
        Err(Error::Validation { field, .. }) => assert_eq!(field, "attachments[1]"),
        other => panic!("expected validation error, got {other:?}"),
    }
    let mut sub = submission(&s);
    sub.values = json!([1, 2]);
    assert!(matches!(submit(&s, SELF, &sub), Err(Error::Validation { field, .. }) if field == "values"));
    assert!(outbox::pending(&s).expect("pending").is_empty(), "nothing queued by a refused submission");
    assert!(list_all(&s).expect("list").is_empty());
}

#[test]
fn lifecycle_with_pause_supplement_and_deadline() {
    let (_d, s) = store();
    let cal = Calendar::bundled();
    let rules = Rules::default();
    let mut c = submit(&s, SELF, &submission(&s)).expect("submit");
    c.state = CaseState::Submitted;
    c.receipt = Some("ZB001".into());
    // Accepted Thursday 8 Feb 2024 with 5 working days: 9 Feb, 18 Feb (调休), 19, 20, 21 → 21 Feb.
    let n = step(
        &mut c,
        (
            1,
            "accepted",
            "2024-02-08",
            json!({ "accepted_on": "2024-02-08", "promised_days": 5,
            "deferred": [{ "material": "场所使用证明", "due": "2024-02-20" }] }),
        ),
    )
    .expect("applied");
    assert_eq!(n.kind, crate::notify::NoticeKind::StateChanged);
    let p = progress(&c, &cal, &rules, d("2024-02-09")).expect("progress");
    assert_eq!(p.promised_date.as_ref().map(|r| r.value), Some(d("2024-02-21")));
    assert_eq!(p.working_days_left.as_ref().map(|r| r.value), Some(4));
    assert!(!p.overdue);
    assert!(p.needed_now.iter().any(|n| matches!(n, Need::Deferred { due, .. } if *due == d("2024-02-20"))));

    // Suspended on 19 Feb, resumed 23 Feb: 20–23 Feb (4 working days) do not count → 27 Feb.
    step(&mut c, (2, "suspended", "2024-02-19", json!({ "on": "2024-02-19", "reason": "现场核查" })));
    assert_eq!(c.state, CaseState::Suspended);
    step(&mut c, (3, "resumed", "2024-02-23", json!({ "on": "2024-02-23" })));
    assert_eq!(c.state, CaseState::InReview);
    let p = progress(&c, &cal, &rules, d("2024-02-23")).expect("progress");
    assert_eq!(p.promised_date.as_ref().map(|r| r.value), Some(d("2024-02-27")));

    // A duplicate delivery of event 3 is ignored.
    let before = c.clone();
    assert!(step(&mut c, (3, "resumed", "2024-02-23", json!({}))).is_none());
    assert_eq!(before, c);

    step(
        &mut c,
        (
            4,
            "supplement_requested",
            "2024-02-26",
            json!({ "request_id": "R1", "items": ["身份证复印件"], "due": "2024-03-01" }),
        ),
    );
    let p = progress(&c, &cal, &rules, d("2024-02-26")).expect("progress");
    assert!(p.needed_now.iter().any(|n| matches!(n, Need::Supplement { working_days_left: 4, .. })));

    // Overdue once the promised date has passed.
    let p = progress(&c, &cal, &rules, d("2024-03-04")).expect("progress");
    assert!(p.overdue);
    assert_eq!(p.working_days_left.as_ref().map(|r| r.value), Some(-4));

    step(&mut c, (5, "supplement_received", "2024-02-27", json!({})));
    step(&mut c, (6, "approved", "2024-02-27", json!({ "result": "准予登记", "licence": { "id": "L1" } })));
    assert_eq!(c.state, CaseState::Approved);
    assert!(c.licence.is_some());
    step(&mut c, (7, "completed", "2024-02-27", json!({ "on": "2024-02-27" })));
    let p = progress(&c, &cal, &rules, d("2024-02-28")).expect("progress");
    assert!(!p.overdue && p.working_days_left.is_none());
    assert!(p.needed_now.iter().any(|n| matches!(n, Need::Rate { .. })));
    let states: Vec<CaseState> = c.timeline.iter().map(|e| e.state).collect();
    assert_eq!(
        states,
        [
            CaseState::Queued,
            CaseState::Accepted,
            CaseState::Suspended,
            CaseState::InReview,
            CaseState::SupplementRequested,
            CaseState::InReview,
            CaseState::Approved,
            CaseState::Completed
        ]
    );
    assert!(c.timeline.iter().skip(1).all(|e| e.actor == "clerk:王"));
}

fn completed_case(s: &Store) -> Case {
    let mut c = submit(s, SELF, &submission(s)).expect("submit");
    c.state = CaseState::Completed;
    c.completed_on = Some(d("2025-03-03"));
    s.transaction(|t| {
        t.put_json(COLLECTION, &c.id, SELF, &c, crate::store::PutOptions { tag: Some("completed"), lookup: None })
    })
    .expect("put");
    c
}

#[test]
fn ratings_follow_the_rules() {
    let (_d, s) = store();
    let rules = Rules::default();
    let queued = submit(&s, SELF, &submission(&s)).expect("submit");
    assert!(rate(&s, &rules, &queued.id, RatingLevel::Satisfied, None, d("2025-03-04")).is_err(), "not completed");
    let c = completed_case(&s);
    let e = rate(&s, &rules, &c.id, RatingLevel::Dissatisfied, Some("  "), d("2025-03-04")).expect_err("needs reason");
    assert!(matches!(e, Error::Validation { ref field, .. } if field == "reason"));
    assert!(rate(&s, &rules, &c.id, RatingLevel::Satisfied, None, d("2025-03-30")).is_err(), "window over");
    let before = outbox::pending(&s).expect("p").len();
    rate(&s, &rules, &c.id, RatingLevel::VeryDissatisfied, Some("窗口排队太久"), d("2025-03-04")).expect("rated");
    assert_eq!(outbox::pending(&s).expect("p").len(), before + 1);
    let got = get(&s, &c.id).expect("case");
    assert_eq!(got.rating.as_ref().map(|r| r.level), Some(RatingLevel::VeryDissatisfied));
    assert!(rate(&s, &rules, &c.id, RatingLevel::Satisfied, None, d("2025-03-04")).is_err(), "only once");
    assert_eq!(RatingLevel::BasicallySatisfied.label_zh(), "基本满意");
}

#[test]
fn complaints_queue_and_are_bounded() {
    let (_d, s) = store();
    let c = submit(&s, SELF, &submission(&s)).expect("submit");
    assert!(complain(&s, &c.id, "").is_err());
    assert!(complain(&s, &c.id, &"长".repeat(MAX_COMPLAINT_CHARS + 1)).is_err());
    complain(&s, &c.id, "材料已补交三次仍未受理").expect("complaint");
    let ops = outbox::pending(&s).expect("p");
    assert_eq!(ops.iter().filter(|o| o.kind == outbox::OpKind::Complain).count(), 1);
    assert_eq!(get(&s, &c.id).expect("case").complaints.len(), 1);
}

#[test]
fn supply_only_when_something_is_needed() {
    let (_d, s) = store();
    let mut sub = submission(&s);
    sub.deferred_materials.clear();
    let c = submit(&s, SELF, &sub).expect("submit");
    assert!(supply(&s, &c.id, json!({}), &[], "").is_err(), "nothing requested");
    let mut c = get(&s, &c.id).expect("case");
    c.state = CaseState::Submitted;
    step(
        &mut c,
        (
            1,
            "supplement_requested",
            "2025-03-03",
            json!({ "request_id": "R9", "items": ["户口簿"], "due": "2025-03-10" }),
        ),
    );
    s.transaction(|t| {
        t.put_json(
            COLLECTION,
            &c.id,
            SELF,
            &c,
            crate::store::PutOptions { tag: Some("supplement_requested"), lookup: None },
        )
    })
    .expect("put");
    let scan = s.write_attachment(SELF, "hukou.jpg", &mut &b"scan"[..]).expect("att");
    supply(&s, &c.id, json!({ "hukou": "已上传" }), &[scan.id], "补交户口簿").expect("supply");
    let got = get(&s, &c.id).expect("case");
    assert!(got.supplement.as_ref().is_some_and(|s| s.supplied));
    let ops = outbox::pending(&s).expect("p");
    let op = ops.iter().find(|o| o.kind == outbox::OpKind::Supplement).expect("supplement op");
    assert_eq!(op.body["request_id"], "R9");
    assert_eq!(op.uploads.len(), 1);
}

// ---- from a form draft ------------------------------------------------------------------------

fn draft_catalog() -> crate::catalog::Catalog {
    let doc = json!({
        "format": 1, "version": 7,
        "licence_types": [{ "type": "resident_id", "name": { "zh": "居民身份证", "en": "Resident ID card" },
                            "profile_map": { "name": "person.name" } }],
        "fields": [
            { "id": "a.name", "type": "text", "label": { "zh": "姓名", "en": "Name" }, "required": true,
              "bind": { "profile": "person.name", "licence": { "type": "resident_id", "field": "name" } } },
            { "id": "a.phone", "type": "phone", "label": { "zh": "手机", "en": "Phone" }, "required": true,
              "bind": { "profile": "person.phone", "editable": true } },
            { "id": "a.note", "type": "text", "label": { "zh": "备注", "en": "Note" } }
        ],
        "items": [{
            "code": "T-1", "name": { "zh": "测试事项", "en": "Test item" }, "department": { "zh": "测试局", "en": "Test" },
            "kind": "public_service", "legal_days": 20, "promised_days": 10, "channels": ["online"],
            "form": ["a.name", "a.phone", "a.note"],
            "materials": [
                { "code": "M_ID", "name": { "zh": "身份证", "en": "ID card" }, "required": true, "licence_type": "resident_id" },
                { "code": "M_PHOTO", "name": { "zh": "照片", "en": "Photo" }, "required": true },
                { "code": "M_LATER", "name": { "zh": "证明", "en": "Proof" }, "required": true, "deferrable_days": 5 },
                { "code": "M_PROMISE", "name": { "zh": "承诺材料", "en": "Promise" }, "required": true, "commitment": true },
                { "code": "M_EXTRA", "name": { "zh": "其他", "en": "Extra" }, "required": false }
            ]
        }]
    });
    crate::catalog::Catalog::from_json(&doc.to_string()).expect("test catalog")
}

fn id_card() -> Vec<crate::forms::profile::HeldLicence> {
    vec![crate::forms::profile::HeldLicence {
        licence_type: "resident_id".into(),
        licence_id: "RID-1".into(),
        as_of: "2026-01-05".into(),
        valid_until: Some("2036-01-05".into()),
        fields: [("name".to_string(), json!("李明"))].into_iter().collect(),
    }]
}

#[test]
fn a_draft_with_problems_is_not_submitted_and_nothing_is_written() {
    use crate::forms::{AutofillOptions, Session};
    let (_d, s) = store();
    let s = Arc::new(s);
    let cat = draft_catalog();
    let mut session =
        Session::start(s.clone(), &cat, SELF, "T-1", &id_card(), &AutofillOptions::at(s.clock().as_ref()))
            .expect("start");
    let err = submit_draft(&mut session, &cat).expect_err("incomplete");
    let Error::Validation { field, message_zh, message_en } = err else { panic!("{err:?}") };
    // The phone is empty and two materials block (photo, promise): three problems, the first named.
    assert_eq!(field, "a.phone");
    assert!(message_zh.contains("还有 3 处"), "{message_zh}");
    assert!(message_en.starts_with("3 problem(s) left"), "{message_en}");
    assert!(list_all(&s).expect("list").is_empty());
    assert!(outbox::pending(&s).expect("pending").is_empty());
    assert!(session.submitted_case().is_none());
    session.set("a.phone", json!("13800138000"), crate::forms::Editor::Person).expect("still editable");
}

#[test]
fn submitting_a_draft_makes_case_op_and_submitted_draft_in_one_go() {
    use crate::forms::{profile::Profile, session, AutofillOptions, Editor, MaterialChoice, Session};
    let (_d, s) = store();
    let s = Arc::new(s);
    let cat = draft_catalog();
    let mut session =
        Session::start(s.clone(), &cat, SELF, "T-1", &id_card(), &AutofillOptions::at(s.clock().as_ref()))
            .expect("start");
    session.set("a.phone", json!("13800138000"), Editor::Person).expect("phone");
    let photo = s.write_attachment(SELF, "photo.jpg", &mut &[7u8; 3000][..]).expect("photo");
    session.set_material("M_PHOTO", Some(MaterialChoice::Attached { attachment_id: photo.id.clone() })).expect("m");
    session.set_material("M_PROMISE", Some(MaterialChoice::Committed { at: 1 })).expect("m");
    let draft_id = session.id().to_string();

    let case = submit_draft(&mut session, &cat).expect("submit");
    assert_eq!(case.state, CaseState::Queued);
    assert_eq!(case.item_codes, vec!["T-1".to_string()]);
    assert_eq!(case.title, "测试事项");
    assert_eq!(case.draft_id.as_deref(), Some(draft_id.as_str()));
    assert_eq!(case.values, json!({ "a.name": "李明", "a.phone": "13800138000" }));
    assert_eq!(case.attachments, vec![photo.id.clone()]);
    // M_LATER was deferrable and not chosen: submitting without it defers it (容缺).
    assert_eq!(case.deferred.iter().map(|d| d.material.as_str()).collect::<Vec<_>>(), vec!["证明"]);
    let outcomes: Vec<(&str, &MaterialOutcome)> =
        case.materials.iter().map(|m| (m.code.as_str(), &m.outcome)).collect();
    assert_eq!(
        outcomes,
        vec![
            ("M_ID", &MaterialOutcome::Exempt { licence_type: "resident_id".into(), licence_id: "RID-1".into() }),
            ("M_PHOTO", &MaterialOutcome::Attached { attachment_id: photo.id.clone() }),
            ("M_LATER", &MaterialOutcome::Deferred { within_working_days: 5 }),
            ("M_PROMISE", &MaterialOutcome::Committed),
            ("M_EXTRA", &MaterialOutcome::NotSupplied),
        ]
    );
    // Stored: the case, one outbox op carrying the materials and the photo upload, the draft submitted.
    assert_eq!(get(&s, &case.id).expect("stored"), case);
    let ops = outbox::pending(&s).expect("pending");
    assert_eq!(ops.len(), 1);
    assert_eq!(ops[0].case_id, case.id);
    assert_eq!(ops[0].body["materials"][0]["status"], "exempt");
    assert_eq!(ops[0].body["materials"][0]["licence_id"], "RID-1");
    assert_eq!(ops[0].uploads.len(), 1);
    let drafts = session::list_all(&s).expect("drafts");
    assert!(drafts.iter().any(|d| d.id == draft_id && d.submitted));
    assert!(session.set("a.note", json!("改"), Editor::Person).is_err(), "a submitted draft is read-only");
    let reopened = Session::resume(s.clone(), &cat, &draft_id, chrono::Utc::now().date_naive()).expect("resume");
    assert_eq!(reopened.submitted_case(), Some(case.id.as_str()));
    // The typed phone is learned by the profile; the verified name is not replaced by a typed one.
    let p = Profile::load(&s, SELF).expect("profile");
    assert_eq!(p.get("person.phone").map(|v| v.value.clone()), Some(json!("13800138000")));
    assert!(matches!(
        p.get("person.phone").map(|v| &v.provenance),
        Some(crate::forms::profile::Provenance::Form { .. })
    ));
    // A second tap (or a retry after a crash of the UI) gives the same case, and no second operation.
    let again = submit_draft(&mut session, &cat).expect("again");
    assert_eq!(again.id, case.id);
    let mut reopened = reopened;
    assert_eq!(submit_draft(&mut reopened, &cat).expect("reopened").id, case.id);
    assert_eq!(outbox::pending(&s).expect("pending").len(), 1);
    assert_eq!(list_all(&s).expect("cases").len(), 1);
    // The audit chain names the draft.
    let entries = s.audit_entries(Some(&case.id)).expect("audit");
    assert!(entries.iter().any(|e| e.action == "case.submit" && e.detail["draft"] == json!(draft_id)));
}

#[test]
fn learned_values_never_replace_verified_ones() {
    use crate::forms::profile::{Profile, Provenance};
    let cat = draft_catalog();
    let mut d = crate::forms::Draft::new(&cat, "d1", SELF, "T-1", d("2026-03-02"), 1).expect("draft");
    d.set("a.name", json!("别名"), &crate::forms::Editor::Person, 2).expect("name");
    d.set("a.phone", json!("13900139000"), &crate::forms::Editor::Agent { agent: "网格员小王".into() }, 3).expect("ph");
    let mut p = Profile::default();
    let verified =
        Provenance::Licence { licence_type: "resident_id".into(), licence_id: "R".into(), as_of: "2026-01-01".into() };
    p.set("person.name", json!("李明"), verified.clone()).expect("set");
    assert_eq!(p.learn(d.typed_profile_values()), 1);
    assert_eq!(p.get("person.name").map(|v| (&v.value, &v.provenance)), Some((&json!("李明"), &verified)));
    assert!(matches!(p.get("person.phone").map(|v| &v.provenance), Some(Provenance::Agent { .. })));
    assert_eq!(p.learn(d.typed_profile_values()), 0, "learning the same values again changes nothing");
}

/// What the sync runner does with a 4xx: the operation is quarantined and the case shows the reason.
fn refuse(s: &Store, case_id: &str, message: &str) -> outbox::Op {
    let op = outbox::pending(s).expect("p").into_iter().find(|o| o.case_id == case_id).expect("op");
    let problem =
        Problem { status: 422, message: message.into(), message_zh: String::new(), op: op.kind.as_str().into() };
    s.transaction(|t| {
        outbox::quarantine_in(t, &op, problem.clone())?;
        update_in(t, case_id, |c| {
            c.problem = Some(problem.clone());
            Ok(())
        })
    })
    .expect("quarantine");
    op
}

#[test]
fn a_refused_submission_is_fixed_and_sent_again_in_one_transaction() {
    let (_d, s) = store();
    let c = submit(&s, SELF, &submission(&s)).expect("submit");
    assert!(
        matches!(resubmit(&s, &c.id, &Fix::default()), Err(Error::Validation { ref field, .. }) if field == "case")
    );
    let old = refuse(&s, &c.id, "item_codes[0]: no service item 330100-GT-001");
    assert!(outbox::pending(&s).expect("p").is_empty());
    let cal = Calendar::bundled();
    let p = progress(&get(&s, &c.id).expect("case"), &cal, &Rules::default(), d("2025-03-03")).expect("p");
    assert!(matches!(p.needed_now.as_slice(), [Need::Fix { .. }]));

    // An invalid fix is refused naming the field, and changes nothing.
    let bad = Fix { values: ValuesChange::Patch(json!([1])), ..Fix::default() };
    assert!(matches!(resubmit(&s, &c.id, &bad), Err(Error::Validation { ref field, .. }) if field == "values"));
    let bad = Fix { item_codes: Some(vec!["bad code!".into()]), ..Fix::default() };
    assert!(matches!(resubmit(&s, &c.id, &bad), Err(Error::Validation { ref field, .. }) if field == "item_codes[0]"));
    assert_eq!(outbox::quarantined(&s).expect("q").len(), 1);

    let photo2 = s.write_attachment(SELF, "photo2.jpg", &mut &b"a clearer photo"[..]).expect("att");
    let fix = Fix {
        item_codes: Some(vec!["330100-GT-002".into()]),
        title: None,
        values: ValuesChange::Patch(json!({ "address": "杭州市西湖区文三路 1 号", "name": null })),
        attachments: Some(vec![photo2.id.clone()]),
    };
    let got = resubmit(&s, &c.id, &fix).expect("resubmit");
    assert_eq!(got, get(&s, &c.id).expect("stored"));
    assert!(got.problem.is_none());
    assert_eq!(got.state, CaseState::Queued);
    assert_eq!(got.values, json!({ "address": "杭州市西湖区文三路 1 号" }));
    assert_eq!(got.item_codes, ["330100-GT-002"]);
    assert!(got.timeline.last().is_some_and(|e| e.note.zh.contains("重新提交")));
    assert!(outbox::quarantined(&s).expect("q").is_empty(), "the refused operation is gone");
    let ops = outbox::pending(&s).expect("p");
    assert_eq!(ops.len(), 1);
    let op = &ops[0];
    assert_ne!(op.idempotency_key, old.idempotency_key, "a new body gets a new key");
    assert_ne!(op.id, old.id);
    assert_eq!(op.body["client_ref"], c.id.as_str());
    assert_eq!(op.body["item_codes"], json!(["330100-GT-002"]));
    assert_eq!(op.body["values"], json!({ "address": "杭州市西湖区文三路 1 号" }));
    assert_eq!(op.body["deferred_materials"], json!(["场所使用证明"]));
    assert_eq!(op.uploads.len(), 1);
    assert_eq!(op.uploads[0].attachment_id, photo2.id);
    assert!(op.uploads[0].upload_id.starts_with(&op.idempotency_key));
    let audit = s.audit_entries(Some(&c.id)).expect("audit");
    let e = audit.iter().find(|e| e.action == "case.resubmit").expect("audited");
    assert_eq!(e.detail["replaced_op"], old.id.as_str());
    assert_eq!(e.detail["changed"], json!(["item_codes", "values", "attachments"]));
    // Nothing is refused any more: a second resubmission is refused locally.
    assert!(resubmit(&s, &c.id, &Fix::default()).is_err());
    // Replace instead of patch.
    refuse(&s, &c.id, "still wrong");
    let fix = Fix { values: ValuesChange::Replace(json!({ "name": "王五" })), ..Fix::default() };
    assert_eq!(resubmit(&s, &c.id, &fix).expect("again").values, json!({ "name": "王五" }));
}

#[test]
fn giving_up_a_refused_submission_withdraws_the_case() {
    let (_d, s) = store();
    let c = submit(&s, SELF, &submission(&s)).expect("submit");
    assert!(discard(&s, &c.id, "").is_err(), "nothing refused yet");
    refuse(&s, &c.id, "unknown item");
    let got = discard(&s, &c.id, "不再办理").expect("discard");
    assert_eq!(got.state, CaseState::Withdrawn);
    assert!(got.state.is_final());
    assert!(got.problem.is_none());
    assert!(got.timeline.last().is_some_and(|e| e.note.zh.contains("不再办理") && e.state == CaseState::Withdrawn));
    assert!(outbox::pending(&s).expect("p").is_empty() && outbox::quarantined(&s).expect("q").is_empty());
    assert!(s.audit_entries(Some(&c.id)).expect("audit").iter().any(|e| e.action == "case.discard"));
    assert_eq!(list_in_state(&s, CaseState::Withdrawn).expect("list").len(), 1);
    let p = progress(&got, &Calendar::bundled(), &Rules::default(), d("2025-03-03")).expect("p");
    assert!(p.needed_now.is_empty());
    assert!(resubmit(&s, &c.id, &Fix::default()).is_err(), "a withdrawn case is not sent again");

    // A refused follow-up (here a complaint) is dropped; the case keeps its state.
    let c2 = completed_case(&s);
    complain(&s, &c2.id, "窗口态度不好").expect("complaint");
    // The submission op of c2 is still pending; refuse the complaint only.
    let op = outbox::pending(&s)
        .expect("p")
        .into_iter()
        .find(|o| o.case_id == c2.id && o.kind == outbox::OpKind::Complain)
        .expect("complaint op");
    s.transaction(|t| {
        outbox::quarantine_in(
            t,
            &op,
            Problem { status: 409, message: "duplicate".into(), message_zh: String::new(), op: "complain".into() },
        )
    })
    .expect("q");
    let got = discard(&s, &c2.id, "").expect("discard");
    assert_eq!(got.state, CaseState::Completed);
    assert!(got.complaints.is_empty(), "the complaint was not filed");
    assert!(outbox::quarantined(&s).expect("q").is_empty());

    // A refused rating can be given again after it is dropped.
    let rules = Rules::default();
    rate(&s, &rules, &c2.id, RatingLevel::Satisfied, None, d("2025-03-04")).expect("rate");
    let op = outbox::pending(&s).expect("p").into_iter().find(|o| o.kind == outbox::OpKind::Rate).expect("op");
    s.transaction(|t| {
        outbox::quarantine_in(
            t,
            &op,
            Problem { status: 409, message: "x".into(), message_zh: String::new(), op: "rate".into() },
        )
    })
    .expect("q");
    assert!(rate(&s, &rules, &c2.id, RatingLevel::Satisfied, None, d("2025-03-04")).is_err(), "already rated");
    discard(&s, &c2.id, "").expect("discard");
    rate(&s, &rules, &c2.id, RatingLevel::VerySatisfied, None, d("2025-03-04")).expect("rated again");
}

#[test]
fn a_dropped_refused_supplement_is_needed_again() {
    let (_d, s) = store();
    let mut sub = submission(&s);
    sub.deferred_materials.clear();
    let mut c = submit(&s, SELF, &sub).expect("submit");
    c.state = CaseState::Submitted;
    step(
        &mut c,
        (
            1,
            "supplement_requested",
            "2025-03-03",
            json!({ "request_id": "R1", "items": ["户口簿"], "due": "2025-03-10" }),
        ),
    );
    s.transaction(|t| {
        t.put_json(COLLECTION, &c.id, SELF, &c, crate::store::PutOptions { tag: Some(c.state.as_str()), lookup: None })
    })
    .expect("put");
    // The submission itself went through (its op is done).
    let submit_op = outbox::pending(&s).expect("p").remove(0);
    s.delete(outbox::COLLECTION, &submit_op.id).expect("sent");
    supply(&s, &c.id, json!({ "hukou": "x" }), &[], "").expect("supply");
    let cal = Calendar::bundled();
    let rules = Rules::default();
    let p = progress(&get(&s, &c.id).expect("c"), &cal, &rules, d("2025-03-04")).expect("p");
    assert!(!p.needed_now.iter().any(|n| matches!(n, Need::Supplement { .. })));
    refuse(&s, &c.id, "attachment missing");
    let got = discard(&s, &c.id, "").expect("discard");
    assert_eq!(got.state, CaseState::SupplementRequested);
    let p = progress(&got, &cal, &rules, d("2025-03-04")).expect("p");
    assert!(p.needed_now.iter().any(|n| matches!(n, Need::Supplement { .. })), "asked again");
    supply(&s, &c.id, json!({ "hukou": "clear scan" }), &[], "").expect("supplied again");
}

#[test]
fn deferred_material_due_dates_follow_the_rule_across_spring_festival_2024() {
    let (_d, s) = store();
    let cal = Calendar::bundled();
    let rules = Rules::default();
    // Working days after Thu 8 Feb 2024: 9 Feb (1), 10–17 Feb off, Sun 18 Feb worked (2), 19–23 (3–7),
    // 26 Feb (8), … 13 Mar (20).
    for (promised, due) in [(10, "2024-02-26"), (30, "2024-03-13"), (22, "2024-03-13"), (2, "2024-02-08")] {
        assert_eq!(deferred_due(&cal, &rules, d("2024-02-08"), promised).expect("due").value, d(due), "{promised}");
        let mut c = submit(&s, SELF, &submission(&s)).expect("submit");
        c.state = CaseState::Submitted;
        // The platform sent no due date: the phone computes it with the same rule.
        step(
            &mut c,
            (
                1,
                "accepted",
                "2024-02-08",
                json!({ "accepted_on": "2024-02-08", "promised_days": promised,
                        "deferred": [{ "material": "场所使用证明" }] }),
            ),
        );
        assert_eq!(c.deferred[0].due, None);
        let p = progress(&c, &cal, &rules, d("2024-02-09")).expect("progress");
        let shown: Vec<(NaiveDate, i64)> = p
            .needed_now
            .iter()
            .filter_map(|n| match n {
                Need::Deferred { due, working_days_left, .. } => Some((*due, *working_days_left)),
                _ => None,
            })
            .collect();
        let left = cal.working_days_between(d("2024-02-09"), d(due), &[]).expect("left").value;
        assert_eq!(shown, [(d(due), left)], "promised {promised}");
    }
    // 9 Feb → 26 Feb: 18, 19, 20, 21, 22, 23, 26 Feb.
    assert_eq!(cal.working_days_between(d("2024-02-09"), d("2024-02-26"), &[]).expect("n").value, 7);

    // The platform's date, when sent, is what the phone shows; once supplied nothing is asked.
    let mut c = submit(&s, SELF, &submission(&s)).expect("submit");
    c.state = CaseState::Submitted;
    step(
        &mut c,
        (
            1,
            "accepted",
            "2024-02-08",
            json!({ "accepted_on": "2024-02-08", "promised_days": 10,
                    "deferred": [{ "material": "场所使用证明", "due": "2024-02-20" }] }),
        ),
    );
    let p = progress(&c, &cal, &rules, d("2024-02-09")).expect("progress");
    assert!(p.needed_now.iter().any(|n| matches!(n, Need::Deferred { due, .. } if *due == d("2024-02-20"))));
    c.deferred[0].supplied = true;
    assert!(progress(&c, &cal, &rules, d("2024-02-09")).expect("p").needed_now.is_empty());
    // Before acceptance there is no due date to show.
    let queued = submit(&s, SELF, &submission(&s)).expect("submit");
    assert!(progress(&queued, &cal, &rules, d("2024-02-09")).expect("p").needed_now.is_empty());
}

#[test]
fn a_material_allowing_fewer_days_is_due_earlier_than_the_rule() {
    let (_d, s) = store();
    let cal = Calendar::bundled();
    let rules = Rules::default();
    let acc = d("2024-02-08");
    // Promised 30: the rule allows 20 working days (13 Mar); the delivery record allows 5: 9, 18, 19, 20,
    // 21 Feb (the Spring Festival break skipped, Sunday 18 Feb worked).
    assert_eq!(deferred_due_within(&cal, &rules, acc, 30, Some(5)).expect("due").value, d("2024-02-21"));
    // A material allowing more than the rule gets the rule's date; none given: the rule's date.
    assert_eq!(deferred_due_within(&cal, &rules, acc, 10, Some(15)).expect("due").value, d("2024-02-26"));
    assert_eq!(deferred_due_within(&cal, &rules, acc, 30, None).expect("due").value, d("2024-03-13"));

    // On a case submitted from a draft, the material line carries the catalog's days to the phone's
    // progress (and, in the body, to the platform).
    let mut sub = submission(&s);
    sub.deferred_materials = vec!["住院分娩记录".into()];
    sub.materials = vec![MaterialLine {
        code: "M_DELIVERY_RECORD".into(),
        name: "住院分娩记录".into(),
        outcome: MaterialOutcome::Deferred { within_working_days: 5 },
    }];
    let mut c = submit(&s, SELF, &sub).expect("submit");
    assert_eq!(material_days(&c.materials, "住院分娩记录"), Some(5));
    assert_eq!(material_days(&c.materials, "其他"), None);
    c.state = CaseState::Submitted;
    step(
        &mut c,
        (
            1,
            "accepted",
            "2024-02-08",
            json!({ "accepted_on": "2024-02-08", "promised_days": 30, "deferred": [{ "material": "住院分娩记录" }] }),
        ),
    );
    let due: Vec<NaiveDate> = progress(&c, &cal, &rules, d("2024-02-09"))
        .expect("progress")
        .needed_now
        .iter()
        .filter_map(|n| match n {
            Need::Deferred { due, .. } => Some(*due),
            _ => None,
        })
        .collect();
    assert_eq!(due, [d("2024-02-21")]);
}

/// Issue 11: the cases of one subject never include another's (an agent's own and a principal's).
#[test]
fn lists_are_of_one_subject() {
    let (_d, s) = store();
    let principal = s.create_subject(crate::store::SubjectKind::Principal, "李奶奶").expect("subject");
    let sub = |title: &str| Submission {
        item_codes: vec!["T-1".into()],
        title: title.into(),
        values: json!({}),
        ..Default::default()
    };
    let own = submit(&s, SELF, &sub("本人")).expect("own");
    // Without agent mode (a proxy) a principal's case cannot be made at all.
    let denied = submit(&s, &principal, &sub("委托人")).expect_err("no proxy");
    assert!(matches!(denied, Error::PermissionDenied { ref missing, .. } if missing == "delegation"), "{denied:?}");
    let proxy = Proxy { agent_id: "agent-1".into(), body: json!({ "kind": "test" }) };
    let theirs = submit_as(&s, &principal, &sub("委托人"), Some(&proxy)).expect("theirs");
    assert_eq!(theirs.agent.as_deref(), Some("agent-1"));
    assert_eq!(theirs.timeline[0].actor, "agent-1");
    assert_eq!(list(&s, SELF).expect("list").iter().map(|c| c.id.clone()).collect::<Vec<_>>(), vec![own.id.clone()]);
    let p = list(&s, &principal).expect("list");
    assert_eq!(p.iter().map(|c| c.id.clone()).collect::<Vec<_>>(), vec![theirs.id.clone()]);
    assert_eq!(p[0].subject, principal, "a case says whose it is");
    assert_eq!(list_all(&s).expect("all").len(), 2);
}

/// Issue 13: the rating screen showed "very satisfied", "dissatisfied": every word a screen shows on a line
/// of its own starts with a capital in English (a state, a rating level).
#[test]
fn rating_levels_and_states_read_as_lines_in_english() {
    for c in crate::rating_choices() {
        assert!(c.label.en.starts_with(char::is_uppercase), "{:?}", c.label);
        assert!(!c.label.zh.is_empty());
    }
    assert_eq!(CaseState::Completed.label().en, "Completed");
    assert_eq!(CaseState::Queued.label().en, "Queued on this phone");
    // inside a sentence the word stays lower-case
    assert_eq!(CaseState::Completed.label_en(), "completed");
}
