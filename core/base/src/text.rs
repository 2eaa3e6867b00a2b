//! The one bilingual text of the core: every string a person reads is written here in Chinese and English
//! (the shells pick one; they never word anything themselves).

use serde::{Deserialize, Serialize};

/// A text in Chinese and English.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Text {
    pub zh: String,
    #[serde(default)]
    pub en: String,
}

impl Text {
    pub fn new(zh: impl Into<String>, en: impl Into<String>) -> Text {
        Text { zh: zh.into(), en: en.into() }
    }
}
