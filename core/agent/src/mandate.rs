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
use zhangban_wallet::format::GrantToken;
use zhangban_wallet::format::{
    as_array, as_bool, as_bytes, as_i64, as_text, as_u64, bytes, decode_cbor, decode_text, encode_cbor, encode_text,
    int, map, sign1_create, sign1_parse, sign1_payload, sign1_value, sign1_verify, text, uint, IntMap,
};
use zhangban_wallet::{LicenceType, WalletError};

use crate::{bad, denied, Result};

pub const DELEGATION_PREFIX: &str = "ZBD1:";
pub const MANDATE_VERSION: u64 = 1;
/// Default validity of a delegation, and the longest allowed.
pub const DEFAULT_VALID_DAYS: u32 = 30;
pub const MAX_VALID_DAYS: u32 = 365;
pub const MAX_ITEMS: usize = 20;
pub const MAX_TYPES: usize = 10;
pub const MAX_SIGNED_BYTES: usize = 4096;
/// Version of a delegation this code signs: 2 names the elements of each licence type in its scope and may
/// carry shared licences (key 14). Version 1 (licence types only, all their elements) still verifies.
pub const DELEGATION_VERSION: u64 = 2;
/// Licences a principal may share into one delegation (each a grant, docs/formats.md § 8).
pub const MAX_SHARED: usize = 3;
/// Elements of one licence type a scope may name.
pub const MAX_ELEMENTS: usize = 16;
/// Largest signed delegation of version 2 (its shared licences included); the text bound (§ 6) comes first.
pub const MAX_DELEGATION_BYTES: usize = 12 * 1024;
/// Longest delegation text the principal's phone makes: what a QR code of version 40 at error correction
/// level M holds in alphanumeric mode.
pub const MAX_DELEGATION_TEXT: usize = 3391;

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

/// The elements of one licence type a mandate lets the agent use (per-field scope).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct LicenceElements {
    /// A wallet licence type key (`resident_id`, …), one of the scope's `licence_types`.
    pub licence_type: String,
    /// Element keys of that type (`name`, `id_number`, …): docs/formats.md § 1.
    pub elements: Vec<String>,
}

/// Adds licence type `key` and its element keys to `scope` (a shared licence joins the scope this way).
pub fn add_elements(scope: &mut Scope, key: &str, keys: impl IntoIterator<Item = String>) {
    if !scope.licence_types.iter().any(|t| t == key) {
        scope.licence_types.push(key.to_string());
    }
    let at = match scope.elements.iter().position(|e| e.licence_type == key) {
        Some(i) => i,
        None => {
            scope.elements.push(LicenceElements { licence_type: key.to_string(), elements: vec![] });
            scope.elements.len() - 1
        }
    };
    for k in keys {
        if !scope.elements[at].elements.contains(&k) {
            scope.elements[at].elements.push(k);
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
    /// Which elements of each licence type (a delegation of version 2 names them for every type in
    /// `licence_types`; a version 1 delegation named none: all elements of its types).
    #[serde(default)]
    #[cfg_attr(feature = "uniffi", uniffi(default))]
    pub elements: Vec<LicenceElements>,
}

impl Scope {
    /// Whether the agent may use element `key` of a licence of type `licence_type` under this scope: the
    /// type is listed and, when the scope names its elements, so is the element. A version 1 scope (no
    /// element lists) allows every element of a listed type.
    pub fn element_allowed(&self, licence_type: &str, key: &str) -> bool {
        if !self.licence_types.iter().any(|t| t == licence_type) {
            return false;
        }
        match self.elements.iter().find(|e| e.licence_type == licence_type) {
            Some(e) => e.elements.iter().any(|k| k == key),
            None => self.elements.is_empty(),
        }
    }

    /// Element lists well formed: known types listed in `licence_types`, known keys, none twice; with
    /// `every_type`, each listed type names its elements (version 2).
    fn check_elements(&self, every_type: bool) -> Result<()> {
        if self.elements.len() > MAX_TYPES {
            return Err(bad("scope.elements", "至多 10 种证照", "at most 10 licence types"));
        }
        for (n, e) in self.elements.iter().enumerate() {
            let t = LicenceType::from_key(&e.licence_type).filter(|_| self.licence_types.contains(&e.licence_type));
            let Some(t) = t.filter(|_| !self.elements[..n].iter().any(|o| o.licence_type == e.licence_type)) else {
                return Err(bad(
                    "scope.elements",
                    &format!("证照项目清单的证照类型“{}”不正确", e.licence_type),
                    &format!("the element list's licence type '{}' is not valid", e.licence_type),
                ));
            };
            if e.elements.is_empty() || e.elements.len() > MAX_ELEMENTS {
                return Err(bad(
                    format!("scope.elements.{}", e.licence_type),
                    "每种证照须选择 1 至 16 个项目",
                    "choose 1 to 16 elements of each licence",
                ));
            }
            for (i, k) in e.elements.iter().enumerate() {
                if t.element_by_key(k).is_none() || e.elements[..i].contains(k) {
                    return Err(bad(
                        format!("scope.elements.{}.{k}", e.licence_type),
                        &format!("{}没有项目“{k}”（或重复）", t.name_zh()),
                        &format!("the {} has no element '{k}' (or it is listed twice)", t.name_en()),
                    ));
                }
            }
        }
        if every_type {
            if let Some(t) = self.licence_types.iter().find(|t| !self.elements.iter().any(|e| &e.licence_type == *t)) {
                let (zh, en) =
                    LicenceType::from_key(t).map_or((t.as_str(), t.as_str()), |l| (l.name_zh(), l.name_en()));
                return Err(bad(
                    format!("scope.elements.{t}"),
                    &format!("请选择帮办员可使用{zh}的哪些项目"),
                    &format!("choose which elements of the {en} the agent may use"),
                ));
            }
        }
        Ok(())
    }

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

    /// The scope's CBOR; `with_elements` (a delegation of version 2) adds key 4: for each licence type, in
    /// the order of key 2, `[type, [ascending element ids]]`.
    fn to_value(&self, with_elements: bool) -> Value {
        let mut entries = vec![
            (1, Value::Array(self.items.iter().map(|i| text(i)).collect())),
            (2, Value::Array(self.licence_types.iter().map(|i| text(i)).collect())),
            (3, Value::Array(self.actions.iter().map(|a| text(a.as_str())).collect())),
        ];
        if with_elements {
            let lists = self.licence_types.iter().filter_map(|t| {
                let e = self.elements.iter().find(|e| &e.licence_type == t)?;
                let lt = LicenceType::from_key(t)?;
                let mut ids: Vec<u32> = e.elements.iter().filter_map(|k| lt.element_by_key(k).map(|d| d.id)).collect();
                zhangban_base::sort::sort_by(&mut ids, Ord::cmp);
                Some(Value::Array(vec![text(t), Value::Array(ids.into_iter().map(|i| uint(i.into())).collect())]))
            });
            entries.push((4, Value::Array(lists.collect())));
        }
        map(entries)
    }

    fn from_value(v: &Value, with_elements: bool) -> std::result::Result<Scope, WalletError> {
        let w = "scope";
        let m = IntMap::new(v, w)?;
        let elements = match (with_elements, m.opt(4)) {
            (false, None) => Vec::new(),
            (true, Some(l)) => {
                let l = as_array(l, w)?;
                if l.len() > MAX_TYPES {
                    return Err(WalletError::TooLong { len: l.len(), max: MAX_TYPES });
                }
                l.iter().map(element_list).collect::<std::result::Result<Vec<_>, _>>()?
            }
            _ => return Err(WalletError::Malformed { what: "scope elements (key 4) and version".into() }),
        };
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
        let licence_types = texts(2, MAX_TYPES)?;
        // Version 2: one element list for each licence type of key 2, in its order (so no type of a
        // version 2 scope falls back to "all elements").
        if with_elements
            && (elements.len() != licence_types.len()
                || elements.iter().zip(&licence_types).any(|(e, t)| &e.licence_type != t))
        {
            return Err(WalletError::Malformed { what: "scope elements (one list per licence type)".into() });
        }
        Ok(Scope { items: texts(1, MAX_ITEMS)?, licence_types, actions, elements })
    }
}

/// `[tstr licence_type, [+ uint element_id]]` (ids strictly ascending, known for the type) → element keys.
fn element_list(v: &Value) -> std::result::Result<LicenceElements, WalletError> {
    let w = "scope elements";
    let a = as_array(v, w)?;
    let [t, ids] = a else { return Err(WalletError::Malformed { what: w.into() }) };
    let t = as_text(t, w)?;
    let lt = LicenceType::from_key(t).ok_or_else(|| WalletError::Malformed { what: format!("licence type {t}") })?;
    let ids = as_array(ids, w)?;
    if ids.len() > MAX_ELEMENTS {
        return Err(WalletError::TooLong { len: ids.len(), max: MAX_ELEMENTS });
    }
    let mut last = 0;
    let mut elements = Vec::with_capacity(ids.len());
    for id in ids {
        let id = u32::try_from(as_u64(id, w)?).map_err(|_| WalletError::Malformed { what: w.into() })?;
        let def = lt
            .element(id)
            .filter(|_| id > last)
            .ok_or_else(|| WalletError::Malformed { what: format!("element {id} of {t} (unknown or out of order)") })?;
        last = id;
        elements.push(def.key.to_string());
    }
    Ok(LicenceElements { licence_type: t.to_string(), elements })
}

/// The purpose a licence shared into delegation `id` carries (the grant names the delegation it is for).
pub fn shared_purpose(delegation_id: &str) -> String {
    format!("delegation:{delegation_id}")
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
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
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
    /// Licences the principal shared into it (version 2, key 14): each a grant (docs/formats.md § 8, its
    /// CBOR) of the elements chosen, bound to `agent_key`, for purpose [`shared_purpose`], expiring with
    /// the delegation. Checked offline by the agent's phone ([`crate::Agent::accept_delegation`]).
    #[serde(default)]
    pub shared: Vec<Vec<u8>>,
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

pub(crate) fn key_id(public_key: &[u8]) -> Vec<u8> {
    digest::digest(&digest::SHA256, public_key).as_ref()[..8].to_vec()
}

fn bounded(signed: &[u8]) -> Result<()> {
    bounded_by(signed, MAX_SIGNED_BYTES)
}

fn bounded_by(signed: &[u8], max: usize) -> Result<()> {
    if signed.len() > max {
        return Err(WalletError::TooLong { len: signed.len(), max }.into());
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
    fn to_value(&self, version: u64) -> Value {
        let mut entries = vec![
            (1, uint(version)),
            (2, text(&self.id)),
            (3, text(&self.principal_name)),
            (4, text(&self.principal_id_masked)),
            (5, bytes(&self.principal_key)),
            (6, text(&self.agent_id)),
            (7, text(&self.agent_cert_id)),
            (8, bytes(&self.agent_key)),
            (9, self.scope.to_value(version >= 2)),
            (10, int(self.valid_from)),
            (11, int(self.valid_until)),
            (12, Value::Bool(self.single_use)),
        ];
        if let Some(r) = &self.relative {
            entries.push((13, map(vec![(1, text(&r.name)), (2, text(&r.relation))])));
        }
        if version >= 2 && !self.shared.is_empty() {
            entries.push((14, Value::Array(self.shared.iter().map(|g| bytes(g)).collect())));
        }
        map(entries)
    }

    fn from_value(v: &Value) -> std::result::Result<Delegation, WalletError> {
        let w = "delegation";
        let m = IntMap::new(v, w)?;
        let version = as_u64(m.get(1, w)?, w)?;
        if version != MANDATE_VERSION && version != DELEGATION_VERSION {
            return Err(WalletError::UnsupportedVersion { version });
        }
        let shared = match (version, m.opt(14)) {
            (_, None) => Vec::new(),
            (DELEGATION_VERSION, Some(a)) => {
                let a = as_array(a, w)?;
                if a.is_empty() || a.len() > MAX_SHARED {
                    return Err(WalletError::TooLong { len: a.len(), max: MAX_SHARED });
                }
                a.iter().map(|g| as_bytes(g, w).map(<[u8]>::to_vec)).collect::<std::result::Result<Vec<_>, _>>()?
            }
            _ => return Err(WalletError::Malformed { what: "shared licences in a version 1 delegation".into() }),
        };
        Ok(Delegation {
            id: as_text(m.get(2, w)?, w)?.to_string(),
            principal_name: as_text(m.get(3, w)?, w)?.to_string(),
            principal_id_masked: as_text(m.get(4, w)?, w)?.to_string(),
            principal_key: as_bytes(m.get(5, w)?, w)?.to_vec(),
            agent_id: as_text(m.get(6, w)?, w)?.to_string(),
            agent_cert_id: as_text(m.get(7, w)?, w)?.to_string(),
            agent_key: as_bytes(m.get(8, w)?, w)?.to_vec(),
            scope: Scope::from_value(m.get(9, w)?, version == DELEGATION_VERSION)?,
            valid_from: as_i64(m.get(10, w)?, w)?,
            valid_until: as_i64(m.get(11, w)?, w)?,
            single_use: as_bool(m.get(12, w)?, w)?,
            shared,
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

    /// Signs with the principal's device key (whose public half must be `principal_key`), as version 2:
    /// the scope names the elements of each licence type, shared licences ride along; the text must fit
    /// one QR code ([`MAX_DELEGATION_TEXT`]).
    pub fn sign(&self, sign: impl FnOnce(&[u8]) -> Result<Vec<u8>>) -> Result<Vec<u8>> {
        self.scope.check()?;
        self.scope.check_elements(true)?;
        self.check_shared()?;
        let signed = self.sign_version(DELEGATION_VERSION, sign)?;
        let len = Delegation::to_text(&signed).len();
        if len > MAX_DELEGATION_TEXT {
            return Err(bad(
                "shared",
                &format!("委托码过长（{len} 字符，一个二维码至多 {MAX_DELEGATION_TEXT}）：请少共享一些证照或项目"),
                &format!(
                    "the delegation code is too long ({len} characters, one QR code holds {MAX_DELEGATION_TEXT}): \
                     share fewer licences or elements"
                ),
            ));
        }
        Ok(signed)
    }

    /// Signs as version 1 (licence types without element lists, no shared licences): what phones made
    /// before version 2, kept so that tests and fuzz seeds can show such delegations still verify.
    #[doc(hidden)]
    pub fn sign_v1(&self, sign: impl FnOnce(&[u8]) -> Result<Vec<u8>>) -> Result<Vec<u8>> {
        if !self.scope.elements.is_empty() || !self.shared.is_empty() {
            return Err(bad("version", "第 1 版委托书不含证照项目", "a version 1 delegation names no elements"));
        }
        self.scope.check()?;
        self.sign_version(MANDATE_VERSION, sign)
    }

    fn sign_version(&self, version: u64, sign: impl FnOnce(&[u8]) -> Result<Vec<u8>>) -> Result<Vec<u8>> {
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
        let s = sign1_create(&key_id(&self.principal_key), encode_cbor(&self.to_value(version)), sign)?;
        Ok(encode_cbor(&sign1_value(&s)))
    }

    /// The shared licences, decoded (bounded: each is inside the delegation's bounded bytes).
    pub fn shared_grants(&self) -> Result<Vec<GrantToken>> {
        Ok(self.shared.iter().map(|g| GrantToken::decode(g)).collect::<std::result::Result<Vec<_>, _>>()?)
    }

    /// What binds each shared licence to this delegation, checked without a trust list: at most
    /// [`MAX_SHARED`], none from a relative's phone (a relative cannot share the principal's licences),
    /// each a grant of the principal's own licence (its device key is `principal_key`) bound to
    /// `agent_key`, for [`shared_purpose`] of this id, multi-use, from `valid_from` to `valid_until`, one per
    /// licence. The issuer signature, the elements against the scope and the status are checked by the
    /// agent's phone with its trust list ([`crate::Agent::accept_delegation`]).
    fn check_shared(&self) -> Result<()> {
        if self.shared.is_empty() {
            return Ok(());
        }
        let refuse = |zh: &str, en: &str| Err(denied("shared", zh, en));
        if self.shared.len() > MAX_SHARED {
            return refuse("一份委托至多共享 3 个证照", "a delegation shares at most 3 licences");
        }
        if self.relative.is_some() {
            return refuse(
                "亲属手机不能共享委托人的证照：请委托人出示证照（亮证）",
                "a relative's phone cannot share the principal's licences: the principal shows them at the door",
            );
        }
        let mut seen = Vec::new();
        for g in self.shared_grants()? {
            let p = &g.signed.body;
            if p.device_key.sec1 != self.principal_key {
                return refuse("共享的证照不是委托人本人的", "a shared licence is not the principal's own");
            }
            if g.recipient_key.as_deref() != Some(self.agent_key.as_slice())
                || g.purpose != shared_purpose(&self.id)
                || g.single_use
                || g.issued_at != self.valid_from
                || g.expires_at != self.valid_until
            {
                return refuse(
                    "共享的证照不是为这份委托、这位帮办员签发的",
                    "a shared licence was not made for this delegation and this agent",
                );
            }
            if seen.contains(&p.licence_id) {
                return refuse("同一证照共享了两次", "the same licence is shared twice");
            }
            seen.push(p.licence_id.clone());
        }
        Ok(())
    }

    /// Checks the principal's signature (with the key the delegation names, whose key id must match) and
    /// what binds its shared licences to it; the caller checks who it names, when it is valid, and the
    /// shared licences against its trust list. Versions 1 and 2 verify; any other is `unsupported_version`.
    pub fn verify(signed: &[u8]) -> Result<Delegation> {
        bounded_by(signed, MAX_DELEGATION_BYTES)?;
        let (s, kid) = sign1_parse(decode_cbor(signed)?)?;
        let d = Delegation::from_value(&sign1_payload(&s)?)?;
        if kid != key_id(&d.principal_key) || !sign1_verify(&s, &d.principal_key) {
            return Err(denied("signature", "委托书签名无效", "the delegation's signature does not verify"));
        }
        d.scope.check()?;
        d.scope.check_elements(false)?;
        d.check_shared()?;
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
            (7, self.scope.to_value(false)),
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
            scope: Scope::from_value(m.get(7, w)?, false)?,
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
