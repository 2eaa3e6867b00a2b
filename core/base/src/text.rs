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

    /// A text that stands alone on a line (a state, a status, a choice): the English starts with a capital
    /// letter ("Completed", "Very satisfied"), while the lower-case word stays for use inside a sentence.
    pub fn line(zh: impl Into<String>, en: &str) -> Text {
        let mut chars = en.chars();
        let en = match chars.next() {
            Some(first) => first.to_uppercase().chain(chars).collect(),
            None => String::new(),
        };
        Text { zh: zh.into(), en }
    }
}

#[cfg(test)]
mod tests {
    use super::Text;

    #[test]
    fn a_line_starts_with_a_capital_in_english_only() {
        assert_eq!(Text::line("非常满意", "very satisfied"), Text::new("非常满意", "Very satisfied"));
        assert_eq!(Text::line("有效", "valid").en, "Valid");
        assert_eq!(Text::line("空", "").en, "");
        assert_eq!(Text::line("已", "Already").en, "Already");
    }
}
