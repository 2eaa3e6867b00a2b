//! Tests of the draft engine and sessions: every field type and rule, autofill with provenance,
//! incremental evaluation, autosave/resume/discard/purge, and kill -9 during autosave.

use super::draft::*;
use super::profile::*;
use super::schema::FormSchema;
use super::session::{self, Session};
use crate::catalog::Catalog;
use crate::store::{FileVault, KeyVault, Store, SELF_SUBJECT};
use chrono::NaiveDate;
use serde_json::{json, Value as Json};
use std::collections::BTreeMap;
use std::sync::Arc;

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 23).unwrap()
}
const NOW: i64 = 1_795_000_000;

fn opts() -> AutofillOptions {
    AutofillOptions { today: today(), now: NOW, stale_after_days: 365 }
}

fn draft_of(fields: Json) -> Draft {
    let doc = json!({"id": "t", "version": 1, "title": {"zh": "测试", "en": "Test"}, "fields": fields});
    let (_, form) = FormSchema::from_json(&doc.to_string()).unwrap();
    Draft::with_form(Arc::new(form), vec![], 0, "d1", SELF_SUBJECT, "t", today(), NOW)
}

fn issues_at(d: &Draft, path: &str) -> Vec<IssueCode> {
    d.validate().into_iter().filter(|i| i.path == path).map(|i| i.code).collect()
}

fn set(d: &mut Draft, path: &str, v: Json) {
    d.set(path, v, &Editor::Person, NOW).unwrap();
}

fn lbl() -> Json {
    json!({"zh": "字段", "en": "Field"})
}

/// (type, extra schema, good values, bad values with the expected issue code)
type TypeCase = (&'static str, Json, Vec<Json>, Vec<(Json, IssueCode)>);

fn type_cases() -> Vec<TypeCase> {
    vec![
        (
            "text",
            json!({"min_len": 2, "max_len": 4}),
            vec![json!("王二"), json!("一二三四")],
            vec![
                (json!("王"), IssueCode::Length),
                (json!("一二三四五"), IssueCode::Length),
                (json!(5), IssueCode::Format),
            ],
        ),
        (
            "number",
            json!({"min": 1, "max": 10}),
            vec![json!(1), json!(10), json!("7.5")],
            vec![(json!(0), IssueCode::Range), (json!(11), IssueCode::Range), (json!("七"), IssueCode::Format)],
        ),
        (
            "money",
            json!({"max": 1000}),
            vec![json!(12.5), json!("0.01"), json!(1000)],
            vec![(json!(-1), IssueCode::Range), (json!(1.234), IssueCode::Format), (json!(1000.01), IssueCode::Range)],
        ),
        (
            "date",
            json!({}),
            vec![json!("2026-01-31"), json!("20260131")],
            vec![(json!("2026-02-30"), IssueCode::Format), (json!("明天"), IssueCode::Format)],
        ),
        (
            "choice",
            json!({"options": [{"value": "a", "label": {"zh": "甲"}}, {"value": "b", "label": {"zh": "乙"}}]}),
            vec![json!("a")],
            vec![(json!("c"), IssueCode::Option), (json!(1), IssueCode::Option)],
        ),
        (
            "multi_choice",
            json!({"options": [{"value": "a", "label": {"zh": "甲"}}, {"value": "b", "label": {"zh": "乙"}}]}),
            vec![json!(["a"]), json!(["a", "b"])],
            vec![(json!(["a", "a"]), IssueCode::Option), (json!(["z"]), IssueCode::Option)],
        ),
        ("bool", json!({}), vec![json!(true), json!(false)], vec![(json!("yes"), IssueCode::Format)]),
        (
            "phone",
            json!({}),
            vec![json!("13800138000"), json!("010-12345678"), json!("0591-8765432")],
            vec![
                (json!("12800138000"), IssueCode::Format),
                (json!("1380013800"), IssueCode::Format),
                (json!("电话"), IssueCode::Format),
            ],
        ),
        (
            "id_number",
            json!({}),
            vec![json!("11010519491231002X"), json!("11010519491231002x")],
            vec![(json!("110105194912310021"), IssueCode::Format), (json!("11010519491331002X"), IssueCode::Format)],
        ),
        ("uscc", json!({}), vec![json!("91350100M000100Y43")], vec![(json!("91350100M000100Y44"), IssueCode::Format)]),
        (
            "region",
            json!({}),
            vec![json!("110105"), json!("350100")],
            vec![(json!("990000"), IssueCode::Format), (json!("1101"), IssueCode::Format)],
        ),
        ("address", json!({}), vec![json!("北京市东城区正义路1号")], vec![(json!("北京"), IssueCode::Length)]),
        ("attachment", json!({}), vec![json!("att-1")], vec![(json!(" "), IssueCode::Required)]),
    ]
}

#[test]
fn every_field_type_accepts_good_and_names_bad_values() {
    for (ty, extra, good, bad) in type_cases() {
        let mut f = json!({"id": "f", "type": ty, "label": lbl(), "required": true});
        for (k, v) in extra.as_object().unwrap() {
            f[k] = v.clone();
        }
        let mut d = draft_of(json!([f]));
        assert_eq!(issues_at(&d, "f"), vec![IssueCode::Required], "{ty}: empty and required");
        for g in good {
            set(&mut d, "f", g.clone());
            assert!(issues_at(&d, "f").is_empty(), "{ty}: {g} should be accepted: {:?}", d.validate());
        }
        for (b, code) in bad {
            set(&mut d, "f", b.clone());
            assert_eq!(issues_at(&d, "f"), vec![code], "{ty}: {b}");
            let i = d.validate().into_iter().find(|i| i.path == "f").unwrap();
            assert!(!i.message.zh.is_empty() && !i.message.en.is_empty());
        }
    }
}

#[test]
fn wrong_kinds_of_value_are_refused_not_stored() {
    let mut d = draft_of(json!([{"id": "f", "type": "text", "label": lbl()}]));
    assert!(d.set("f", json!({"a": 1}), &Editor::Person, NOW).is_err());
    assert!(d.set("f", json!("x".repeat(20_000)), &Editor::Person, NOW).is_err());
    assert!(d.set("f", json!(["a"]), &Editor::Person, NOW).is_err());
    assert!(d.set("nope", json!("a"), &Editor::Person, NOW).is_err());
    assert!(d.value("f").is_none());
}

#[test]
fn required_if_show_if_compute_and_constraints() {
    let mut d = draft_of(json!([
        {"id": "delivery", "type": "choice", "label": lbl(), "required": true,
         "options": [{"value": "post", "label": {"zh": "邮寄"}}, {"value": "pickup", "label": {"zh": "自取"}}]},
        {"id": "post_address", "type": "address", "label": lbl(), "show_if": "delivery == 'post'", "required_if": "delivery == 'post'"},
        {"id": "birth", "type": "date", "label": lbl(), "constraints": [
            {"expr": "value <= today()", "message": {"zh": "不能晚于今天", "en": "not in the future"}}]},
        {"id": "age", "type": "number", "label": lbl(), "compute": "age(birth)", "constraints": [
            {"expr": "value >= 18", "message": {"zh": "须年满 18 周岁", "en": "must be 18 or over"}}]},
        {"id": "note", "type": "text", "label": lbl(), "required_if": "age >= 60"}
    ]));
    assert!(!d.is_visible("post_address"));
    set(&mut d, "delivery", json!("post"));
    assert!(d.is_visible("post_address"));
    assert_eq!(issues_at(&d, "post_address"), vec![IssueCode::Required]);
    set(&mut d, "delivery", json!("pickup"));
    assert!(issues_at(&d, "post_address").is_empty(), "hidden fields are not checked");

    set(&mut d, "birth", json!("2030-01-01"));
    let msgs: Vec<String> = d.validate().into_iter().filter(|i| i.path == "birth").map(|i| i.message.en).collect();
    assert_eq!(msgs, vec!["not in the future"]);
    set(&mut d, "birth", json!("2010-01-01"));
    assert_eq!(d.value("age").unwrap().value, json!(16.0));
    assert_eq!(issues_at(&d, "age"), vec![IssueCode::Constraint]);
    assert!(d.set("age", json!(30), &Editor::Person, NOW).is_err(), "computed values cannot be typed");
    set(&mut d, "birth", json!("1960-01-01"));
    assert_eq!(d.value("age").unwrap().value, json!(66.0));
    assert!(issues_at(&d, "age").is_empty());
    assert_eq!(issues_at(&d, "note"), vec![IssueCode::Required], "required_if follows a computed value");
    set(&mut d, "birth", json!(null));
    assert!(d.value("age").is_none());
}

fn group_schema() -> Json {
    json!([
        {"id": "capital", "type": "money", "label": lbl(), "required": true},
        {"id": "members", "type": "repeat", "label": lbl(), "min_items": 1, "max_items": 600, "fields": [
            {"id": "name", "type": "text", "label": lbl(), "required": true},
            {"id": "share", "type": "number", "label": lbl(), "required": true, "min": 0, "max": 100},
            {"id": "adult", "type": "bool", "label": lbl()},
            {"id": "id_number", "type": "id_number", "label": lbl(), "required_if": "adult"}
        ]},
        {"id": "count", "type": "number", "label": lbl(), "compute": "len(members)"},
        {"id": "total", "type": "number", "label": lbl(), "compute": "sum(members.share)",
         "constraints": [{"expr": "value == 100", "message": {"zh": "合计应为 100", "en": "must total 100"}}]}
    ])
}

#[test]
fn repeat_groups_min_max_and_paths() {
    let mut d = draft_of(group_schema());
    assert_eq!(d.instances("members"), 1, "starts with min_items");
    let v = d.validate();
    assert!(v.iter().any(|i| i.path == "members[0].name" && i.code == IssueCode::Required));
    set(&mut d, "members[0].name", json!("甲"));
    set(&mut d, "members[0].share", json!(60));
    set(&mut d, "members[0].adult", json!(true));
    assert_eq!(issues_at(&d, "members[0].id_number"), vec![IssueCode::Required]);
    let i = d.add_instance("members", NOW).unwrap();
    assert_eq!(i, 1);
    assert_eq!(d.value("count").unwrap().value, json!(2.0));
    set(&mut d, "members[1].name", json!("乙"));
    set(&mut d, "members[1].share", json!(30));
    assert_eq!(issues_at(&d, "total"), vec![IssueCode::Constraint]);
    set(&mut d, "members[1].share", json!(40));
    assert!(issues_at(&d, "total").is_empty());
    assert!(issues_at(&d, "members[1].id_number").is_empty(), "required_if reads its own instance");
    d.remove_instance("members", 0, NOW).unwrap();
    assert_eq!(d.value("members[0].name").unwrap().value, json!("乙"));
    assert_eq!(d.value("total").unwrap().value, json!(40.0));
    d.remove_instance("members", 0, NOW).unwrap();
    assert_eq!(issues_at(&d, "members"), vec![IssueCode::TooFew]);
    assert!(d.resolve("members[5].name").is_err());
    let mut small = draft_of(json!([{"id": "g", "type": "repeat", "label": lbl(), "max_items": 2,
        "fields": [{"id": "x", "type": "text", "label": lbl()}]}]));
    small.add_instance("g", NOW).unwrap();
    small.add_instance("g", NOW).unwrap();
    assert!(small.add_instance("g", NOW).is_err(), "max_items");
}

#[test]
fn incremental_edit_matches_a_full_recompute() {
    let mut d = draft_of(group_schema());
    for i in 0..500 {
        if i > 0 {
            d.add_instance("members", NOW).unwrap();
        }
        set(&mut d, &format!("members[{i}].name"), json!(format!("成员{i}")));
        set(&mut d, &format!("members[{i}].share"), json!(0.2));
    }
    set(&mut d, "members[250].share", json!(0.4));
    set(&mut d, "members[499].adult", json!(true));
    let incremental = d.validate();
    let mut full = d.clone();
    full.recompute_all();
    assert_eq!(incremental, full.validate());
    assert_eq!(d.value("total").unwrap().value, full.value("total").unwrap().value);
    assert!(incremental.iter().any(|i| i.path == "members[499].id_number"));
    assert!(incremental.iter().any(|i| i.path == "total"), "100.2 != 100");
}

fn held(t: &str, id: &str, as_of: &str, until: Option<&str>, fields: Json) -> HeldLicence {
    HeldLicence {
        licence_type: t.into(),
        licence_id: id.into(),
        as_of: as_of.into(),
        valid_until: until.map(Into::into),
        fields: serde_json::from_value::<BTreeMap<String, Json>>(fields).unwrap(),
    }
}

fn citizen_licences() -> Vec<HeldLicence> {
    vec![
        held(
            "resident_id",
            "rid-1",
            "2024-05-01",
            Some("2044-05-01"),
            json!({
            "name": "王晓明", "id_number": "11010519491231002X", "sex": "男", "birth_date": "1949-12-31",
            "ethnicity": "汉", "address": "北京市东城区正义路1号"}),
        ),
        held(
            "household_register",
            "hr-1",
            "2025-01-01",
            None,
            json!({"householder": "王晓明", "address": "北京市东城区正义路1号"}),
        ),
        held(
            "marriage_certificate",
            "mc-1",
            "2019-05-01",
            None,
            json!({
            "spouse_name": "李华", "spouse_id_number": "110105199003074579", "certificate_number": "J110105-2019-000123"}),
        ),
    ]
}

#[test]
fn autofill_bundle_with_provenance_locks_and_staleness() {
    let cat = Catalog::bundled().unwrap();
    let mut p = Profile::default();
    p.set("person.phone", json!("13800138000"), Provenance::Profile { entered_at: NOW - 400 * 86_400 }).unwrap();
    p.set("person.name", json!("王小明"), Provenance::Profile { entered_at: NOW }).unwrap();
    let mut d = Draft::new(&cat, "d", SELF_SUBJECT, "BD-BIRTH", today(), NOW).unwrap();
    let before = d.report();
    let n = d.autofill(&p, &citizen_licences(), &opts());
    let r = d.report();
    assert!(n >= 10, "filled {n}");
    assert_eq!(r.fields_filled as usize, n);
    assert!(r.fields_verified >= 9);
    assert_eq!(r.fields_total, before.fields_total);
    assert_eq!(r.fields_left, r.fields_total - r.fields_filled);
    // The licence wins over a typed profile value, and locks it.
    let name = d.value("applicant.name").unwrap();
    assert_eq!(name.value, json!("王晓明"));
    assert!(name.locked && name.provenance.is_verified());
    assert!(d.set("applicant.name", json!("别人"), &Editor::Person, NOW).is_err());
    // Editable binding: verified but not locked.
    assert!(!d.value("applicant.address").unwrap().locked);
    // An old profile value is filled but must be confirmed.
    let phone = d.value("applicant.phone").unwrap();
    assert!(phone.confirm && !phone.locked);
    assert_eq!(r.needs_confirmation, 1);
    assert!(d.validate().iter().any(|i| i.path == "applicant.phone" && i.severity == Severity::Warning));
    d.confirm("applicant.phone", NOW).unwrap();
    assert!(!d.value("applicant.phone").unwrap().confirm);
    // Spouse data came from the marriage certificate; the child's not (no birth certificate yet).
    assert_eq!(d.value("spouse.name").unwrap().value, json!("李华"));
    assert!(d.value("child.name").is_none());

    // Materials: ID, household register, marriage certificate exempt; the birth certificate is
    // issued by the bundle itself; the photo is to attach.
    let m: BTreeMap<String, MaterialStatus> = d.material_report().into_iter().map(|m| (m.code, m.status)).collect();
    assert!(matches!(m["M_ID"], MaterialStatus::Exempt { .. }));
    assert!(matches!(m["M_HOUSEHOLD"], MaterialStatus::Exempt { .. }));
    assert!(matches!(m["M_MARRIAGE"], MaterialStatus::Exempt { .. }));
    assert!(matches!(m["M_BIRTH_CERT"], MaterialStatus::ProducedInBundle { .. }));
    assert_eq!(m["M_PHOTO"], MaterialStatus::Missing);
    assert_eq!(m["M_ID_SPOUSE"], MaterialStatus::Missing);
    assert_eq!(m["M_DELIVERY_RECORD"], MaterialStatus::Deferrable { within_working_days: 5 });
    let r = d.report();
    assert_eq!(r.materials_exempt, 4);
    assert_eq!(r.materials_total, 7);

    // Attaching the photo through its field satisfies the material.
    set(&mut d, "photo", json!("att-photo"));
    let m: BTreeMap<String, MaterialStatus> = d.material_report().into_iter().map(|m| (m.code, m.status)).collect();
    assert!(matches!(m["M_PHOTO"], MaterialStatus::Attached { .. }));
    assert!(
        d.set_material("M_ID_SPOUSE", Some(MaterialChoice::Committed { at: NOW }), NOW).is_err(),
        "no commitment allowed"
    );
    d.set_material("M_ID_SPOUSE", Some(MaterialChoice::Attached { attachment_id: "att-2".into() }), NOW).unwrap();
    d.set_material("M_DELIVERY_RECORD", Some(MaterialChoice::Deferred { at: NOW }), NOW).unwrap();
    assert!(!d.validate().iter().any(|i| i.path.starts_with("material:")));
}

#[test]
fn expired_licences_do_not_exempt_or_lock() {
    let cat = Catalog::bundled().unwrap();
    let lic = vec![held("resident_id", "rid-old", "2004-01-01", Some("2024-01-01"), json!({"name": "王晓明"}))];
    let mut d = Draft::new(&cat, "d", SELF_SUBJECT, "GA-002", today(), NOW).unwrap();
    d.autofill(&Profile::default(), &lic, &opts());
    let name = d.value("applicant.name").unwrap();
    assert!(!name.locked && name.confirm);
    assert_eq!(d.material_report().iter().find(|m| m.code == "M_ID").unwrap().status, MaterialStatus::Missing);
}

#[test]
fn no_licences_still_fills_from_the_profile() {
    let cat = Catalog::bundled().unwrap();
    let mut p = Profile::default();
    p.set("person.name", json!("王晓明"), Provenance::Profile { entered_at: NOW }).unwrap();
    p.set("person.id_number", json!("11010519491231002X"), Provenance::Agent { agent: "帮办员张三".into(), at: NOW })
        .unwrap();
    let mut d = Draft::new(&cat, "d", SELF_SUBJECT, "GA-002", today(), NOW).unwrap();
    let held = NoLicences.held(SELF_SUBJECT).unwrap();
    assert_eq!(d.autofill(&p, &held, &opts()), 2);
    let idn = d.value("applicant.id_number").unwrap();
    assert!(!idn.locked);
    assert!(matches!(idn.provenance, Provenance::Agent { .. }));
}

#[test]
fn company_bundle_asks_once_and_checks_cross_field_rules() {
    let cat = Catalog::bundled().unwrap();
    let mut d = Draft::new(&cat, "d", SELF_SUBJECT, "BD-COMPANY", today(), NOW).unwrap();
    d.autofill(&Profile::default(), &citizen_licences(), &opts());
    set(&mut d, "enterprise.type", json!("llc"));
    set(&mut d, "enterprise.capital", json!(100));
    set(&mut d, "enterprise.shareholders[0].name", json!("王晓明"));
    set(&mut d, "enterprise.shareholders[0].id_number", json!("11010519491231002X"));
    set(&mut d, "enterprise.shareholders[0].contribution", json!(60));
    set(&mut d, "enterprise.shareholders[0].share", json!(60));
    let paths: Vec<String> = d.validate().into_iter().map(|i| i.path).collect();
    assert!(paths.contains(&"enterprise.share_total".to_string()));
    assert!(paths.contains(&"enterprise.contribution_total".to_string()));
    d.add_instance("enterprise.shareholders", NOW).unwrap();
    set(&mut d, "enterprise.shareholders[1].name", json!("李华"));
    set(&mut d, "enterprise.shareholders[1].id_number", json!("110105199003074579"));
    set(&mut d, "enterprise.shareholders[1].contribution", json!(40));
    set(&mut d, "enterprise.shareholders[1].share", json!(40));
    let paths: Vec<String> = d.validate().into_iter().map(|i| i.path).collect();
    assert!(!paths.contains(&"enterprise.share_total".to_string()), "{paths:?}");
    assert!(!paths.contains(&"enterprise.contribution_total".to_string()));
    set(&mut d, "seal.types", json!(["finance"]));
    assert_eq!(issues_at(&d, "seal.types"), vec![IssueCode::Constraint]);
    set(&mut d, "enterprise.type", json!("sole"));
    assert!(!d.is_visible("enterprise.shareholders[0].name"), "a hidden group hides its instances");
    assert!(!d.validate().iter().any(|i| i.path.starts_with("enterprise.shareholders")));
}

// ---- sessions ---------------------------------------------------------------------------------

fn open_store(dir: &std::path::Path) -> Arc<Store> {
    let vault: Arc<dyn KeyVault> = Arc::new(FileVault::open_or_create(&dir.join("vault.key")).unwrap());
    Arc::new(Store::open_or_create(dir, vault, None).unwrap())
}

#[test]
fn drafts_autosave_resume_discard_and_purge() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let cat = Catalog::bundled().unwrap();
    let mut p = Profile::default();
    p.set("person.phone", json!("13912345678"), Provenance::Profile { entered_at: NOW }).unwrap();
    p.save(&store, SELF_SUBJECT).unwrap();
    let mut s = Session::start(store.clone(), &cat, SELF_SUBJECT, "BD-COMPANY", &citizen_licences(), &opts()).unwrap();
    let id = s.id().to_string();
    s.set("enterprise.name", json!("北京掌办科技有限公司"), Editor::Person).unwrap();
    for i in 0..150 {
        // More edits than SNAPSHOT_EVERY: the journal is folded into the snapshot along the way.
        s.set("enterprise.scope", json!(format!("软件开发{i}")), Editor::Person).unwrap();
    }
    s.add_instance("enterprise.shareholders").unwrap();
    s.set("enterprise.shareholders[1].name", json!("李华"), Editor::Agent { agent: "帮办员".into() }).unwrap();
    s.set_material("M_ADDRESS_PROOF", Some(MaterialChoice::Committed { at: NOW })).unwrap();
    let before = s.draft.validate();
    drop(s);

    let s = Session::resume(store.clone(), &cat, &id, today()).unwrap();
    assert_eq!(s.draft.value("enterprise.scope").unwrap().value, json!("软件开发149"));
    assert_eq!(s.draft.value("applicant.phone").unwrap().value, json!("13912345678"));
    assert!(s.draft.value("applicant.phone").unwrap().provenance.entered_at().is_some());
    assert!(matches!(s.draft.value("enterprise.shareholders[1].name").unwrap().provenance, Provenance::Agent { .. }));
    assert!(s.draft.value("enterprise.legal_rep_name").unwrap().provenance.is_verified());
    assert_eq!(s.validate(), before);
    assert!(store.scan(session::OPS, None, Some(&id)).unwrap().len() < session::SNAPSHOT_EVERY as usize);

    // Encrypted at rest: the typed text is not in the database file.
    drop(s);
    let raw = std::fs::read(store.db_path()).unwrap();
    let wal = std::fs::read(store.db_path().with_extension("db-wal")).unwrap_or_default();
    let needle = "软件开发149".as_bytes();
    assert!(!raw.windows(needle.len()).any(|w| w == needle) && !wal.windows(needle.len()).any(|w| w == needle));

    assert_eq!(session::list(&store, SELF_SUBJECT).unwrap().len(), 1);
    assert_eq!(session::purge_unsubmitted(&store, 30, NOW.max(chrono::Utc::now().timestamp())).unwrap(), 0);
    let far = chrono::Utc::now().timestamp() + 31 * 86_400;
    // A submitted draft stays; an unsubmitted one goes.
    let mut other = Session::start(store.clone(), &cat, SELF_SUBJECT, "GA-002", &NoLicences, &opts()).unwrap();
    other.mark_submitted("case-1").unwrap();
    assert!(other.set("applicant.phone", json!("13800000000"), Editor::Person).is_err());
    assert_eq!(session::purge_unsubmitted(&store, 30, far).unwrap(), 1);
    let left = session::list_all(&store).unwrap();
    assert_eq!(left.len(), 1);
    assert!(left[0].submitted);
    assert!(Session::resume(store.clone(), &cat, &id, today()).is_err());

    let s = Session::start(store.clone(), &cat, SELF_SUBJECT, "GA-002", &NoLicences, &opts()).unwrap();
    let id2 = s.id().to_string();
    s.discard().unwrap();
    assert!(matches!(Session::resume(store, &cat, &id2, today()), Err(crate::Error::NotFound { .. })));
}

/// The child side of the kill -9 test: edits a draft in a loop, printing each acknowledged edit.
#[test]
fn autosave_child_process() {
    let Ok(dir) = std::env::var("ZB_FORMS_KILL_DIR") else { return };
    let dir = std::path::PathBuf::from(dir);
    let store = open_store(&dir);
    let cat = Catalog::bundled().unwrap();
    let mut s = match std::fs::read_to_string(dir.join("draft-id")) {
        Ok(id) => Session::resume(store, &cat, id.trim(), today()).unwrap(),
        Err(_) => {
            let s = Session::start(store, &cat, SELF_SUBJECT, "BD-COMPANY", &NoLicences, &opts()).unwrap();
            std::fs::write(dir.join("draft-id"), s.id()).unwrap();
            s
        }
    };
    let start: u64 = std::env::var("ZB_FORMS_KILL_START").unwrap().parse().unwrap();
    println!("READY");
    for i in start.. {
        s.set("enterprise.scope", json!(format!("经营范围{i}")), Editor::Person).unwrap();
        if i % 10 == 0 && s.draft.instances("enterprise.shareholders") < 50 {
            let k = s.add_instance("enterprise.shareholders").unwrap();
            s.set(&format!("enterprise.shareholders[{k}].name"), json!(format!("股东{i}")), Editor::Person).unwrap();
        }
        println!("ACK {i}");
    }
}

#[cfg(unix)]
#[test]
fn kill_9_during_autosave_loses_no_acknowledged_edit() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let cat = Catalog::bundled().unwrap();
    let mut next = 0u64;
    for round in 0..3u64 {
        let mut child = Command::new(&exe)
            .args(["--exact", "tests::autosave_child_process", "--nocapture", "--test-threads=1"])
            .env("ZB_FORMS_KILL_DIR", dir.path())
            .env("ZB_FORMS_KILL_START", next.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let out = BufReader::new(child.stdout.take().unwrap());
        let mut last_ack = None;
        let kill_after = 70 + round * 37; // crosses a snapshot (every 64 edits) at a different phase each round
        let mut acks = 0;
        for line in out.lines() {
            let line = line.unwrap();
            if let Some(n) = line.strip_prefix("ACK ") {
                last_ack = Some(n.parse::<u64>().unwrap());
                acks += 1;
                if acks >= kill_after {
                    break;
                }
            }
        }
        let rc = kill_9(child.id());
        assert_eq!(rc, 0);
        let _ = child.wait();
        let last_ack = last_ack.expect("the child acknowledged edits");
        let store = open_store(dir.path());
        let id = std::fs::read_to_string(dir.path().join("draft-id")).unwrap();
        let s = Session::resume(store, &cat, id.trim(), today()).unwrap();
        let scope = s.draft.value("enterprise.scope").unwrap().value.as_str().unwrap().to_string();
        let got: u64 = scope.trim_start_matches("经营范围").parse().unwrap();
        // The child may have gone further than the lines read so far; it must never be behind.
        assert!(got >= last_ack, "round {round}: acknowledged {last_ack}, reopened {got}");
        // Every acknowledged shareholder is there.
        let names: Vec<String> = (0..s.draft.instances("enterprise.shareholders"))
            .filter_map(|k| s.draft.value(&format!("enterprise.shareholders[{k}].name")))
            .map(|e| e.value.as_str().unwrap().to_string())
            .collect();
        let mut i = next.div_ceil(10) * 10;
        while i <= last_ack && names.len() < 49 {
            assert!(names.contains(&format!("股东{i}")), "round {round}: 股东{i} lost");
            i += 10;
        }
        next = got + 1;
    }
}

#[cfg(unix)]
fn kill_9(pid: u32) -> i32 {
    // The core forbids unsafe code; the test reaches kill(2) through the `kill` command instead.
    std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .map(|s| if s.success() { 0 } else { 1 })
        .unwrap_or(1)
}

// ---- DraftState: what a screen draws, from the core -----------------------------------------------

fn field<'a>(s: &'a crate::DraftState, path: &str) -> &'a crate::FieldState {
    s.fields.iter().find(|f| f.path == path).unwrap_or_else(|| panic!("no visible field {path}"))
}

fn material<'a>(s: &'a crate::DraftState, code: &str) -> &'a crate::MaterialState {
    s.materials.iter().find(|m| m.code == code).unwrap()
}

#[test]
fn draft_state_says_what_is_editable_why_not_and_where_values_came_from() {
    use crate::{MaterialAction as A, ValueSource};
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let cat = Catalog::bundled().unwrap();
    let mut p = Profile::default();
    p.set("person.phone", json!("13800138000"), Provenance::Profile { entered_at: NOW }).unwrap();
    p.save(&store, SELF_SUBJECT).unwrap();
    let mut s = Session::start(store.clone(), &cat, SELF_SUBJECT, "BD-BIRTH", &citizen_licences(), &opts()).unwrap();
    let st = s.state();
    assert_eq!((st.id.as_str(), st.target.as_str(), st.submitted_case.as_deref()), (s.id(), "BD-BIRTH", None));
    assert!(!st.complete);
    assert!(st.fields.iter().all(|f| st.fields.iter().filter(|g| g.path == f.path).count() == 1));

    // Locked by a licence: not editable, the reason in words, the source named.
    let name = field(&st, "applicant.name");
    assert!(!name.editable);
    assert!(name.lock_reason.as_ref().unwrap().zh.contains("电子证照"), "{:?}", name.lock_reason);
    assert!(name.lock_reason.as_ref().unwrap().en.contains("e-licence"));
    assert_eq!(name.source, Some(ValueSource::Licence));
    assert_eq!(name.source_text.as_ref().unwrap().zh, "来自电子证照");
    assert_eq!(name.display.zh, "王晓明");
    assert!(matches!(&name.provenance, Some(Provenance::Licence { licence_id, .. }) if licence_id == "rid-1"));
    // Verified but the binding allows edits: editable, still from the licence.
    let address = field(&st, "applicant.address");
    assert!(address.editable && address.lock_reason.is_none());
    assert_eq!(address.source, Some(ValueSource::Licence));
    // From the profile; empty fields have no source.
    assert_eq!(field(&st, "applicant.phone").source, Some(ValueSource::Profile));
    let child = field(&st, "child.name");
    assert!(child.editable && child.source.is_none() && child.display.zh.is_empty());
    assert!(child.issues.iter().any(|i| i.code == IssueCode::Required), "{:?}", child.issues);

    // A choice reads as its label; a bad value's problem sits on its field, in both languages.
    s.set("child.household", json!("father"), Editor::Person).unwrap();
    s.set("applicant.phone", json!("12345"), Editor::Person).unwrap();
    let st = s.state();
    let household = field(&st, "child.household");
    let label = household.options.iter().find(|o| o.value == "father").unwrap().label.clone();
    assert_eq!(household.display, label);
    assert_ne!(household.display.zh, "father");
    assert_eq!(household.source, Some(ValueSource::Form));
    let phone = field(&st, "applicant.phone");
    assert!(phone.issues.iter().any(|i| i.severity == Severity::Error && !i.message.en.is_empty()));
    assert!(st.issues.iter().any(|i| i.path == "applicant.phone"));

    // Material actions: nothing to do for what a licence or the bundle covers; attach only where there is no
    // alternative; defer where the item allows it, and clear once a choice is made.
    assert_eq!(material(&st, "M_ID").actions, vec![]);
    assert_eq!(material(&st, "M_BIRTH_CERT").actions, vec![]);
    assert_eq!(material(&st, "M_ID_SPOUSE").actions, vec![A::Attach]);
    assert!(material(&st, "M_ID_SPOUSE").blocks);
    assert_eq!(material(&st, "M_DELIVERY_RECORD").actions, vec![A::Attach, A::Defer]);
    s.defer_material("M_DELIVERY_RECORD").unwrap();
    let st = s.state();
    let delivery = material(&st, "M_DELIVERY_RECORD");
    assert_eq!(delivery.actions, vec![A::Attach, A::Clear]);
    assert_eq!(delivery.status, MaterialStatus::Deferred { within_working_days: 5 });
    assert!(delivery.status_text.zh.contains('5') && !delivery.blocks);
    assert!(s.commit_material("M_ID_SPOUSE").is_err(), "no commitment for an ID card");
    assert!(s.attach_material("M_ID_SPOUSE", "no-such-attachment").is_err(), "the attachment must exist");

    // Submitted: nothing is editable any more, each field says why, and no material action is offered.
    s.mark_submitted("case-7").unwrap();
    let st = s.state();
    assert_eq!(st.submitted_case.as_deref(), Some("case-7"));
    assert!(st.fields.iter().all(|f| !f.editable));
    assert!(field(&st, "child.name").lock_reason.as_ref().unwrap().zh.contains("已提交"));
    assert!(st.materials.iter().all(|m| m.actions.is_empty()));
}

#[test]
fn draft_state_of_computed_fields_and_repeat_groups() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let cat = Catalog::bundled().unwrap();
    let mut s = Session::start(store.clone(), &cat, SELF_SUBJECT, "BD-COMPANY", &NoLicences, &opts()).unwrap();
    s.set("enterprise.type", json!("llc"), Editor::Person).unwrap();
    s.set("enterprise.shareholders[0].share", json!(70), Editor::Person).unwrap();
    s.add_instance("enterprise.shareholders").unwrap();
    let st = s.state();
    let total = field(&st, "enterprise.share_total");
    assert!(total.computed && !total.editable);
    assert!(total.lock_reason.as_ref().unwrap().zh.contains("自动计算"));
    assert!(field(&st, "enterprise.shareholders[1].share").editable, "the new entry's fields are there");
    s.set("enterprise.scope", json!("软件开发"), Editor::Agent { agent: "帮办员张三".into() }).unwrap();
    let scope = s.state().fields.into_iter().find(|f| f.path == "enterprise.scope").unwrap();
    assert_eq!(scope.source, Some(crate::ValueSource::Agent));
    assert!(scope.source_text.unwrap().zh.contains("帮办员张三"));
}

#[test]
fn typed_values_are_parsed_in_the_core_and_a_bad_one_names_its_field() {
    assert_eq!(crate::parse_value("a.b", "\"王\"").unwrap(), json!("王"));
    assert_eq!(crate::parse_value("a.b", "null").unwrap(), Json::Null);
    for bad in ["not json", "{", &"1".repeat(crate::profile::MAX_VALUE_TEXT + 1)] {
        match crate::parse_value("child.name", bad) {
            Err(crate::Error::Validation { field, .. }) => assert_eq!(field, "child.name"),
            other => panic!("{other:?}"),
        }
    }
}

/// Issue 10 (the FFI probe): a draft takes only its own subject's attachments, and a session kept open across
/// `lock` answers nothing to the shells' draft object (`Session::unlocked`) until the store is unlocked.
#[test]
fn attack_another_subjects_attachment_and_a_locked_store_through_a_session() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let cat = Catalog::bundled().unwrap();
    let mum = store.create_subject(crate::store::SubjectKind::Family, "妈妈").unwrap();
    let hers = store.write_attachment(&mum, "id.jpg", &mut &b"her ID"[..]).unwrap();
    let mine = store.write_attachment(SELF_SUBJECT, "id.jpg", &mut &b"my ID"[..]).unwrap();
    let mut s = Session::start(store.clone(), &cat, SELF_SUBJECT, "MZ-002", &crate::NoLicences, &opts()).unwrap();
    let e = s.attach_material("M_ID", &hers.id).unwrap_err();
    assert!(matches!(&e, crate::Error::Validation { field, .. } if field == "attachment_id"), "{e:?}");
    assert!(!s
        .draft
        .material_report()
        .iter()
        .any(|m| m.code == "M_ID" && format!("{:?}", m.status).contains(&hers.id)));
    s.attach_material("M_ID", &mine.id).unwrap();
    s.set("applicant.name", json!("王晓明"), Editor::Person).unwrap();

    store.lock();
    assert!(matches!(s.unlocked().map(|_| ()), Err(crate::Error::Locked { .. })));
    store.unlock(None).unwrap();
    assert_eq!(s.unlocked().unwrap().draft.value("applicant.name").unwrap().value, json!("王晓明"));
}
