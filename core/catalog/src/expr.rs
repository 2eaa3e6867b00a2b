//! The small expression language of form schemas (constraints, show-if, computed values, required-if).
//!
//! Grammar (precedence from low to high):
//! ```text
//! expr    := or
//! or      := and ( "||" and )*
//! and     := eq ( "&&" eq )*
//! eq      := cmp ( ("==" | "!=") cmp )*
//! cmp     := add ( ("<" | "<=" | ">" | ">=") add )*
//! add     := mul ( ("+" | "-") mul )*
//! mul     := unary ( ("*" | "/" | "%") unary )*
//! unary   := ("!" | "-") unary | primary
//! primary := number | string | true | false | null | name | name "(" args ")" | "(" expr ")"
//! ```
//! Names are field ids (`applicant.birth_date`, `members.name`) or `value` (the field's own value).
//! Functions: `today()`, `age(date)`, `len(x)`, `empty(x)`, `contains(list_or_text, x)`, `if(c, a, b)`,
//! `sum(list)`, `min(a, b)`, `max(a, b)`.
//!
//! Bounds: [`MAX_SOURCE_LEN`] bytes of source, [`MAX_DEPTH`] nesting, [`MAX_NODES`] syntax nodes and
//! [`MAX_STEPS`] evaluation steps. Parsing fails with a typed [`ExprError`]; evaluation is total: a type
//! mismatch or a missing value yields `null` (which is falsy), never an error, so a well-formed schema
//! can never fail at fill time.

use chrono::{Datelike, NaiveDate};
use std::fmt;

pub const MAX_SOURCE_LEN: usize = 1024;
pub const MAX_DEPTH: usize = 24;
pub const MAX_NODES: usize = 256;
pub const MAX_STEPS: u32 = 10_000;
/// Longest string an expression can build (by `+`).
pub const MAX_STRING: usize = 4096;

/// A run-time value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    List(Vec<Value>),
}

impl Value {
    pub fn truthy(&self) -> bool {
        match self {
            Value::Null => false,
            Value::Bool(b) => *b,
            Value::Num(n) => *n != 0.0 && !n.is_nan(),
            Value::Str(s) => !s.is_empty(),
            Value::List(l) => !l.is_empty(),
        }
    }
    pub fn is_empty(&self) -> bool {
        match self {
            Value::Null => true,
            Value::Str(s) => s.trim().is_empty(),
            Value::List(l) => l.is_empty(),
            _ => false,
        }
    }
    /// From a JSON field value: numbers, strings, booleans, arrays (nested to [`MAX_DEPTH`]).
    pub fn from_json(v: &serde_json::Value) -> Value {
        Self::from_json_depth(v, 0)
    }
    fn from_json_depth(v: &serde_json::Value, depth: usize) -> Value {
        match v {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => n.as_f64().map(Value::Num).unwrap_or(Value::Null),
            serde_json::Value::String(s) => Value::Str(s.clone()),
            serde_json::Value::Array(a) if depth < MAX_DEPTH => {
                Value::List(a.iter().map(|x| Self::from_json_depth(x, depth + 1)).collect())
            }
            _ => Value::Null,
        }
    }
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Num(n) => serde_json::Number::from_f64(*n).map(serde_json::Value::Number).unwrap_or_default(),
            Value::Str(s) => serde_json::Value::String(s.clone()),
            Value::List(l) => serde_json::Value::Array(l.iter().map(Value::to_json).collect()),
        }
    }
    fn as_num(&self) -> Option<f64> {
        match self {
            Value::Num(n) => Some(*n),
            // Money and numbers typed as text ("12.50") still compute.
            Value::Str(s) => s.trim().parse::<f64>().ok().filter(|n| n.is_finite()),
            _ => None,
        }
    }
}

/// Why an expression was rejected at schema load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExprErrorKind {
    Empty,
    TooLong {
        len: usize,
    },
    TooDeep,
    TooManyNodes,
    UnexpectedChar(char),
    UnterminatedString,
    BadNumber(String),
    UnexpectedToken(String),
    UnexpectedEnd,
    UnknownFunction(String),
    Arity {
        function: String,
        expected: usize,
        got: usize,
    },
    /// A name that is not a field of the form (reported by the schema compiler).
    UnknownName(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExprError {
    pub kind: ExprErrorKind,
    /// Byte offset in the source where the problem was found.
    pub pos: usize,
}

impl fmt::Display for ExprError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (at {})", self.message_en(), self.pos)
    }
}

impl ExprError {
    pub fn message_en(&self) -> String {
        match &self.kind {
            ExprErrorKind::Empty => "the expression is empty".into(),
            ExprErrorKind::TooLong { len } => {
                format!("the expression is too long ({len} bytes, at most {MAX_SOURCE_LEN})")
            }
            ExprErrorKind::TooDeep => format!("the expression nests deeper than {MAX_DEPTH} levels"),
            ExprErrorKind::TooManyNodes => format!("the expression has more than {MAX_NODES} parts"),
            ExprErrorKind::UnexpectedChar(c) => format!("unexpected character '{c}'"),
            ExprErrorKind::UnterminatedString => "a string is not closed".into(),
            ExprErrorKind::BadNumber(s) => format!("'{s}' is not a number"),
            ExprErrorKind::UnexpectedToken(t) => format!("unexpected '{t}'"),
            ExprErrorKind::UnexpectedEnd => "the expression ends too early".into(),
            ExprErrorKind::UnknownFunction(n) => format!("unknown function '{n}'"),
            ExprErrorKind::Arity { function, expected, got } => {
                format!("{function}() takes {expected} arguments, got {got}")
            }
            ExprErrorKind::UnknownName(n) => format!("'{n}' is not a field of this form"),
        }
    }
    pub fn message_zh(&self) -> String {
        match &self.kind {
            ExprErrorKind::Empty => "表达式为空".into(),
            ExprErrorKind::TooLong { len } => format!("表达式过长（{len} 字节，上限 {MAX_SOURCE_LEN}）"),
            ExprErrorKind::TooDeep => format!("表达式嵌套超过 {MAX_DEPTH} 层"),
            ExprErrorKind::TooManyNodes => format!("表达式超过 {MAX_NODES} 个组成部分"),
            ExprErrorKind::UnexpectedChar(c) => format!("无法识别的字符“{c}”"),
            ExprErrorKind::UnterminatedString => "字符串缺少结束引号".into(),
            ExprErrorKind::BadNumber(s) => format!("“{s}”不是有效数字"),
            ExprErrorKind::UnexpectedToken(t) => format!("此处不应出现“{t}”"),
            ExprErrorKind::UnexpectedEnd => "表达式不完整".into(),
            ExprErrorKind::UnknownFunction(n) => format!("未知函数“{n}”"),
            ExprErrorKind::Arity { function, expected, got } => {
                format!("函数 {function}() 需要 {expected} 个参数，实际 {got} 个")
            }
            ExprErrorKind::UnknownName(n) => format!("“{n}”不是本表单的字段"),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(f64),
    Str(String),
    Ident(String),
    LParen,
    RParen,
    Comma,
    Op(&'static str),
}

fn lex(src: &str) -> Result<Vec<(Tok, usize)>, ExprError> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let start = i;
        match c {
            b' ' | b'\t' | b'\n' | b'\r' => {
                i += 1;
                continue;
            }
            b'(' => {
                out.push((Tok::LParen, i));
                i += 1;
            }
            b')' => {
                out.push((Tok::RParen, i));
                i += 1;
            }
            b',' => {
                out.push((Tok::Comma, i));
                i += 1;
            }
            b'0'..=b'9' => {
                while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
                    i += 1;
                }
                let s = &src[start..i];
                let n: f64 =
                    s.parse().map_err(|_| ExprError { kind: ExprErrorKind::BadNumber(s.into()), pos: start })?;
                out.push((Tok::Num(n), start));
            }
            b'\'' | b'"' => {
                let quote = c;
                i += 1;
                let s0 = i;
                while i < b.len() && b[i] != quote {
                    i += 1;
                }
                if i >= b.len() {
                    return Err(ExprError { kind: ExprErrorKind::UnterminatedString, pos: start });
                }
                // Quotes are ASCII, so these are char boundaries.
                out.push((Tok::Str(src[s0..i].to_string()), start));
                i += 1;
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'.') {
                    i += 1;
                }
                out.push((Tok::Ident(src[start..i].to_string()), start));
            }
            _ => {
                let two = if i + 1 < b.len() { &b[i..i + 2] } else { &b[i..i + 1] };
                let op: Option<(&'static str, usize)> = match two {
                    b"==" => Some(("==", 2)),
                    b"!=" => Some(("!=", 2)),
                    b"<=" => Some(("<=", 2)),
                    b">=" => Some((">=", 2)),
                    b"&&" => Some(("&&", 2)),
                    b"||" => Some(("||", 2)),
                    _ => match c {
                        b'<' => Some(("<", 1)),
                        b'>' => Some((">", 1)),
                        b'+' => Some(("+", 1)),
                        b'-' => Some(("-", 1)),
                        b'*' => Some(("*", 1)),
                        b'/' => Some(("/", 1)),
                        b'%' => Some(("%", 1)),
                        b'!' => Some(("!", 1)),
                        _ => None,
                    },
                };
                match op {
                    Some((o, n)) => {
                        out.push((Tok::Op(o), i));
                        i += n;
                    }
                    None => {
                        let ch = src[i..].chars().next().unwrap_or('?');
                        return Err(ExprError { kind: ExprErrorKind::UnexpectedChar(ch), pos: i });
                    }
                }
            }
        }
        if out.len() > MAX_NODES * 2 {
            return Err(ExprError { kind: ExprErrorKind::TooManyNodes, pos: start });
        }
    }
    Ok(out)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Func {
    Today,
    Age,
    Len,
    Empty,
    Contains,
    If,
    Sum,
    Min,
    Max,
}

impl Func {
    fn lookup(name: &str) -> Option<(Func, usize)> {
        Some(match name {
            "today" => (Func::Today, 0),
            "age" => (Func::Age, 1),
            "len" => (Func::Len, 1),
            "empty" => (Func::Empty, 1),
            "contains" => (Func::Contains, 2),
            "if" => (Func::If, 3),
            "sum" => (Func::Sum, 1),
            "min" => (Func::Min, 2),
            "max" => (Func::Max, 2),
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BinOp {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

#[derive(Debug, Clone)]
enum Node {
    Lit(Value),
    /// Index into [`Expr::names`].
    Var(usize),
    /// The field's own value.
    SelfValue,
    Not(Box<Node>),
    Neg(Box<Node>),
    Bin(BinOp, Box<Node>, Box<Node>),
    Call(Func, Vec<Node>),
}

/// A parsed, bounded expression.
#[derive(Debug, Clone)]
pub struct Expr {
    src: String,
    root: Node,
    names: Vec<String>,
    uses_self: bool,
}

struct Parser<'a> {
    toks: &'a [(Tok, usize)],
    i: usize,
    depth: usize,
    nodes: usize,
    names: Vec<String>,
    uses_self: bool,
    end: usize,
}

impl Parser<'_> {
    fn pos(&self) -> usize {
        self.toks.get(self.i).map(|t| t.1).unwrap_or(self.end)
    }
    fn err(&self, kind: ExprErrorKind) -> ExprError {
        ExprError { kind, pos: self.pos() }
    }
    fn node(&mut self) -> Result<(), ExprError> {
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return Err(self.err(ExprErrorKind::TooManyNodes));
        }
        Ok(())
    }
    fn enter(&mut self) -> Result<(), ExprError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err(ExprErrorKind::TooDeep));
        }
        Ok(())
    }
    fn peek_op(&self) -> Option<&'static str> {
        match self.toks.get(self.i) {
            Some((Tok::Op(o), _)) => Some(o),
            _ => None,
        }
    }
    fn binary(&mut self, level: usize) -> Result<Node, ExprError> {
        const LEVELS: [&[(&str, BinOp)]; 6] = [
            &[("||", BinOp::Or)],
            &[("&&", BinOp::And)],
            &[("==", BinOp::Eq), ("!=", BinOp::Ne)],
            &[("<", BinOp::Lt), ("<=", BinOp::Le), (">", BinOp::Gt), (">=", BinOp::Ge)],
            &[("+", BinOp::Add), ("-", BinOp::Sub)],
            &[("*", BinOp::Mul), ("/", BinOp::Div), ("%", BinOp::Rem)],
        ];
        if level == LEVELS.len() {
            return self.unary();
        }
        let mut lhs = self.binary(level + 1)?;
        while let Some(op) = self.peek_op() {
            let Some(&(_, bop)) = LEVELS[level].iter().find(|(s, _)| *s == op) else { break };
            self.i += 1;
            self.node()?;
            let rhs = self.binary(level + 1)?;
            lhs = Node::Bin(bop, Box::new(lhs), Box::new(rhs));
        }
        Ok(lhs)
    }
    fn unary(&mut self) -> Result<Node, ExprError> {
        let op = self.peek_op();
        if !matches!(op, Some("!") | Some("-")) {
            return self.primary();
        }
        self.enter()?;
        self.i += 1;
        self.node()?;
        let inner = Box::new(self.unary()?);
        self.depth -= 1;
        Ok(if op == Some("!") { Node::Not(inner) } else { Node::Neg(inner) })
    }
    fn primary(&mut self) -> Result<Node, ExprError> {
        self.node()?;
        let Some((tok, _)) = self.toks.get(self.i) else { return Err(self.err(ExprErrorKind::UnexpectedEnd)) };
        self.i += 1;
        match tok {
            Tok::Num(n) => Ok(Node::Lit(Value::Num(*n))),
            Tok::Str(s) => Ok(Node::Lit(Value::Str(s.clone()))),
            Tok::LParen => {
                let e = self.expr()?;
                self.expect_rparen()?;
                Ok(e)
            }
            Tok::Ident(name) => {
                if matches!(self.toks.get(self.i), Some((Tok::LParen, _))) {
                    self.i -= 1;
                    let (f, arity) =
                        Func::lookup(name).ok_or_else(|| self.err(ExprErrorKind::UnknownFunction(name.clone())))?;
                    self.i += 2;
                    let mut args = Vec::new();
                    if !matches!(self.toks.get(self.i), Some((Tok::RParen, _))) {
                        loop {
                            args.push(self.expr()?);
                            match self.toks.get(self.i) {
                                Some((Tok::Comma, _)) => self.i += 1,
                                _ => break,
                            }
                        }
                    }
                    self.expect_rparen()?;
                    if args.len() != arity {
                        return Err(ExprError {
                            kind: ExprErrorKind::Arity { function: name.clone(), expected: arity, got: args.len() },
                            pos: self.pos(),
                        });
                    }
                    return Ok(Node::Call(f, args));
                }
                Ok(match name.as_str() {
                    "true" => Node::Lit(Value::Bool(true)),
                    "false" => Node::Lit(Value::Bool(false)),
                    "null" => Node::Lit(Value::Null),
                    "value" => {
                        self.uses_self = true;
                        Node::SelfValue
                    }
                    _ => {
                        let idx = match self.names.iter().position(|n| n == name) {
                            Some(i) => i,
                            None => {
                                self.names.push(name.clone());
                                self.names.len() - 1
                            }
                        };
                        Node::Var(idx)
                    }
                })
            }
            other => {
                self.i -= 1;
                Err(self.err(ExprErrorKind::UnexpectedToken(tok_text(other))))
            }
        }
    }
    fn expr(&mut self) -> Result<Node, ExprError> {
        self.enter()?;
        let r = self.binary(0)?;
        self.depth -= 1;
        Ok(r)
    }
    fn expect_rparen(&mut self) -> Result<(), ExprError> {
        match self.toks.get(self.i) {
            Some((Tok::RParen, _)) => {
                self.i += 1;
                Ok(())
            }
            Some((t, _)) => Err(self.err(ExprErrorKind::UnexpectedToken(tok_text(t)))),
            None => Err(self.err(ExprErrorKind::UnexpectedEnd)),
        }
    }
}

fn tok_text(t: &Tok) -> String {
    match t {
        Tok::Num(n) => n.to_string(),
        Tok::Str(s) => format!("'{s}'"),
        Tok::Ident(s) => s.clone(),
        Tok::LParen => "(".into(),
        Tok::RParen => ")".into(),
        Tok::Comma => ",".into(),
        Tok::Op(o) => (*o).into(),
    }
}

/// What an expression can read while it is evaluated.
pub trait Env {
    /// The value of `names()[idx]`.
    fn var(&self, idx: usize) -> Value;
    /// The value of the field the expression belongs to (`value`).
    fn self_value(&self) -> Value;
    /// Today's date, for `today()` and `age()`.
    fn today(&self) -> NaiveDate;
}

impl Expr {
    pub fn parse(src: &str) -> Result<Expr, ExprError> {
        if src.len() > MAX_SOURCE_LEN {
            return Err(ExprError { kind: ExprErrorKind::TooLong { len: src.len() }, pos: MAX_SOURCE_LEN });
        }
        let toks = lex(src)?;
        if toks.is_empty() {
            return Err(ExprError { kind: ExprErrorKind::Empty, pos: 0 });
        }
        let mut p =
            Parser { toks: &toks, i: 0, depth: 0, nodes: 0, names: Vec::new(), uses_self: false, end: src.len() };
        let root = p.expr()?;
        if let Some((t, pos)) = toks.get(p.i) {
            return Err(ExprError { kind: ExprErrorKind::UnexpectedToken(tok_text(t)), pos: *pos });
        }
        Ok(Expr { src: src.to_string(), root, names: p.names, uses_self: p.uses_self })
    }
    pub fn source(&self) -> &str {
        &self.src
    }
    /// The distinct field names the expression reads, in order of first use.
    pub fn names(&self) -> &[String] {
        &self.names
    }
    pub fn uses_self(&self) -> bool {
        self.uses_self
    }
    /// Evaluates; never fails. Past [`MAX_STEPS`] the result is `null`.
    pub fn eval(&self, env: &dyn Env) -> Value {
        let mut steps = 0u32;
        eval(&self.root, env, &mut steps).unwrap_or(Value::Null)
    }
}

struct StepLimit;

fn eval(n: &Node, env: &dyn Env, steps: &mut u32) -> Result<Value, StepLimit> {
    *steps += 1;
    if *steps > MAX_STEPS {
        return Err(StepLimit);
    }
    Ok(match n {
        Node::Lit(v) => v.clone(),
        Node::Var(i) => env.var(*i),
        Node::SelfValue => env.self_value(),
        Node::Not(a) => Value::Bool(!eval(a, env, steps)?.truthy()),
        Node::Neg(a) => match eval(a, env, steps)?.as_num() {
            Some(x) => Value::Num(-x),
            None => Value::Null,
        },
        Node::Bin(BinOp::And, a, b) => {
            let l = eval(a, env, steps)?;
            if !l.truthy() {
                Value::Bool(false)
            } else {
                Value::Bool(eval(b, env, steps)?.truthy())
            }
        }
        Node::Bin(BinOp::Or, a, b) => {
            let l = eval(a, env, steps)?;
            if l.truthy() {
                Value::Bool(true)
            } else {
                Value::Bool(eval(b, env, steps)?.truthy())
            }
        }
        Node::Bin(op, a, b) => {
            let l = eval(a, env, steps)?;
            let r = eval(b, env, steps)?;
            binary(*op, l, r, steps)?
        }
        Node::Call(f, args) => call(*f, args, env, steps)?,
    })
}

fn loose_eq(l: &Value, r: &Value) -> bool {
    match (l, r) {
        (Value::Num(a), b) | (b, Value::Num(a)) if !matches!(b, Value::Null | Value::Bool(_)) => {
            b.as_num().is_some_and(|x| x == *a)
        }
        _ => l == r,
    }
}

fn binary(op: BinOp, l: Value, r: Value, steps: &mut u32) -> Result<Value, StepLimit> {
    use std::cmp::Ordering;
    let cmp = |l: &Value, r: &Value| -> Option<Ordering> {
        match (l, r) {
            (Value::Str(a), Value::Str(b)) => Some(a.cmp(b)),
            _ => l.as_num()?.partial_cmp(&r.as_num()?),
        }
    };
    Ok(match op {
        BinOp::Eq => Value::Bool(loose_eq(&l, &r)),
        BinOp::Ne => Value::Bool(!loose_eq(&l, &r)),
        BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => match cmp(&l, &r) {
            None => Value::Null,
            Some(o) => Value::Bool(match op {
                BinOp::Lt => o == Ordering::Less,
                BinOp::Le => o != Ordering::Greater,
                BinOp::Gt => o == Ordering::Greater,
                _ => o != Ordering::Less,
            }),
        },
        BinOp::Add => match (&l, &r) {
            (Value::Str(a), Value::Str(b)) => {
                if a.len() + b.len() > MAX_STRING {
                    return Err(StepLimit);
                }
                *steps += ((a.len() + b.len()) / 64) as u32;
                Value::Str(format!("{a}{b}"))
            }
            _ => arith(&l, &r, |a, b| a + b),
        },
        BinOp::Sub => arith(&l, &r, |a, b| a - b),
        BinOp::Mul => arith(&l, &r, |a, b| a * b),
        BinOp::Div => arith(&l, &r, |a, b| if b == 0.0 { f64::NAN } else { a / b }),
        BinOp::Rem => arith(&l, &r, |a, b| if b == 0.0 { f64::NAN } else { a % b }),
        BinOp::And | BinOp::Or => Value::Bool(l.truthy() && r.truthy()),
    })
}

fn arith(l: &Value, r: &Value, f: impl Fn(f64, f64) -> f64) -> Value {
    match (l.as_num(), r.as_num()) {
        (Some(a), Some(b)) => {
            let x = f(a, b);
            if x.is_finite() {
                Value::Num(x)
            } else {
                Value::Null
            }
        }
        _ => Value::Null,
    }
}

/// Parses `YYYY-MM-DD` (also `YYYYMMDD`).
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    let s = s.trim();
    NaiveDate::parse_from_str(s, "%Y-%m-%d").or_else(|_| NaiveDate::parse_from_str(s, "%Y%m%d")).ok()
}

/// Whole years from `birth` to `today` (negative when `birth` is in the future).
pub fn age_on(birth: NaiveDate, today: NaiveDate) -> i32 {
    let mut years = today.year() - birth.year();
    if (today.month(), today.day()) < (birth.month(), birth.day()) {
        years -= 1;
    }
    years
}

fn call(f: Func, args: &[Node], env: &dyn Env, steps: &mut u32) -> Result<Value, StepLimit> {
    if f == Func::If {
        let c = eval(&args[0], env, steps)?;
        return eval(if c.truthy() { &args[1] } else { &args[2] }, env, steps);
    }
    let mut vals = Vec::with_capacity(args.len());
    for a in args {
        vals.push(eval(a, env, steps)?);
    }
    Ok(match f {
        Func::Today => Value::Str(env.today().format("%Y-%m-%d").to_string()),
        Func::Age => match &vals[0] {
            Value::Str(s) => parse_date(s).map(|d| Value::Num(age_on(d, env.today()) as f64)).unwrap_or(Value::Null),
            _ => Value::Null,
        },
        Func::Len => match &vals[0] {
            Value::Str(s) => Value::Num(s.chars().count() as f64),
            Value::List(l) => Value::Num(l.len() as f64),
            Value::Null => Value::Num(0.0),
            _ => Value::Null,
        },
        Func::Empty => Value::Bool(vals[0].is_empty()),
        Func::Contains => match (&vals[0], &vals[1]) {
            (Value::List(l), x) => {
                *steps += l.len() as u32;
                Value::Bool(l.iter().any(|v| loose_eq(v, x)))
            }
            (Value::Str(s), Value::Str(x)) => Value::Bool(s.contains(x.as_str())),
            _ => Value::Bool(false),
        },
        Func::Sum => match &vals[0] {
            Value::List(l) => {
                *steps += l.len() as u32;
                if *steps > MAX_STEPS {
                    return Err(StepLimit);
                }
                Value::Num(l.iter().filter_map(Value::as_num).sum())
            }
            v => v.as_num().map(Value::Num).unwrap_or(Value::Null),
        },
        Func::Min | Func::Max => match (vals[0].as_num(), vals[1].as_num()) {
            (Some(a), Some(b)) => Value::Num(if f == Func::Min { a.min(b) } else { a.max(b) }),
            _ => Value::Null,
        },
        Func::If => Value::Null,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    struct MapEnv<'a> {
        expr_names: Vec<String>,
        vals: &'a HashMap<&'static str, Value>,
        me: Value,
    }
    impl Env for MapEnv<'_> {
        fn var(&self, idx: usize) -> Value {
            self.vals.get(self.expr_names[idx].as_str()).cloned().unwrap_or(Value::Null)
        }
        fn self_value(&self) -> Value {
            self.me.clone()
        }
        fn today(&self) -> NaiveDate {
            NaiveDate::from_ymd_opt(2026, 11, 23).unwrap()
        }
    }

    fn run(src: &str, vals: &HashMap<&'static str, Value>, me: Value) -> Value {
        let e = Expr::parse(src).unwrap_or_else(|err| panic!("{src}: {err}"));
        e.eval(&MapEnv { expr_names: e.names().to_vec(), vals, me })
    }

    fn v0(src: &str) -> Value {
        run(src, &HashMap::new(), Value::Null)
    }

    #[test]
    fn arithmetic_comparison_boolean() {
        assert_eq!(v0("1 + 2 * 3"), Value::Num(7.0));
        assert_eq!(v0("(1 + 2) * 3"), Value::Num(9.0));
        assert_eq!(v0("10 % 4 - -1"), Value::Num(3.0));
        assert_eq!(v0("7 / 2"), Value::Num(3.5));
        assert_eq!(v0("1 / 0"), Value::Null);
        assert_eq!(v0("1 < 2 && 2 <= 2 && 3 > 2 && 3 >= 4"), Value::Bool(false));
        assert_eq!(v0("1 == 1 || 1 / 0 == 5"), Value::Bool(true));
        assert_eq!(v0("!(1 != 1)"), Value::Bool(true));
        assert_eq!(v0("'a' + \"b\" == 'ab'"), Value::Bool(true));
        assert_eq!(v0("'2026-01-02' < '2026-11-01'"), Value::Bool(true));
        assert_eq!(v0("'12.5' == 12.5"), Value::Bool(true));
        assert_eq!(v0("null == null && !null"), Value::Bool(true));
        assert_eq!(v0("'x' < 3"), Value::Null, "mixed types do not compare");
        assert_eq!(v0("if(2 > 1, 'yes', 'no')"), Value::Str("yes".into()));
        assert_eq!(v0("min(3, 4) + max(3, 4)"), Value::Num(7.0));
    }

    #[test]
    fn functions_today_age_len() {
        assert_eq!(v0("today()"), Value::Str("2026-11-23".into()));
        assert_eq!(v0("age('1966-11-23')"), Value::Num(60.0));
        assert_eq!(v0("age('1966-11-24')"), Value::Num(59.0));
        assert_eq!(v0("age('not a date')"), Value::Null);
        assert_eq!(v0("len('掌上办')"), Value::Num(3.0));
        assert_eq!(v0("len(null)"), Value::Num(0.0));
        assert_eq!(v0("empty('  ') && !empty('x')"), Value::Bool(true));
        assert_eq!(v0("contains('北京市朝阳区', '朝阳')"), Value::Bool(true));
    }

    #[test]
    fn names_and_self() {
        let mut vals = HashMap::new();
        vals.insert("child.birth_date", Value::Str("2026-10-01".into()));
        vals.insert("members.share", Value::List(vec![Value::Num(60.0), Value::Str("40".into())]));
        vals.insert("seal.types", Value::List(vec![Value::Str("财务章".into())]));
        assert_eq!(run("child.birth_date <= today()", &vals, Value::Null), Value::Bool(true));
        assert_eq!(run("sum(members.share) == 100", &vals, Value::Null), Value::Bool(true));
        assert_eq!(run("len(members.share)", &vals, Value::Null), Value::Num(2.0));
        assert_eq!(run("contains(seal.types, '财务章')", &vals, Value::Null), Value::Bool(true));
        assert_eq!(run("value >= 18", &vals, Value::Num(20.0)), Value::Bool(true));
        let e = Expr::parse("a + b * a + value").unwrap();
        assert_eq!(e.names(), &["a".to_string(), "b".to_string()]);
        assert!(e.uses_self());
    }

    #[test]
    fn malformed_expressions_are_typed_errors() {
        use ExprErrorKind::*;
        let k = |s: &str| Expr::parse(s).unwrap_err().kind;
        assert_eq!(k(""), Empty);
        assert_eq!(k("   "), Empty);
        assert_eq!(k("1 +"), UnexpectedEnd);
        assert_eq!(k("(1 + 2"), UnexpectedEnd);
        assert_eq!(k("1 2"), UnexpectedToken("2".into()));
        assert_eq!(k("'abc"), UnterminatedString);
        assert_eq!(k("1.2.3"), BadNumber("1.2.3".into()));
        assert_eq!(k("a # b"), UnexpectedChar('#'));
        assert_eq!(k("年龄 > 3"), UnexpectedChar('年'));
        assert_eq!(k("foo(1)"), UnknownFunction("foo".into()));
        assert_eq!(k("age()"), Arity { function: "age".into(), expected: 1, got: 0 });
        assert_eq!(k("a = 1"), UnexpectedChar('='));
        assert_eq!(k(")"), UnexpectedToken(")".into()));
        assert_eq!(k(&"(".repeat(100)), TooDeep);
        assert_eq!(k(&"!".repeat(100)), TooDeep);
        assert_eq!(k("1+".repeat(200).trim_end_matches('+')), TooManyNodes);
        assert!(matches!(k(&"1".repeat(MAX_SOURCE_LEN + 1)), TooLong { .. }));
        let e = Expr::parse("1 + * 2").unwrap_err();
        assert_eq!(e.pos, 4);
        assert!(!e.message_zh().is_empty() && !e.message_en().is_empty());
    }

    #[test]
    fn string_growth_is_bounded() {
        let mut vals = HashMap::new();
        vals.insert("s", Value::Str("x".repeat(3000)));
        assert_eq!(run("s + s", &vals, Value::Null), Value::Null);
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 400, .. ProptestConfig::default() })]

        /// Any input at all: parse returns Ok or a typed error, never panics; anything that parses
        /// evaluates without panicking.
        #[test]
        fn arbitrary_text_never_panics(src in "\\PC{0,300}") {
            if let Ok(e) = Expr::parse(&src) {
                let vals = HashMap::new();
                let _ = e.eval(&MapEnv { expr_names: e.names().to_vec(), vals: &vals, me: Value::Num(1.0) });
            }
        }

        /// Token soup from the language's own alphabet reaches deep into the parser.
        #[test]
        fn token_soup_never_panics(toks in proptest::collection::vec(
            prop_oneof![
                Just("("), Just(")"), Just(","), Just("+"), Just("-"), Just("*"), Just("/"), Just("%"),
                Just("!"), Just("&&"), Just("||"), Just("=="), Just("<="), Just(">"), Just("1"), Just("2.5"),
                Just("'s'"), Just("a"), Just("value"), Just("today"), Just("age"), Just("len"), Just("if"),
                Just("sum"), Just("true"), Just("null"),
            ], 0..400)) {
            let src = toks.join(" ");
            match Expr::parse(&src) {
                Ok(e) => {
                    let mut vals = HashMap::new();
                    vals.insert("a", Value::List(vec![Value::Num(1.0); 50]));
                    let _ = e.eval(&MapEnv { expr_names: e.names().to_vec(), vals: &vals, me: Value::Null });
                }
                Err(err) => prop_assert!(err.pos <= src.len()),
            }
        }

        /// Nesting depth past the bound is always rejected with TooDeep, below it always accepted.
        #[test]
        fn depth_bound_is_exact(n in 1usize..60) {
            let src = format!("{}1{}", "(".repeat(n), ")".repeat(n));
            let r = Expr::parse(&src);
            if n < MAX_DEPTH - 1 {
                prop_assert!(r.is_ok(), "depth {} rejected", n);
            } else if n >= MAX_DEPTH {
                prop_assert_eq!(r.unwrap_err().kind, ExprErrorKind::TooDeep);
            }
        }

        /// Long flat sums hit the node bound, not the stack.
        #[test]
        fn size_bound(n in 1usize..400) {
            let src = vec!["1"; n].join("+");
            match Expr::parse(&src) {
                Ok(e) => {
                    prop_assert!(2 * n - 1 <= MAX_NODES);
                    prop_assert_eq!(e.eval(&MapEnv { expr_names: vec![], vals: &HashMap::new(), me: Value::Null }), Value::Num(n as f64));
                }
                Err(err) => {
                    let ok = matches!(err.kind, ExprErrorKind::TooManyNodes | ExprErrorKind::TooLong { .. });
                    prop_assert!(ok, "{:?}", err);
                }
            }
        }
    }
}
