//! The JSON form schema (documented in `docs/forms.md`) and its compiled form.
//!
//! Loading checks everything that can be checked before a person types: size and nesting bounds, field
//! ids, option lists, every expression parsed and every name resolved, no cycle among computed values.
//! A schema that loads can never fail while it is filled in.

use super::expr::{Expr, ExprError};
use crate::{Error, Result, Text};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Largest schema document accepted, in bytes.
pub const MAX_SCHEMA_BYTES: usize = 1 << 20;
/// Most fields in one form (repeat-group children included).
pub const MAX_FIELDS: usize = 2000;
pub const MAX_OPTIONS: usize = 500;
pub const MAX_ID_LEN: usize = 64;
/// Longest text value a field accepts.
pub const MAX_TEXT_LEN: usize = 4000;
/// Most instances any repeat group may declare.
pub const MAX_REPEAT: u32 = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum FieldType {
    Text,
    Number,
    Money,
    Date,
    Choice,
    MultiChoice,
    Bool,
    Phone,
    IdNumber,
    Uscc,
    Region,
    Address,
    Attachment,
    Repeat,
}

impl FieldType {
    pub const ALL: [FieldType; 14] = [
        FieldType::Text,
        FieldType::Number,
        FieldType::Money,
        FieldType::Date,
        FieldType::Choice,
        FieldType::MultiChoice,
        FieldType::Bool,
        FieldType::Phone,
        FieldType::IdNumber,
        FieldType::Uscc,
        FieldType::Region,
        FieldType::Address,
        FieldType::Attachment,
        FieldType::Repeat,
    ];
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChoiceOption {
    pub value: String,
    pub label: Text,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Constraint {
    /// Must be true for the value to be accepted (evaluated only when the field has a value).
    pub expr: String,
    pub message: Text,
}

/// A licence field a form field can be filled from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LicenceRef {
    #[serde(rename = "type")]
    pub licence_type: String,
    pub field: String,
}

/// Where a field's value can come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Binding {
    /// A profile path: `person.name`, `family.child.name`, `enterprise.uscc`, … (see `profile`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// A licence field, read from the wallet through `LicenceSource`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub licence: Option<LicenceRef>,
    /// Whether a verified value may be changed by the person (locked otherwise).
    #[serde(default)]
    pub editable: bool,
}

/// One field of a form schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Field {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: FieldType,
    pub label: Text,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub help: Option<Text>,
    #[serde(default)]
    pub required: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_if: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub show_if: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compute: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub constraints: Vec<Constraint>,
    /// Number / money bounds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// Text length bounds (characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_len: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_len: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<ChoiceOption>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind: Option<Binding>,
    /// For attachment fields: the catalog material an upload here provides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub material: Option<String>,
    /// Repeat groups: the fields of one instance, and how many instances.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<Field>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_items: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_items: Option<u32>,
}

impl Field {
    /// A bare field (used by tests and generated schemas).
    pub fn new(id: &str, kind: FieldType, zh: &str, en: &str) -> Field {
        Field {
            id: id.into(),
            kind,
            label: Text::new(zh, en),
            help: None,
            required: false,
            required_if: None,
            show_if: None,
            compute: None,
            constraints: Vec::new(),
            min: None,
            max: None,
            min_len: None,
            max_len: None,
            options: Vec::new(),
            bind: None,
            material: None,
            fields: Vec::new(),
            min_items: None,
            max_items: None,
        }
    }
}

/// A form schema document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FormSchema {
    pub id: String,
    pub version: u32,
    pub title: Text,
    pub fields: Vec<Field>,
}

/// A reference from an expression to the data it reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ref {
    /// A top-level field.
    Top(usize),
    /// A field of the same repeat instance.
    Sibling(usize),
    /// One child field across all instances of its group (a list).
    Column(usize),
    /// A repeat group itself (a list with one entry per instance; use `len()`).
    Group(usize),
}

#[derive(Debug, Clone)]
pub struct CExpr {
    pub expr: Expr,
    pub refs: Vec<Ref>,
}

/// One compiled field.
#[derive(Debug, Clone)]
pub struct FieldDef {
    pub spec: Field,
    /// `applicant.name` for top-level fields, `group.child` for repeat children.
    pub key: String,
    pub parent: Option<usize>,
    pub children: Vec<usize>,
    /// Position among the top-level fields or among the parent's children.
    pub slot: usize,
    pub show_if: Option<CExpr>,
    pub compute: Option<CExpr>,
    pub required_if: Option<CExpr>,
    pub constraints: Vec<(CExpr, Text)>,
    /// Fields whose expressions read this field (directly).
    pub dependents: Vec<usize>,
}

/// A compiled form: the flat field table the draft engine works on.
#[derive(Debug, Clone)]
pub struct Form {
    pub id: String,
    pub version: u32,
    pub title: Text,
    pub fields: Vec<FieldDef>,
    pub top: Vec<usize>,
    by_key: HashMap<String, usize>,
}

fn schema_err(path: &str, zh: impl Into<String>, en: impl Into<String>) -> Error {
    Error::validation(format!("schema:{path}"), zh, en)
}

fn expr_err(path: &str, e: &ExprError) -> Error {
    schema_err(path, format!("表达式错误：{}（位置 {}）", e.message_zh(), e.pos), format!("bad expression: {e}"))
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.')
        && id.as_bytes()[0].is_ascii_lowercase()
        && !id.ends_with('.')
        && !id.contains("..")
        && id != "value"
}

impl FormSchema {
    /// Parses and compiles a schema document (bounded: [`MAX_SCHEMA_BYTES`], serde_json's nesting limit).
    pub fn from_json(text: &str) -> Result<(FormSchema, Form)> {
        if text.len() > MAX_SCHEMA_BYTES {
            return Err(schema_err(
                "",
                format!("表单定义过大（{} 字节，上限 {MAX_SCHEMA_BYTES}）", text.len()),
                format!("schema too large ({} bytes, at most {MAX_SCHEMA_BYTES})", text.len()),
            ));
        }
        let schema: FormSchema = serde_json::from_str(text)
            .map_err(|e| schema_err("", format!("表单定义格式错误：{e}"), format!("malformed schema: {e}")))?;
        let form = schema.compile()?;
        Ok((schema, form))
    }

    /// Checks and compiles the schema.
    pub fn compile(&self) -> Result<Form> {
        let mut fields: Vec<FieldDef> = Vec::new();
        let mut by_key: HashMap<String, usize> = HashMap::new();
        let mut top = Vec::new();
        for (slot, f) in self.fields.iter().enumerate() {
            let idx = push_field(&mut fields, &mut by_key, f, None, slot)?;
            top.push(idx);
        }
        let mut form =
            Form { id: self.id.clone(), version: self.version, title: self.title.clone(), fields, top, by_key };
        form.compile_exprs()?;
        form.check_compute_cycles()?;
        Ok(form)
    }
}

fn push_field(
    fields: &mut Vec<FieldDef>,
    by_key: &mut HashMap<String, usize>,
    f: &Field,
    parent: Option<(usize, &str)>,
    slot: usize,
) -> Result<usize> {
    let key = match parent {
        Some((_, g)) => format!("{g}.{}", f.id),
        None => f.id.clone(),
    };
    if fields.len() >= MAX_FIELDS {
        return Err(schema_err(
            &key,
            format!("字段过多（上限 {MAX_FIELDS}）"),
            format!("too many fields (at most {MAX_FIELDS})"),
        ));
    }
    if !valid_id(&f.id) {
        return Err(schema_err(
            &key,
            "字段标识只能由小写字母、数字、下划线和点组成，且以字母开头",
            "a field id must be lower-case letters, digits, '_' and '.', starting with a letter (and not 'value')",
        ));
    }
    if parent.is_some() && f.id.contains('.') {
        return Err(schema_err(&key, "重复组内的字段标识不能含点", "a repeat group's field id must not contain '.'"));
    }
    if by_key.contains_key(&key) {
        return Err(schema_err(&key, "字段标识重复", "duplicate field id"));
    }
    if f.label.zh.trim().is_empty() {
        return Err(schema_err(&key, "缺少中文标签", "missing Chinese label"));
    }
    match f.kind {
        FieldType::Choice | FieldType::MultiChoice => {
            if f.options.is_empty() || f.options.len() > MAX_OPTIONS {
                return Err(schema_err(
                    &key,
                    format!("选项数量应在 1 到 {MAX_OPTIONS} 之间"),
                    format!("a choice needs 1 to {MAX_OPTIONS} options"),
                ));
            }
            let mut seen = std::collections::HashSet::new();
            if !f.options.iter().all(|o| seen.insert(o.value.as_str())) {
                return Err(schema_err(&key, "选项值重复", "duplicate option value"));
            }
        }
        FieldType::Repeat => {
            if parent.is_some() {
                return Err(schema_err(&key, "重复组不能嵌套", "repeat groups cannot be nested"));
            }
            if f.fields.is_empty() {
                return Err(schema_err(&key, "重复组没有字段", "a repeat group needs fields"));
            }
            let min = f.min_items.unwrap_or(0);
            let max = f.max_items.unwrap_or(MAX_REPEAT);
            if min > max || max > MAX_REPEAT {
                return Err(schema_err(
                    &key,
                    format!("重复次数范围无效（上限 {MAX_REPEAT}）"),
                    format!("bad min_items/max_items (at most {MAX_REPEAT})"),
                ));
            }
            if f.compute.is_some() {
                return Err(schema_err(&key, "重复组不能是计算值", "a repeat group cannot be computed"));
            }
        }
        _ => {}
    }
    if f.kind != FieldType::Repeat && !f.fields.is_empty() {
        return Err(schema_err(&key, "只有重复组可以包含字段", "only repeat groups contain fields"));
    }
    if let (Some(a), Some(b)) = (f.min, f.max) {
        if a > b || !a.is_finite() || !b.is_finite() {
            return Err(schema_err(&key, "最小值大于最大值", "min is greater than max"));
        }
    }
    if let (Some(a), Some(b)) = (f.min_len, f.max_len) {
        if a > b {
            return Err(schema_err(&key, "最短长度大于最长长度", "min_len is greater than max_len"));
        }
    }
    if f.kind == FieldType::Attachment && f.compute.is_some() {
        return Err(schema_err(&key, "附件不能是计算值", "an attachment cannot be computed"));
    }
    let idx = fields.len();
    let mut spec = f.clone();
    spec.fields = Vec::new();
    fields.push(FieldDef {
        spec,
        key: key.clone(),
        parent: parent.map(|p| p.0),
        children: Vec::new(),
        slot,
        show_if: None,
        compute: None,
        required_if: None,
        constraints: Vec::new(),
        dependents: Vec::new(),
    });
    by_key.insert(key.clone(), idx);
    if f.kind == FieldType::Repeat {
        let mut children = Vec::new();
        for (s, c) in f.fields.iter().enumerate() {
            children.push(push_field(fields, by_key, c, Some((idx, &f.id)), s)?);
        }
        fields[idx].children = children;
    }
    Ok(idx)
}

impl Form {
    pub fn field(&self, key: &str) -> Option<&FieldDef> {
        self.by_key.get(key).map(|&i| &self.fields[i])
    }
    pub fn index(&self, key: &str) -> Option<usize> {
        self.by_key.get(key).copied()
    }

    fn resolve(&self, at: usize, name: &str) -> Option<Ref> {
        if let Some(g) = self.fields[at].parent {
            if let Some(&c) = self.fields[g].children.iter().find(|&&c| self.fields[c].spec.id == name) {
                return Some(Ref::Sibling(c));
            }
        }
        let &i = self.by_key.get(name)?;
        let f = &self.fields[i];
        Some(match (f.parent, f.spec.kind) {
            (None, FieldType::Repeat) => Ref::Group(i),
            (None, _) => Ref::Top(i),
            (Some(_), _) => Ref::Column(i),
        })
    }

    fn cexpr(&self, at: usize, what: &str, src: &str) -> Result<CExpr> {
        let path = format!("{}.{what}", self.fields[at].key);
        let expr = Expr::parse(src).map_err(|e| expr_err(&path, &e))?;
        let mut refs = Vec::with_capacity(expr.names().len());
        for n in expr.names() {
            let r = self.resolve(at, n).ok_or_else(|| {
                expr_err(&path, &ExprError { kind: super::expr::ExprErrorKind::UnknownName(n.clone()), pos: 0 })
            })?;
            refs.push(r);
        }
        Ok(CExpr { expr, refs })
    }

    fn compile_exprs(&mut self) -> Result<()> {
        for i in 0..self.fields.len() {
            let spec = self.fields[i].spec.clone();
            let show_if = spec.show_if.as_deref().map(|s| self.cexpr(i, "show_if", s)).transpose()?;
            let compute = spec.compute.as_deref().map(|s| self.cexpr(i, "compute", s)).transpose()?;
            let required_if = spec.required_if.as_deref().map(|s| self.cexpr(i, "required_if", s)).transpose()?;
            let mut constraints = Vec::new();
            for (n, c) in spec.constraints.iter().enumerate() {
                constraints.push((self.cexpr(i, &format!("constraints[{n}]"), &c.expr)?, c.message.clone()));
            }
            let mut deps: Vec<usize> = Vec::new();
            for e in show_if.iter().chain(&compute).chain(&required_if).chain(constraints.iter().map(|c| &c.0)) {
                for r in &e.refs {
                    let (Ref::Top(t) | Ref::Sibling(t) | Ref::Column(t) | Ref::Group(t)) = *r;
                    if t != i && !deps.contains(&t) {
                        deps.push(t);
                    }
                }
            }
            for t in deps {
                self.fields[t].dependents.push(i);
            }
            let f = &mut self.fields[i];
            f.show_if = show_if;
            f.compute = compute;
            f.required_if = required_if;
            f.constraints = constraints;
        }
        Ok(())
    }

    fn check_compute_cycles(&self) -> Result<()> {
        // Depth-first search over "computed field reads field" edges.
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            New,
            Active,
            Done,
        }
        let mut mark = vec![Mark::New; self.fields.len()];
        for start in 0..self.fields.len() {
            if mark[start] != Mark::New || self.fields[start].compute.is_none() {
                continue;
            }
            // Iterative DFS: (node, next ref index).
            let mut stack = vec![(start, 0usize)];
            mark[start] = Mark::Active;
            while let Some(&mut (n, ref mut k)) = stack.last_mut() {
                let refs: &[Ref] = self.fields[n].compute.as_ref().map(|c| c.refs.as_slice()).unwrap_or(&[]);
                if *k < refs.len() {
                    let (Ref::Top(t) | Ref::Sibling(t) | Ref::Column(t) | Ref::Group(t)) = refs[*k];
                    *k += 1;
                    if self.fields[t].compute.is_none() {
                        continue;
                    }
                    match mark[t] {
                        Mark::Active => {
                            return Err(schema_err(
                                &format!("{}.compute", self.fields[n].key),
                                format!("计算值循环引用（经过 {}）", self.fields[t].key),
                                format!("computed values form a cycle (through {})", self.fields[t].key),
                            ))
                        }
                        Mark::New => {
                            mark[t] = Mark::Active;
                            stack.push((t, 0));
                        }
                        Mark::Done => {}
                    }
                } else {
                    mark[n] = Mark::Done;
                    stack.pop();
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema(fields: serde_json::Value) -> String {
        serde_json::json!({"id": "t", "version": 1, "title": {"zh": "测试", "en": "Test"}, "fields": fields})
            .to_string()
    }

    fn err_of(fields: serde_json::Value) -> (String, String) {
        match FormSchema::from_json(&schema(fields)) {
            Err(Error::Validation { field, message_en, .. }) => (field, message_en),
            other => panic!("expected a schema error, got {other:?}"),
        }
    }

    #[test]
    fn every_field_type_loads() {
        let fields: Vec<serde_json::Value> = FieldType::ALL
            .iter()
            .map(|t| {
                let name = serde_json::to_value(t).unwrap();
                let id = format!("f_{}", name.as_str().unwrap());
                let mut f = serde_json::json!({"id": id, "type": name, "label": {"zh": "字段", "en": "Field"}});
                if matches!(t, FieldType::Choice | FieldType::MultiChoice) {
                    f["options"] = serde_json::json!([{"value": "a", "label": {"zh": "甲"}}]);
                }
                if *t == FieldType::Repeat {
                    f["fields"] = serde_json::json!([{"id": "x", "type": "text", "label": {"zh": "子"}}]);
                }
                f
            })
            .collect();
        let (_, form) = FormSchema::from_json(&schema(serde_json::Value::Array(fields))).unwrap();
        assert_eq!(form.fields.len(), FieldType::ALL.len() + 1);
        assert_eq!(form.field("f_repeat.x").unwrap().parent, form.index("f_repeat"));
    }

    #[test]
    fn malformed_expressions_fail_at_load_with_the_field_path() {
        let (field, msg) = err_of(serde_json::json!([
            {"id": "a", "type": "number", "label": {"zh": "甲"}, "show_if": "b >"},
            {"id": "b", "type": "number", "label": {"zh": "乙"}}
        ]));
        assert_eq!(field, "schema:a.show_if");
        assert!(msg.contains("ends too early"), "{msg}");
        let (field, msg) = err_of(serde_json::json!([
            {"id": "a", "type": "number", "label": {"zh": "甲"},
             "constraints": [{"expr": "value > nope", "message": {"zh": "x", "en": "x"}}]}
        ]));
        assert_eq!(field, "schema:a.constraints[0]");
        assert!(msg.contains("nope"), "{msg}");
    }

    #[test]
    fn structural_errors() {
        let lbl = serde_json::json!({"zh": "甲"});
        assert!(err_of(serde_json::json!([{"id": "A", "type": "text", "label": lbl}])).1.contains("lower-case"));
        assert!(err_of(serde_json::json!([{"id": "value", "type": "text", "label": lbl}])).1.contains("lower-case"));
        assert!(err_of(serde_json::json!([
            {"id": "a", "type": "text", "label": lbl}, {"id": "a", "type": "text", "label": lbl}
        ]))
        .1
        .contains("duplicate"));
        assert!(err_of(serde_json::json!([{"id": "a", "type": "choice", "label": lbl}])).1.contains("options"));
        assert!(err_of(serde_json::json!([{"id": "g", "type": "repeat", "label": lbl, "min_items": 3, "max_items": 2,
            "fields": [{"id": "x", "type": "text", "label": lbl}]}]))
        .1
        .contains("min_items"));
        assert!(err_of(serde_json::json!([{"id": "g", "type": "repeat", "label": lbl,
            "fields": [{"id": "h", "type": "repeat", "label": lbl, "fields": [{"id": "x", "type": "text", "label": lbl}]}]}]))
        .1
        .contains("nested"));
        assert!(err_of(serde_json::json!([
            {"id": "a", "type": "number", "label": lbl, "compute": "b + 1"},
            {"id": "b", "type": "number", "label": lbl, "compute": "a + 1"}
        ]))
        .1
        .contains("cycle"));
        assert!(err_of(serde_json::json!([{"id": "a", "type": "number", "label": lbl, "min": 5, "max": 1}]))
            .1
            .contains("min"));
        assert!(matches!(FormSchema::from_json("{\"id\": 1}"), Err(Error::Validation { .. })));
        assert!(matches!(FormSchema::from_json(&" ".repeat(MAX_SCHEMA_BYTES + 1)), Err(Error::Validation { .. })));
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(matches!(FormSchema::from_json(&deep), Err(Error::Validation { .. })));
    }

    #[test]
    fn names_resolve_to_siblings_columns_and_groups() {
        let lbl = serde_json::json!({"zh": "甲"});
        let (_, form) = FormSchema::from_json(&schema(serde_json::json!([
            {"id": "total", "type": "number", "label": lbl, "compute": "sum(members.share)"},
            {"id": "count", "type": "number", "label": lbl, "compute": "len(members)"},
            {"id": "members", "type": "repeat", "label": lbl, "fields": [
                {"id": "share", "type": "number", "label": lbl},
                {"id": "name", "type": "text", "label": lbl, "required_if": "share > 0 && total > 0"}
            ]}
        ])))
        .unwrap();
        let share = form.index("members.share").unwrap();
        let name = form.index("members.name").unwrap();
        let total = form.index("total").unwrap();
        assert_eq!(form.fields[total].compute.as_ref().unwrap().refs, vec![Ref::Column(share)]);
        assert_eq!(form.fields[name].required_if.as_ref().unwrap().refs, vec![Ref::Sibling(share), Ref::Top(total)]);
        assert!(form.fields[share].dependents.contains(&total));
        assert!(form.fields[share].dependents.contains(&name));
        assert!(form.fields[form.index("members").unwrap()].dependents.contains(&form.index("count").unwrap()));
    }
}
