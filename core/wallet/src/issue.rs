//! Issuing (what the sandbox issuer does) and importing (what the holder's core checks before it keeps
//! a licence): signature, trust, device binding, identifiers, elements and dates.

use std::collections::BTreeMap;

use chrono::Datelike;
use ring::rand::{SecureRandom, SystemRandom};

use super::device::DeviceSigner;
use super::error::{WResult, WalletError};
use super::format::*;
use super::ids::{self, IdError, LicenceId};
use super::trust::{StatusLists, TrustEntry, TrustList};
use super::types::{Check, ElementValue, LicenceType, ValueKind};
use super::verify::{check_items, check_licence};
use crate::{Error, Result};

/// What an issuer puts in a licence.
#[derive(Debug, Clone)]
pub struct LicenceRequest {
    pub licence_type: LicenceType,
    pub issuer_uscc: String,
    pub serial: String,
    pub version: String,
    /// Element key → value (derived elements are added by [`with_derived`]).
    pub elements: BTreeMap<String, ElementValue>,
    pub device_key: Vec<u8>,
    pub valid_from: i64,
    pub valid_until: i64,
    /// The signed status index: `list × MAX_STATUS_BITS + bit` (ADR 0039); the licence names its list
    /// (`status_index / MAX_STATUS_BITS`, key 9 when not 0).
    pub status_index: u64,
}

/// Adds the derived elements a type defines, computed at `at` (Unix seconds): the masked ID number,
/// `age_over_18` from the birth date (or from the ID number).
pub fn with_derived(
    t: LicenceType,
    mut elements: BTreeMap<String, ElementValue>,
    at: i64,
) -> BTreeMap<String, ElementValue> {
    let today = chrono::DateTime::from_timestamp(at, 0).map(|d| d.date_naive());
    let id_number = match elements.get("id_number") {
        Some(ElementValue::Text(s)) => Some(s.clone()),
        _ => None,
    };
    let birth = match elements.get("birth_date") {
        Some(ElementValue::Text(s)) => chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").ok(),
        _ => None,
    }
    .or_else(|| Some(ids::validate_id_number(id_number.as_deref()?, at).ok()?.birth_date));
    let age = match (birth, today) {
        (Some(b), Some(t)) => {
            let mut a = t.year() - b.year();
            if (t.month(), t.day()) < (b.month(), b.day()) {
                a -= 1;
            }
            Some(a)
        }
        _ => None,
    };
    for def in t.elements().iter().filter(|d| d.derived) {
        let v = match def.key {
            "id_number_masked" => id_number.as_deref().map(|s| ElementValue::Text(ids::mask_id_number(s))),
            "age_over_18" => age.map(|a| ElementValue::Bool(a >= 18)),
            _ => None,
        };
        if let Some(v) = v {
            elements.insert(def.key.to_string(), v);
        }
    }
    elements
}

/// Builds and signs a licence. `kid` is the issuer key's id in the trust list.
pub fn issue_licence(req: &LicenceRequest, kid: &[u8], issuer: &dyn DeviceSigner) -> Result<IssuedLicence> {
    let t = req.licence_type;
    let id = LicenceId::new(t.code(), &req.issuer_uscc, &req.serial, &req.version)
        .map_err(|e| Error::validation("licence_id", e.message_zh(), e.message_en()))?;
    let rng = SystemRandom::new();
    let mut items = Vec::new();
    let mut digests = BTreeMap::new();
    for def in t.elements() {
        let Some(value) = req.elements.get(def.key) else {
            if def.required {
                return Err(Error::validation(def.key, "缺少必填项目", "required element missing"));
            }
            continue;
        };
        let mut salt = vec![0u8; SALT_LEN];
        rng.fill(&mut salt).map_err(|_| Error::Internal("rng".into()))?;
        let item = ElementItem { id: def.id, salt, value: value.clone() }.encode();
        digests.insert(def.id, element_digest(&item).to_vec());
        items.push(item);
    }
    if let Some(k) = req.elements.keys().find(|k| t.element_by_key(k).is_none()) {
        return Err(Error::validation(k.as_str(), "该证照类型没有此项目", "no such element for this licence type"));
    }
    let payload = LicencePayload {
        version: FORMAT_VERSION,
        licence_id: id.to_string(),
        digest_alg: DIGEST_SHA256_128,
        digests,
        device_key: DeviceKey::es256(&req.device_key)
            .map_err(|_| Error::validation("device_key", "设备公钥格式不正确", "malformed device public key"))?,
        valid_from: req.valid_from,
        valid_until: req.valid_until,
        status_index: req.status_index,
        status_list: crate::trust::list_id(req.status_index / crate::trust::MAX_STATUS_BITS).map_err(|_| {
            Error::validation("status_index", "证照状态序号超出范围", "status index beyond the last status list")
        })?,
    };
    let sign1 = sign1_create(kid, encode_cbor(&payload.to_value()), |m| issuer.sign(m))?;
    Ok(IssuedLicence { signed: Signed { sign1, kid: kid.to_vec(), body: payload }, items })
}

/// The signed proof that the device holds its key: signature over `["ZB1-Possession", nonce, key]`.
pub fn possession_tbs(nonce: &[u8], device_key: &[u8]) -> Vec<u8> {
    use ciborium::value::Value;
    encode_cbor(&Value::Array(vec![text(POSSESSION_CONTEXT), bytes(nonce), bytes(device_key)]))
}

pub fn verify_possession(nonce: &[u8], device_key: &[u8], sig: &[u8]) -> bool {
    es256_verify(device_key, &possession_tbs(nonce, device_key), sig)
}

/// A licence that passed every import check.
#[derive(Debug, Clone)]
pub struct Checked {
    pub licence: IssuedLicence,
    pub licence_type: LicenceType,
    pub issuer: TrustEntry,
    pub elements: Vec<ElementItem>,
}

fn id_error(field: &str, e: IdError) -> WalletError {
    WalletError::InvalidIdentifier { field: field.to_string(), zh: e.message_zh(), en: e.message_en() }
}

/// Every check before the holder keeps a licence: issuer signature and trust, the licence identifier
/// and its issuer, device binding (the licence must carry *this* device's key), every element's digest,
/// required elements and their types, ID numbers (GB 11643) and credit codes (GB 32100), dates, and
/// revocation when the licence's own status list is cached.
pub fn check_import(
    bytes: &[u8],
    trust: &TrustList,
    status: &StatusLists,
    device_key: &[u8],
    now: i64,
) -> WResult<Checked> {
    let licence = IssuedLicence::decode(bytes)?;
    let (entry, t) = check_licence(&licence.signed, trust, now, 0)?;
    let p = &licence.signed.body;
    if p.valid_from >= p.valid_until {
        return Err(WalletError::InvalidElement { field: "valid_until".into() });
    }
    if p.device_key.sec1 != device_key {
        return Err(WalletError::DeviceKeyMismatch);
    }
    let elements = check_items(&licence.signed, t, &licence.items)?;
    if elements.len() != p.digests.len() {
        return Err(WalletError::InvalidElement { field: "digests".into() });
    }
    for def in t.elements() {
        let Some(item) = elements.iter().find(|i| i.id == def.id) else {
            if def.required {
                return Err(WalletError::InvalidElement { field: def.key.into() });
            }
            continue;
        };
        match (&item.value, def.check) {
            (ElementValue::Text(s), Check::IdNumber) => {
                ids::validate_id_number(s, now).map_err(|e| id_error(def.key, e))?;
            }
            (ElementValue::Text(s), Check::Uscc) => ids::validate_uscc(s).map_err(|e| id_error(def.key, e))?,
            _ => {}
        }
        if def.kind == ValueKind::Members {
            if let ElementValue::Members(ms) = &item.value {
                for m in ms {
                    ids::validate_id_number(&m.id_number, now).map_err(|e| id_error("members.id_number", e))?;
                }
            }
        }
    }
    let (list, index) = p.status_slot();
    if let Some(sl) = status.get(list) {
        if sl.is_revoked(index) == Some(true) {
            return Err(WalletError::Revoked);
        }
    }
    Ok(Checked { issuer: entry.clone(), licence_type: t, elements, licence })
}

/// The sample resident (张三) of the test vectors and the benches (test data, public so that they share one
/// copy): a resident ID card's text elements.
pub const SAMPLE_RESIDENT: [(&str, &str); 7] = [
    ("name", "张三"),
    ("sex", "女"),
    ("ethnicity", "汉"),
    ("birth_date", "1949-12-31"),
    ("address", "北京市朝阳区建国路88号"),
    ("id_number", "11010519491231002X"),
    ("issuing_authority", "北京市公安局朝阳分局"),
];

/// Text elements from `(key, value)` pairs.
pub fn text_elements(pairs: &[(&str, &str)]) -> BTreeMap<String, ElementValue> {
    pairs.iter().map(|(k, v)| (k.to_string(), ElementValue::Text(v.to_string()))).collect()
}
