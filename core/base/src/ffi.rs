//! What the core's own types need to cross the FFI (feature `uniffi`, turned on by `bindings/` only).
//!
//! Custom types, declared once here and used by every core crate through [`use_ffi_types!`]:
//! * `chrono::NaiveDate` crosses as text `YYYY-MM-DD` (a shell formats it for the reader);
//! * `serde_json::Value` crosses as JSON text, at most [`MAX_FFI_JSON`] bytes (parsed here, so a malformed
//!   value from a shell is an error of the call, never a panic).

/// Largest JSON value accepted from a shell in one argument.
pub const MAX_FFI_JSON: usize = 1 << 20;

fn parse_date(s: &str) -> uniffi::Result<chrono::NaiveDate> {
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|_| uniffi::deps::anyhow::anyhow!("not a date (YYYY-MM-DD): {s:.32}"))
}

fn parse_json(s: &str) -> uniffi::Result<serde_json::Value> {
    if s.len() > MAX_FFI_JSON {
        return Err(uniffi::deps::anyhow::anyhow!("JSON value over {MAX_FFI_JSON} bytes"));
    }
    serde_json::from_str(s).map_err(|e| uniffi::deps::anyhow::anyhow!("not JSON: {e}"))
}

/// A date as it crosses the FFI: text `YYYY-MM-DD` (`chrono::NaiveDate` in the core).
pub type IsoDate = chrono::NaiveDate;
/// A JSON value as it crosses the FFI: JSON text (`serde_json::Value` in the core).
pub type JsonValue = serde_json::Value;

uniffi::custom_type!(IsoDate, String, {
    remote,
    try_lift: |s| parse_date(&s),
    lower: |d| d.format("%Y-%m-%d").to_string(),
});

uniffi::custom_type!(JsonValue, String, {
    remote,
    try_lift: |s| parse_json(&s),
    lower: |v| v.to_string(),
});

/// Makes the custom types of this crate usable in another core crate's FFI types. Called once at the
/// root of every core crate (under `#[cfg(feature = "uniffi")]`, after `uniffi::setup_scaffolding!()`).
#[macro_export]
macro_rules! use_ffi_types {
    () => {
        mod __zhangban_ffi_types {
            use zhangban_base::ffi::{IsoDate, JsonValue};
            ::uniffi::use_remote_type!(zhangban_base::IsoDate);
            ::uniffi::use_remote_type!(zhangban_base::JsonValue);
        }
    };
}
