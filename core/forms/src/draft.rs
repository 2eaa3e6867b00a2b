//! The draft engine: values with provenance, autofill, incremental evaluation, validation, the fill and
//! materials report. Persistence (autosave, resume, purge) is in `session.rs`.
//!
//! Incremental evaluation: every field knows which fields' expressions read it (`FieldDef::dependents`).
//! An edit re-checks the edited field, then re-evaluates only its dependents — in the same repeat
//! instance for sibling references, across instances only for top-level or column references — and
//! follows computed values that changed. A form with 500 repeat instances does not re-evaluate the
//! other 499 on an edit inside one of them.

use super::expr::{Env, Value};
use super::profile::{HeldLicence, Profile, Provenance};
use super::schema::{CExpr, FieldType, Form, Ref, MAX_OPTIONS, MAX_TEXT_LEN};
use crate::catalog::{Catalog, MaterialNeed};
use crate::ids;
use crate::Text;
use crate::{Error, Result};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

/// Saved values of repeat groups: group key → instances → child id → entry.
pub type GroupValues = BTreeMap<String, Vec<BTreeMap<String, Entry>>>;

/// A value in a draft.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub value: Json,
    pub provenance: Provenance,
    /// Verified and not editable: the person cannot change it.
    #[serde(default)]
    pub locked: bool,
    /// Filled from an old profile value or an expired licence: the person should confirm it.
    #[serde(default)]
    pub confirm: bool,
}

/// Who makes an edit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum Editor {
    Person,
    Agent { agent: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum Severity {
    /// Blocks submission.
    Error,
    /// Asks the person to look (e.g. confirm an old value); does not block.
    Warning,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum IssueCode {
    Required,
    Format,
    Range,
    Length,
    Option,
    Constraint,
    TooFew,
    TooMany,
    Confirm,
    Material,
}

/// One problem, with where and what to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Issue {
    /// `applicant.phone`, `household.members[2].id_number`, `material:M_PHOTO`.
    pub path: String,
    pub code: IssueCode,
    pub severity: Severity,
    pub message: Text,
}

#[derive(Debug, Clone, Default)]
struct FState {
    visible: bool,
    issues: Vec<(IssueCode, Severity, Text)>,
}

#[derive(Debug, Clone)]
struct Instance {
    values: Vec<Option<Entry>>,
    state: Vec<FState>,
}

/// How a material was dealt with by the person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "choice", rename_all = "snake_case")]
pub enum MaterialChoice {
    /// Uploaded: a store attachment id.
    Attached { attachment_id: String },
    /// 告知承诺: signed a commitment instead.
    Committed { at: i64 },
    /// 容缺: will supply it later.
    Deferred { at: i64 },
}

/// Where a material stands for this draft.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum MaterialStatus {
    /// 免提交: an e-licence the person holds satisfies it.
    Exempt {
        licence_type: String,
        licence_id: String,
    },
    /// Issued by an earlier item of the same bundle: nothing to supply.
    ProducedInBundle {
        item: String,
    },
    Attached {
        attachment_id: String,
    },
    Committed,
    Deferred {
        within_working_days: u32,
    },
    /// Still to supply, but may follow within `within_working_days` after acceptance (容缺).
    Deferrable {
        within_working_days: u32,
    },
    /// Still to supply, or a commitment may be signed instead (告知承诺).
    Commitment,
    /// Optional and not supplied.
    Optional,
    /// Required, no alternative, not supplied: must be attached before submitting.
    Missing,
}

impl MaterialStatus {
    pub fn is_exempt(&self) -> bool {
        matches!(self, MaterialStatus::Exempt { .. } | MaterialStatus::ProducedInBundle { .. })
    }
    /// Blocks submission until dealt with.
    pub fn blocks(&self) -> bool {
        matches!(self, MaterialStatus::Missing | MaterialStatus::Commitment)
    }
    /// What to show the person.
    pub fn label(&self) -> Text {
        match self {
            MaterialStatus::Exempt { .. } => t("免提交（电子证照）", "not needed: your e-licence covers it"),
            MaterialStatus::ProducedInBundle { .. } => {
                t("免提交（本次联办中核发）", "not needed: issued by an earlier step of this bundle")
            }
            MaterialStatus::Attached { .. } => t("已上传", "attached"),
            MaterialStatus::Committed => t("已签署告知承诺", "commitment signed"),
            MaterialStatus::Deferred { within_working_days } => t(
                format!("容缺后补：受理后 {within_working_days} 个工作日内补交"),
                format!("to follow within {within_working_days} working days after acceptance"),
            ),
            MaterialStatus::Deferrable { within_working_days } => t(
                format!("待上传，或受理后 {within_working_days} 个工作日内补交"),
                format!("attach it, or supply it within {within_working_days} working days after acceptance"),
            ),
            MaterialStatus::Commitment => t("待上传，或签署告知承诺书", "attach it or sign a commitment"),
            MaterialStatus::Optional => t("可选", "optional"),
            MaterialStatus::Missing => t("须上传", "required: attach it"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MaterialReport {
    pub code: String,
    pub name: Text,
    pub required: bool,
    pub items: Vec<String>,
    pub status: MaterialStatus,
}

/// Counts of a draft, for "N of M fields filled, K of L materials exempt".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct FillReport {
    /// Visible fields a person answers (computed fields and group headers excluded; repeat children
    /// counted per instance).
    pub fields_total: u32,
    pub fields_filled: u32,
    /// Filled from a licence.
    pub fields_verified: u32,
    /// Still empty (of which `required_left` are required).
    pub fields_left: u32,
    pub required_left: u32,
    pub needs_confirmation: u32,
    pub materials_total: u32,
    pub materials_exempt: u32,
    pub materials_attached: u32,
    pub materials_deferrable: u32,
    pub materials_commitment: u32,
    pub materials_missing: u32,
    pub materials_optional: u32,
    /// "已填 2 / 5 项 / 2 of 5 fields filled" (singular for one field), worded here for both shells.
    pub filled_text: Text,
}

/// One field as a screen shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldView {
    pub path: String,
    pub kind: FieldType,
    pub label: Text,
    pub help: Option<Text>,
    /// (value, label) of choices.
    pub options: Vec<(String, Text)>,
    pub visible: bool,
    pub computed: bool,
    pub value: Json,
    pub provenance: Option<Provenance>,
    pub locked: bool,
    pub confirm: bool,
    pub issues: Vec<Text>,
}

/// Options of autofill.
#[derive(Debug, Clone)]
pub struct AutofillOptions {
    pub today: NaiveDate,
    /// Unix seconds now.
    pub now: i64,
    /// A value entered longer ago than this is filled but marked for confirmation.
    pub stale_after_days: u32,
}

impl AutofillOptions {
    /// The options at the clock's time (today in Asia/Shanghai).
    pub fn at(clock: &dyn zhangban_base::Clock) -> AutofillOptions {
        AutofillOptions { today: clock.today(), now: clock.now_secs(), stale_after_days: 365 }
    }
}

/// A draft application in memory.
#[derive(Debug, Clone)]
pub struct Draft {
    pub id: String,
    pub subject: String,
    /// Item or bundle code.
    pub target: String,
    pub catalog_version: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub form: Arc<Form>,
    pub materials: Vec<MaterialNeed>,
    /// Licences held when the draft was made (for exemptions).
    pub licences: Vec<HeldLicence>,
    pub choices: BTreeMap<String, MaterialChoice>,
    pub today: NaiveDate,
    top: Vec<Option<Entry>>,
    state: Vec<FState>,
    groups: BTreeMap<usize, Vec<Instance>>,
}

/// A field location: top-level (`inst == None`) or a repeat child in an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Loc {
    pub field: usize,
    pub inst: Option<usize>,
}

struct Ctx<'a> {
    d: &'a Draft,
    refs: &'a [Ref],
    me: Value,
    inst: Option<usize>,
}

impl Env for Ctx<'_> {
    fn var(&self, idx: usize) -> Value {
        let Some(r) = self.refs.get(idx) else { return Value::Null };
        let d = self.d;
        match *r {
            Ref::Top(t) => d.top[t].as_ref().map(|e| Value::from_json(&e.value)).unwrap_or(Value::Null),
            Ref::Sibling(c) => {
                let f = &d.form.fields[c];
                let (Some(g), Some(i)) = (f.parent, self.inst) else { return Value::Null };
                d.groups
                    .get(&g)
                    .and_then(|v| v.get(i))
                    .and_then(|ins| ins.values[f.slot].as_ref())
                    .map(|e| Value::from_json(&e.value))
                    .unwrap_or(Value::Null)
            }
            Ref::Column(c) => {
                let f = &d.form.fields[c];
                let Some(g) = f.parent else { return Value::Null };
                Value::List(
                    d.groups
                        .get(&g)
                        .map(|v| {
                            v.iter()
                                .map(|ins| {
                                    ins.values[f.slot]
                                        .as_ref()
                                        .map(|e| Value::from_json(&e.value))
                                        .unwrap_or(Value::Null)
                                })
                                .collect()
                        })
                        .unwrap_or_default(),
                )
            }
            Ref::Group(g) => Value::List(vec![Value::Bool(true); d.groups.get(&g).map(|v| v.len()).unwrap_or(0)]),
        }
    }
    fn self_value(&self) -> Value {
        self.me.clone()
    }
    fn today(&self) -> NaiveDate {
        self.d.today
    }
}

fn is_empty_json(v: &Json) -> bool {
    match v {
        Json::Null => true,
        Json::String(s) => s.trim().is_empty(),
        Json::Array(a) => a.is_empty(),
        _ => false,
    }
}

fn t(zh: impl Into<String>, en: impl Into<String>) -> Text {
    Text::new(zh, en)
}

fn valid_phone(s: &str) -> bool {
    let b = s.as_bytes();
    let mobile = b.len() == 11 && b[0] == b'1' && (b'3'..=b'9').contains(&b[1]) && b.iter().all(u8::is_ascii_digit);
    // Landline: 0 + area code (2–3 digits) + optional '-' + 7–8 digits.
    let landline = {
        let digits: String = s.chars().filter(|c| *c != '-').collect();
        s.starts_with('0')
            && s.chars().all(|c| c.is_ascii_digit() || c == '-')
            && s.matches('-').count() <= 1
            && (10..=12).contains(&digits.len())
    };
    mobile || landline
}

/// Checks a value against its field type; `None` when it is acceptable.
fn type_issue(kind: FieldType, spec: &super::schema::Field, v: &Json, today: NaiveDate) -> Option<(IssueCode, Text)> {
    let as_num = |v: &Json| match v {
        Json::Number(n) => n.as_f64(),
        Json::String(s) => s.trim().parse::<f64>().ok().filter(|x| x.is_finite()),
        _ => None,
    };
    let range = |x: f64| -> Option<(IssueCode, Text)> {
        if let Some(min) = spec.min {
            if x < min {
                return Some((IssueCode::Range, t(format!("不能小于 {min}"), format!("must be at least {min}"))));
            }
        }
        if let Some(max) = spec.max {
            if x > max {
                return Some((IssueCode::Range, t(format!("不能大于 {max}"), format!("must be at most {max}"))));
            }
        }
        None
    };
    let bad_format = |zh: &str, en: &str| Some((IssueCode::Format, t(zh, en)));
    match kind {
        FieldType::Text | FieldType::Address => {
            let Some(s) = text(v) else { return bad_format("应为文字", "must be text") };
            let n = s.chars().count() as u32;
            let min = spec.min_len.unwrap_or(if kind == FieldType::Address { 5 } else { 0 });
            let max = spec.max_len.unwrap_or(MAX_TEXT_LEN as u32);
            if n < min {
                return Some((IssueCode::Length, t(format!("至少 {min} 个字"), format!("at least {min} characters"))));
            }
            if n > max {
                return Some((IssueCode::Length, t(format!("最多 {max} 个字"), format!("at most {max} characters"))));
            }
            None
        }
        FieldType::Number => match as_num(v) {
            None => bad_format("应为数字", "must be a number"),
            Some(x) => range(x),
        },
        FieldType::Money => match as_num(v) {
            None => bad_format("应为金额", "must be an amount"),
            Some(x) if x < 0.0 => Some((IssueCode::Range, t("金额不能为负", "cannot be negative"))),
            Some(x) if ((x * 100.0).round() - x * 100.0).abs() > 1e-6 => {
                bad_format("金额最多保留两位小数", "at most two decimals")
            }
            Some(x) => range(x),
        },
        FieldType::Date => match text(v).and_then(super::expr::parse_date) {
            None => bad_format("日期格式应为 年-月-日（如 2026-11-23）", "use a date like 2026-11-23"),
            Some(_) => None,
        },
        FieldType::Choice => match text(v) {
            Some(s) if spec.options.iter().any(|o| o.value == s) => None,
            _ => Some((IssueCode::Option, t("请从选项中选择", "choose one of the options"))),
        },
        FieldType::MultiChoice => match v {
            Json::Array(a) => {
                let mut seen = std::collections::HashSet::new();
                let ok = a
                    .iter()
                    .all(|x| x.as_str().is_some_and(|s| spec.options.iter().any(|o| o.value == s) && seen.insert(s)));
                if ok {
                    None
                } else {
                    Some((IssueCode::Option, t("请从选项中选择，不能重复", "choose from the options, each once")))
                }
            }
            _ => Some((IssueCode::Option, t("请从选项中选择", "choose from the options"))),
        },
        FieldType::Bool => match v {
            Json::Bool(_) => None,
            _ => bad_format("应为是或否", "must be yes or no"),
        },
        FieldType::Phone => match text(v) {
            Some(s) if valid_phone(s) => None,
            _ => bad_format(
                "请输入 11 位手机号或带区号的固定电话",
                "enter an 11-digit mobile or a landline with area code",
            ),
        },
        FieldType::IdNumber => match text(v) {
            None => bad_format("应为公民身份号码", "must be an ID number"),
            Some(s) => ids::validate_id_number(s, today).err().map(|e| {
                (IssueCode::Format, t(format!("身份号码{}", e.message_zh()), format!("ID number: {}", e.message_en())))
            }),
        },
        FieldType::Uscc => match text(v) {
            None => bad_format("应为统一社会信用代码", "must be a USCC"),
            Some(s) => ids::validate_uscc(s).err().map(|e| {
                (
                    IssueCode::Format,
                    t(format!("统一社会信用代码{}", e.message_zh()), format!("USCC: {}", e.message_en())),
                )
            }),
        },
        FieldType::Region => match text(v) {
            None => bad_format("应为 6 位行政区划代码", "must be a 6-digit region code"),
            Some(s) => ids::validate_region_code(s).err().map(|e| {
                (
                    IssueCode::Format,
                    t(format!("行政区划代码{}", e.message_zh()), format!("region code: {}", e.message_en())),
                )
            }),
        },
        FieldType::Attachment => match text(v) {
            Some(s) if !s.is_empty() => None,
            _ => bad_format("请上传附件", "attach a file"),
        },
        FieldType::Repeat => None,
    }
}

fn text(v: &Json) -> Option<&str> {
    v.as_str().map(str::trim)
}

/// Checks a value's JSON shape and size before it is stored (a typed error, not a validation issue).
fn check_shape(key: &str, kind: FieldType, v: &Json) -> Result<()> {
    let bad = || Error::validation(key, "值的类型不对", "wrong kind of value for this field");
    match v {
        Json::Null | Json::Bool(_) | Json::Number(_) => Ok(()),
        Json::String(s) if s.len() <= MAX_TEXT_LEN * 4 => Ok(()),
        Json::String(_) => Err(Error::validation(key, "内容过长", "value too long")),
        Json::Array(a) if kind == FieldType::MultiChoice && a.len() <= MAX_OPTIONS => {
            if a.iter().all(|x| x.as_str().is_some_and(|s| s.len() <= 256)) {
                Ok(())
            } else {
                Err(bad())
            }
        }
        _ => Err(bad()),
    }
}

impl Draft {
    /// An empty draft for an item or bundle of the catalog.
    pub fn new(catalog: &Catalog, id: &str, subject: &str, target: &str, today: NaiveDate, now: i64) -> Result<Draft> {
        let form = catalog.form(target)?;
        let materials = catalog.materials(target)?;
        Ok(Draft::with_form(form, materials, catalog.version(), id, subject, target, today, now))
    }

    #[allow(clippy::too_many_arguments)]
    pub fn with_form(
        form: Arc<Form>,
        materials: Vec<MaterialNeed>,
        catalog_version: i64,
        id: &str,
        subject: &str,
        target: &str,
        today: NaiveDate,
        now: i64,
    ) -> Draft {
        let n = form.fields.len();
        let mut groups = BTreeMap::new();
        for &i in &form.top {
            if form.fields[i].spec.kind == FieldType::Repeat {
                groups.insert(i, Vec::new());
            }
        }
        let mut d = Draft {
            id: id.to_string(),
            subject: subject.to_string(),
            target: target.to_string(),
            catalog_version,
            created_at: now,
            updated_at: now,
            form,
            materials,
            licences: Vec::new(),
            choices: BTreeMap::new(),
            today,
            top: vec![None; n],
            state: vec![FState::default(); n],
            groups,
        };
        // Groups start with their minimum number of instances.
        let mins: Vec<(usize, u32)> =
            d.groups.keys().map(|&g| (g, d.form.fields[g].spec.min_items.unwrap_or(0))).collect();
        for (g, min) in mins {
            for _ in 0..min {
                d.push_instance(g);
            }
        }
        d.recompute_all();
        d
    }

    fn push_instance(&mut self, g: usize) -> usize {
        let n = self.form.fields[g].children.len();
        let v = self.groups.entry(g).or_default();
        v.push(Instance { values: vec![None; n], state: vec![FState::default(); n] });
        v.len() - 1
    }

    // ---- reading -------------------------------------------------------------------------------

    fn entry(&self, loc: Loc) -> Option<&Entry> {
        let f = &self.form.fields[loc.field];
        match (f.parent, loc.inst) {
            (None, _) => self.top[loc.field].as_ref(),
            (Some(g), Some(i)) => self.groups.get(&g)?.get(i)?.values[f.slot].as_ref(),
            (Some(_), None) => None,
        }
    }
    fn entry_mut(&mut self, loc: Loc) -> Option<&mut Option<Entry>> {
        let f = &self.form.fields[loc.field];
        match (f.parent, loc.inst) {
            (None, _) => Some(&mut self.top[loc.field]),
            (Some(g), Some(i)) => Some(&mut self.groups.get_mut(&g)?.get_mut(i)?.values[f.slot]),
            (Some(_), None) => None,
        }
    }
    fn fstate_mut(&mut self, loc: Loc) -> Option<&mut FState> {
        let f = &self.form.fields[loc.field];
        match (f.parent, loc.inst) {
            (None, _) => Some(&mut self.state[loc.field]),
            (Some(g), Some(i)) => Some(&mut self.groups.get_mut(&g)?.get_mut(i)?.state[f.slot]),
            (Some(_), None) => None,
        }
    }
    fn fstate(&self, loc: Loc) -> Option<&FState> {
        let f = &self.form.fields[loc.field];
        match (f.parent, loc.inst) {
            (None, _) => Some(&self.state[loc.field]),
            (Some(g), Some(i)) => Some(&self.groups.get(&g)?.get(i)?.state[f.slot]),
            (Some(_), None) => None,
        }
    }

    /// The value at a path (`applicant.name`, `household.members[0].name`).
    pub fn value(&self, path: &str) -> Option<&Entry> {
        self.resolve(path).ok().and_then(|l| self.entry(l))
    }
    pub fn is_visible(&self, path: &str) -> bool {
        self.resolve(path).ok().and_then(|l| self.fstate(l)).is_some_and(|s| s.visible)
    }
    /// Number of instances of a repeat group.
    pub fn instances(&self, group: &str) -> usize {
        self.form.index(group).and_then(|g| self.groups.get(&g)).map(|v| v.len()).unwrap_or(0)
    }

    /// Parses a path into a location.
    pub fn resolve(&self, path: &str) -> Result<Loc> {
        let unknown = || Error::validation(path, "表单中没有这个字段", "no such field in this form");
        if let Some(open) = path.find('[') {
            let close = path[open..].find(']').map(|c| c + open).ok_or_else(unknown)?;
            let group = &path[..open];
            let inst: usize = path[open + 1..close].parse().map_err(|_| unknown())?;
            let child = path[close + 1..].strip_prefix('.').ok_or_else(unknown)?;
            let g = self.form.index(group).ok_or_else(unknown)?;
            let idx = self.form.index(&format!("{group}.{child}")).ok_or_else(unknown)?;
            if self.form.fields[idx].parent != Some(g) {
                return Err(unknown());
            }
            if inst >= self.groups.get(&g).map(|v| v.len()).unwrap_or(0) {
                return Err(Error::validation(path, "没有这一项", "no such entry in the group"));
            }
            return Ok(Loc { field: idx, inst: Some(inst) });
        }
        let idx = self.form.index(path).ok_or_else(unknown)?;
        if self.form.fields[idx].parent.is_some() {
            return Err(unknown());
        }
        Ok(Loc { field: idx, inst: None })
    }

    pub fn path_of(&self, loc: Loc) -> String {
        let f = &self.form.fields[loc.field];
        match (f.parent, loc.inst) {
            (Some(g), Some(i)) => format!("{}[{i}].{}", self.form.fields[g].key, f.spec.id),
            _ => f.key.clone(),
        }
    }

    // ---- evaluation ----------------------------------------------------------------------------

    fn eval(&self, e: &CExpr, inst: Option<usize>, me: Value) -> Value {
        e.expr.eval(&Ctx { d: self, refs: &e.refs, me, inst })
    }

    /// Re-evaluates one field at one location: visibility, computed value, issues. Returns whether its
    /// value or visibility changed (so its dependents need a look).
    fn refresh(&mut self, loc: Loc) -> bool {
        let form = self.form.clone();
        let f = &form.fields[loc.field];
        let parent_visible = match f.parent {
            Some(g) => self.state[g].visible,
            None => true,
        };
        let visible = parent_visible && f.show_if.as_ref().is_none_or(|e| self.eval(e, loc.inst, Value::Null).truthy());
        let mut changed = self.fstate(loc).is_none_or(|s| s.visible != visible);
        if let Some(c) = &f.compute {
            let v = self.eval(c, loc.inst, Value::Null).to_json();
            let new = if v.is_null() {
                None
            } else {
                Some(Entry { value: v, provenance: Provenance::Computed, locked: true, confirm: false })
            };
            if let Some(slot) = self.entry_mut(loc) {
                if *slot != new {
                    *slot = new;
                    changed = true;
                }
            }
        }
        let issues = if visible { self.check(loc) } else { Vec::new() };
        if let Some(s) = self.fstate_mut(loc) {
            s.visible = visible;
            s.issues = issues;
        }
        if changed && f.spec.kind == FieldType::Repeat {
            // A group shown or hidden: its children follow.
            let n = self.groups.get(&loc.field).map(|v| v.len()).unwrap_or(0);
            for &c in &f.children {
                for i in 0..n {
                    self.refresh(Loc { field: c, inst: Some(i) });
                }
            }
        }
        changed
    }

    /// The issues of one visible field.
    fn check(&self, loc: Loc) -> Vec<(IssueCode, Severity, Text)> {
        let f = &self.form.fields[loc.field];
        let mut out = Vec::new();
        let required =
            f.spec.required || f.required_if.as_ref().is_some_and(|e| self.eval(e, loc.inst, Value::Null).truthy());
        if f.spec.kind == FieldType::Repeat {
            let n = self.groups.get(&loc.field).map(|v| v.len()).unwrap_or(0) as u32;
            let min = f.spec.min_items.unwrap_or(0).max(u32::from(required));
            if n < min {
                out.push((
                    IssueCode::TooFew,
                    Severity::Error,
                    t(format!("至少填写 {min} 项"), format!("add at least {min}")),
                ));
            }
            if let Some(max) = f.spec.max_items {
                if n > max {
                    out.push((
                        IssueCode::TooMany,
                        Severity::Error,
                        t(format!("最多 {max} 项"), format!("at most {max}")),
                    ));
                }
            }
            return out;
        }
        let entry = self.entry(loc);
        let value = entry.map(|e| &e.value).filter(|v| !is_empty_json(v));
        let Some(v) = value else {
            if required && f.compute.is_none() {
                out.push((IssueCode::Required, Severity::Error, t("必填", "required")));
            }
            return out;
        };
        if let Some((code, msg)) = type_issue(f.spec.kind, &f.spec, v, self.today) {
            out.push((code, Severity::Error, msg));
            return out;
        }
        let me = Value::from_json(v);
        for (c, msg) in &f.constraints {
            // Null means "cannot be checked yet" (another value missing): not a failure.
            match self.eval(c, loc.inst, me.clone()) {
                Value::Null => {}
                r if r.truthy() => {}
                _ => out.push((IssueCode::Constraint, Severity::Error, msg.clone())),
            }
        }
        if entry.is_some_and(|e| e.confirm) {
            out.push((
                IssueCode::Confirm,
                Severity::Warning,
                t("资料可能已过时，请确认", "this may be out of date: please confirm"),
            ));
        }
        out
    }

    /// Evaluates the whole form (on creation and resume). Computed values that read other computed
    /// values settle in at most as many passes as there are computed fields.
    pub fn recompute_all(&mut self) {
        let form = self.form.clone();
        let passes = form.fields.iter().filter(|f| f.compute.is_some()).count() + 1;
        for _ in 0..passes {
            let mut changed_computed = false;
            for &i in &form.top {
                let ch = self.refresh(Loc { field: i, inst: None });
                changed_computed |= ch && form.fields[i].compute.is_some();
                if form.fields[i].spec.kind == FieldType::Repeat {
                    let n = self.groups.get(&i).map(|v| v.len()).unwrap_or(0);
                    for &c in &form.fields[i].children {
                        for k in 0..n {
                            let ch = self.refresh(Loc { field: c, inst: Some(k) });
                            changed_computed |= ch && form.fields[c].compute.is_some();
                        }
                    }
                }
            }
            if !changed_computed {
                break;
            }
        }
    }

    /// After `loc` changed: re-evaluate what reads it, following changed computed values.
    fn propagate(&mut self, loc: Loc) {
        let form = self.form.clone();
        let mut queue = VecDeque::from([loc]);
        // Bound: each field location at most a few times per edit (no cycles among computed values).
        let mut budget = form.fields.len() * 4 + 64;
        while let Some(x) = queue.pop_front() {
            let xf = &form.fields[x.field];
            for &d in &xf.dependents {
                let df = &form.fields[d];
                let targets: Vec<Loc> = match df.parent {
                    None => vec![Loc { field: d, inst: None }],
                    Some(g) if xf.parent == Some(g) && x.inst.is_some() => vec![Loc { field: d, inst: x.inst }],
                    Some(g) => {
                        let n = self.groups.get(&g).map(|v| v.len()).unwrap_or(0);
                        (0..n).map(|i| Loc { field: d, inst: Some(i) }).collect()
                    }
                };
                for tl in targets {
                    if self.refresh(tl) {
                        if budget == 0 {
                            return;
                        }
                        budget -= 1;
                        queue.push_back(tl);
                    }
                }
            }
        }
    }

    // ---- editing -------------------------------------------------------------------------------

    /// Sets a value (null clears it). Locked (verified) and computed fields refuse with a typed error;
    /// a value of the wrong kind (an object, an over-long text) too. Format problems are not errors here:
    /// they show up as issues, so a person can type a partial value.
    pub fn set(&mut self, path: &str, value: Json, editor: &Editor, now: i64) -> Result<()> {
        let loc = self.resolve(path)?;
        let f = &self.form.fields[loc.field];
        if f.compute.is_some() || f.spec.kind == FieldType::Repeat {
            return Err(Error::validation(
                path,
                "此项为自动计算，不能填写",
                "this value is computed and cannot be typed",
            ));
        }
        check_shape(path, f.spec.kind, &value)?;
        if self.entry(loc).is_some_and(|e| e.locked) {
            return Err(Error::validation(
                path,
                "此项已由电子证照核验，不能修改；如有误请更新证照",
                "verified from an e-licence and locked; update the licence if it is wrong",
            ));
        }
        let provenance = match editor {
            Editor::Person => Provenance::Form { draft_id: self.id.clone(), at: now },
            Editor::Agent { agent } => Provenance::Agent { agent: agent.clone(), at: now },
        };
        let new =
            if is_empty_json(&value) { None } else { Some(Entry { value, provenance, locked: false, confirm: false }) };
        if let Some(slot) = self.entry_mut(loc) {
            *slot = new;
        }
        if let Some(m) = self.form.fields[loc.field].spec.material.clone() {
            match self.entry(loc).and_then(|e| e.value.as_str()).map(str::to_string) {
                Some(id) => {
                    self.choices.insert(m, MaterialChoice::Attached { attachment_id: id });
                }
                None => {
                    self.choices.remove(&m);
                }
            }
        }
        self.updated_at = now;
        self.refresh(loc);
        self.propagate(loc);
        Ok(())
    }

    /// Confirms a value marked as possibly out of date.
    pub fn confirm(&mut self, path: &str, now: i64) -> Result<()> {
        let loc = self.resolve(path)?;
        if let Some(Some(e)) = self.entry_mut(loc) {
            e.confirm = false;
        }
        self.updated_at = now;
        self.refresh(loc);
        Ok(())
    }

    /// Adds an instance to a repeat group; returns its index.
    pub fn add_instance(&mut self, group: &str, now: i64) -> Result<usize> {
        let g = self
            .form
            .index(group)
            .filter(|&g| self.form.fields[g].spec.kind == FieldType::Repeat)
            .ok_or_else(|| Error::validation(group, "没有这个重复组", "no such repeat group"))?;
        let max = self.form.fields[g].spec.max_items.unwrap_or(super::schema::MAX_REPEAT);
        if self.groups.get(&g).map(|v| v.len()).unwrap_or(0) as u32 >= max {
            return Err(Error::validation(group, format!("最多 {max} 项"), format!("at most {max} entries")));
        }
        let i = self.push_instance(g);
        self.updated_at = now;
        let children = self.form.fields[g].children.clone();
        for c in children {
            self.refresh(Loc { field: c, inst: Some(i) });
        }
        self.refresh(Loc { field: g, inst: None });
        self.propagate(Loc { field: g, inst: None });
        for c in self.form.fields[g].children.clone() {
            self.propagate(Loc { field: c, inst: Some(i) });
        }
        Ok(i)
    }

    /// Removes instance `index` of a repeat group.
    pub fn remove_instance(&mut self, group: &str, index: usize, now: i64) -> Result<()> {
        let g = self
            .form
            .index(group)
            .filter(|&g| self.form.fields[g].spec.kind == FieldType::Repeat)
            .ok_or_else(|| Error::validation(group, "没有这个重复组", "no such repeat group"))?;
        let v = self
            .groups
            .get_mut(&g)
            .ok_or_else(|| Error::validation(group, "没有这个重复组", "no such repeat group"))?;
        if index >= v.len() {
            return Err(Error::validation(format!("{group}[{index}]"), "没有这一项", "no such entry"));
        }
        v.remove(index);
        self.updated_at = now;
        self.refresh(Loc { field: g, inst: None });
        self.propagate(Loc { field: g, inst: None });
        for c in self.form.fields[g].children.clone() {
            // Column readers (sums, counts) see one instance fewer.
            self.propagate(Loc { field: c, inst: None });
        }
        Ok(())
    }

    /// Records how a material is dealt with (None: undo).
    pub fn set_material(&mut self, code: &str, choice: Option<MaterialChoice>, now: i64) -> Result<()> {
        let need = self.materials.iter().find(|m| m.material.code == code).ok_or_else(|| {
            Error::validation(format!("material:{code}"), "本事项不需要此材料", "this material is not needed here")
        })?;
        match &choice {
            Some(MaterialChoice::Committed { .. }) if !need.material.commitment => {
                return Err(Error::validation(
                    format!("material:{code}"),
                    "此材料不适用告知承诺",
                    "a commitment cannot replace this material",
                ))
            }
            Some(MaterialChoice::Deferred { .. }) if need.material.deferrable_days.is_none() => {
                return Err(Error::validation(
                    format!("material:{code}"),
                    "此材料不能容缺后补",
                    "this material cannot follow later",
                ))
            }
            Some(MaterialChoice::Attached { attachment_id }) if attachment_id.trim().is_empty() => {
                return Err(Error::validation(format!("material:{code}"), "附件标识为空", "empty attachment id"))
            }
            _ => {}
        }
        match choice {
            Some(c) => self.choices.insert(code.to_string(), c),
            None => self.choices.remove(code),
        };
        self.updated_at = now;
        Ok(())
    }

    // ---- autofill ------------------------------------------------------------------------------

    /// Fills empty fields from licences (verified, locked unless the binding allows edits) and the
    /// profile (values entered long ago marked for confirmation). Returns how many fields were filled.
    pub fn autofill(&mut self, profile: &Profile, licences: &[HeldLicence], opts: &AutofillOptions) -> usize {
        self.licences = licences.to_vec();
        self.today = opts.today;
        let form = self.form.clone();
        let stale_secs = i64::from(opts.stale_after_days) * 86_400;
        let mut filled = 0;
        for &i in &form.top {
            let f = &form.fields[i];
            let Some(b) = &f.spec.bind else { continue };
            if f.compute.is_some() || self.top[i].as_ref().is_some_and(|e| !is_empty_json(&e.value)) {
                continue;
            }
            if f.spec.kind == FieldType::Repeat {
                continue;
            }
            let from_licence = b.licence.as_ref().and_then(|lr| {
                licences
                    .iter()
                    .filter(|l| l.licence_type == lr.licence_type)
                    .filter(|l| l.fields.get(&lr.field).is_some_and(|v| !is_empty_json(v)))
                    .max_by(|a, b| a.as_of.cmp(&b.as_of))
                    .map(|l| (l, l.fields[&lr.field].clone()))
            });
            let entry = match from_licence {
                Some((l, v)) => {
                    let valid = l.valid_on(opts.today);
                    Some(Entry {
                        value: v,
                        provenance: Provenance::Licence {
                            licence_type: l.licence_type.clone(),
                            licence_id: l.licence_id.clone(),
                            as_of: l.as_of.clone(),
                        },
                        locked: valid && !b.editable,
                        confirm: !valid,
                    })
                }
                None => {
                    b.profile.as_deref().and_then(|p| profile.get(p)).filter(|pv| !is_empty_json(&pv.value)).map(|pv| {
                        let verified = pv.provenance.is_verified();
                        let stale = pv.provenance.entered_at().is_some_and(|at| opts.now - at > stale_secs);
                        Entry {
                            value: pv.value.clone(),
                            provenance: pv.provenance.clone(),
                            locked: verified && !b.editable,
                            confirm: stale,
                        }
                    })
                }
            };
            if let Some(e) = entry {
                self.top[i] = Some(e);
                filled += 1;
            }
        }
        self.recompute_all();
        filled
    }

    /// Values the person (or an agent) typed into visible fields bound to a profile path, as
    /// `(profile path, value, provenance)`: what the profile learns when the draft is submitted.
    pub fn typed_profile_values(&self) -> Vec<(String, Json, Provenance)> {
        let mut out = Vec::new();
        for &i in &self.form.top {
            let f = &self.form.fields[i];
            let Some(path) = f.spec.bind.as_ref().and_then(|b| b.profile.as_ref()) else { continue };
            if f.compute.is_some() || f.spec.kind == FieldType::Repeat || !self.state[i].visible {
                continue;
            }
            let Some(e) = self.top[i].as_ref().filter(|e| !is_empty_json(&e.value)) else { continue };
            if matches!(e.provenance, Provenance::Form { .. } | Provenance::Agent { .. }) {
                out.push((path.clone(), e.value.clone(), e.provenance.clone()));
            }
        }
        out
    }

    // ---- reports -------------------------------------------------------------------------------

    fn each_input(&self, mut f: impl FnMut(Loc, &FState, Option<&Entry>)) {
        for &i in &self.form.top {
            let fd = &self.form.fields[i];
            if fd.spec.kind == FieldType::Repeat {
                let Some(insts) = self.groups.get(&i) else { continue };
                for (k, ins) in insts.iter().enumerate() {
                    for &c in &fd.children {
                        let cf = &self.form.fields[c];
                        if cf.compute.is_none() {
                            f(Loc { field: c, inst: Some(k) }, &ins.state[cf.slot], ins.values[cf.slot].as_ref());
                        }
                    }
                }
            } else if fd.compute.is_none() {
                f(Loc { field: i, inst: None }, &self.state[i], self.top[i].as_ref());
            }
        }
    }

    /// Every field as a screen shows it, in form order (repeat children per instance, after their group).
    pub fn view(&self) -> Vec<FieldView> {
        let mut out = Vec::new();
        let mut push = |d: &Draft, loc: Loc, st: &FState, e: Option<&Entry>| {
            let f = &d.form.fields[loc.field];
            out.push(FieldView {
                path: d.path_of(loc),
                kind: f.spec.kind,
                label: f.spec.label.clone(),
                help: f.spec.help.clone(),
                options: f.spec.options.iter().map(|o| (o.value.clone(), o.label.clone())).collect(),
                visible: st.visible,
                computed: f.compute.is_some(),
                value: e.map(|e| e.value.clone()).unwrap_or(Json::Null),
                provenance: e.map(|e| e.provenance.clone()),
                locked: e.is_some_and(|e| e.locked) || f.compute.is_some(),
                confirm: e.is_some_and(|e| e.confirm),
                issues: st.issues.iter().map(|i| i.2.clone()).collect(),
            });
        };
        for &i in &self.form.top {
            let fd = &self.form.fields[i];
            push(self, Loc { field: i, inst: None }, &self.state[i], self.top[i].as_ref());
            if fd.spec.kind == FieldType::Repeat {
                for (k, ins) in self.groups.get(&i).map(|v| v.as_slice()).unwrap_or(&[]).iter().enumerate() {
                    for &c in &fd.children {
                        let slot = self.form.fields[c].slot;
                        push(self, Loc { field: c, inst: Some(k) }, &ins.state[slot], ins.values[slot].as_ref());
                    }
                }
            }
        }
        out
    }

    /// Where each material stands.
    pub fn material_report(&self) -> Vec<MaterialReport> {
        self.materials
            .iter()
            .map(|n| {
                let m = &n.material;
                let held = m
                    .licence_type
                    .as_ref()
                    .and_then(|lt| self.licences.iter().find(|l| &l.licence_type == lt && l.valid_on(self.today)));
                let status = if let Some(l) = held {
                    MaterialStatus::Exempt { licence_type: l.licence_type.clone(), licence_id: l.licence_id.clone() }
                } else if let Some(item) = &n.produced_by {
                    MaterialStatus::ProducedInBundle { item: item.clone() }
                } else {
                    match self.choices.get(&m.code) {
                        Some(MaterialChoice::Attached { attachment_id }) => {
                            MaterialStatus::Attached { attachment_id: attachment_id.clone() }
                        }
                        Some(MaterialChoice::Committed { .. }) => MaterialStatus::Committed,
                        Some(MaterialChoice::Deferred { .. }) => {
                            MaterialStatus::Deferred { within_working_days: m.deferrable_days.unwrap_or(0) }
                        }
                        None if !m.required => MaterialStatus::Optional,
                        None if m.commitment => MaterialStatus::Commitment,
                        None => match m.deferrable_days {
                            Some(d) => MaterialStatus::Deferrable { within_working_days: d },
                            None => MaterialStatus::Missing,
                        },
                    }
                };
                MaterialReport {
                    code: m.code.clone(),
                    name: m.name.clone(),
                    required: m.required,
                    items: n.items.clone(),
                    status,
                }
            })
            .collect()
    }

    /// Fields total / filled / verified / left, and the materials by status.
    pub fn report(&self) -> FillReport {
        let mut r = FillReport::default();
        self.each_input(|_, st, e| {
            if !st.visible {
                return;
            }
            r.fields_total += 1;
            match e.filter(|e| !is_empty_json(&e.value)) {
                Some(e) => {
                    r.fields_filled += 1;
                    if e.provenance.is_verified() {
                        r.fields_verified += 1;
                    }
                    if e.confirm {
                        r.needs_confirmation += 1;
                    }
                }
                None => {
                    r.fields_left += 1;
                    if st.issues.iter().any(|i| i.0 == IssueCode::Required) {
                        r.required_left += 1;
                    }
                }
            }
        });
        for m in self.material_report() {
            r.materials_total += 1;
            match m.status {
                MaterialStatus::Exempt { .. } | MaterialStatus::ProducedInBundle { .. } => r.materials_exempt += 1,
                MaterialStatus::Attached { .. } | MaterialStatus::Committed | MaterialStatus::Deferred { .. } => {
                    r.materials_attached += 1
                }
                MaterialStatus::Deferrable { .. } => r.materials_deferrable += 1,
                MaterialStatus::Commitment => r.materials_commitment += 1,
                MaterialStatus::Optional => r.materials_optional += 1,
                MaterialStatus::Missing => r.materials_missing += 1,
            }
        }
        let (f, t) = (r.fields_filled, r.fields_total);
        let en = if t == 1 { format!("{f} of 1 field filled") } else { format!("{f} of {t} fields filled") };
        r.filled_text = Text::new(format!("已填 {f} / {t} 项"), en);
        r
    }

    /// Every problem at once: fields (path + message in zh and en) and blocking materials.
    pub fn validate(&self) -> Vec<Issue> {
        let mut out = Vec::new();
        for &i in &self.form.top {
            let fd = &self.form.fields[i];
            let st = &self.state[i];
            if st.visible {
                for (code, sev, msg) in &st.issues {
                    out.push(Issue { path: fd.key.clone(), code: *code, severity: *sev, message: msg.clone() });
                }
            }
            if fd.spec.kind == FieldType::Repeat && st.visible {
                let Some(insts) = self.groups.get(&i) else { continue };
                for (k, ins) in insts.iter().enumerate() {
                    for &c in &fd.children {
                        let cf = &self.form.fields[c];
                        let s = &ins.state[cf.slot];
                        if s.visible {
                            for (code, sev, msg) in &s.issues {
                                out.push(Issue {
                                    path: format!("{}[{k}].{}", fd.key, cf.spec.id),
                                    code: *code,
                                    severity: *sev,
                                    message: msg.clone(),
                                });
                            }
                        }
                    }
                }
            }
        }
        for m in self.material_report() {
            let msg = match &m.status {
                MaterialStatus::Missing => {
                    Some(t(format!("请上传“{}”", m.name.zh), format!("attach \"{}\"", m.name.en)))
                }
                MaterialStatus::Commitment => Some(t(
                    format!("请上传“{}”或签署告知承诺书", m.name.zh),
                    format!("attach \"{}\" or sign a commitment", m.name.en),
                )),
                _ => None,
            };
            if let Some(message) = msg {
                out.push(Issue {
                    path: format!("material:{}", m.code),
                    code: IssueCode::Material,
                    severity: Severity::Error,
                    message,
                });
            }
        }
        out
    }

    /// No blocking problem: ready to submit.
    pub fn is_complete(&self) -> bool {
        self.validate().iter().all(|i| i.severity != Severity::Error)
    }

    /// The answers as JSON (`{field: value}`, groups as arrays of objects), for submission.
    pub fn answers(&self) -> Json {
        let mut m = serde_json::Map::new();
        for &i in &self.form.top {
            let fd = &self.form.fields[i];
            if !self.state[i].visible {
                continue;
            }
            if fd.spec.kind == FieldType::Repeat {
                let insts = self.groups.get(&i).map(|v| v.as_slice()).unwrap_or(&[]);
                let arr: Vec<Json> = insts
                    .iter()
                    .map(|ins| {
                        let mut o = serde_json::Map::new();
                        for &c in &fd.children {
                            let cf = &self.form.fields[c];
                            if let Some(e) = &ins.values[cf.slot] {
                                o.insert(cf.spec.id.clone(), e.value.clone());
                            }
                        }
                        Json::Object(o)
                    })
                    .collect();
                m.insert(fd.key.clone(), Json::Array(arr));
            } else if let Some(e) = &self.top[i] {
                m.insert(fd.key.clone(), e.value.clone());
            }
        }
        Json::Object(m)
    }

    // ---- snapshot ------------------------------------------------------------------------------

    pub(crate) fn snapshot_values(&self) -> (BTreeMap<String, Entry>, GroupValues) {
        let mut values = BTreeMap::new();
        let mut groups = BTreeMap::new();
        for &i in &self.form.top {
            let fd = &self.form.fields[i];
            if fd.spec.kind == FieldType::Repeat {
                let insts = self.groups.get(&i).map(|v| v.as_slice()).unwrap_or(&[]);
                let arr = insts
                    .iter()
                    .map(|ins| {
                        fd.children
                            .iter()
                            .filter_map(|&c| {
                                let cf = &self.form.fields[c];
                                ins.values[cf.slot]
                                    .clone()
                                    .filter(|_| cf.compute.is_none())
                                    .map(|e| (cf.spec.id.clone(), e))
                            })
                            .collect()
                    })
                    .collect();
                groups.insert(fd.key.clone(), arr);
            } else if let Some(e) = &self.top[i] {
                if fd.compute.is_none() {
                    values.insert(fd.key.clone(), e.clone());
                }
            }
        }
        (values, groups)
    }

    /// Restores values saved by [`Draft::snapshot_values`] (fields no longer in the form are dropped).
    pub(crate) fn restore_values(&mut self, values: &BTreeMap<String, Entry>, groups: &GroupValues) {
        let form = self.form.clone();
        for (k, e) in values {
            if let Some(i) =
                form.index(k).filter(|&i| form.fields[i].parent.is_none() && form.fields[i].compute.is_none())
            {
                self.top[i] = Some(e.clone());
            }
        }
        for (k, insts) in groups {
            let Some(g) = form.index(k).filter(|&g| form.fields[g].spec.kind == FieldType::Repeat) else { continue };
            if let Some(v) = self.groups.get_mut(&g) {
                v.clear();
            }
            for ins in insts.iter().take(super::schema::MAX_REPEAT as usize) {
                let i = self.push_instance(g);
                for (cid, e) in ins {
                    if let Some(c) = form.index(&format!("{k}.{cid}")) {
                        let slot = form.fields[c].slot;
                        if let Some(v) = self.groups.get_mut(&g) {
                            v[i].values[slot] = Some(e.clone());
                        }
                    }
                }
            }
        }
        self.recompute_all();
    }
}
