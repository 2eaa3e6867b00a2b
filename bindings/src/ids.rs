//! FFI exports: identifier validators, so a shell can check a field as it is typed. Every rule and
//! every text is the core's (`zhangban_core::ids`, `zhangban_core::wallet::ids`, `IdIssue`); this file only
//! exports.

use zhangban_core::calendar;
use zhangban_core::ids::IdIssue;
use zhangban_core::wallet::ids as wallet_ids;
use zhangban_core::Error as CoreError;

use crate::error::{guard, ZhangbanError};

/// Checks a GB 11643 resident ID number; `None` when valid. `today` (YYYY-MM-DD, default: the device's
/// date) bounds the date of birth; a malformed `today` is a `Validation` error on field `today`.
#[uniffi::export]
pub fn check_id_number(value: String, today: Option<String>) -> Result<Option<IdIssue>, ZhangbanError> {
    guard(|| {
        let today = today.map(|t| calendar::parse_date("today", &t)).transpose()?;
        Ok(zhangban_core::ids::check_id_number(&value, today))
    })
}

/// Checks a GB 32100 unified social credit code (national-level `100000` codes included); `None` when valid.
#[uniffi::export]
pub fn check_credit_code(value: String) -> Option<IdIssue> {
    guard(|| Ok::<_, CoreError>(zhangban_core::ids::validate_uscc(&value).err().map(IdIssue::from)))
        .unwrap_or_else(|e| Some(internal_issue(e)))
}

/// Checks a GB/T 36904 licence identifier (structure, 21-character type code, issuer credit code, check
/// character, and a type this app knows: `unknown_licence_type` otherwise); `None` when valid.
#[uniffi::export]
pub fn check_licence_id(value: String) -> Option<IdIssue> {
    guard(|| Ok::<_, CoreError>(wallet_ids::validate_licence_id(&value).err().map(IdIssue::from)))
        .unwrap_or_else(|e| Some(internal_issue(e)))
}

/// A caught panic (a bug) still answers "not valid", never "valid".
fn internal_issue(e: ZhangbanError) -> IdIssue {
    IdIssue { code: "internal".into(), position: None, text: zhangban_core::Text::new(e.text_zh(), e.text_en()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validators_answer_with_codes_and_texts() {
        assert_eq!(check_id_number("11010519491231002X".into(), Some("2026-12-06".into())), Ok(None));
        let i = check_id_number("110105194912310021".into(), Some("2026-12-06".into())).unwrap().unwrap();
        assert_eq!(i.code, "check_character");
        assert!(!i.text.zh.is_empty() && !i.text.en.is_empty());
        let e = check_id_number("11010519491231002X".into(), Some("2026-13-01".into())).unwrap_err();
        assert!(matches!(e, ZhangbanError::Validation { field, .. } if field == "today"));
        assert_eq!(check_credit_code("11100000000013338W".into()), None);
        assert_eq!(
            check_credit_code("91350100M000100I43".into()).map(|i| (i.code, i.position)),
            Some(("character".into(), Some(15)))
        );
        let unknown = "1.2.156.3005.2.11100000000013338W011.11100000000013338W.7.1.";
        let id = zhangban_core::wallet::ids::LicenceId::new("11100000000013338W011", "11100000000013338W", "7", "1")
            .unwrap();
        assert!(id.to_string().starts_with(unknown));
        assert_eq!(check_licence_id(id.to_string()).map(|i| i.code), Some("unknown_licence_type".into()));
    }
}
