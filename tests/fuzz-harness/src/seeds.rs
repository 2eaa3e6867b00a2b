//! Seed inputs for each target, from the test vectors (tests/vectors/wallet.json) and small documents in
//! the formats the core reads. `fuzz-seeds DIR` writes them as cargo-fuzz corpora (`DIR/<target>/…`).

use std::sync::OnceLock;

use serde_json::{json, Value};

/// The vectors' fixed clock.
pub const VECTOR_NOW: i64 = 1_790_000_000;

/// tests/vectors/wallet.json, parsed.
pub fn vectors() -> &'static Value {
    static V: OnceLock<Value> = OnceLock::new();
    V.get_or_init(|| {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../vectors/wallet.json");
        let text = std::fs::read_to_string(path).unwrap_or_default();
        serde_json::from_str(&text).unwrap_or(Value::Null)
    })
}

/// tests/vectors/wallet-shards.json (status list shards, ADR 0039), parsed.
pub fn shard_vectors() -> &'static Value {
    static V: OnceLock<Value> = OnceLock::new();
    V.get_or_init(|| {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../vectors/wallet-shards.json");
        let text = std::fs::read_to_string(path).unwrap_or_default();
        serde_json::from_str(&text).unwrap_or(Value::Null)
    })
}

/// The signed status lists of the shard vectors (shards 0 and 1).
pub fn shard_lists() -> Vec<Vec<u8>> {
    shard_vectors()["status_lists_hex"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|h| hex::decode(h.as_str()?).ok())
        .collect()
}

/// A case on the phone that platform events are applied to.
pub fn case() -> zhangban_core::cases::Case {
    serde_json::from_value(json!({
        "id": "c1", "subject": "self", "title": "个体工商户设立登记", "item_codes": ["330100-GT-001"],
        "state": "submitted", "values": {}, "attachments": [], "receipt": "ZB20261206000001", "platform_id": "p1",
        "created_at": 1_790_000_000, "accepted_on": null, "promised_days": null, "pauses": [], "supplement": null,
        "deferred": [], "result": null, "reason": null, "completed_on": null, "licence": null, "timeline": [],
        "problem": null, "rating": null, "complaints": [], "last_event_seq": 0
    }))
    .expect("a valid case template")
}

fn form(fields: Value) -> Vec<u8> {
    json!({"id": "t", "version": 1, "title": {"zh": "测试", "en": "Test"}, "fields": fields}).to_string().into_bytes()
}

/// The seeds of `target`.
pub fn seeds(target: &str) -> Vec<Vec<u8>> {
    let v = vectors();
    let texts = || -> Vec<Vec<u8>> {
        v["cases"]
            .as_array()
            .into_iter()
            .chain(shard_vectors()["cases"].as_array())
            .flatten()
            .filter_map(|c| c["text"].as_str())
            .map(|t| t.as_bytes().to_vec())
            .collect()
    };
    let hexs = |k: &str| hex::decode(v[k].as_str().unwrap_or_default()).unwrap_or_default();
    match target {
        "presentation" => {
            let mut s = texts();
            s.push(b"ZBE1:".to_vec());
            s
        }
        "grant" => {
            // Grants share the licence and item encoding with presentations; the vectors hold presentations,
            // which the mutator turns into grant-shaped inputs once the prefix is swapped.
            texts()
                .into_iter()
                .filter_map(|t| t.strip_prefix(b"ZB1:").map(|r| [b"ZBG1:".as_slice(), r].concat()))
                .collect()
        }
        "licence_import" => vec![hexs("licence_hex")],
        "delegation" => {
            use zhangban_core::agent::{Action, Delegation, LicenceElements, Relative, Scope};
            use zhangban_core::wallet::{DeviceSigner, GrantExpiry, SoftwareKey};
            // The principal is the vectors' device, so a licence of the vectors can be shared (key 14).
            let p = SoftwareKey::from_pkcs8_hex(v["keys"]["device_pkcs8"].as_str().unwrap_or_default())
                .unwrap_or_else(|_| SoftwareKey::generate().expect("key"));
            let a = SoftwareKey::generate().expect("key");
            let d = Delegation {
                id: "0123456789abcdef0123456789abcdef".into(),
                principal_name: "李秀英".into(),
                principal_id_masked: "110105********0018".into(),
                principal_key: p.public_key(),
                agent_id: "agent-1".into(),
                agent_cert_id: "cert-1".into(),
                agent_key: a.public_key(),
                scope: Scope {
                    items: vec!["MZ-002".into()],
                    licence_types: vec![],
                    actions: Action::ALL.to_vec(),
                    elements: vec![],
                },
                valid_from: VECTOR_NOW,
                valid_until: VECTOR_NOW + 30 * 86_400,
                single_use: false,
                relative: None,
                shared: vec![],
            };
            let v1 = Delegation::to_text(&d.sign_v1(|m| p.sign(m)).expect("a version 1 delegation seed"));
            let signed = d.sign(|m| p.sign(m)).expect("a delegation seed");
            let text = Delegation::to_text(&signed);
            let cert_like = text.replacen("ZBD1:", "ZBA1:", 1);
            // 亲友代办: the same with key 13 (the relative who signed), so its parser is fuzzed too.
            let family = Delegation {
                relative: Some(Relative { name: "李小红".into(), relation: "女儿".into() }),
                ..d.clone()
            };
            let family = Delegation::to_text(&family.sign(|m| p.sign(m)).expect("a family delegation seed"));
            let mut out = vec![text.into_bytes(), cert_like.into_bytes(), signed, family.into_bytes(), v1.into_bytes()];
            // Version 2 with a shared licence (name and ID number of the vectors' resident ID card).
            let licence = zhangban_core::wallet::format::IssuedLicence::decode(&hexs("licence_hex"));
            if let Ok(l) = licence {
                let purpose = zhangban_core::agent::mandate::shared_purpose(&d.id);
                let until = GrantExpiry::Until(d.valid_until);
                let g = zhangban_core::wallet::grant::build_grant(
                    &l,
                    &[1, 6],
                    "王帮办",
                    &a.public_key(),
                    &purpose,
                    until,
                    d.valid_from,
                    &p,
                );
                if let Ok(g) = g {
                    let scope = Scope {
                        licence_types: vec!["resident_id".into()],
                        elements: vec![LicenceElements {
                            licence_type: "resident_id".into(),
                            elements: vec!["name".into(), "id_number".into()],
                        }],
                        ..d.scope.clone()
                    };
                    let shared = Delegation { scope, shared: vec![g.encode()], ..d.clone() };
                    out.push(Delegation::to_text(&shared.sign(|m| p.sign(m)).expect("a shared seed")).into_bytes());
                }
            }
            out
        }
        "form_schema" => vec![
            form(
                json!([{"id": "name", "type": "text", "label": {"zh": "姓名"}, "required": true, "min_len": 2, "max_len": 4}]),
            ),
            form(json!([
                {"id": "delivery", "type": "choice", "label": {"zh": "方式"}, "required": true,
                 "options": [{"value": "post", "label": {"zh": "邮寄"}}, {"value": "pickup", "label": {"zh": "自取"}}]},
                {"id": "post_address", "type": "address", "label": {"zh": "地址"}, "show_if": "delivery == 'post'",
                 "required_if": "delivery == 'post'"},
                {"id": "birth", "type": "date", "label": {"zh": "出生"}, "constraints": [
                    {"expr": "value <= today()", "message": {"zh": "不能晚于今天", "en": "not in the future"}}]},
                {"id": "age", "type": "number", "label": {"zh": "年龄"}, "compute": "age(birth)"},
                {"id": "note", "type": "text", "label": {"zh": "备注"}, "required_if": "age >= 60"}
            ])),
        ],
        "expression" => [
            "a + b * a + value",
            "delivery == 'post' && age(birth) >= 18",
            "value <= today()",
            "len(name) > 1 || !(x < 3)",
            "if(a > b, 'x', 'y')",
            "1 + * 2",
        ]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect(),
        "sync_response" => {
            let events = json!({"events": [
                {"seq": 1, "case_id": "p1", "client_ref": "c1", "kind": "accepted", "at": 1_790_000_100, "actor": "clerk:王芳",
                 "data": {"accepted_on": "2026-09-22", "promised_days": 5, "deferred": [{"material": "场所使用证明", "due": "2026-09-29"}]}},
                {"seq": 2, "case_id": "p1", "client_ref": "c1", "kind": "supplement_requested", "at": 1_790_000_200,
                 "actor": "clerk:王芳", "data": {"request_id": "r1", "items": ["身份证复印件"], "note": "", "due": "2026-09-30"}},
                {"seq": 3, "case_id": "p1", "client_ref": "c1", "kind": "approved", "at": 1_790_000_300, "actor": "clerk:李科长",
                 "data": {"result": "准予", "licence": {"type": "business_licence", "elements": {"company_name": "x"}}}}
            ], "next": 3});
            let shards = shard_lists().into_iter().map(|l| [vec![2u8], l].concat());
            [
                [vec![0u8], events.to_string().into_bytes()].concat(),
                [vec![1u8], hexs("trust_list_hex")].concat(),
                [vec![2u8], hexs("status_list_hex")].concat(),
                [
                    vec![3u8],
                    br#"{"kid":"zb-platform-calendar-1","alg":"ES256","payload":"version 2\n","signature":"00"}"#
                        .to_vec(),
                ]
                .concat(),
            ]
            .into_iter()
            .chain(shards)
            .collect()
        }
        _ => Vec::new(),
    }
}
