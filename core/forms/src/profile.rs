//! Saved profiles with provenance: the person, family members (with relation), enterprises (with USCC
//! and legal representative). Every value says where it came from: verified from a licence (which one,
//! as of when), entered in the profile (when), entered in a form, or entered by an agent (who).
//!
//! Profile paths (used by form bindings): `person.<key>`, `family.<relation>.<key>` (the first member
//! with that relation), `enterprise.<key>` (the first enterprise).
//!
//! The wallet calls [`apply_verified`] when a licence is imported; forms read licences through the
//! [`LicenceSource`] trait, so they work with no wallet at all ([`NoLicences`]).

use crate::catalog::Catalog;
use crate::store::Store;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use std::collections::BTreeMap;

/// Longest value text a shell may send for one field (bytes).
pub const MAX_VALUE_TEXT: usize = 64 * 1024;

/// Reads a value a person typed (into a profile, or into a draft through `Session::set`), sent as JSON text
/// (`"\"王晓明\""`, `"12.5"`, `"[\"a\"]"`, `"null"` clears). A malformed or over-long value is a
/// `Validation` error naming `path`. Here, below drafts and their screen state, so the profile can use it.
pub fn parse_value(path: &str, text: &str) -> Result<Json> {
    if text.len() > MAX_VALUE_TEXT {
        return Err(Error::validation(path, "内容过长", "the value is too long"));
    }
    serde_json::from_str(text).map_err(|_| Error::validation(path, "值的格式不对", "the value is not valid JSON"))
}

/// The store collection of profiles (record id = subject id).
pub const COLLECTION: &str = "profile";
/// Most family members or enterprises in one profile.
pub const MAX_MEMBERS: usize = 64;

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum Provenance {
    /// Verified from an e-licence: which one, and the date its data is valid as of.
    Licence { licence_type: String, licence_id: String, as_of: String },
    /// Entered by the person in the profile, at `entered_at` (Unix seconds).
    Profile { entered_at: i64 },
    /// Entered by the person in a form.
    Form { draft_id: String, at: i64 },
    /// Entered by an agent (帮办代办) on the person's behalf.
    Agent { agent: String, at: i64 },
    /// Computed by the form from other values.
    Computed,
}

impl Provenance {
    pub fn is_verified(&self) -> bool {
        matches!(self, Provenance::Licence { .. })
    }
    /// When a person or agent entered it (None for verified and computed values).
    pub fn entered_at(&self) -> Option<i64> {
        match self {
            Provenance::Profile { entered_at } => Some(*entered_at),
            Provenance::Form { at, .. } | Provenance::Agent { at, .. } => Some(*at),
            _ => None,
        }
    }
}

/// A value with its provenance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PValue {
    pub value: Json,
    pub provenance: Provenance,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Relation {
    Spouse,
    Child,
    Parent,
    Other,
}

impl Relation {
    pub fn parse(s: &str) -> Option<Relation> {
        Some(match s {
            "spouse" => Relation::Spouse,
            "child" => Relation::Child,
            "parent" => Relation::Parent,
            "other" => Relation::Other,
            _ => return None,
        })
    }
    pub fn as_str(&self) -> &'static str {
        match self {
            Relation::Spouse => "spouse",
            Relation::Child => "child",
            Relation::Parent => "parent",
            Relation::Other => "other",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FamilyMember {
    pub relation: Relation,
    pub values: BTreeMap<String, PValue>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Enterprise {
    pub uscc: String,
    pub values: BTreeMap<String, PValue>,
}

/// One subject's saved profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Profile {
    pub person: BTreeMap<String, PValue>,
    #[serde(default)]
    pub family: Vec<FamilyMember>,
    #[serde(default)]
    pub enterprises: Vec<Enterprise>,
}

fn path_err(path: &str) -> Error {
    Error::validation(
        path,
        "资料路径无效：应为 person.键、family.关系.键 或 enterprise.键",
        "invalid profile path: use person.KEY, family.RELATION.KEY or enterprise.KEY",
    )
}

fn valid_key(k: &str) -> bool {
    !k.is_empty() && k.len() <= 64 && k.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

impl Profile {
    pub fn load(store: &Store, subject: &str) -> Result<Profile> {
        match store.get_opt(COLLECTION, subject)? {
            Some(r) => r.json(),
            None => Ok(Profile::default()),
        }
    }
    /// [`Profile::load`] for a plain call (the shells' `profile_json`): a principal's profile is reached only
    /// in agent mode ([`Store::plain_access`]).
    pub fn load_plain(store: &Store, subject: &str) -> Result<Profile> {
        store.plain_access(subject)?;
        Profile::load(store, subject)
    }
    pub fn save(&self, store: &Store, subject: &str) -> Result<()> {
        store.put_json(COLLECTION, subject, subject, self)
    }

    /// The value at a profile path.
    pub fn get(&self, path: &str) -> Option<&PValue> {
        let mut parts = path.splitn(3, '.');
        match (parts.next()?, parts.next()?, parts.next()) {
            ("person", k, None) => self.person.get(k),
            ("family", rel, Some(k)) => {
                let rel = Relation::parse(rel)?;
                self.family.iter().find(|m| m.relation == rel)?.values.get(k)
            }
            ("enterprise", k, None) => {
                let e = self.enterprises.first()?;
                e.values.get(k)
            }
            _ => None,
        }
    }

    /// Sets the value at a profile path, creating the family member or enterprise if needed.
    /// Saves a value the person typed (JSON text, read by [`crate::parse_value`]) into the subject's stored
    /// profile, entered now by the store's clock.
    /// A plain call (outside agent mode): a principal's profile is refused ([`Store::plain_access`]).
    pub fn save_typed(store: &Store, subject: &str, path: &str, value: &str) -> Result<()> {
        store.plain_access(subject)?;
        let mut p = Profile::load(store, subject)?;
        p.set(path, crate::parse_value(path, value)?, Provenance::Profile { entered_at: store.now() })?;
        p.save(store, subject)
    }

    pub fn set(&mut self, path: &str, value: Json, provenance: Provenance) -> Result<()> {
        let mut parts = path.splitn(3, '.');
        let (a, b, c) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next());
        let pv = PValue { value, provenance };
        match (a, c) {
            ("person", None) if valid_key(b) => {
                self.person.insert(b.to_string(), pv);
            }
            ("family", Some(k)) if valid_key(k) => {
                let rel = Relation::parse(b).ok_or_else(|| path_err(path))?;
                let m = match self.family.iter().position(|m| m.relation == rel) {
                    Some(i) => &mut self.family[i],
                    None => self.add_member(rel)?,
                };
                m.values.insert(k.to_string(), pv);
            }
            ("enterprise", None) if valid_key(b) => {
                if self.enterprises.is_empty() {
                    if b != "uscc" {
                        return Err(Error::validation(
                            path,
                            "请先登记企业的统一社会信用代码",
                            "add the enterprise's USCC first",
                        ));
                    }
                    let uscc = pv.value.as_str().unwrap_or("").to_string();
                    self.add_enterprise(&uscc, pv.provenance.clone())?;
                }
                let e = &mut self.enterprises[0];
                if b == "uscc" {
                    e.uscc = pv.value.as_str().unwrap_or("").to_string();
                }
                e.values.insert(b.to_string(), pv);
            }
            _ => return Err(path_err(path)),
        }
        Ok(())
    }

    /// Learns the values typed into a submitted draft (`Draft::typed_profile_values`), so the next
    /// form is filled with them. A verified value (from a licence) is never replaced; a path the profile
    /// cannot hold is skipped. Returns how many values changed.
    pub fn learn(&mut self, typed: impl IntoIterator<Item = (String, Json, Provenance)>) -> usize {
        let mut n = 0;
        for (path, value, provenance) in typed {
            match self.get(&path) {
                Some(cur) if cur.provenance.is_verified() || cur.value == value => continue,
                _ => {}
            }
            if self.set(&path, value, provenance).is_ok() {
                n += 1;
            }
        }
        n
    }

    pub fn add_member(&mut self, relation: Relation) -> Result<&mut FamilyMember> {
        if self.family.len() >= MAX_MEMBERS {
            return Err(Error::validation("family", "家庭成员过多", "too many family members"));
        }
        self.family.push(FamilyMember { relation, values: BTreeMap::new() });
        self.family.last_mut().ok_or_else(|| Error::Internal("family".into()))
    }

    /// Adds (or returns) the enterprise with this USCC; the code is checked (GB 32100).
    pub fn add_enterprise(&mut self, uscc: &str, provenance: Provenance) -> Result<&mut Enterprise> {
        let uscc = uscc.trim().to_ascii_uppercase();
        crate::ids::validate_uscc(&uscc)
            .map_err(|e| Error::validation("enterprise.uscc", e.message_zh(), e.message_en()))?;
        if let Some(i) = self.enterprises.iter().position(|e| e.uscc == uscc) {
            return Ok(&mut self.enterprises[i]);
        }
        if self.enterprises.len() >= MAX_MEMBERS {
            return Err(Error::validation("enterprises", "企业过多", "too many enterprises"));
        }
        let mut values = BTreeMap::new();
        values.insert("uscc".to_string(), PValue { value: Json::String(uscc.clone()), provenance });
        self.enterprises.push(Enterprise { uscc, values });
        self.enterprises.last_mut().ok_or_else(|| Error::Internal("enterprise".into()))
    }
}

/// A licence the person holds, as forms need it (the wallet maps its own type onto this).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeldLicence {
    pub licence_type: String,
    pub licence_id: String,
    /// The date (`YYYY-MM-DD`) the licence data is valid as of (issue or last refresh).
    pub as_of: String,
    /// Expiry date (`YYYY-MM-DD`), if any.
    #[serde(default)]
    pub valid_until: Option<String>,
    pub fields: BTreeMap<String, Json>,
}

impl HeldLicence {
    /// Valid on `today` (no expiry, or expiry not passed).
    pub fn valid_on(&self, today: chrono::NaiveDate) -> bool {
        match &self.valid_until {
            None => true,
            Some(d) => super::expr::parse_date(d).is_some_and(|d| d >= today),
        }
    }
}

/// Where forms read the licences a subject holds. The wallet implements it; forms work without.
pub trait LicenceSource {
    fn held(&self, subject: &str) -> Result<Vec<HeldLicence>>;
}

/// No wallet: forms fill from the profile only and no material is exempt.
pub struct NoLicences;

impl LicenceSource for NoLicences {
    fn held(&self, _subject: &str) -> Result<Vec<HeldLicence>> {
        Ok(Vec::new())
    }
}

/// A fixed list of licences (tests, demos, or a wallet snapshot).
impl LicenceSource for Vec<HeldLicence> {
    fn held(&self, _subject: &str) -> Result<Vec<HeldLicence>> {
        Ok(self.clone())
    }
}

/// Called by the wallet when a licence is imported or refreshed: the licence's fields that the catalog
/// maps onto profile paths become verified values (provenance: this licence, as of `as_of`). A value
/// verified by a licence with a newer `as_of` is kept. Returns how many values changed.
pub fn apply_verified(
    store: &Store,
    subject: &str,
    licence_type: &str,
    fields: &BTreeMap<String, Json>,
    licence_id: &str,
    as_of: &str,
) -> Result<usize> {
    let catalog = Catalog::bundled()?;
    let mut profile = Profile::load(store, subject)?;
    let n = apply_verified_to(&mut profile, &catalog, licence_type, fields, licence_id, as_of)?;
    if n > 0 {
        profile.save(store, subject)?;
    }
    Ok(n)
}

/// [`apply_verified`] on a profile in memory.
pub fn apply_verified_to(
    profile: &mut Profile,
    catalog: &Catalog,
    licence_type: &str,
    fields: &BTreeMap<String, Json>,
    licence_id: &str,
    as_of: &str,
) -> Result<usize> {
    if super::expr::parse_date(as_of).is_none() {
        return Err(Error::validation("as_of", "证照日期无效", "invalid licence date (YYYY-MM-DD)"));
    }
    let Some(lt) = catalog.licence_type(licence_type) else { return Ok(0) };
    let prov = Provenance::Licence {
        licence_type: licence_type.to_string(),
        licence_id: licence_id.to_string(),
        as_of: as_of.to_string(),
    };
    // A licence about a family member (a child's birth certificate) goes to the member of that
    // relation with the same name, or a new member: never over a sibling's data.
    let mut member_for: BTreeMap<&str, usize> = BTreeMap::new();
    for (field, path) in &lt.profile_map {
        if let (Some(rest), Some(v)) = (path.strip_prefix("family."), fields.get(field)) {
            let rel_s = rest.split('.').next().unwrap_or("");
            let key = rest.split('.').nth(1).unwrap_or("");
            if key == "name" {
                let rel = Relation::parse(rel_s).ok_or_else(|| path_err(path))?;
                let idx = profile
                    .family
                    .iter()
                    .position(|m| m.relation == rel && m.values.get("name").map(|p| &p.value) == Some(v))
                    .or_else(|| {
                        profile.family.iter().position(|m| m.relation == rel && !m.values.contains_key("name"))
                    });
                let idx = match idx {
                    Some(i) => i,
                    None => {
                        profile.add_member(rel)?;
                        profile.family.len() - 1
                    }
                };
                member_for.insert(rel_s, idx);
            }
        }
    }
    if let Some(u) =
        lt.profile_map.iter().find(|(_, p)| p.as_str() == "enterprise.uscc").and_then(|(f, _)| fields.get(f))
    {
        let uscc = u.as_str().unwrap_or("");
        profile.add_enterprise(uscc, prov.clone())?;
        // Make it the first enterprise: `enterprise.*` paths read the first one.
        let up = uscc.trim().to_ascii_uppercase();
        if let Some(i) = profile.enterprises.iter().position(|e| e.uscc == up) {
            let e = profile.enterprises.remove(i);
            profile.enterprises.insert(0, e);
        }
    }
    let mut changed = 0;
    for (field, path) in &lt.profile_map {
        let Some(v) = fields.get(field) else { continue };
        let slot: Option<&mut PValue> = if let Some(rest) = path.strip_prefix("family.") {
            let mut it = rest.splitn(2, '.');
            let (rel_s, key) = (it.next().unwrap_or(""), it.next().unwrap_or(""));
            match member_for.get(rel_s) {
                Some(&i) => {
                    let m = &mut profile.family[i];
                    if !m.values.contains_key(key) {
                        m.values
                            .insert(key.to_string(), PValue { value: Json::Null, provenance: Provenance::Computed });
                    }
                    m.values.get_mut(key)
                }
                None => {
                    profile.set(path, Json::Null, Provenance::Computed)?;
                    None
                }
            }
        } else {
            None
        };
        let newer_or_unverified = |old: &PValue| match &old.provenance {
            Provenance::Licence { as_of: old_as_of, .. } => old_as_of.as_str() <= as_of,
            _ => true,
        };
        match slot {
            Some(pv) => {
                if newer_or_unverified(pv) && (pv.value != *v || pv.provenance != prov) {
                    *pv = PValue { value: v.clone(), provenance: prov.clone() };
                    changed += 1;
                }
            }
            None => {
                let old = profile.get(path);
                if old.is_none_or(|o| newer_or_unverified(o) && (o.value != *v || o.provenance != prov)) {
                    profile.set(path, v.clone(), prov.clone())?;
                    changed += 1;
                }
            }
        }
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(v: Json) -> BTreeMap<String, Json> {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn licence_import_verifies_values_and_keeps_newer_ones() {
        let cat = Catalog::bundled().unwrap();
        let mut p = Profile::default();
        p.set("person.phone", json!("13800138000"), Provenance::Profile { entered_at: 1 }).unwrap();
        p.set("person.name", json!("王小明"), Provenance::Profile { entered_at: 1 }).unwrap();
        let id = fields(json!({"name": "王晓明", "id_number": "11010519491231002X", "birth_date": "1949-12-31"}));
        assert_eq!(apply_verified_to(&mut p, &cat, "resident_id", &id, "lic-1", "2026-01-01").unwrap(), 3);
        let name = p.get("person.name").unwrap();
        assert_eq!(name.value, json!("王晓明"), "the licence corrects a typed value");
        assert!(name.provenance.is_verified());
        assert!(!p.get("person.phone").unwrap().provenance.is_verified());
        // An older licence does not overwrite; re-importing the same is a no-op.
        let old = fields(json!({"name": "旧名"}));
        assert_eq!(apply_verified_to(&mut p, &cat, "resident_id", &old, "lic-0", "2020-01-01").unwrap(), 0);
        assert_eq!(apply_verified_to(&mut p, &cat, "resident_id", &id, "lic-1", "2026-01-01").unwrap(), 0);
        assert_eq!(p.get("person.name").unwrap().value, json!("王晓明"));
        assert_eq!(apply_verified_to(&mut p, &cat, "unknown_type", &id, "x", "2026-01-01").unwrap(), 0);
        assert!(apply_verified_to(&mut p, &cat, "resident_id", &id, "x", "yesterday").is_err());
    }

    #[test]
    fn family_licences_go_to_the_right_member() {
        let cat = Catalog::bundled().unwrap();
        let mut p = Profile::default();
        let a = fields(json!({"child_name": "王一", "birth_date": "2020-01-01"}));
        let b = fields(json!({"child_name": "王二", "birth_date": "2026-10-01"}));
        apply_verified_to(&mut p, &cat, "birth_certificate", &a, "bc-1", "2020-01-02").unwrap();
        apply_verified_to(&mut p, &cat, "birth_certificate", &b, "bc-2", "2026-10-02").unwrap();
        let kids: Vec<_> = p.family.iter().filter(|m| m.relation == Relation::Child).collect();
        assert_eq!(kids.len(), 2);
        assert_eq!(kids[0].values["birth_date"].value, json!("2020-01-01"));
        assert_eq!(kids[1].values["birth_date"].value, json!("2026-10-01"));
        let m = fields(json!({"spouse_name": "李华", "certificate_number": "J110105-2019-000123"}));
        apply_verified_to(&mut p, &cat, "marriage_certificate", &m, "mc-1", "2019-05-01").unwrap();
        assert_eq!(p.get("family.spouse.name").unwrap().value, json!("李华"));
        assert_eq!(p.get("person.marriage_cert_no").unwrap().value, json!("J110105-2019-000123"));
    }

    #[test]
    fn enterprises_need_a_valid_uscc() {
        let cat = Catalog::bundled().unwrap();
        let mut p = Profile::default();
        assert!(p.set("enterprise.name", json!("x"), Provenance::Profile { entered_at: 0 }).is_err());
        let bl = fields(
            json!({"uscc": "91350100M000100Y43", "company_name": "福州掌办科技有限公司", "legal_representative": "王晓明"}),
        );
        apply_verified_to(&mut p, &cat, "business_licence", &bl, "bl-1", "2026-03-01").unwrap();
        assert_eq!(p.enterprises.len(), 1);
        assert_eq!(p.get("enterprise.legal_rep").unwrap().value, json!("王晓明"));
        let bad = fields(json!({"uscc": "91350100M000100Y44"}));
        assert!(apply_verified_to(&mut p, &cat, "business_licence", &bad, "bl-2", "2026-03-01").is_err());
        assert!(p.set("nowhere.x", json!(1), Provenance::Computed).is_err());
        assert!(p.set("family.cousin.name", json!(1), Provenance::Computed).is_err());
    }
}
