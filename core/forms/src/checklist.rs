//! 一次性告知: for an item or bundle and this person, one list of everything still needed, with why —
//! materials to supply (and which may follow later or be replaced by a commitment), what e-licences
//! already cover, fields still to fill or confirm, conditions, fees, time limits and where to do it.

use crate::catalog::{Catalog, Channel, Target};
use crate::draft::{Draft, IssueCode, MaterialStatus, Severity};
use crate::Result;
use crate::Text;
use crate::{AutofillOptions, HeldLicence, Profile};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum EntryKind {
    /// Must be attached before submitting.
    Attach,
    /// Attach, or sign a commitment instead (告知承诺).
    AttachOrCommit,
    /// Needed, but may follow after acceptance (容缺).
    Deferrable,
    /// Optional material.
    Optional,
    /// Covered by an e-licence or by an earlier item of the bundle: nothing to do.
    Exempt,
    /// A field still to fill.
    Fill,
    /// A prefilled value to confirm.
    Confirm,
    /// A condition the applicant must meet.
    Condition,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct ChecklistEntry {
    pub kind: EntryKind,
    /// Material code or field path.
    pub key: String,
    pub title: Text,
    pub why: Text,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Checklist {
    pub code: String,
    pub name: Text,
    pub entries: Vec<ChecklistEntry>,
    /// Total fees in CNY.
    pub fees: f64,
    /// The total as a person reads it: 免费 / free, or 400.00 元 / CNY 400.00.
    pub fee_text: Text,
    pub fee_lines: Vec<Text>,
    /// The line both shells show under the name: 收费：免费 · 承诺 20 个工作日内办结 / Fee: free · promised
    /// within 20 working days.
    pub terms: Text,
    /// The longest promised / legal time limit of the items, in working days.
    pub promised_days: u32,
    pub legal_days: u32,
    /// Channels every item of the target offers.
    pub channels: Vec<Channel>,
    /// The whole checklist as plain Chinese text, one line per entry (to share or print).
    pub text_zh: String,
}

impl Checklist {
    /// Entries that still need the person to act (everything but exempt materials).
    pub fn to_do(&self) -> impl Iterator<Item = &ChecklistEntry> {
        self.entries.iter().filter(|e| !matches!(e.kind, EntryKind::Exempt | EntryKind::Condition))
    }
    /// Plain text, one line per entry, in Chinese.
    fn render_zh(&self) -> String {
        let mut s = format!("【一次性告知】{}\n", self.name.zh);
        for e in &self.entries {
            let mark = match e.kind {
                EntryKind::Attach => "需提交",
                EntryKind::AttachOrCommit => "可承诺",
                EntryKind::Deferrable => "可容缺",
                EntryKind::Optional => "可选",
                EntryKind::Exempt => "免提交",
                EntryKind::Fill => "需填写",
                EntryKind::Confirm => "请确认",
                EntryKind::Condition => "条件",
            };
            s.push_str(&format!("  [{mark}] {}：{}\n", e.title.zh, e.why.zh));
        }
        let fee = &self.fee_text.zh;
        let channels: Vec<String> = self.channels.iter().map(|c| c.label().zh).collect();
        s.push_str(&format!(
            "  收费：{fee}；承诺时限：{} 个工作日（法定 {} 个工作日）；办理方式：{}\n",
            self.promised_days,
            self.legal_days,
            channels.join("、")
        ));
        s
    }
}

/// The total fee as a person reads it (two decimals; nothing to pay says so).
fn fee_text(fees: f64) -> Text {
    if fees > 0.0 {
        Text::new(format!("{fees:.2} 元"), format!("CNY {fees:.2}"))
    } else {
        Text::new("免费", "free")
    }
}

fn terms(fee: &Text, promised_days: u32) -> Text {
    Text::new(
        format!("收费：{} · 承诺 {promised_days} 个工作日内办结", fee.zh),
        format!("Fee: {} · promised within {promised_days} working days", fee.en),
    )
}

fn item_names(catalog: &Catalog, codes: &[String]) -> (String, String) {
    let names: Vec<&crate::Text> = codes.iter().filter_map(|c| catalog.item(c)).map(|i| &i.name).collect();
    (
        names.iter().map(|n| n.zh.as_str()).collect::<Vec<_>>().join("、"),
        names.iter().map(|n| n.en.as_str()).collect::<Vec<_>>().join(", "),
    )
}

/// The checklist of a draft (its answers and material choices taken into account).
pub fn for_draft(catalog: &Catalog, draft: &Draft) -> Result<Checklist> {
    let items = catalog.items_of(&draft.target)?;
    let target = catalog.target(&draft.target)?;
    let mut entries = Vec::new();
    for it in &items {
        for c in &it.conditions {
            entries.push(ChecklistEntry {
                kind: EntryKind::Condition,
                key: it.code.clone(),
                title: Text::new("办理条件", "Condition"),
                why: Text::new(format!("{}（{}）", c.zh, it.name.zh), format!("{} ({})", c.en, it.name.en)),
            });
        }
    }
    for m in draft.material_report() {
        let (zh_items, en_items) = item_names(catalog, &m.items);
        let licence_name = |t: &str| catalog.licence_type(t).map(|l| l.name.clone()).unwrap_or_else(|| Text::new(t, t));
        let (kind, why) = match &m.status {
            MaterialStatus::Exempt { licence_type, .. } => {
                let n = licence_name(licence_type);
                (
                    EntryKind::Exempt,
                    Text::new(
                        format!("已有电子证照“{}”，免于提交", n.zh),
                        format!("covered by your e-licence \"{}\"", n.en),
                    ),
                )
            }
            MaterialStatus::ProducedInBundle { item } => {
                let n = catalog.item(item).map(|i| i.name.clone()).unwrap_or_default();
                (
                    EntryKind::Exempt,
                    Text::new(
                        format!("由本次一并办理的“{}”生成，无需提交", n.zh),
                        format!("issued by \"{}\" in this same application", n.en),
                    ),
                )
            }
            MaterialStatus::Attached { .. } | MaterialStatus::Committed | MaterialStatus::Deferred { .. } => continue,
            MaterialStatus::Missing => (
                EntryKind::Attach,
                Text::new(
                    format!("无对应电子证照，须上传（{zh_items}）"),
                    format!("no e-licence covers it: attach it ({en_items})"),
                ),
            ),
            MaterialStatus::Commitment => (
                EntryKind::AttachOrCommit,
                Text::new(
                    format!("须上传，或签署告知承诺书代替（{zh_items}）"),
                    format!("attach it, or sign a commitment instead ({en_items})"),
                ),
            ),
            MaterialStatus::Deferrable { within_working_days } => (
                EntryKind::Deferrable,
                Text::new(
                    format!("可先受理，受理后 {within_working_days} 个工作日内补交（{zh_items}）"),
                    format!("may follow within {within_working_days} working days after acceptance ({en_items})"),
                ),
            ),
            MaterialStatus::Optional => (
                EntryKind::Optional,
                Text::new(format!("可选，有则提交（{zh_items}）"), format!("optional ({en_items})")),
            ),
        };
        entries.push(ChecklistEntry { kind, key: format!("material:{}", m.code), title: m.name.clone(), why });
    }
    for i in draft.validate() {
        if i.path.starts_with("material:") {
            continue;
        }
        // An upload field of a material already listed above is not listed twice.
        if draft.form.field(&i.path).is_some_and(|f| f.spec.material.is_some()) && i.code == IssueCode::Required {
            continue;
        }
        let label = field_label(draft, &i.path);
        let kind = match (i.code, i.severity) {
            (IssueCode::Confirm, _) => EntryKind::Confirm,
            (_, Severity::Warning) => EntryKind::Confirm,
            _ => EntryKind::Fill,
        };
        let why = match i.code {
            IssueCode::Required => Text::new("必填，尚未填写", "required and still empty"),
            _ => i.message.clone(),
        };
        entries.push(ChecklistEntry { kind, key: i.path.clone(), title: label, why });
    }
    let mut fee_lines = Vec::new();
    let mut fees = 0.0;
    for it in &items {
        for f in &it.fees {
            fees += f.amount;
            fee_lines.push(Text::new(
                format!("{}：{:.2} 元", f.name.zh, f.amount),
                format!("{}: CNY {:.2}", f.name.en, f.amount),
            ));
        }
    }
    let promised_days = match target {
        Target::Bundle(b) => b.promised_days,
        Target::Item(i) => i.promised_days,
    };
    let legal_days = items.iter().map(|i| i.legal_days).max().unwrap_or(0);
    let mut channels = vec![Channel::Online, Channel::OnSite, Channel::AtHome];
    channels.retain(|c| items.iter().all(|i| i.channels.contains(c)));
    let fee_text = fee_text(fees);
    let mut c = Checklist {
        code: draft.target.clone(),
        name: target.name().clone(),
        entries,
        fees,
        terms: terms(&fee_text, promised_days),
        fee_text,
        fee_lines,
        promised_days,
        legal_days,
        channels,
        text_zh: String::new(),
    };
    c.text_zh = c.render_zh();
    Ok(c)
}

fn field_label(draft: &Draft, path: &str) -> Text {
    let key = match path.find('[') {
        Some(open) => {
            let close = path.find(']').unwrap_or(open);
            format!("{}{}", &path[..open], &path[close + 1..])
        }
        None => path.to_string(),
    };
    draft.form.field(&key).map(|f| f.spec.label.clone()).unwrap_or_else(|| Text::new(path, path))
}

/// The checklist before any draft exists: what the profile and licences already cover.
pub fn for_person(
    catalog: &Catalog,
    code: &str,
    subject: &str,
    profile: &Profile,
    licences: &[HeldLicence],
    opts: &AutofillOptions,
) -> Result<Checklist> {
    let mut d = Draft::new(catalog, "checklist", subject, code, opts.today, opts.now)?;
    d.autofill(profile, licences, opts);
    for_draft(catalog, &d)
}

/// [`for_person`] from the store: its current catalog, the subject's profile and held licences, its clock.
/// A plain call: a principal is refused ([`crate::store::Store::plain_access`]; agent mode has its own).
pub fn for_subject(store: &std::sync::Arc<crate::store::Store>, code: &str, subject: &str) -> Result<Checklist> {
    store.plain_access(subject)?;
    let (catalog, licences) = (Catalog::current(store)?, crate::held_licences(store, subject)?);
    let profile = Profile::load(store, subject)?;
    for_person(&catalog, code, subject, &profile, &licences, &AutofillOptions::at(store.clock().as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SELF_SUBJECT;

    #[test]
    fn birth_bundle_checklist_says_what_and_why() {
        let cat = Catalog::bundled().unwrap();
        let opts = AutofillOptions {
            today: chrono::NaiveDate::from_ymd_opt(2026, 11, 23).unwrap(),
            now: 1_795_000_000,
            stale_after_days: 365,
        };
        let lic = vec![HeldLicence {
            licence_type: "resident_id".into(),
            licence_id: "rid-1".into(),
            as_of: "2024-01-01".into(),
            valid_until: None,
            fields: [("name".to_string(), serde_json::json!("王晓明"))].into_iter().collect(),
        }];
        let c = for_person(&cat, "BD-BIRTH", SELF_SUBJECT, &Profile::default(), &lic, &opts).unwrap();
        let get = |k: &str| c.entries.iter().find(|e| e.key == k).unwrap_or_else(|| panic!("{k}"));
        assert_eq!(get("material:M_ID").kind, EntryKind::Exempt);
        assert_eq!(get("material:M_HOUSEHOLD").kind, EntryKind::Attach);
        assert_eq!(get("material:M_MARRIAGE").kind, EntryKind::AttachOrCommit);
        assert_eq!(get("material:M_DELIVERY_RECORD").kind, EntryKind::Deferrable);
        assert!(get("material:M_DELIVERY_RECORD").why.zh.contains("5 个工作日"));
        assert_eq!(get("material:M_BIRTH_CERT").kind, EntryKind::Exempt);
        assert_eq!(get("child.name").kind, EntryKind::Fill);
        assert!(c.entries.iter().all(|e| e.key != "applicant.name"), "the licence filled it");
        assert_eq!(c.fees, 400.0);
        assert_eq!(c.fee_text, Text::new("400.00 元", "CNY 400.00"));
        assert!(c.terms.zh.starts_with("收费：400.00 元 · 承诺 "), "{}", c.terms.zh);
        assert!(c.terms.en.starts_with("Fee: CNY 400.00 · promised within "), "{}", c.terms.en);
        assert_eq!(c.promised_days, 10);
        assert!(c.channels.contains(&Channel::Online));
        let text = &c.text_zh;
        assert!(text.contains("新生儿出生一件事") && text.contains("免提交") && text.contains("400.00 元"), "{text}");
        assert!(c.to_do().count() < c.entries.len());
    }

    #[test]
    fn nothing_to_pay_says_so_in_both_languages() {
        assert_eq!(fee_text(0.0), Text::new("免费", "free"));
        assert_eq!(fee_text(12.5), Text::new("12.50 元", "CNY 12.50"));
        let t = terms(&fee_text(0.0), 5);
        assert_eq!(t, Text::new("收费：免费 · 承诺 5 个工作日内办结", "Fee: free · promised within 5 working days"));
    }
}
