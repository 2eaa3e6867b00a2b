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

    /// A count worded in both languages, so no shell builds a plural: `zh` and the English forms hold `{n}`
    /// (`Text::count(3, "{n} 个待办", "{n} item", "{n} items")` is "3 个待办 / 3 items"; 1 takes `en_one`).
    pub fn count(n: i64, zh: &str, en_one: &str, en_other: &str) -> Text {
        let en = if n == 1 || n == -1 { en_one } else { en_other };
        let n = n.to_string();
        Text { zh: zh.replace("{n}", &n), en: en.replace("{n}", &n) }
    }
}

#[cfg(test)]
mod tests {
    use super::Text;

    #[test]
    fn a_count_takes_the_singular_for_one_only() {
        let t = |n| Text::count(n, "剩余 {n} 个工作日", "{n} working day left", "{n} working days left");
        assert_eq!(t(1), Text::new("剩余 1 个工作日", "1 working day left"));
        assert_eq!(t(0).en, "0 working days left");
        assert_eq!(t(12), Text::new("剩余 12 个工作日", "12 working days left"));
    }

    #[test]
    fn a_line_starts_with_a_capital_in_english_only() {
        assert_eq!(Text::line("非常满意", "very satisfied"), Text::new("非常满意", "Very satisfied"));
        assert_eq!(Text::line("有效", "valid").en, "Valid");
        assert_eq!(Text::line("空", "").en, "");
        assert_eq!(Text::line("已", "Already").en, "Already");
    }
}
