//! Journey demo chapter: forms (找事项、一次性告知与填表 / find a service, the checklist, the form).
//!
//! The citizen searches the offline catalog for what to do after a baby is born, finds 新生儿出生一件事,
//! lets the wallet's e-licences update the verified profile, opens the bundle: one form for four items,
//! autofilled from the profile and the licences, with the materials the licences cover exempt. The
//! journey prints "N of M fields filled, K of L materials exempt" and the one-time checklist, fills the
//! rest (an attachment, a commitment, a deferred material), reopens the autosaved draft as after a crash,
//! and checks that nothing of it is readable on disk.

use std::collections::BTreeMap;

use serde_json::{json, Value};
use zhangban_core::catalog::Catalog;
use zhangban_core::forms::checklist;
use zhangban_core::forms::profile::{LicenceSource, Profile, Provenance};
use zhangban_core::forms::{AutofillOptions, Editor, MaterialChoice, Session, Severity};
use zhangban_core::store::SELF_SUBJECT;
use zhangban_core::wallet::Wallet;

use super::{count, database_bytes, DemoResult, Journey};

pub async fn run(j: &mut Journey) -> DemoResult {
    j.chapter("forms", "找事项、一次性告知与填表", "Find a service, the checklist, the form");
    let catalog = Catalog::current(&j.store)?;

    // 1. Find the service offline.
    let hits = catalog.search("生孩子 上户口", 5);
    let top: Vec<String> = hits.iter().map(|h| format!("{}（{}）", h.name.zh, h.code)).collect();
    j.check(
        "forms.search",
        &format!("离线搜索“生孩子 上户口”（第 {} 版目录）：{}", catalog.version(), top.join("、")),
        "Searched the offline catalog for \"baby, household registration\": the bundle comes first",
        hits.first().map(|h| h.code.as_str()) == Some("BD-BIRTH"),
        json!({ "catalog_version": catalog.version(), "hits": hits }),
    );

    // 2. The profile: the values saved earlier, plus what the e-licences verify.
    let mut p = Profile::load(&j.store, SELF_SUBJECT)?;
    let saved: Value = j.store.get_json("profile", "me").unwrap_or(Value::Null);
    let now = chrono::Utc::now().timestamp();
    for (k, path) in [("phone", "person.phone"), ("address", "person.address")] {
        if let Some(v) = saved.get(k).filter(|v| v.is_string()) {
            p.set(path, v.clone(), Provenance::Profile { entered_at: now })?;
        }
    }
    p.set("family.spouse.name", json!("李四"), Provenance::Profile { entered_at: now - 2 * 365 * 86_400 })?;
    p.save(&j.store, SELF_SUBJECT)?;
    let wallet = Wallet::open(j.store.clone())?;
    let held = wallet.held(SELF_SUBJECT)?;
    // The wallet applied each licence's verified values to the profile when it imported the licence.
    let p = Profile::load(&j.store, SELF_SUBJECT)?;
    let verified = p.person.values().filter(|v| v.provenance.is_verified()).count();
    let name_ok = p.get("person.name").is_some_and(|v| v.provenance.is_verified());
    let types: Vec<&str> = held.iter().map(|l| l.licence_type.as_str()).collect();
    j.check(
        "forms.profile.verified",
        &format!("证照夹中的有效电子证照（{}）更新了个人资料中 {verified} 项“已核验”信息，每项记录来源证照与日期", types.join("、")),
        &format!("The valid e-licences in the wallet ({}) verified {verified} profile values, each with its licence and date", types.join(", ")),
        verified > 0 && name_ok,
        json!({ "licences": types, "verified_values": verified, "name": p.get("person.name") }),
    );

    // 3. Open the bundle: one form, autofilled.
    let opts = AutofillOptions::at(j.store.clock().as_ref());
    let mut s = Session::start(j.store.clone(), &catalog, SELF_SUBJECT, "BD-BIRTH", &held, &opts)?;
    let r = s.draft.report();
    let bundle = catalog.bundle("BD-BIRTH").map(|b| b.items.clone()).unwrap_or_default();
    let item_fields: usize = bundle.iter().filter_map(|c| catalog.form(c).ok()).map(|f| f.top.len()).sum();
    j.check(
        "forms.autofill",
        &format!(
            "打开“新生儿出生一件事”（{} 个事项一表申请，共 {} 项，各事项合计 {} 项，共用项只填一次）：已自动填好 {} / {} 项（{} 项来自电子证照并锁定），{} / {} 份材料免提交",
            bundle.len(),
            s.draft.form.top.len(),
            item_fields,
            r.fields_filled,
            r.fields_total,
            r.fields_verified,
            r.materials_exempt,
            r.materials_total
        ),
        &format!(
            "Opened the newborn bundle ({} items, one form): {} of {} fields filled, {} of {} materials exempt",
            bundle.len(),
            r.fields_filled,
            r.fields_total,
            r.materials_exempt,
            r.materials_total
        ),
        r.fields_filled > 0 && r.materials_exempt > 0 && s.draft.form.top.len() < item_fields,
        json!(r),
    );
    let locked = s.set("applicant.name", json!("别人"), Editor::Person);
    j.check(
        "forms.locked",
        "已核验的姓名被锁定：尝试修改时提示“此项已由电子证照核验，不能修改”",
        "A verified value is locked: changing the name is refused with a typed error",
        locked.is_err(),
        json!({ "error": locked.err().map(|e| e.message_zh()) }),
    );

    // 4. The one-time checklist.
    let c = checklist::for_draft(&catalog, &s.draft)?;
    let text = c.text_zh.clone();
    println!("{}", text.trim_end().lines().map(|l| format!("      {l}")).collect::<Vec<_>>().join("\n"));
    j.check(
        "forms.checklist",
        &format!("一次性告知：还需办理 {} 项（材料、填写、确认），一次说清楚", c.to_do().count()),
        "The one-time checklist: everything still needed, with why, told at once",
        c.to_do().count() > 0,
        json!(c),
    );

    // 5. Fill the rest, as the citizen would.
    s.confirm("spouse.name")?;
    let answers: BTreeMap<&str, Value> = [
        ("spouse.id_number", json!("110105195001014515")),
        ("marriage.cert_no", json!("J110105-1975-000088")),
        ("child.name", json!("张小宝")),
        ("child.gender", json!("女")),
        ("child.birth_date", json!((opts.today - chrono::Days::new(10)).format("%Y-%m-%d").to_string())),
        ("child.birth_place", json!("110105")),
        ("child.hospital", json!("北京市朝阳区妇幼保健院")),
        ("child.birth_weight", json!(3250)),
        ("child.household", json!("mother")),
        ("child.relation_to_head", json!("granddaughter")),
        ("child.ssc_bank", json!("icbc")),
        ("household.register_no", json!("110105001234")),
        ("household.head_name", json!("张三")),
        ("yb.pay_method", json!("app")),
        ("ssc.delivery", json!("post")),
        ("ssc.post_address", json!("北京市朝阳区建国路88号")),
    ]
    .into_iter()
    .collect();
    for (path, v) in &answers {
        s.set(path, v.clone(), Editor::Person)?;
    }
    let photo = j.store.write_attachment(SELF_SUBJECT, "baby-photo.jpg", &mut &b"\xff\xd8\xff\xe0 demo photo"[..])?;
    s.set("photo", json!(photo.id), Editor::Person)?;
    for code in ["M_ID_SPOUSE", "M_HOUSEHOLD"] {
        let a = j.store.write_attachment(SELF_SUBJECT, &format!("{code}.pdf"), &mut &b"%PDF-1.7 demo"[..])?;
        s.set_material(code, Some(MaterialChoice::Attached { attachment_id: a.id }))?;
    }
    if s.draft.material_report().iter().any(|m| m.code == "M_ID" && !m.status.is_exempt()) {
        let a = j.store.write_attachment(SELF_SUBJECT, "id.pdf", &mut &b"%PDF-1.7 id"[..])?;
        s.set_material("M_ID", Some(MaterialChoice::Attached { attachment_id: a.id }))?;
    }
    s.set_material("M_MARRIAGE", Some(MaterialChoice::Committed { at: now }))?;
    s.set_material("M_DELIVERY_RECORD", Some(MaterialChoice::Deferred { at: now }))?;
    let issues = s.validate();
    let blocking: Vec<&str> =
        issues.iter().filter(|i| i.severity == Severity::Error).map(|i| i.path.as_str()).collect();
    let r = s.draft.report();
    j.check(
        "forms.filled",
        &format!(
            "填完其余 {} 项，上传照片等材料，结婚证以告知承诺代替，住院分娩记录容缺后补（受理后 5 个工作日内）：校验通过，{} / {} 项已填",
            answers.len() + 1,
            r.fields_filled,
            r.fields_total
        ),
        "Filled the rest, attached the photo and documents, signed a commitment for the marriage certificate, deferred the delivery record: the form validates",
        blocking.is_empty() && s.draft.is_complete(),
        json!({ "blocking": blocking, "report": r }),
    );

    // 6. Autosave: reopen the draft as after the app was killed.
    let id = s.id().to_string();
    let before = s.draft.answers();
    drop(s);
    let again = Session::resume(j.store.clone(), &catalog, &id, opts.today)?;
    j.check(
        "forms.resume",
        "模拟应用被强行关闭后重新打开草稿：每一项填写都在（每次修改即加密保存）",
        "Reopened the draft as after a kill: every edit is there (each edit is saved, encrypted, before it returns)",
        again.draft.answers() == before && again.draft.is_complete(),
        json!({ "draft_id": id }),
    );
    let (main, wal) = database_bytes(&j.store.db_path())?;
    let leaks = count(&main, "张小宝".as_bytes()) + count(&wal, "张小宝".as_bytes());
    j.check(
        "forms.encrypted",
        "磁盘上的数据库中找不到新生儿姓名“张小宝”的明文",
        "The newborn's name is nowhere in the database bytes on disk",
        leaks == 0,
        json!({ "plaintext_hits": leaks }),
    );
    Ok(())
}
