//! What lets an agent act for a principal (a *mandate*), in two forms, and its revocation:
//!
//! * [`Delegation`] (授权委托, high assurance): made and signed on the principal's phone with the
//!   principal's device key, naming the agent's certificate and device key, the scope (service items,
//!   licence types, actions), the validity (default 30 days, at most 1 year) and single or multiple use.
//!   Carried as a QR text `ZBD1:` + base45(deflate(CBOR COSE_Sign1)) (docs/formats.md § 9).
//! * [`DoorConsent`] (上门确认, lower assurance): for a principal without a phone, recorded by the agent
//!   at the door — the principal's name and ID number, the SHA-256 of the encrypted photos of the ID card
//!   and of the principal and of the handwritten signature, and of the confirmation summary read out —
//!   signed with the agent's device key. The platform accepts it only for items its catalog allows at
//!   that level.
//! * [`Revocation`]: the principal's signed withdrawal of a delegation, sent to the platform, which
//!   lists it for agents' phones (they stop at their next sync).
//!
//! Every parser here is bounded: the text by the `ZB1:` limits (wallet::format), lists and strings by
//! the constants below; a structure that breaks them is refused with a typed error.

use ciborium::value::Value;
use ring::digest;
use serde::{Deserialize, Serialize};
use zhangban_wallet::format::{
    as_array, as_bool, as_bytes, as_i64, as_text, as_u64, bytes, decode_cbor, decode_text, encode_cbor, encode_text,
    int, map, sign1_create, sign1_parse, sign1_payload, sign1_value, sign1_verify, text, uint, IntMap,
};
use zhangban_wallet::WalletError;

use crate::{bad, denied, Result};

pub const DELEGATION_PREFIX: &str = "ZBD1:";
pub const MANDATE_VERSION: u64 = 1;
/// Default validity of a delegation, and the longest allowed.
pub const DEFAULT_VALID_DAYS: u32 = 30;
pub const MAX_VALID_DAYS: u32 = 365;
pub const MAX_ITEMS: usize = 20;
pub const MAX_TYPES: usize = 10;
pub const MAX_SIGNED_BYTES: usize = 4096;

/// What an agent may do for a principal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum Action {
    /// Start and fill forms, attach material (填报).
    Fill,
    /// Submit applications and supply material (提交).
    Submit,
    /// See the principal's cases and their progress (跟踪).
    Follow,
    /// Receive results: receipts, decisions, issued licences (领取结果).
    ReceiveResults,
}

impl Action {
    pub const ALL: [Action; 4] = [Action::Fill, Action::Submit, Action::Follow, Action::ReceiveResults];
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Fill => "fill",
            Action::Submit => "submit",
            Action::Follow => "follow",
            Action::ReceiveResults => "receive_results",
        }
    }
    pub fn parse(s: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.as_str() == s)
    }
    pub fn label_zh(self) -> &'static str {
        match self {
            Action::Fill => "填报",
            Action::Submit => "提交",
            Action::Follow => "查看进度",
            Action::ReceiveResults => "领取结果",
        }
    }
    pub fn label_en(self) -> &'static str {
        match self {
            Action::Fill => "fill in forms",
            Action::Submit => "submit",
            Action::Follow => "follow progress",
            Action::ReceiveResults => "receive results",
        }
    }
}

/// What a mandate covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Scope {
    /// Service item codes (事项编码); a bundle is covered when each of its items is.
    pub items: Vec<String>,
    /// Licence types the agent may use for the principal (e.g. `resident_id`); may be empty.
    pub licence_types: Vec<String>,
    pub actions: Vec<Action>,
}

impl Scope {
    fn check(&self) -> Result<()> {
        if self.items.is_empty() || self.items.len() > MAX_ITEMS {
            return Err(bad("scope.items", "须列出 1 至 20 个事项", "must list 1 to 20 service items"));
        }
        if self.licence_types.len() > MAX_TYPES {
            return Err(bad("scope.licence_types", "至多 10 种证照", "at most 10 licence types"));
        }
        if self.actions.is_empty() {
            return Err(bad("scope.actions", "须至少授权一项操作", "must allow at least one action"));
        }
        for i in self.items.iter().chain(&self.licence_types) {
            if i.is_empty() || i.len() > 64 || !i.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
                return Err(bad("scope", "事项或证照编码不正确", "an item or licence code is not valid"));
            }
        }
        Ok(())
    }

    fn to_value(&self) -> Value {
        map(vec![
            (1, Value::Array(self.items.iter().map(|i| text(i)).collect())),
            (2, Value::Array(self.licence_types.iter().map(|i| text(i)).collect())),
            (3, Value::Array(self.actions.iter().map(|a| text(a.as_str())).collect())),
        ])
    }

    fn from_value(v: &Value) -> std::result::Result<Scope, WalletError> {
        let w = "scope";
        let m = IntMap::new(v, w)?;
        let texts = |k: i64, max: usize| -> std::result::Result<Vec<String>, WalletError> {
            let a = as_array(m.get(k, w)?, w)?;
            if a.len() > max {
                return Err(WalletError::TooLong { len: a.len(), max });
            }
            a.iter().map(|t| as_text(t, w).map(str::to_string)).collect()
        };
        let actions = texts(3, Action::ALL.len())?
            .iter()
            .map(|a| Action::parse(a).ok_or_else(|| WalletError::Malformed { what: format!("action {a}") }))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(Scope { items: texts(1, MAX_ITEMS)?, licence_types: texts(2, MAX_TYPES)?, actions })
    }
}

/// How sure the platform can be that the principal agreed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum Assurance {
    /// Signed by the principal's (or a family member's) phone: 授权委托.
    Delegation,
    /// Recorded at the door and signed by the agent's key only: 上门确认, lower.
    Door,
    /// Signed by a family member's phone for a relative without one (亲友代办): lower than the
    /// principal's own signature; the platform accepts it, like a door consent, only for items offered
    /// at home.
    Family,
}

/// Who signed a delegation for the principal (亲友代办): a family member, on their own phone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Relative {
    pub name: String,
    /// 子女, 配偶, 兄弟姐妹, … (free text, ≤ 20 characters).
    pub relation: String,
}

/// A delegation as signed by the principal's phone (or by a relative's: [`Delegation::relative`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delegation {
    pub id: String,
    pub principal_name: String,
    /// The principal's ID number, masked (the full number stays on the principal's phone).
    pub principal_id_masked: String,
    /// The principal's device key (SEC1): it signed this delegation and signs its revocation.
    pub principal_key: Vec<u8>,
    pub agent_id: String,
    pub agent_cert_id: String,
    pub agent_key: Vec<u8>,
    pub scope: Scope,
    pub valid_from: i64,
    pub valid_until: i64,
    pub single_use: bool,
    /// Set when a family member's phone signed it (亲友代办, assurance [`Assurance::Family`]); then
    /// `principal_key` is the relative's device key.
    #[serde(default)]
    pub relative: Option<Relative>,
}

impl Delegation {
    /// The assurance this delegation carries: the principal's own signature, or a relative's.
    pub fn assurance(&self) -> Assurance {
        if self.relative.is_some() {
            Assurance::Family
        } else {
            Assurance::Delegation
        }
    }
}

fn key_id(public_key: &[u8]) -> Vec<u8> {
    digest::digest(&digest::SHA256, public_key).as_ref()[..8].to_vec()
}

fn bounded(signed: &[u8]) -> Result<()> {
    if signed.len() > MAX_SIGNED_BYTES {
        return Err(WalletError::TooLong { len: signed.len(), max: MAX_SIGNED_BYTES }.into());
    }
    Ok(())
}

fn check_validity(valid_from: i64, valid_until: i64) -> Result<()> {
    if valid_until <= valid_from || valid_until - valid_from > i64::from(MAX_VALID_DAYS) * 86_400 + 86_400 {
        return Err(bad("valid_days", "有效期须为 1 天至 1 年", "validity must be 1 day to 1 year"));
    }
    Ok(())
}

impl Delegation {
    fn to_value(&self) -> Value {
        let mut entries = vec![
            (1, uint(MANDATE_VERSION)),
            (2, text(&self.id)),
            (3, text(&self.principal_name)),
            (4, text(&self.principal_id_masked)),
            (5, bytes(&self.principal_key)),
            (6, text(&self.agent_id)),
            (7, text(&self.agent_cert_id)),
            (8, bytes(&self.agent_key)),
            (9, self.scope.to_value()),
            (10, int(self.valid_from)),
            (11, int(self.valid_until)),
            (12, Value::Bool(self.single_use)),
        ];
        if let Some(r) = &self.relative {
            entries.push((13, map(vec![(1, text(&r.name)), (2, text(&r.relation))])));
        }
        map(entries)
    }

    fn from_value(v: &Value) -> std::result::Result<Delegation, WalletError> {
        let w = "delegation";
        let m = IntMap::new(v, w)?;
        let version = as_u64(m.get(1, w)?, w)?;
        if version != MANDATE_VERSION {
            return Err(WalletError::UnsupportedVersion { version });
        }
        Ok(Delegation {
            id: as_text(m.get(2, w)?, w)?.to_string(),
            principal_name: as_text(m.get(3, w)?, w)?.to_string(),
            principal_id_masked: as_text(m.get(4, w)?, w)?.to_string(),
            principal_key: as_bytes(m.get(5, w)?, w)?.to_vec(),
            agent_id: as_text(m.get(6, w)?, w)?.to_string(),
            agent_cert_id: as_text(m.get(7, w)?, w)?.to_string(),
            agent_key: as_bytes(m.get(8, w)?, w)?.to_vec(),
            scope: Scope::from_value(m.get(9, w)?)?,
            valid_from: as_i64(m.get(10, w)?, w)?,
            valid_until: as_i64(m.get(11, w)?, w)?,
            single_use: as_bool(m.get(12, w)?, w)?,
            relative: match m.opt(13) {
                None => None,
                Some(r) => {
                    let r = IntMap::new(r, w)?;
                    let t = |k: i64, max: usize| -> std::result::Result<String, WalletError> {
                        let t = as_text(r.get(k, w)?, w)?;
                        if t.chars().count() > max {
                            return Err(WalletError::TooLong { len: t.chars().count(), max });
                        }
                        Ok(t.to_string())
                    };
                    Some(Relative { name: t(1, 50)?, relation: t(2, 20)? })
                }
            },
        })
    }

    /// Signs with the principal's device key (whose public half must be `principal_key`).
    pub fn sign(&self, sign: impl FnOnce(&[u8]) -> Result<Vec<u8>>) -> Result<Vec<u8>> {
        self.scope.check()?;
        check_validity(self.valid_from, self.valid_until)?;
        if let Some(r) = &self.relative {
            let name = r.name.trim();
            if name.is_empty() || name.chars().count() > 50 {
                return Err(bad(
                    "relative.name",
                    "请填写代办亲属的姓名（至多 50 字）",
                    "enter the relative's name (≤ 50)",
                ));
            }
            let rel = r.relation.trim();
            if rel.is_empty() || rel.chars().count() > 20 {
                return Err(bad(
                    "relative.relation",
                    "请填写与委托人的关系（至多 20 字）",
                    "enter the relation (≤ 20)",
                ));
            }
        }
        let s = sign1_create(&key_id(&self.principal_key), encode_cbor(&self.to_value()), sign)?;
        Ok(encode_cbor(&sign1_value(&s)))
    }

    /// Checks the principal's signature (with the key the delegation names, whose key id must match);
    /// the caller checks who it names and when it is valid.
    pub fn verify(signed: &[u8]) -> Result<Delegation> {
        bounded(signed)?;
        let (s, kid) = sign1_parse(decode_cbor(signed)?)?;
        let d = Delegation::from_value(&sign1_payload(&s)?)?;
        if kid != key_id(&d.principal_key) || !sign1_verify(&s, &d.principal_key) {
            return Err(denied("signature", "委托书签名无效", "the delegation's signature does not verify"));
        }
        d.scope.check()?;
        check_validity(d.valid_from, d.valid_until)?;
        Ok(d)
    }

    pub fn to_text(signed: &[u8]) -> String {
        encode_text(DELEGATION_PREFIX, signed)
    }

    /// The signed bytes of a `ZBD1:` text (bounded like `ZB1:`; verify them with [`Delegation::verify`]).
    pub fn from_text(t: &str) -> Result<Vec<u8>> {
        Ok(decode_text(DELEGATION_PREFIX, t.trim())?)
    }
}

/// What was captured at the door, by kind (the attachment's SHA-256 over its plaintext).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// `id_photo`, `principal_photo`, `signature`.
    pub kind: String,
    pub sha256: String,
}

/// A door consent as signed by the agent's device key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DoorConsent {
    pub id: String,
    pub principal_name: String,
    pub principal_id_number: String,
    pub agent_id: String,
    pub agent_cert_id: String,
    pub scope: Scope,
    pub valid_from: i64,
    pub valid_until: i64,
    pub single_use: bool,
    pub evidence: Vec<Evidence>,
    /// SHA-256 (hex) of the plain-language summary read out and confirmed.
    pub summary_sha256: String,
}

/// The three pictures a door consent needs.
pub const EVIDENCE_KINDS: [&str; 3] = ["id_photo", "principal_photo", "signature"];

impl DoorConsent {
    fn to_value(&self) -> Value {
        map(vec![
            (1, uint(MANDATE_VERSION)),
            (2, text(&self.id)),
            (3, text(&self.principal_name)),
            (4, text(&self.principal_id_number)),
            (5, text(&self.agent_id)),
            (6, text(&self.agent_cert_id)),
            (7, self.scope.to_value()),
            (8, int(self.valid_from)),
            (9, int(self.valid_until)),
            (10, Value::Bool(self.single_use)),
            (
                11,
                Value::Array(
                    self.evidence.iter().map(|e| map(vec![(1, text(&e.kind)), (2, text(&e.sha256))])).collect(),
                ),
            ),
            (12, text(&self.summary_sha256)),
        ])
    }

    fn from_value(v: &Value) -> std::result::Result<DoorConsent, WalletError> {
        let w = "door consent";
        let m = IntMap::new(v, w)?;
        let version = as_u64(m.get(1, w)?, w)?;
        if version != MANDATE_VERSION {
            return Err(WalletError::UnsupportedVersion { version });
        }
        let ev = as_array(m.get(11, w)?, w)?;
        if ev.len() > EVIDENCE_KINDS.len() {
            return Err(WalletError::TooLong { len: ev.len(), max: EVIDENCE_KINDS.len() });
        }
        let evidence = ev
            .iter()
            .map(|e| {
                let m = IntMap::new(e, w)?;
                Ok(Evidence {
                    kind: as_text(m.get(1, w)?, w)?.to_string(),
                    sha256: as_text(m.get(2, w)?, w)?.to_string(),
                })
            })
            .collect::<std::result::Result<Vec<_>, WalletError>>()?;
        Ok(DoorConsent {
            id: as_text(m.get(2, w)?, w)?.to_string(),
            principal_name: as_text(m.get(3, w)?, w)?.to_string(),
            principal_id_number: as_text(m.get(4, w)?, w)?.to_string(),
            agent_id: as_text(m.get(5, w)?, w)?.to_string(),
            agent_cert_id: as_text(m.get(6, w)?, w)?.to_string(),
            scope: Scope::from_value(m.get(7, w)?)?,
            valid_from: as_i64(m.get(8, w)?, w)?,
            valid_until: as_i64(m.get(9, w)?, w)?,
            single_use: as_bool(m.get(10, w)?, w)?,
            evidence,
            summary_sha256: as_text(m.get(12, w)?, w)?.to_string(),
        })
    }

    /// Signs with the agent's device key.
    pub fn sign(&self, agent_key: &[u8], sign: impl FnOnce(&[u8]) -> Result<Vec<u8>>) -> Result<Vec<u8>> {
        self.scope.check()?;
        check_validity(self.valid_from, self.valid_until)?;
        for k in EVIDENCE_KINDS {
            if !self.evidence.iter().any(|e| e.kind == k) {
                return Err(bad(
                    format!("evidence.{k}"),
                    "上门确认须有身份证照片、本人照片和手写签名",
                    "a door consent needs the ID card photo, the principal's photo and the signature",
                ));
            }
        }
        let s = sign1_create(&key_id(agent_key), encode_cbor(&self.to_value()), sign)?;
        Ok(encode_cbor(&sign1_value(&s)))
    }

    /// Checks the agent's signature with `agent_key` (from the agent's certificate).
    pub fn verify(signed: &[u8], agent_key: &[u8]) -> Result<DoorConsent> {
        bounded(signed)?;
        let (s, kid) = sign1_parse(decode_cbor(signed)?)?;
        if kid != key_id(agent_key) || !sign1_verify(&s, agent_key) {
            return Err(denied("signature", "上门确认记录签名无效", "the door consent's signature does not verify"));
        }
        let c = DoorConsent::from_value(&sign1_payload(&s)?)?;
        c.scope.check()?;
        check_validity(c.valid_from, c.valid_until)?;
        Ok(c)
    }
}

/// A principal's withdrawal of a delegation, signed with the key that signed the delegation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    pub delegation_id: String,
    pub at: i64,
}

impl Revocation {
    pub fn sign(&self, principal_key: &[u8], sign: impl FnOnce(&[u8]) -> Result<Vec<u8>>) -> Result<Vec<u8>> {
        let payload = map(vec![(1, uint(MANDATE_VERSION)), (2, text(&self.delegation_id)), (3, int(self.at))]);
        let s = sign1_create(&key_id(principal_key), encode_cbor(&payload), sign)?;
        Ok(encode_cbor(&sign1_value(&s)))
    }

    /// Checks the signature with the principal's key from the delegation it revokes.
    pub fn verify(signed: &[u8], principal_key: &[u8]) -> Result<Revocation> {
        bounded(signed)?;
        let (s, kid) = sign1_parse(decode_cbor(signed)?)?;
        if kid != key_id(principal_key) || !sign1_verify(&s, principal_key) {
            return Err(denied("signature", "撤销声明签名无效", "the revocation's signature does not verify"));
        }
        let v = sign1_payload(&s)?;
        let w = "revocation";
        let m = IntMap::new(&v, w)?;
        let version = as_u64(m.get(1, w)?, w)?;
        if version != MANDATE_VERSION {
            return Err(WalletError::UnsupportedVersion { version }.into());
        }
        Ok(Revocation { delegation_id: as_text(m.get(2, w)?, w)?.to_string(), at: as_i64(m.get(3, w)?, w)? })
    }
}

/// SHA-256, hex.
pub fn sha256_hex(b: &[u8]) -> String {
    hex::encode(digest::digest(&digest::SHA256, b))
}
