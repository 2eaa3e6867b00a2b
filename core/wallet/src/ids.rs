//! Identifiers checked on import: GB/T 36904 licence identifiers (check character ISO 7064 MOD 37,36),
//! and, through the shared validators in `crate::ids`, GB 32100 unified social credit codes
//! (统一社会信用代码) and GB 11643 citizen ID numbers (公民身份号码).
//!
//! Every function here is total: any string in, `Ok` or a typed [`IdError`] out, never a panic.

use std::fmt;

/// The root OID of e-licence identifiers (GB/T 36904): 1.2.156.3005.2.
pub const LICENCE_ROOT_OID: &str = "1.2.156.3005.2";

/// Why an identifier was refused. The field is named by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdError {
    /// Wrong number of characters.
    Length { expected: usize, found: usize },
    /// A character outside the identifier's alphabet, at this (0-based) position.
    Character { position: usize },
    /// The check character does not match the rest.
    CheckCharacter { expected: char, found: char },
    /// A part of the identifier (named) is malformed.
    Part { part: &'static str },
    /// An ID number or credit code failed the shared check (`crate::ids`).
    Code(zhangban_base::ids::IdError),
    /// A well-formed licence identifier whose type code names no licence type this app knows.
    UnknownType { code: String },
}

impl From<IdError> for zhangban_base::ids::IdIssue {
    fn from(e: IdError) -> Self {
        zhangban_base::ids::IdIssue {
            code: e.code().into(),
            position: e.position().map(|p| p as u32),
            text: zhangban_base::Text::new(e.message_zh(), e.message_en()),
        }
    }
}

impl IdError {
    /// A stable machine code for the reason (`unknown_licence_type` for a well-formed identifier of a
    /// type the app does not know: not a typing error).
    pub fn code(&self) -> &'static str {
        match self {
            IdError::Length { .. } => "length",
            IdError::Character { .. } => "character",
            IdError::CheckCharacter { .. } => "check_character",
            IdError::Part { .. } => "part",
            IdError::Code(e) => e.code(),
            IdError::UnknownType { .. } => "unknown_licence_type",
        }
    }

    /// The 0-based character position the reason points at, when it points at one.
    pub fn position(&self) -> Option<usize> {
        match self {
            IdError::Character { position } => Some(*position),
            IdError::Code(e) => e.position(),
            _ => None,
        }
    }

    pub fn message_zh(&self) -> String {
        match self {
            IdError::Length { expected, found } => format!("长度应为 {expected} 位，实际 {found} 位"),
            IdError::Character { position } => format!("第 {} 位字符不合法", position + 1),
            IdError::CheckCharacter { expected, found } => {
                format!("校验位不正确（应为 {expected}，实际为 {found}），请核对是否输错")
            }
            IdError::Part { part } => format!("{part}格式不正确"),
            IdError::Code(e) => e.message_zh(),
            IdError::UnknownType { code } => {
                format!("证照类型代码“{code}”格式正确，但本应用不认识这种证照：请更新应用")
            }
        }
    }
    pub fn message_en(&self) -> String {
        match self {
            IdError::Length { expected, found } => format!("must have {expected} characters, has {found}"),
            IdError::Character { position } => format!("character {} is not allowed", position + 1),
            IdError::CheckCharacter { expected, found } => {
                format!("check character is wrong (expected {expected}, found {found}); check for a typo")
            }
            IdError::Part { part } => format!("malformed {part}"),
            IdError::Code(e) => e.message_en(),
            IdError::UnknownType { code } => {
                format!("type code {code} is well formed but names a kind of licence this app does not know: update the app")
            }
        }
    }
}

impl fmt::Display for IdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message_en())
    }
}

// ---------------------------------------------------------------------------------------------
// ISO 7064 MOD 37,36 (hybrid system, M = 36) over 0-9 A-Z.

fn mod36_value(c: u8) -> Option<u32> {
    match c {
        b'0'..=b'9' => Some((c - b'0') as u32),
        b'A'..=b'Z' => Some((c - b'A') as u32 + 10),
        _ => None,
    }
}

fn mod36_char(v: u32) -> char {
    const ALPHABET: &[u8; 36] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    ALPHABET[(v % 36) as usize] as char
}

/// The ISO 7064 MOD 37,36 check character for `data` (characters 0-9, A-Z).
pub fn iso7064_mod37_36(data: &str) -> Result<char, IdError> {
    let mut p: u32 = 36;
    for (i, c) in data.bytes().enumerate() {
        let v = mod36_value(c).ok_or(IdError::Character { position: i })?;
        let mut s = (p + v) % 36;
        if s == 0 {
            s = 36;
        }
        p = (s * 2) % 37;
    }
    // The check value d makes (p + d) mod 36 == 1.
    Ok(mod36_char((37 - p) % 36))
}

// ---------------------------------------------------------------------------------------------
// GB 11643 ID numbers and GB 32100 credit codes: the shared validators in `crate::ids` (also used by
// the forms), wrapped so the wallet's identifier errors carry them.

/// Checks a GB 11643 ID number (region, birth date not after `now`, check character).
pub fn validate_id_number(id: &str, now: i64) -> Result<zhangban_base::ids::IdNumberInfo, IdError> {
    let today = chrono::DateTime::from_timestamp(now, 0).map(|d| d.date_naive()).unwrap_or_default();
    zhangban_base::ids::validate_id_number(id, today).map_err(IdError::Code)
}

/// Checks a GB 32100 unified social credit code; licence identifiers also require upper case.
pub fn validate_uscc(code: &str) -> Result<(), IdError> {
    zhangban_base::ids::validate_uscc(code).map_err(IdError::Code)?;
    if code.bytes().any(|c| c.is_ascii_lowercase()) {
        return Err(IdError::Part { part: "统一社会信用代码（须大写） credit code (upper case)" });
    }
    Ok(())
}

/// Masks an ID number for display or disclosure: first 6 and last 4 characters kept.
pub fn mask_id_number(id: &str) -> String {
    let chars: Vec<char> = id.chars().collect();
    if chars.len() <= 10 {
        return "*".repeat(chars.len());
    }
    let mut out: String = chars[..6].iter().collect();
    out.push_str(&"*".repeat(chars.len() - 10));
    out.extend(&chars[chars.len() - 4..]);
    out
}

// ---------------------------------------------------------------------------------------------
// GB/T 36904 licence identifier: 1.2.156.3005.2.<type code>.<issuer USCC>.<serial>.<version>.<check>
//
// The type code (证照类型代码) is 21 characters: the 18-character unified social credit code of the
// authority that defines the licence type, then a 3-digit sequence number within that authority.

/// Length of a GB/T 36904 licence type code.
pub const TYPE_CODE_LEN: usize = 21;

/// Checks a GB/T 36904 type code: 21 characters, a valid upper-case GB 32100 code of the defining
/// authority (national-level `100000` codes included) followed by a 3-digit sequence.
pub fn validate_type_code(code: &str) -> Result<(), IdError> {
    let n = code.chars().count();
    if n != TYPE_CODE_LEN {
        return Err(IdError::Part { part: "证照类型代码（应为 21 位） type code (21 characters)" });
    }
    // 21 characters, all ASCII after this check, so byte slicing below is safe.
    if let Some(position) = code.bytes().position(|c| !(c.is_ascii_digit() || c.is_ascii_uppercase())) {
        return Err(IdError::Character { position });
    }
    if validate_uscc(&code[..18]).is_err() {
        return Err(IdError::Part {
            part: "证照类型代码中的定义机构代码 defining authority's credit code in the type code",
        });
    }
    if !code[18..].bytes().all(|c| c.is_ascii_digit()) {
        return Err(IdError::Part {
            part: "证照类型代码的顺序号（3 位数字） type code sequence (3 digits)"
        });
    }
    Ok(())
}

/// The parts of a licence identifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LicenceId {
    pub type_code: String,
    pub issuer_uscc: String,
    pub serial: String,
    pub version: String,
    pub check: char,
}

impl LicenceId {
    /// Builds an identifier and computes its check character.
    pub fn new(type_code: &str, issuer_uscc: &str, serial: &str, version: &str) -> Result<LicenceId, IdError> {
        validate_type_code(type_code)?;
        validate_uscc(issuer_uscc)?;
        check_part(serial, 1, 32, "序列号 serial")?;
        check_part(version, 1, 4, "版本号 version")?;
        let body = format!("{type_code}{issuer_uscc}{serial}{version}");
        let check = iso7064_mod37_36(&body)?;
        Ok(LicenceId {
            type_code: type_code.into(),
            issuer_uscc: issuer_uscc.into(),
            serial: serial.into(),
            version: version.into(),
            check,
        })
    }

    /// Parses and checks an identifier: root OID, parts, issuer USCC and the check character.
    pub fn parse(s: &str) -> Result<LicenceId, IdError> {
        if s.len() > 128 {
            return Err(IdError::Length { expected: 128, found: s.len() });
        }
        let rest = s
            .strip_prefix(LICENCE_ROOT_OID)
            .and_then(|r| r.strip_prefix('.'))
            .ok_or(IdError::Part { part: "根标识 root OID" })?;
        let parts: Vec<&str> = rest.split('.').collect();
        if parts.len() != 5 {
            return Err(IdError::Part { part: "证照标识结构 identifier structure" });
        }
        let id = LicenceId::new(parts[0], parts[1], parts[2], parts[3])?;
        let mut chars = parts[4].chars();
        let found = match (chars.next(), chars.next()) {
            (Some(c), None) => c,
            _ => return Err(IdError::Part { part: "校验位 check character" }),
        };
        if found != id.check {
            return Err(IdError::CheckCharacter { expected: id.check, found });
        }
        Ok(id)
    }
}

/// Checks a licence identifier as a person or a scanner gives it: the structure and check character
/// ([`LicenceId::parse`]), then that its type is one the app knows ([`IdError::UnknownType`] otherwise).
pub fn validate_licence_id(s: &str) -> Result<(LicenceId, super::types::LicenceType), IdError> {
    let id = LicenceId::parse(s)?;
    let t = super::types::LicenceType::from_code(&id.type_code)
        .ok_or_else(|| IdError::UnknownType { code: id.type_code.clone() })?;
    Ok((id, t))
}

impl fmt::Display for LicenceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{LICENCE_ROOT_OID}.{}.{}.{}.{}.{}",
            self.type_code, self.issuer_uscc, self.serial, self.version, self.check
        )
    }
}

fn check_part(s: &str, min: usize, max: usize, part: &'static str) -> Result<(), IdError> {
    if s.len() < min || s.len() > max || !s.bytes().all(|c| c.is_ascii_digit() || c.is_ascii_uppercase()) {
        return Err(IdError::Part { part });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_numbers_and_credit_codes_through_the_shared_validators() {
        let now = 1_790_000_000;
        assert!(validate_id_number("11010519491231002X", now).is_ok());
        assert!(matches!(validate_id_number("110105194912310021", now), Err(IdError::Code(_))));
        assert!(validate_id_number("一二三四五六", now).is_err());
        assert_eq!(validate_uscc("91350100M000100Y43"), Ok(()));
        assert!(matches!(validate_uscc("91350100M000100Y44"), Err(IdError::Code(_))));
        assert!(matches!(validate_uscc("91350100m000100Y43"), Err(IdError::Part { .. })));
        assert!(!IdError::Code(zhangban_base::ids::IdError::Length { expected: 18, got: 3 }).message_zh().is_empty());
    }

    #[test]
    fn mask() {
        assert_eq!(mask_id_number("11010519491231002X"), "110105********002X");
        assert_eq!(mask_id_number("123"), "***");
    }

    #[test]
    fn iso7064_detects_single_substitutions_and_transpositions() {
        let body = "1101911100000000000000X0000123401";
        let c = iso7064_mod37_36(body).unwrap();
        // Verification property: running over body + check ends with (p + d) mod 36 == 1.
        let all = format!("{body}{c}");
        let mut p = 36u32;
        let mut last_s = 0;
        for ch in all.bytes() {
            let mut s = (p + mod36_value(ch).unwrap()) % 36;
            if s == 0 {
                s = 36;
            }
            last_s = s;
            p = (s * 2) % 37;
        }
        assert_eq!(last_s, 1);
        let bytes = body.as_bytes();
        for i in 0..bytes.len() {
            for repl in b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ" {
                if *repl == bytes[i] {
                    continue;
                }
                let mut b = bytes.to_vec();
                b[i] = *repl;
                assert_ne!(iso7064_mod37_36(std::str::from_utf8(&b).unwrap()).unwrap(), c, "substitution at {i}");
            }
            if i + 1 < bytes.len() && bytes[i] != bytes[i + 1] {
                let mut b = bytes.to_vec();
                b.swap(i, i + 1);
                assert_ne!(iso7064_mod37_36(std::str::from_utf8(&b).unwrap()).unwrap(), c, "transposition at {i}");
            }
        }
        assert_eq!(iso7064_mod37_36("ab"), Err(IdError::Character { position: 0 }));
    }

    #[test]
    fn licence_identifier_roundtrip_and_rejections() {
        let id = LicenceId::new(RESIDENT_ID_TYPE, "91350100M000100Y43", "00000042", "1").unwrap();
        let s = id.to_string();
        assert!(s.starts_with("1.2.156.3005.2.11100000000000001M001.91350100M000100Y43.00000042.1."));
        assert_eq!(LicenceId::parse(&s), Ok(id.clone()));
        // Altered serial: the check character no longer matches.
        let bad = s.replace(".00000042.", ".00000043.");
        assert!(matches!(LicenceId::parse(&bad), Err(IdError::CheckCharacter { .. })));
        // Wrong issuer code check.
        let bad = s.replace("Y43", "Y44");
        assert!(matches!(LicenceId::parse(&bad), Err(IdError::Code(_))));
        assert!(matches!(LicenceId::parse("1.2.156.3005.1.x"), Err(IdError::Part { .. })));
        assert!(matches!(LicenceId::parse(&format!("{s}.1")), Err(IdError::Part { .. })));
        assert!(LicenceId::parse(&"1".repeat(1000)).is_err());
    }

    #[test]
    fn validate_licence_id_tells_unknown_types_from_malformed_ones() {
        let own = LicenceId::new(RESIDENT_ID_TYPE, "11100000000013338W", "7", "1").unwrap().to_string();
        assert!(matches!(validate_licence_id(&own), Ok((_, super::super::types::LicenceType::ResidentId))));
        let other = LicenceId::new("11100000000013338W011", "11100000000013338W", "7", "1").unwrap().to_string();
        let e = validate_licence_id(&other).unwrap_err();
        assert_eq!(e, IdError::UnknownType { code: "11100000000013338W011".into() });
        assert_eq!(e.code(), "unknown_licence_type");
        let typo = other.replacen(".7.", ".8.", 1);
        assert_eq!(validate_licence_id(&typo).unwrap_err().code(), "check_character");
    }

    const RESIDENT_ID_TYPE: &str = "11100000000000001M001";

    #[test]
    fn type_codes_are_21_characters_as_the_standard_lays_them_out() {
        // The standard's example: the defining authority's 18-character credit code (a national-level
        // code, region 100000) and a 3-digit sequence.
        assert_eq!(validate_type_code("11100000000013338W011"), Ok(()));
        let id = LicenceId::new("11100000000013338W011", "11100000000013338W", "0001", "1").unwrap();
        let text = id.to_string();
        assert_eq!(LicenceId::parse(&text), Ok(id));
        // A national-level issuer in a licence identifier.
        assert!(text.contains(".11100000000013338W.0001.1."));
        // Short made-up codes, a 22nd character, a bad authority code, letters in the sequence.
        for bad in [
            "1101",
            "11100000000013338W0111",
            "11100000000013338X011",
            "11100000000013338W01A",
            "11100000000013338w011",
        ] {
            assert!(validate_type_code(bad).is_err(), "{bad}");
            assert!(LicenceId::new(bad, "91350100M000100Y43", "1", "1").is_err(), "{bad}");
        }
        assert!(validate_type_code("一二三四五六七八九十一二三四五六七八九十一").is_err());
    }
}
