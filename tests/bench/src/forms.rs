//! Forms rows: autofill + validate a 200-field form (ten field types, half bound to the profile, a
//! quarter to a licence, constraints, show-if, computed values); one edit inside a repeat group of 500
//! instances (incremental: the field, its dependents, the column sum) against a full recompute of the
//! same form; and catalog search over 2,000 items.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Arc;

use chrono::NaiveDate;
use serde_json::{json, Value as Json};
use zhangban_core::catalog::schema::FormSchema;
use zhangban_core::catalog::{Catalog, CatalogDoc, BUNDLED_JSON};
use zhangban_core::forms::draft::{AutofillOptions, Draft, Editor};
use zhangban_core::forms::profile::{HeldLicence, Profile, Provenance};
use zhangban_core::store::SELF_SUBJECT;

use crate::harness::{interleaved, row, Plan};

const NOW: i64 = 1_795_000_000;

fn opts() -> AutofillOptions {
    AutofillOptions { today: NaiveDate::from_ymd_opt(2026, 11, 23).unwrap(), now: NOW, stale_after_days: 365 }
}

/// A 200-field form: ten field types in turn, half bound to the profile, a quarter to a licence,
/// constraints on numbers, a show-if on every 10th field and a computed value on every 20th.
fn form_200() -> (Arc<zhangban_core::forms::Form>, Profile, Vec<HeldLicence>) {
    let kinds = ["text", "number", "date", "choice", "phone", "id_number", "money", "bool", "region", "address"];
    let mut fields = Vec::new();
    let mut profile = Profile::default();
    let mut lic_fields = BTreeMap::new();
    for i in 0..200 {
        let kind = kinds[i % kinds.len()];
        let id = format!("f{i:03}");
        let mut f = json!({"id": id, "type": kind, "label": {"zh": format!("字段{i}"), "en": format!("Field {i}")}, "required": true});
        if kind == "choice" {
            f["options"] = json!([{"value": "a", "label": {"zh": "甲"}}, {"value": "b", "label": {"zh": "乙"}}]);
        }
        if kind == "number" {
            f["constraints"] =
                json!([{"expr": "value >= 0 && value < 1000000", "message": {"zh": "范围", "en": "range"}}]);
        }
        if i % 10 == 9 {
            f["show_if"] = json!("f000 != ''");
        }
        let value: Json = match kind {
            "text" => json!(format!("文字{i}")),
            "number" => json!(i),
            "date" => json!("2020-01-31"),
            "choice" => json!("a"),
            "phone" => json!("13800138000"),
            "id_number" => json!("11010519491231002X"),
            "money" => json!(12.5),
            "bool" => json!(true),
            "region" => json!("110105"),
            _ => json!("北京市东城区正义路1号"),
        };
        if i % 20 == 19 && kind == "address" {
            // Every 20th field (an address slot) becomes a computed number instead.
            f = json!({"id": id, "type": "number", "label": {"zh": "合计", "en": "Total"}, "compute": "f001 + f011 + 1"});
        } else if i % 4 == 0 {
            f["bind"] = json!({"licence": {"type": "resident_id", "field": id}, "profile": format!("person.{id}")});
            lic_fields.insert(id.clone(), value);
        } else if i % 2 == 0 {
            f["bind"] = json!({"profile": format!("person.{id}")});
            profile.set(&format!("person.{id}"), value, Provenance::Profile { entered_at: NOW - 10 }).unwrap();
        }
        fields.push(f);
    }
    let doc = json!({"id": "bench200", "version": 1, "title": {"zh": "两百项", "en": "200 fields"}, "fields": fields});
    let (_, form) = FormSchema::from_json(&doc.to_string()).unwrap();
    let lic = vec![HeldLicence {
        licence_type: "resident_id".into(),
        licence_id: "rid-1".into(),
        as_of: "2026-01-01".into(),
        valid_until: None,
        fields: lic_fields,
    }];
    (Arc::new(form), profile, lic)
}

fn group_500() -> Draft {
    let doc = json!({"id": "g", "version": 1, "title": {"zh": "成员", "en": "Members"}, "fields": [
        {"id": "capital", "type": "money", "label": {"zh": "资本"}, "required": true},
        {"id": "members", "type": "repeat", "label": {"zh": "成员"}, "max_items": 600, "fields": [
            {"id": "name", "type": "text", "label": {"zh": "姓名"}, "required": true},
            {"id": "id_number", "type": "id_number", "label": {"zh": "身份号码"}, "required_if": "adult"},
            {"id": "adult", "type": "bool", "label": {"zh": "成年"}},
            {"id": "share", "type": "number", "label": {"zh": "比例"}, "required": true, "min": 0, "max": 100,
             "constraints": [{"expr": "value <= 100 - len(name)", "message": {"zh": "x", "en": "x"}}]}
        ]},
        {"id": "count", "type": "number", "label": {"zh": "人数"}, "compute": "len(members)"},
        {"id": "total", "type": "number", "label": {"zh": "合计"}, "compute": "sum(members.share)",
         "constraints": [{"expr": "value == 100", "message": {"zh": "合计应为 100", "en": "must total 100"}}]}
    ]});
    let (_, form) = FormSchema::from_json(&doc.to_string()).unwrap();
    let mut d = Draft::with_form(Arc::new(form), vec![], 0, "d", SELF_SUBJECT, "g", opts().today, NOW);
    for i in 0..500 {
        d.add_instance("members", NOW).unwrap();
        d.set(&format!("members[{i}].name"), json!(format!("成员{i}")), &Editor::Person, NOW).unwrap();
        d.set(&format!("members[{i}].id_number"), json!("11010519491231002X"), &Editor::Person, NOW).unwrap();
        d.set(&format!("members[{i}].share"), json!(0.2), &Editor::Person, NOW).unwrap();
    }
    d
}

/// 2,000 items: the seed items copied with varied names and keywords.
fn catalog_2000() -> Catalog {
    let mut doc: CatalogDoc = serde_json::from_str(BUNDLED_JSON).unwrap();
    let seed = doc.items.clone();
    let places = ["北京", "上海", "广州", "深圳", "杭州", "成都", "武汉", "西安", "南京", "福州"];
    let mut n = 0;
    while doc.items.len() < 2000 {
        let mut it = seed[n % seed.len()].clone();
        let place = places[(n / seed.len()) % places.len()];
        it.code = format!("{}-{n:05}", it.code);
        it.name.zh = format!("{place}{}（第{n}号）", it.name.zh);
        it.name.en = format!("{} ({place} {n})", it.name.en);
        it.keywords.push(format!("{place}办事{n}"));
        doc.items.push(it);
        n += 1;
    }
    Catalog::new(doc).unwrap()
}

pub fn rows(plan: Plan) -> Vec<Json> {
    let (form, profile, lic) = form_200();
    let mut autofill = || {
        let mut d = Draft::with_form(form.clone(), vec![], 0, "d", SELF_SUBJECT, "bench200", opts().today, NOW);
        d.autofill(&profile, &lic, &opts());
        black_box((d.validate(), d.report()));
    };
    let t = interleaved(plan, &mut [&mut autofill]);
    let (a, aw) = t.ms(0);
    let mut out = vec![row(
        "forms_autofill",
        "autofill + validate a 200-field form",
        a,
        "ms",
        &[],
        "≤ 2 ms",
        Some(a <= 2.0),
        json!({"runs": plan.runs, "clock": "thread CPU time", "wall_ms": aw}),
    )];

    let d = std::cell::RefCell::new(group_500());
    let mut k = 0u32;
    let mut edit = || {
        k += 1;
        let v = json!(if k % 2 == 0 { 0.2 } else { 0.4 });
        d.borrow_mut().set("members[250].share", v, &Editor::Person, NOW).expect("edit");
    };
    let mut full = || d.borrow_mut().recompute_all();
    let t = interleaved(plan, &mut [&mut edit, &mut full]);
    let ((e, ew), (f, fw)) = (t.ms(0), t.ms(1));
    out.push(row(
        "forms_edit",
        "one edit in a form with 500 repeat instances",
        e,
        "ms",
        &[("full recompute of the same form", f)],
        "≤ 1 ms",
        Some(e <= 1.0),
        json!({"runs": plan.runs, "clock": "thread CPU time", "wall_ms": {"ours": ew, "full": fw}, "full_over_incremental": f / e}),
    ));

    let big = catalog_2000();
    let queries = ["户口", "开公司", "社会保障卡申领", "公积金 退休", "居民医疗保险", "深圳 营业执照", "没有这个事项"];
    let mut search = || {
        for q in queries {
            black_box(big.search(q, 20));
        }
    };
    let t = interleaved(plan, &mut [&mut search]);
    let (s, sw) = t.ms(0);
    let (s, sw) = (s / queries.len() as f64, sw / queries.len() as f64);
    out.push(row(
        "catalog_search",
        "catalog search over 2,000 items (mean of 7 queries)",
        s,
        "ms",
        &[],
        "≤ 5 ms",
        Some(s <= 5.0),
        json!({"runs": plan.runs, "clock": "thread CPU time", "wall_ms": sw, "queries": queries}),
    ));
    out
}
