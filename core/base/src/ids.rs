//! Validators of Chinese identifiers shared by the wallet and the forms:
//! - resident identity number, GB 11643-1999 (18 characters, ISO 7064 MOD 11-2 check character),
//! - unified social credit code (统一社会信用代码), GB 32100-2015 (18 characters, MOD 31 check character),
//! - administrative division code (行政区划代码), GB/T 2260 (6 digits).
//!
//! Every check returns a typed [`IdError`] that says what is wrong, in Chinese and English.

use chrono::{Datelike, NaiveDate};

/// Why an identifier was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdError {
    /// Wrong number of characters (`expected`, `got`).
    Length { expected: usize, got: usize },
    /// A character that may not appear at `pos` (0-based).
    Character { pos: usize, ch: char },
    /// The first two digits are not a province-level division.
    Region { code: String },
    /// The embedded date of birth is not a real date, or lies in the future or before 1900.
    BirthDate { date: String },
    /// The check character does not match (`expected`).
    CheckCharacter { expected: char, got: char },
}

/// Why an identifier was refused, as a screen shows it: `code` is stable (`length`, `character`, `region`,
/// `birth_date`, `check_character`, and for licence ids `part`, `unknown_licence_type`); `position` is the
/// 0-based character it points at, when it points at one; `text` is what to show.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct IdIssue {
    pub code: String,
    pub position: Option<u32>,
    pub text: crate::Text,
}

impl From<IdError> for IdIssue {
    fn from(e: IdError) -> Self {
        IdIssue {
            code: e.code().into(),
            position: e.position().map(|p| p as u32),
            text: crate::Text::new(e.message_zh(), e.message_en()),
        }
    }
}

/// Checks a GB 11643 resident ID number as it is typed; `None` when valid. `today` bounds the date of
/// birth (`None`: the system clock's date in China).
pub fn check_id_number(value: &str, today: Option<NaiveDate>) -> Option<IdIssue> {
    use crate::clock::Clock;
    let today = today.unwrap_or_else(|| crate::clock::SystemClock.today());
    validate_id_number(value, today).err().map(IdIssue::from)
}

impl IdError {
    /// A stable machine code for the reason (shells match on it; the texts are for people).
    pub fn code(&self) -> &'static str {
        match self {
            IdError::Length { .. } => "length",
            IdError::Character { .. } => "character",
            IdError::Region { .. } => "region",
            IdError::BirthDate { .. } => "birth_date",
            IdError::CheckCharacter { .. } => "check_character",
        }
    }

    /// The 0-based character position the reason points at, when it points at one.
    pub fn position(&self) -> Option<usize> {
        match self {
            IdError::Character { pos, .. } => Some(*pos),
            _ => None,
        }
    }

    pub fn message_zh(&self) -> String {
        match self {
            IdError::Length { expected, got } => format!("长度应为 {expected} 位，实际为 {got} 位"),
            IdError::Character { pos, ch } => format!("第 {} 位字符“{ch}”无效", pos + 1),
            IdError::Region { code } => format!("行政区划代码“{code}”无效"),
            IdError::BirthDate { date } => format!("出生日期“{date}”无效"),
            IdError::CheckCharacter { .. } => "校验码不正确，请核对是否输错".to_string(),
        }
    }
    pub fn message_en(&self) -> String {
        match self {
            IdError::Length { expected, got } => format!("must have {expected} characters, has {got}"),
            IdError::Character { pos, ch } => format!("character {} ('{ch}') is not allowed there", pos + 1),
            IdError::Region { code } => format!("region code '{code}' is not valid"),
            IdError::BirthDate { date } => format!("date of birth '{date}' is not valid"),
            IdError::CheckCharacter { .. } => "check character does not match: look for a typing error".to_string(),
        }
    }
}

/// Province-level division codes (GB/T 2260): the first two digits of every region code.
const PROVINCES: &[(u8, &str)] = &[
    (11, "北京市"),
    (12, "天津市"),
    (13, "河北省"),
    (14, "山西省"),
    (15, "内蒙古自治区"),
    (21, "辽宁省"),
    (22, "吉林省"),
    (23, "黑龙江省"),
    (31, "上海市"),
    (32, "江苏省"),
    (33, "浙江省"),
    (34, "安徽省"),
    (35, "福建省"),
    (36, "江西省"),
    (37, "山东省"),
    (41, "河南省"),
    (42, "湖北省"),
    (43, "湖南省"),
    (44, "广东省"),
    (45, "广西壮族自治区"),
    (46, "海南省"),
    (50, "重庆市"),
    (51, "四川省"),
    (52, "贵州省"),
    (53, "云南省"),
    (54, "西藏自治区"),
    (61, "陕西省"),
    (62, "甘肃省"),
    (63, "青海省"),
    (64, "宁夏回族自治区"),
    (65, "新疆维吾尔自治区"),
    (71, "台湾省"),
    (81, "香港特别行政区"),
    (82, "澳门特别行政区"),
];

/// The province name for a region code's first two digits, if they name one.
pub fn province_name(code: &str) -> Option<&'static str> {
    let p: u8 = code.get(0..2)?.parse().ok()?;
    PROVINCES.iter().find(|(c, _)| *c == p).map(|(_, n)| *n)
}

/// Checks a 6-digit administrative division code: digits only, a real province, and a well-formed
/// hierarchy (a county part needs a city part, except for province-administered counties `90`).
pub fn validate_region_code(code: &str) -> Result<(), IdError> {
    let n = code.chars().count();
    if n != 6 {
        return Err(IdError::Length { expected: 6, got: n });
    }
    if let Some((pos, ch)) = code.chars().enumerate().find(|(_, c)| !c.is_ascii_digit()) {
        return Err(IdError::Character { pos, ch });
    }
    if province_name(code).is_none() {
        return Err(IdError::Region { code: code.to_string() });
    }
    let city = &code[2..4];
    let county = &code[4..6];
    if city == "00" && county != "00" {
        return Err(IdError::Region { code: code.to_string() });
    }
    Ok(())
}

const ID_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const ID_CHECK: &[u8; 11] = b"10X98765432";

/// The GB 11643 check character for the first 17 digits of an identity number.
pub fn id_number_check_char(first17: &str) -> Option<char> {
    if first17.len() != 17 || !first17.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let sum: u32 = first17.bytes().zip(ID_WEIGHTS).map(|(b, w)| u32::from(b - b'0') * w).sum();
    Some(ID_CHECK[(sum % 11) as usize] as char)
}

/// What an identity number says about its holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdNumberInfo {
    pub region: String,
    pub birth_date: NaiveDate,
    /// `true` for male (odd sequence digit), `false` for female.
    pub male: bool,
}

/// Validates a GB 11643 resident identity number (lower-case `x` accepted) against `today` (dates of
/// birth in the future are rejected).
pub fn validate_id_number(id: &str, today: NaiveDate) -> Result<IdNumberInfo, IdError> {
    let n = id.chars().count();
    if n != 18 {
        return Err(IdError::Length { expected: 18, got: n });
    }
    for (pos, ch) in id.chars().enumerate() {
        let ok = ch.is_ascii_digit() || (pos == 17 && (ch == 'X' || ch == 'x'));
        if !ok {
            return Err(IdError::Character { pos, ch });
        }
    }
    let region = &id[0..6];
    if province_name(region).is_none() {
        return Err(IdError::Region { code: region.to_string() });
    }
    let date_s = &id[6..14];
    let birth = NaiveDate::parse_from_str(date_s, "%Y%m%d")
        .ok()
        .filter(|d| d.year() >= 1900 && *d <= today)
        .ok_or_else(|| IdError::BirthDate { date: date_s.to_string() })?;
    let expected = id_number_check_char(&id[0..17]).ok_or(IdError::Length { expected: 18, got: n })?;
    let got = id[17..].chars().next().map(|c| c.to_ascii_uppercase()).unwrap_or(' ');
    if got != expected {
        return Err(IdError::CheckCharacter { expected, got });
    }
    let seq = id.as_bytes()[16] - b'0';
    Ok(IdNumberInfo { region: region.to_string(), birth_date: birth, male: seq % 2 == 1 })
}

/// The 31 characters of GB 32100 codes, in value order (no I, O, S, V, Z).
const USCC_CHARS: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
const USCC_WEIGHTS: [u32; 17] = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];

fn uscc_value(c: char) -> Option<u32> {
    let c = c.to_ascii_uppercase();
    USCC_CHARS.iter().position(|&b| b as char == c).map(|p| p as u32)
}

/// The GB 32100 check character for the first 17 characters of a USCC.
pub fn uscc_check_char(first17: &str) -> Option<char> {
    if first17.chars().count() != 17 {
        return None;
    }
    let mut sum = 0u32;
    for (c, w) in first17.chars().zip(USCC_WEIGHTS) {
        sum += uscc_value(c)? * w;
    }
    let v = (31 - sum % 31) % 31;
    Some(USCC_CHARS[v as usize] as char)
}

/// The region part of a credit code registered by a national-level authority (GB 32100: 国家级 `100000`).
pub const NATIONAL_REGION: &str = "100000";

/// Validates a GB 32100 unified social credit code: charset, registration authority and region
/// code (characters 3–8: a GB/T 2260 division code, or `100000` for a national-level registration
/// authority such as a ministry of the State Council), and the check character.
pub fn validate_uscc(code: &str) -> Result<(), IdError> {
    let n = code.chars().count();
    if n != 18 {
        return Err(IdError::Length { expected: 18, got: n });
    }
    for (pos, ch) in code.chars().enumerate() {
        if uscc_value(ch).is_none() {
            return Err(IdError::Character { pos, ch });
        }
    }
    let upper = code.to_ascii_uppercase();
    // Registration authority: 1 organisation, 5 civil affairs, 9 market regulation, Y others, …
    let authority = upper.as_bytes()[0];
    if !matches!(authority, b'1'..=b'9' | b'A' | b'N' | b'Y') {
        return Err(IdError::Character { pos: 0, ch: authority as char });
    }
    let region = &upper[2..8];
    let national = region == NATIONAL_REGION;
    if !national && (!region.bytes().all(|b| b.is_ascii_digit()) || province_name(region).is_none()) {
        return Err(IdError::Region { code: region.to_string() });
    }
    let expected = uscc_check_char(&upper[0..17]).ok_or(IdError::Length { expected: 18, got: n })?;
    let got = upper.as_bytes()[17] as char;
    if got != expected {
        return Err(IdError::CheckCharacter { expected, got });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 23).unwrap()
    }

    #[test]
    fn id_numbers_from_the_standard_are_valid() {
        // The examples printed in GB 11643-1999.
        let a = validate_id_number("11010519491231002X", today()).unwrap();
        assert_eq!(a.birth_date, NaiveDate::from_ymd_opt(1949, 12, 31).unwrap());
        assert!(!a.male);
        let b = validate_id_number("440524188001010014", today());
        // Born 1880: rejected by the ≥1900 rule, but the check character itself is right.
        assert!(matches!(b, Err(IdError::BirthDate { .. })));
        assert_eq!(id_number_check_char("44052418800101001"), Some('4'));
        assert!(validate_id_number("11010519491231002x", today()).is_ok(), "lower-case x accepted");
    }

    #[test]
    fn broken_id_numbers_are_rejected_with_the_reason() {
        let t = today();
        assert_eq!(validate_id_number("11010519491231002", t), Err(IdError::Length { expected: 18, got: 17 }));
        assert_eq!(
            validate_id_number("110105194912310021", t),
            Err(IdError::CheckCharacter { expected: 'X', got: '1' })
        );
        assert!(matches!(validate_id_number("11010519491331002X", t), Err(IdError::BirthDate { .. })));
        assert!(matches!(validate_id_number("990105194912310028", t), Err(IdError::Region { .. })));
        assert!(matches!(validate_id_number("1101051949123100X2", t), Err(IdError::Character { pos: 16, .. })));
        // A child born tomorrow cannot have a number today.
        let first17 = "11010520261124001";
        let id = format!("{first17}{}", id_number_check_char(first17).unwrap());
        assert!(matches!(validate_id_number(&id, t), Err(IdError::BirthDate { .. })));
        // Non-ASCII input must not panic on byte slicing.
        assert!(validate_id_number("一二三四五六七八九十一二三四五六七八", t).is_err());
    }

    #[test]
    fn every_single_digit_typo_is_caught() {
        let good = "11010519491231002X";
        for pos in 0..17 {
            for d in b'0'..=b'9' {
                let mut b = good.as_bytes().to_vec();
                if b[pos] == d {
                    continue;
                }
                b[pos] = d;
                let s = String::from_utf8(b).unwrap();
                assert!(validate_id_number(&s, today()).is_err(), "{s} accepted");
            }
        }
    }

    #[test]
    fn uscc_vectors() {
        // Published example codes.
        for ok in ["91350100M000100Y43", "91110108MA01ABCD3Q"] {
            let first17 = &ok[..17];
            let c = uscc_check_char(first17).unwrap();
            let fixed = format!("{first17}{c}");
            assert!(validate_uscc(&fixed).is_ok(), "{fixed}");
        }
        assert!(validate_uscc("91350100M000100Y43").is_ok());
        assert!(validate_uscc("91350100m000100y43").is_ok(), "lower case accepted");
        assert!(matches!(validate_uscc("91350100M000100Y44"), Err(IdError::CheckCharacter { .. })));
        assert!(matches!(validate_uscc("91350100M000100I43"), Err(IdError::Character { pos: 15, .. })));
        assert!(matches!(validate_uscc("9135010"), Err(IdError::Length { .. })));
        assert!(matches!(validate_uscc("91990100M000100Y43"), Err(IdError::Region { .. })));
        assert!(matches!(validate_uscc("01350100M000100Y43"), Err(IdError::Character { pos: 0, .. })));
        assert!(validate_uscc("统一社会信用代码统一社会信用代码统一").is_err());
    }

    #[test]
    fn national_level_credit_codes_are_valid() {
        // GB 32100 gives national-level registration authorities the region part 100000; the code of
        // the type-defining authority in the GB/T 36904 example type code `11100000000013338W011`.
        assert_eq!(validate_uscc("11100000000013338W"), Ok(()));
        assert!(matches!(validate_uscc("11100000000013338X"), Err(IdError::CheckCharacter { .. })));
        // Other made-up regions stay refused: 10 is not a province and 100000 is the only national code.
        let first17 = "11100100000013338";
        let c = uscc_check_char(first17).unwrap();
        assert!(matches!(validate_uscc(&format!("{first17}{c}")), Err(IdError::Region { .. })));
        // A resident's ID number has a real address: 100000 stays refused there.
        let first17 = "10000019491231002";
        let c = id_number_check_char(first17).unwrap();
        assert!(matches!(validate_id_number(&format!("{first17}{c}"), today()), Err(IdError::Region { .. })));
    }

    #[test]
    fn region_codes() {
        assert!(validate_region_code("110105").is_ok());
        assert!(validate_region_code("440300").is_ok());
        assert!(validate_region_code("110000").is_ok());
        assert!(matches!(validate_region_code("990105"), Err(IdError::Region { .. })));
        assert!(matches!(validate_region_code("110005"), Err(IdError::Region { .. })));
        assert!(matches!(validate_region_code("11010"), Err(IdError::Length { .. })));
        assert!(matches!(validate_region_code("11010a"), Err(IdError::Character { pos: 5, .. })));
        assert_eq!(province_name("350100"), Some("福建省"));
    }
}
