//! Licence types, their elements (fields) and display names, and the disclosure presets.
//!
//! Element ids are small integers, fixed per type and never reused: they travel in every licence and
//! presentation (CBOR uint keys keep the QR short). Derived elements (`age_over_18`, the masked ID
//! number) are issued as their own signed elements, so a verifier can learn them without the record.

use serde::{Deserialize, Serialize};

/// How an element's value is typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    Text,
    /// `YYYY-MM-DD`.
    Date,
    Bool,
    Int,
    /// A list of members (household register): each a map of text fields.
    Members,
}

/// A check applied to an element's value on import.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    None,
    /// GB 11643 citizen ID number.
    IdNumber,
    /// GB 32100 unified social credit code.
    Uscc,
}

#[derive(Debug, Clone, Copy)]
pub struct ElementDef {
    pub id: u32,
    pub key: &'static str,
    pub name_zh: &'static str,
    pub name_en: &'static str,
    pub kind: ValueKind,
    pub check: Check,
    pub required: bool,
    /// Issued by the issuer from other elements (e.g. `age_over_18` from the birth date).
    pub derived: bool,
}

const fn el(id: u32, key: &'static str, zh: &'static str, en: &'static str, kind: ValueKind) -> ElementDef {
    ElementDef { id, key, name_zh: zh, name_en: en, kind, check: Check::None, required: true, derived: false }
}
const fn opt(mut e: ElementDef) -> ElementDef {
    e.required = false;
    e
}
const fn derived(mut e: ElementDef) -> ElementDef {
    e.derived = true;
    e.required = false;
    e
}
const fn checked(mut e: ElementDef, c: Check) -> ElementDef {
    e.check = c;
    e
}

use ValueKind::{Bool, Date, Members, Text};

const RESIDENT_ID: &[ElementDef] = &[
    el(1, "name", "姓名", "Name", Text),
    el(2, "sex", "性别", "Sex", Text),
    el(3, "ethnicity", "民族", "Ethnicity", Text),
    el(4, "birth_date", "出生日期", "Date of birth", Date),
    el(5, "address", "住址", "Address", Text),
    checked(el(6, "id_number", "公民身份号码", "ID number", Text), Check::IdNumber),
    el(7, "issuing_authority", "签发机关", "Issuing authority", Text),
    derived(el(8, "id_number_masked", "公民身份号码（部分隐藏）", "ID number (masked)", Text)),
    derived(el(9, "age_over_18", "已满18周岁", "Aged 18 or over", Bool)),
];

const BUSINESS_LICENCE: &[ElementDef] = &[
    checked(el(1, "uscc", "统一社会信用代码", "Unified social credit code", Text), Check::Uscc),
    el(2, "company_name", "名称", "Company name", Text),
    el(3, "company_type", "类型", "Company type", Text),
    el(4, "legal_representative", "法定代表人", "Legal representative", Text),
    el(5, "registered_capital", "注册资本", "Registered capital", Text),
    el(6, "established_date", "成立日期", "Date of establishment", Date),
    el(7, "business_scope", "经营范围", "Business scope", Text),
    el(8, "address", "住所", "Address", Text),
    el(9, "registration_authority", "登记机关", "Registration authority", Text),
];

const DRIVING_LICENCE: &[ElementDef] = &[
    el(1, "name", "姓名", "Name", Text),
    el(2, "sex", "性别", "Sex", Text),
    checked(el(3, "id_number", "证号", "Licence number (ID number)", Text), Check::IdNumber),
    el(4, "vehicle_class", "准驾车型", "Vehicle class", Text),
    el(5, "first_issue_date", "初次领证日期", "Date of first issue", Date),
    el(6, "address", "住址", "Address", Text),
    el(7, "issuing_authority", "发证机关", "Issuing authority", Text),
    derived(el(8, "age_over_18", "已满18周岁", "Aged 18 or over", Bool)),
];

const HOUSEHOLD_REGISTER: &[ElementDef] = &[
    el(1, "householder", "户主姓名", "Head of household", Text),
    el(2, "household_type", "户别", "Household type", Text),
    el(3, "address", "住址", "Address", Text),
    el(4, "members", "户内成员", "Members", Members),
    el(5, "registration_authority", "登记机关", "Registration authority", Text),
];

const MARRIAGE_CERTIFICATE: &[ElementDef] = &[
    el(1, "holder_name", "持证人", "Holder", Text),
    checked(el(2, "holder_id_number", "持证人身份证件号", "Holder's ID number", Text), Check::IdNumber),
    el(3, "spouse_name", "配偶姓名", "Spouse", Text),
    checked(el(4, "spouse_id_number", "配偶身份证件号", "Spouse's ID number", Text), Check::IdNumber),
    el(5, "registration_date", "登记日期", "Date of registration", Date),
    el(6, "certificate_number", "结婚证字号", "Certificate number", Text),
    el(7, "registration_authority", "登记机关", "Registration authority", Text),
];

const SOCIAL_SECURITY_CARD: &[ElementDef] = &[
    el(1, "name", "姓名", "Name", Text),
    checked(el(2, "id_number", "社会保障号码", "Social security number (ID number)", Text), Check::IdNumber),
    el(3, "card_number", "卡号", "Card number", Text),
    el(4, "issuing_region", "发卡地", "Issuing region", Text),
    opt(el(5, "bank", "银行", "Bank", Text)),
];

const TEACHER_QUALIFICATION: &[ElementDef] = &[
    el(1, "name", "姓名", "Name", Text),
    el(2, "sex", "性别", "Sex", Text),
    checked(el(3, "id_number", "身份证件号码", "ID number", Text), Check::IdNumber),
    el(4, "qualification_type", "资格种类", "Qualification type", Text),
    el(5, "subject", "任教学科", "Teaching subject", Text),
    el(6, "certificate_number", "证书号码", "Certificate number", Text),
    el(7, "issuing_authority", "颁发机关", "Issuing authority", Text),
];

/// The licence types the wallet knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LicenceType {
    ResidentId,
    BusinessLicence,
    DrivingLicence,
    HouseholdRegister,
    MarriageCertificate,
    SocialSecurityCard,
    TeacherQualification,
}

// A licence type crosses the FFI as its key (`resident_id`, `business_licence`, …).
#[cfg(feature = "uniffi")]
uniffi::custom_type!(LicenceType, String, {
    try_lift: |s| LicenceType::from_key(&s).ok_or_else(|| uniffi::deps::anyhow::anyhow!("unknown licence type")),
    lower: |t| t.key().to_string(),
});

impl LicenceType {
    pub const ALL: [LicenceType; 7] = [
        LicenceType::ResidentId,
        LicenceType::BusinessLicence,
        LicenceType::DrivingLicence,
        LicenceType::HouseholdRegister,
        LicenceType::MarriageCertificate,
        LicenceType::SocialSecurityCard,
        LicenceType::TeacherQualification,
    ];

    /// The GB/T 36904 type code (证照类型代码, 21 characters: the defining authority's 18-character
    /// credit code and a 3-digit sequence) used in licence identifiers. **Provisional**: the national
    /// catalogue's codes are not known to the project, so the authority part is a well-formed
    /// national-level placeholder per defining ministry (organisation part `00000000n`), not the
    /// ministry's real code; see docs/formats.md § 2 and [`LicenceType::code_is_provisional`].
    pub fn code(self) -> &'static str {
        match self {
            // 公安部 (placeholder 11100000000000001M)
            LicenceType::ResidentId => "11100000000000001M001",
            LicenceType::HouseholdRegister => "11100000000000001M002",
            LicenceType::DrivingLicence => "11100000000000001M003",
            // 民政部 (placeholder 11100000000000002Q)
            LicenceType::MarriageCertificate => "11100000000000002Q001",
            // 人力资源和社会保障部 (placeholder 11100000000000003U)
            LicenceType::SocialSecurityCard => "11100000000000003U001",
            // 教育部 (placeholder 11100000000000004Y)
            LicenceType::TeacherQualification => "11100000000000004Y001",
            // 国家市场监督管理总局 (placeholder 111000000000000052)
            LicenceType::BusinessLicence => "111000000000000052001",
        }
    }

    /// Whether [`LicenceType::code`] is a provisional placeholder rather than the national catalogue's
    /// code (all of them today).
    pub fn code_is_provisional(self) -> bool {
        true
    }

    pub fn from_code(code: &str) -> Option<LicenceType> {
        Self::ALL.into_iter().find(|t| t.code() == code)
    }

    pub fn key(self) -> &'static str {
        match self {
            LicenceType::ResidentId => "resident_id",
            LicenceType::BusinessLicence => "business_licence",
            LicenceType::DrivingLicence => "driving_licence",
            LicenceType::HouseholdRegister => "household_register",
            LicenceType::MarriageCertificate => "marriage_certificate",
            LicenceType::SocialSecurityCard => "social_security_card",
            LicenceType::TeacherQualification => "teacher_qualification",
        }
    }

    pub fn from_key(key: &str) -> Option<LicenceType> {
        Self::ALL.into_iter().find(|t| t.key() == key)
    }

    /// The type named by `key` (from a shell), or a `Validation` error on the field `licence_type`.
    pub fn parse(key: &str) -> crate::Result<LicenceType> {
        Self::from_key(key)
            .ok_or_else(|| crate::Error::validation("licence_type", "未知的证照类型", "unknown licence type"))
    }

    pub fn name_zh(self) -> &'static str {
        match self {
            LicenceType::ResidentId => "居民身份证",
            LicenceType::BusinessLicence => "营业执照",
            LicenceType::DrivingLicence => "机动车驾驶证",
            LicenceType::HouseholdRegister => "居民户口簿",
            LicenceType::MarriageCertificate => "结婚证",
            LicenceType::SocialSecurityCard => "社会保障卡",
            LicenceType::TeacherQualification => "教师资格证书",
        }
    }

    pub fn name_en(self) -> &'static str {
        match self {
            LicenceType::ResidentId => "Resident identity card",
            LicenceType::BusinessLicence => "Business licence",
            LicenceType::DrivingLicence => "Driving licence",
            LicenceType::HouseholdRegister => "Household register",
            LicenceType::MarriageCertificate => "Marriage certificate",
            LicenceType::SocialSecurityCard => "Social security card",
            LicenceType::TeacherQualification => "Teacher qualification certificate",
        }
    }

    /// The type's name as a person reads it.
    pub fn name(self) -> crate::Text {
        crate::Text::new(self.name_zh(), self.name_en())
    }

    pub fn elements(self) -> &'static [ElementDef] {
        match self {
            LicenceType::ResidentId => RESIDENT_ID,
            LicenceType::BusinessLicence => BUSINESS_LICENCE,
            LicenceType::DrivingLicence => DRIVING_LICENCE,
            LicenceType::HouseholdRegister => HOUSEHOLD_REGISTER,
            LicenceType::MarriageCertificate => MARRIAGE_CERTIFICATE,
            LicenceType::SocialSecurityCard => SOCIAL_SECURITY_CARD,
            LicenceType::TeacherQualification => TEACHER_QUALIFICATION,
        }
    }

    pub fn element(self, id: u32) -> Option<&'static ElementDef> {
        self.elements().iter().find(|e| e.id == id)
    }

    pub fn element_by_key(self, key: &str) -> Option<&'static ElementDef> {
        self.elements().iter().find(|e| e.key == key)
    }
}

/// One element's value. Maps to CBOR text / uint-or-nint / bool / array of maps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
#[serde(untagged)]
pub enum ElementValue {
    Bool(bool),
    Int(i64),
    Text(String),
    Members(Vec<Member>),
}

/// A household member (户内成员).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Member {
    pub name: String,
    pub relation: String,
    pub id_number: String,
}

impl ElementValue {
    /// A short human-readable form for display (the verifier screen, the terminal demo).
    pub fn display(&self) -> String {
        match self {
            ElementValue::Bool(true) => "是 / yes".into(),
            ElementValue::Bool(false) => "否 / no".into(),
            ElementValue::Int(i) => i.to_string(),
            ElementValue::Text(s) => s.clone(),
            ElementValue::Members(m) => {
                m.iter().map(|m| format!("{}（{}）", m.name, m.relation)).collect::<Vec<_>>().join("、")
            }
        }
    }

    pub fn matches_kind(&self, kind: ValueKind) -> bool {
        match (self, kind) {
            (ElementValue::Text(s), ValueKind::Date) => {
                chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok() && s.len() == 10
            }
            (ElementValue::Text(_), ValueKind::Text) => true,
            (ElementValue::Bool(_), ValueKind::Bool) => true,
            (ElementValue::Int(_), ValueKind::Int) => true,
            (ElementValue::Members(_), ValueKind::Members) => true,
            _ => false,
        }
    }
}

/// What a presentation discloses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
#[serde(rename_all = "snake_case", tag = "preset", content = "elements")]
pub enum Preset {
    /// Every element of the licence.
    Full,
    /// 酒店入住: name, masked ID number (validity travels in every presentation).
    HotelCheckIn,
    /// 年龄核验: `age_over_18` only.
    AgeCheck,
    /// A chosen set of element keys.
    Custom(Vec<String>),
}

impl Preset {
    /// The element ids this preset discloses from a licence of type `t`, or the key that `t` lacks.
    pub fn element_ids(&self, t: LicenceType, available: &[u32]) -> Result<Vec<u32>, String> {
        let keys: Vec<&str> = match self {
            Preset::Full => return Ok(available.to_vec()),
            Preset::HotelCheckIn => vec!["name", "id_number_masked"],
            Preset::AgeCheck => vec!["age_over_18"],
            Preset::Custom(keys) => keys.iter().map(String::as_str).collect(),
        };
        let mut ids = Vec::with_capacity(keys.len());
        for k in keys {
            let def = t.element_by_key(k).ok_or_else(|| k.to_string())?;
            if !available.contains(&def.id) {
                return Err(k.to_string());
            }
            if !ids.contains(&def.id) {
                ids.push(def.id);
            }
        }
        zhangban_base::sort::sort_by(&mut ids, Ord::cmp);
        Ok(ids)
    }

    /// The purpose string a preset presents with, unless the caller names one.
    pub fn default_purpose(&self) -> &'static str {
        match self {
            Preset::Full => "full",
            Preset::HotelCheckIn => "hotel-check-in",
            Preset::AgeCheck => "age-check",
            Preset::Custom(_) => "custom",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn element_ids_are_unique_and_codes_roundtrip() {
        for t in LicenceType::ALL {
            let mut ids: Vec<u32> = t.elements().iter().map(|e| e.id).collect();
            let n = ids.len();
            ids.sort_unstable();
            ids.dedup();
            assert_eq!(ids.len(), n, "{t:?}");
            assert_eq!(LicenceType::from_code(t.code()), Some(t));
            assert_eq!(LicenceType::from_key(t.key()), Some(t));
            assert!(!t.name_zh().is_empty() && !t.name_en().is_empty());
        }
    }

    #[test]
    fn presets() {
        let t = LicenceType::ResidentId;
        let all: Vec<u32> = t.elements().iter().map(|e| e.id).collect();
        assert_eq!(Preset::HotelCheckIn.element_ids(t, &all), Ok(vec![1, 8]));
        assert_eq!(Preset::AgeCheck.element_ids(t, &all), Ok(vec![9]));
        assert_eq!(Preset::Full.element_ids(t, &all).unwrap().len(), all.len());
        assert_eq!(
            Preset::Custom(vec!["address".into(), "name".into(), "name".into()]).element_ids(t, &all),
            Ok(vec![1, 5])
        );
        assert_eq!(Preset::Custom(vec!["uscc".into()]).element_ids(t, &all), Err("uscc".into()));
        // Business licence has no age element: the age check preset names what is missing.
        let b = LicenceType::BusinessLicence;
        let ball: Vec<u32> = b.elements().iter().map(|e| e.id).collect();
        assert_eq!(Preset::AgeCheck.element_ids(b, &ball), Err("age_over_18".into()));
    }

    #[test]
    fn value_kinds() {
        assert!(ElementValue::Text("2024-02-29".into()).matches_kind(ValueKind::Date));
        assert!(!ElementValue::Text("2023-02-29".into()).matches_kind(ValueKind::Date));
        assert!(!ElementValue::Bool(true).matches_kind(ValueKind::Text));
    }
}
