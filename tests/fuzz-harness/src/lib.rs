//! The bodies of the fuzz targets (issue 10): every parser of outside input the core has, fed arbitrary
//! bytes. Each function must return (never panic, never hang, bounded memory) whatever the input. They are
//! run two ways:
//! * `tests/fuzz` (its own workspace, cargo-fuzz / libFuzzer on nightly): coverage-guided, 10 minutes per
//!   target (see tests/fuzz/README.md);
//! * `tests/fuzz-harness/tests/corpus.rs` (stable, in `tests/run.sh`): every seed plus a fixed number of
//!   deterministic mutations of each seed, so a regression shows up without nightly.

use std::sync::OnceLock;

use zhangban_core::wallet::{self, format, Policy, StatusList, TrustList};

pub mod seeds;

/// A fuzz target's body.
pub type Target = fn(&[u8]);

/// The fuzz targets, by name (also the cargo-fuzz target names).
pub const TARGETS: &[(&str, Target)] = &[
    ("presentation", presentation),
    ("grant", grant),
    ("licence_import", licence_import),
    ("form_schema", form_schema),
    ("expression", expression),
    ("sync_response", sync_response),
    ("delegation", delegation),
];

struct Lists {
    trust: TrustList,
    /// List 0 of wallet.json and list 1 of wallet-shards.json (so shard lookups are exercised).
    status: wallet::StatusLists,
    device_key: Vec<u8>,
}

/// The vectors' trust and status lists (tests/vectors/wallet.json), so signatures can verify.
fn lists() -> &'static Lists {
    static L: OnceLock<Lists> = OnceLock::new();
    L.get_or_init(|| {
        let v = seeds::vectors();
        let root = wallet::trust::pinned_root_key();
        let hexs = |k: &str| hex::decode(v[k].as_str().unwrap_or_default()).unwrap_or_default();
        Lists {
            trust: TrustList::verify(&hexs("trust_list_hex"), &root).expect("vector trust list"),
            status: seeds::shard_lists()
                .iter()
                .filter_map(|b| StatusList::verify(b, &root).ok())
                .filter(|s| s.list_id != 0)
                .chain([StatusList::verify(&hexs("status_list_hex"), &root).expect("vector status list")])
                .collect(),
            device_key: hex::decode(v["keys"]["device_public_hex"].as_str().unwrap_or_default()).unwrap_or_default(),
        }
    })
}

fn policy() -> Policy {
    Policy {
        accepted_purposes: ["hotel-check-in", "age-check", "custom", "x"].map(String::from).to_vec(),
        ..Policy::default()
    }
}

fn text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

/// `ZB1:` presentation (and `ZBE1:` engagement) decode + full offline verification.
pub fn presentation(data: &[u8]) {
    let Some(t) = text(data) else { return };
    let l = lists();
    let v = wallet::Verifier::new(l.trust.clone(), l.status.clone());
    let _ = v.verify(t, seeds::VECTOR_NOW, &policy());
    if let Ok(e) = wallet::Engagement::from_text(t) {
        let _ = e.to_text();
    }
    if let Ok(p) = format::Presentation::from_text(t) {
        // A decoded presentation re-encodes without panicking.
        let _ = p.to_text();
    }
}

/// `ZBG1:` grant decode + verification by a recipient.
pub fn grant(data: &[u8]) {
    let Some(t) = text(data) else { return };
    let l = lists();
    let gv = wallet::GrantVerifier::new(&l.device_key, l.trust.clone(), l.status.clone());
    let _ = gv.verify(t, seeds::VECTOR_NOW, &policy());
    if let Ok(g) = format::GrantToken::from_text(t) {
        let _ = g.to_text();
    }
}

/// An issued licence (CBOR from the platform) through every import check.
pub fn licence_import(data: &[u8]) {
    let l = lists();
    let _ = wallet::issue::check_import(data, &l.trust, &l.status, &l.device_key, seeds::VECTOR_NOW);
}

/// A form schema (JSON from the catalog) loaded and compiled.
pub fn form_schema(data: &[u8]) {
    let Some(t) = text(data) else { return };
    let _ = zhangban_core::catalog::schema::FormSchema::from_json(t);
}

struct Env;

impl zhangban_core::catalog::expr::Env for Env {
    fn var(&self, idx: usize) -> zhangban_core::catalog::expr::Value {
        zhangban_core::catalog::expr::Value::from_json(&serde_json::json!(idx as i64 - 3))
    }
    fn self_value(&self) -> zhangban_core::catalog::expr::Value {
        zhangban_core::catalog::expr::Value::from_json(&serde_json::json!("2026-01-01"))
    }
    fn today(&self) -> chrono::NaiveDate {
        chrono::NaiveDate::from_ymd_opt(2026, 12, 6).unwrap_or_default()
    }
}

/// The form expression language: parse, then evaluate.
pub fn expression(data: &[u8]) {
    let Some(t) = text(data) else { return };
    if let Ok(e) = zhangban_core::catalog::expr::Expr::parse(t) {
        let _ = e.eval(&Env);
    }
}

/// Platform responses: the first byte picks the kind; the rest is the body.
/// 0: an events page applied to a case; 1: a signed trust list; 2: a signed status list; 3: a calendar update.
pub fn sync_response(data: &[u8]) {
    let Some((&kind, body)) = data.split_first() else { return };
    match kind % 4 {
        0 => {
            let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else { return };
            let Ok(events) = serde_json::from_value::<Vec<zhangban_core::cases::PlatformEvent>>(
                v.get("events").cloned().unwrap_or_default(),
            ) else {
                return;
            };
            let mut case = seeds::case();
            for ev in events.iter().take(1000) {
                let _ = zhangban_core::cases::apply_event(&mut case, ev);
            }
        }
        1 => {
            let _ = TrustList::verify(body, &wallet::trust::pinned_root_key());
        }
        2 => {
            let _ = StatusList::verify(body, &wallet::trust::pinned_root_key());
        }
        _ => {
            let _ =
                zhangban_core::calendar::update::verify(body, &zhangban_core::calendar::update::TrustedKey::platform());
        }
    }
}

/// A deterministic mutator (xorshift): flips, inserts, deletes and splices bytes, like a fuzzer's first
/// rounds, so the stable test explores around each seed without libFuzzer.
pub fn mutate(seed: &[u8], state: &mut u64, max_len: usize) -> Vec<u8> {
    let mut next = || {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    };
    let mut b = seed.to_vec();
    let rounds = 1 + (next() % 8) as usize;
    for _ in 0..rounds {
        let r = next();
        let pos = if b.is_empty() { 0 } else { (r >> 8) as usize % b.len() };
        match r % 6 {
            0 if !b.is_empty() => b[pos] ^= 1 << ((r >> 3) % 8),
            1 if !b.is_empty() => b[pos] = (r >> 16) as u8,
            2 if b.len() < max_len => b.insert(pos, (r >> 24) as u8),
            3 if !b.is_empty() => {
                b.remove(pos);
            }
            4 if !b.is_empty() => {
                let end = (pos + 1 + (r >> 40) as usize % 16).min(b.len());
                let piece = b[pos..end].to_vec();
                let at = (r >> 32) as usize % b.len();
                if b.len() + piece.len() <= max_len {
                    b.splice(at..at, piece);
                }
            }
            _ => b.truncate(pos),
        }
    }
    b
}

/// Agent mode (issue 11): a `ZBD1:` delegation or `ZBA1:` agent certificate text through decoding and
/// verification; raw bytes as a door consent and a revocation (signature checks with a fixed key).
pub fn delegation(data: &[u8]) {
    use zhangban_core::agent::{AgentCertificate, Delegation, DoorConsent, Revocation};
    if let Some(t) = text(data) {
        if let Ok(b) = Delegation::from_text(t) {
            let _ = Delegation::verify(&b);
        }
        if let Ok(b) = AgentCertificate::from_text(t) {
            let _ = AgentCertificate::verify(&b, &wallet::trust::pinned_root_key(), seeds::VECTOR_NOW);
        }
    }
    let key = &lists().device_key;
    let _ = DoorConsent::verify(data, key);
    let _ = Revocation::verify(data, key);
    let _ = Delegation::verify(data);
}
