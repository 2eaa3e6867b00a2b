//! Offline search over items and bundles: Chinese substrings, keywords (what people say: 上户口,
//! 开公司), English names, department and code. Every query term must match; the score of an entry is
//! the sum over terms of the best match of each term:
//!
//! | match | score |
//! |---|---|
//! | code equal | 120 |
//! | name equal / starts with / contains | 100 / 85 / 70 |
//! | keyword equal / contains the term / contained in the term (a sentence) | 75 / 55 / 50 |
//! | English name word start / contains | 45 / 40 |
//! | department | 30 |
//! | description | 20 |
//! | most characters of the term appear in the name or keywords (fuzzy, ≥ 60 %) | up to 25 |
//!
//! Bundles get +8 (one application beats several). Ties: shorter name, then code.

use super::CatalogDoc;
use crate::Text;
use serde::Serialize;

#[derive(Debug)]
struct Entry {
    bundle: bool,
    idx: usize,
    code: String,
    name: String,
    name_en: String,
    keywords: Vec<String>,
    department: String,
    description: String,
    /// The distinct characters of the name and keywords, sorted: the fuzzy match looks them up.
    chars: Vec<char>,
    name_chars: usize,
}

#[derive(Debug, Default)]
pub struct Index {
    entries: Vec<Entry>,
}

/// One search result.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Hit {
    pub code: String,
    pub bundle: bool,
    pub name: Text,
    pub score: u32,
}

/// The longest query looked at (characters); the rest is ignored.
pub const MAX_QUERY_CHARS: usize = 64;
const MAX_TERMS: usize = 8;
/// The most hits one search returns, whatever the caller asks for (a longer list is not read on a phone).
pub const MAX_HITS: usize = 200;

impl Index {
    pub fn build(doc: &CatalogDoc) -> Index {
        let mut entries = Vec::with_capacity(doc.items.len() + doc.bundles.len());
        for (idx, b) in doc.bundles.iter().enumerate() {
            let keywords: Vec<String> = b.keywords.iter().map(|k| k.to_lowercase()).collect();
            entries.push(Entry {
                bundle: true,
                idx,
                code: b.code.to_lowercase(),
                name: b.name.zh.clone(),
                name_en: b.name.en.to_lowercase(),
                chars: char_set(&b.name.zh, &keywords),
                keywords,
                department: String::new(),
                description: b.description.zh.clone(),
                name_chars: b.name.zh.chars().count(),
            });
        }
        for (idx, it) in doc.items.iter().enumerate() {
            let keywords: Vec<String> = it.keywords.iter().map(|k| k.to_lowercase()).collect();
            entries.push(Entry {
                bundle: false,
                idx,
                code: it.code.to_lowercase(),
                name: it.name.zh.clone(),
                name_en: it.name.en.to_lowercase(),
                chars: char_set(&it.name.zh, &keywords),
                keywords,
                department: it.department.zh.clone(),
                description: String::new(),
                name_chars: it.name.zh.chars().count(),
            });
        }
        Index { entries }
    }

    pub fn search(&self, doc: &CatalogDoc, query: &str, limit: usize) -> Vec<Hit> {
        let q: String = query.chars().take(MAX_QUERY_CHARS).collect::<String>().to_lowercase();
        let terms: Vec<&str> = q
            .split(|c: char| c.is_whitespace() || matches!(c, ',' | '，' | '、' | '。' | ';' | '；' | '?' | '？'))
            .filter(|t| !t.is_empty())
            .take(MAX_TERMS)
            .collect();
        if terms.is_empty() || limit == 0 {
            return Vec::new();
        }
        let mut scored: Vec<(u32, &Entry)> = Vec::new();
        'entries: for e in &self.entries {
            let mut total = 0u32;
            for t in &terms {
                let s = term_score(e, t);
                if s == 0 {
                    continue 'entries;
                }
                total += s;
            }
            if e.bundle {
                total += 8;
            }
            scored.push((total, e));
        }
        zhangban_base::sort::sort_by(&mut scored, |a, b| {
            b.0.cmp(&a.0).then(a.1.name_chars.cmp(&b.1.name_chars)).then_with(|| a.1.code.cmp(&b.1.code))
        });
        scored
            .into_iter()
            .take(limit.min(MAX_HITS))
            .map(|(score, e)| {
                let (code, name) = if e.bundle {
                    let b = &doc.bundles[e.idx];
                    (&b.code, &b.name)
                } else {
                    let i = &doc.items[e.idx];
                    (&i.code, &i.name)
                };
                Hit { code: code.clone(), bundle: e.bundle, name: name.clone(), score }
            })
            .collect()
    }
}

fn char_set(name: &str, keywords: &[String]) -> Vec<char> {
    let mut v: Vec<char> = name.chars().chain(keywords.iter().flat_map(|k| k.chars())).collect();
    zhangban_base::sort::sort_by(&mut v, Ord::cmp);
    v.dedup();
    v
}

fn term_score(e: &Entry, t: &str) -> u32 {
    let mut best = 0u32;
    if e.code == t {
        best = best.max(120);
    }
    if e.name == t {
        best = best.max(100);
    } else if e.name.starts_with(t) {
        best = best.max(85);
    } else if e.name.contains(t) {
        best = best.max(70);
    }
    for k in &e.keywords {
        if k == t {
            best = best.max(75);
        } else if k.contains(t) {
            best = best.max(55);
        } else if k.chars().count() >= 2 && t.contains(k.as_str()) {
            best = best.max(50);
        }
    }
    if best >= 70 {
        return best;
    }
    if t.is_ascii() && t.len() >= 2 {
        if let Some(p) = e.name_en.find(t) {
            let word_start = p == 0 || !e.name_en.as_bytes()[p - 1].is_ascii_alphanumeric();
            best = best.max(if word_start { 45 } else { 40 });
        }
    }
    if !e.department.is_empty() && e.department.contains(t) {
        best = best.max(30);
    }
    if !e.description.is_empty() && e.description.contains(t) {
        best = best.max(20);
    }
    if best == 0 {
        // Fuzzy: most of the term's (non-ASCII) characters appear in the name or keywords.
        let chars: Vec<char> = t.chars().filter(|c| !c.is_ascii()).collect();
        if chars.len() >= 2 {
            let hits = chars.iter().filter(|c| e.chars.binary_search(c).is_ok()).count();
            let frac = hits as f64 / chars.len() as f64;
            if frac >= 0.6 {
                best = best.max((25.0 * frac).round() as u32);
            }
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use crate::Catalog;

    fn top(q: &str) -> Vec<String> {
        Catalog::bundled().unwrap().search(q, 5).into_iter().map(|h| h.code).collect()
    }

    #[test]
    fn chinese_substrings_and_keywords() {
        assert_eq!(top("新生儿出生一件事")[0], "BD-BIRTH");
        assert_eq!(top("上户口")[0], "BD-BIRTH", "the bundle outranks the single item for a keyword they share");
        assert!(top("上户口").contains(&"GA-001".to_string()));
        assert_eq!(top("身份证换领")[0], "GA-002");
        assert_eq!(top("开公司")[0], "BD-COMPANY");
        assert_eq!(top("公积金 退休")[0], "GJJ-002", "all terms must match");
        assert_eq!(top("异地就医")[0], "YB-003");
        assert_eq!(top("我想办社保卡")[0], "RS-001", "a keyword inside a sentence");
        assert_eq!(top("gjj-001")[0], "GJJ-001");
        assert_eq!(top("pension")[0], "RS-002");
        assert!(top("税务局").contains(&"SW-001".to_string()), "by department");
        assert!(top("不存在的事情xyz").is_empty());
        assert!(top("  ").is_empty());
    }

    #[test]
    fn fuzzy_character_match() {
        // "居民医疗保险" is not a substring, but its characters are in YB-001's name.
        assert!(top("居民医疗保险").contains(&"YB-001".to_string()));
    }

    #[test]
    fn a_search_returns_at_most_max_hits_whatever_the_caller_asks() {
        // 260 copies of the seed's GA-002 under other codes: all of them match "身份证".
        let mut doc: serde_json::Value = serde_json::from_str(include_str!("seed.json")).unwrap();
        let one = doc["items"].as_array().unwrap().iter().find(|i| i["code"] == "GA-002").unwrap().clone();
        let copies: Vec<serde_json::Value> = (0..260)
            .map(|n| {
                let mut c = one.clone();
                c["code"] = format!("GA-9{n:03}").into();
                c
            })
            .collect();
        doc["items"].as_array_mut().unwrap().extend(copies);
        let catalog = Catalog::from_json(&doc.to_string()).unwrap();
        assert_eq!(catalog.search("身份证", u32::MAX as usize).len(), super::MAX_HITS);
        assert_eq!(catalog.search("身份证", 7).len(), 7);
    }

    #[test]
    fn long_queries_are_truncated_not_rejected() {
        let q = "户口".repeat(1000);
        let _ = Catalog::bundled().unwrap().search(&q, 10);
    }
}
