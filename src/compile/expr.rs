//! A safe subset of Python expressions, for behavioral assertions: literals (numbers, strings,
//! `True`/`False`/`None`, lists, tuples, dicts, sets), names, subscripts and slices, comparisons
//! (chained; `in`, `not in`, `is`, `is not`), `and`/`or`/`not` (returning operands, as Python
//! does), arithmetic, `x if c else y`, list comprehensions and generator expressions, the
//! builtins llm-orc allows (len str int float bool list dict set tuple all any sum min max range
//! enumerate zip sorted reversed) and common methods (`dict.get/keys/values/items`,
//! `str.startswith/endswith/lower/upper/strip/split/count/join`, `list.count/index`).
//! Nothing else can run: no attribute access beyond those methods, no imports, no lambdas.
//! Work is bounded (parse depth, evaluation steps, container sizes) so a hostile expression
//! ends in an error, quickly.

use std::cmp::Ordering;

use serde_json::Value;

const MAX_DEPTH: usize = 100;
const MAX_STEPS: u64 = 2_000_000;
const MAX_ITEMS: usize = 1_000_000;
/// The most values (and 16-byte pieces of strings) an evaluation may produce in all: every
/// result is charged, so neither a huge structure nor copying a big one many times gets far.
const MAX_CELLS: u64 = 4_000_000;

/// Parses `src`: Ok when it is an expression of the supported subset.
pub fn check(src: &str) -> Result<(), String> {
    parse(src).map(|_| ())
}

fn parse(src: &str) -> Result<Expr, String> {
    let tokens = lex(src)?;
    let mut p = Parser {
        toks: tokens,
        pos: 0,
        depth: 0,
    };
    let e = p.expr()?;
    if p.pos != p.toks.len() {
        return Err(format!("unexpected `{}`", p.toks[p.pos].text()));
    }
    Ok(e)
}

/// Evaluates `src` with `vars` bound and returns its Python truthiness.
pub fn evaluate(src: &str, vars: &[(&str, Value)]) -> Result<bool, String> {
    let e = parse(src)?;
    let mut ev = Eval {
        scopes: vec![
            vars.iter()
                .map(|(k, v)| (k.to_string(), Py::from_json(v)))
                .collect(),
        ],
        steps: 0,
        cells: 0,
    };
    Ok(ev.eval(&e)?.truthy())
}

// ---------------------------------------------------------------- values

#[derive(Debug, Clone)]
enum Py {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    List(Vec<Py>),
    Tuple(Vec<Py>),
    Dict(Vec<(Py, Py)>),
    Set(Vec<Py>),
    Builtin(&'static str),
    Method(Box<Py>, String),
}

impl Py {
    fn from_json(v: &Value) -> Py {
        match v {
            Value::Null => Py::None,
            Value::Bool(b) => Py::Bool(*b),
            Value::Number(n) => n
                .as_i64()
                .map(Py::Int)
                .unwrap_or_else(|| Py::Float(n.as_f64().unwrap_or(0.0))),
            Value::String(s) => Py::Str(s.clone()),
            Value::Array(a) => Py::List(a.iter().map(Py::from_json).collect()),
            Value::Object(m) => Py::Dict(
                m.iter()
                    .map(|(k, v)| (Py::Str(k.clone()), Py::from_json(v)))
                    .collect(),
            ),
        }
    }

    fn type_name(&self) -> &'static str {
        match self {
            Py::None => "NoneType",
            Py::Bool(_) => "bool",
            Py::Int(_) => "int",
            Py::Float(_) => "float",
            Py::Str(_) => "str",
            Py::List(_) => "list",
            Py::Tuple(_) => "tuple",
            Py::Dict(_) => "dict",
            Py::Set(_) => "set",
            Py::Builtin(_) | Py::Method(..) => "builtin_function_or_method",
        }
    }

    fn truthy(&self) -> bool {
        match self {
            Py::None => false,
            Py::Bool(b) => *b,
            Py::Int(i) => *i != 0,
            Py::Float(f) => *f != 0.0,
            Py::Str(s) => !s.is_empty(),
            Py::List(v) | Py::Tuple(v) | Py::Set(v) => !v.is_empty(),
            Py::Dict(d) => !d.is_empty(),
            Py::Builtin(_) | Py::Method(..) => true,
        }
    }

    fn num(&self) -> Option<f64> {
        match self {
            Py::Bool(b) => Some(f64::from(u8::from(*b))),
            Py::Int(i) => Some(*i as f64),
            Py::Float(f) => Some(*f),
            _ => None,
        }
    }

    fn int(&self) -> Option<i64> {
        match self {
            Py::Bool(b) => Some(i64::from(*b)),
            Py::Int(i) => Some(*i),
            _ => None,
        }
    }

    fn eq(&self, other: &Py) -> bool {
        match (self, other) {
            (Py::Int(a), Py::Int(b)) => a == b,
            (a, b) if a.num().is_some() && b.num().is_some() => a.num() == b.num(),
            (Py::None, Py::None) => true,
            (Py::Str(a), Py::Str(b)) => a == b,
            (Py::List(a), Py::List(b)) | (Py::Tuple(a), Py::Tuple(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.eq(y))
            }
            (Py::Set(a), Py::Set(b)) => {
                a.len() == b.len() && a.iter().all(|x| b.iter().any(|y| x.eq(y)))
            }
            (Py::Dict(a), Py::Dict(b)) => {
                a.len() == b.len()
                    && a.iter()
                        .all(|(k, v)| b.iter().any(|(k2, v2)| k.eq(k2) && v.eq(v2)))
            }
            _ => false,
        }
    }

    fn cmp(&self, other: &Py) -> Result<Ordering, String> {
        match (self, other) {
            (Py::Int(a), Py::Int(b)) => Ok(a.cmp(b)),
            (a, b) if a.num().is_some() && b.num().is_some() => a
                .num()
                .partial_cmp(&b.num())
                .ok_or_else(|| "cannot order NaN".to_string()),
            (Py::Str(a), Py::Str(b)) => Ok(a.cmp(b)),
            (Py::List(a), Py::List(b)) | (Py::Tuple(a), Py::Tuple(b)) => {
                for (x, y) in a.iter().zip(b) {
                    if !x.eq(y) {
                        return x.cmp(y);
                    }
                }
                Ok(a.len().cmp(&b.len()))
            }
            (a, b) => Err(format!(
                "'<' not supported between instances of '{}' and '{}'",
                a.type_name(),
                b.type_name()
            )),
        }
    }

    fn to_json(&self) -> Value {
        match self {
            Py::None => Value::Null,
            Py::Bool(b) => Value::Bool(*b),
            Py::Int(i) => Value::from(*i),
            Py::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
            Py::Str(s) => Value::String(s.clone()),
            Py::List(v) | Py::Tuple(v) | Py::Set(v) => {
                Value::Array(v.iter().map(Py::to_json).collect())
            }
            Py::Dict(d) => Value::Object(d.iter().map(|(k, v)| (k.str(), v.to_json())).collect()),
            Py::Builtin(n) => Value::String(format!("<built-in function {n}>")),
            Py::Method(_, n) => Value::String(format!("<built-in method {n}>")),
        }
    }

    /// Python's `str()`.
    fn str(&self) -> String {
        match self {
            Py::Str(s) => s.clone(),
            Py::Float(f) => crate::pyfmt::json_dumps(&Py::Float(*f).to_json()),
            Py::Tuple(v) if v.len() == 1 => format!("({},)", crate::pyfmt::repr(&v[0].to_json())),
            Py::Tuple(v) => {
                let inner: Vec<String> =
                    v.iter().map(|x| crate::pyfmt::repr(&x.to_json())).collect();
                format!("({})", inner.join(", "))
            }
            other => crate::pyfmt::repr(&other.to_json()),
        }
    }

    /// The items of an iterable (a dict's keys, a string's characters).
    fn items(&self) -> Result<Vec<Py>, String> {
        match self {
            Py::List(v) | Py::Tuple(v) | Py::Set(v) => Ok(v.clone()),
            Py::Dict(d) => Ok(d.iter().map(|(k, _)| k.clone()).collect()),
            Py::Str(s) => Ok(s.chars().map(|c| Py::Str(c.to_string())).collect()),
            other => Err(format!("'{}' object is not iterable", other.type_name())),
        }
    }

    fn contains(&self, x: &Py) -> Result<bool, String> {
        match (self, x) {
            (Py::Str(s), Py::Str(sub)) => Ok(s.contains(sub.as_str())),
            (Py::Str(_), other) => Err(format!(
                "'in <string>' requires string as left operand, not {}",
                other.type_name()
            )),
            (Py::Dict(d), _) => Ok(d.iter().any(|(k, _)| k.eq(x))),
            (c, _) => Ok(c.items()?.iter().any(|y| y.eq(x))),
        }
    }
}

// ---------------------------------------------------------------- lexer

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(String),
    Str(String),
    Name(String),
    Op(&'static str),
}

impl Tok {
    fn text(&self) -> String {
        match self {
            Tok::Num(s) | Tok::Name(s) => s.clone(),
            Tok::Str(s) => format!("{s:?}"),
            Tok::Op(o) => o.to_string(),
        }
    }
}

const OPS: [&str; 25] = [
    "==", "!=", "<=", ">=", "//", "**", "<", ">", "+", "-", "*", "/", "%", "(", ")", "[", "]", "{",
    "}", ",", ":", ".", "=", "|", "&",
];

fn lex(src: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_digit()
            || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric()
                    || chars[i] == '.'
                    || chars[i] == '_'
                    || ((chars[i] == '+' || chars[i] == '-') && matches!(chars[i - 1], 'e' | 'E')))
            {
                i += 1;
            }
            out.push(Tok::Num(chars[start..i].iter().collect()));
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push(Tok::Name(chars[start..i].iter().collect()));
        } else if c == '\'' || c == '"' {
            i += 1;
            let mut s = String::new();
            loop {
                let Some(&d) = chars.get(i) else {
                    return Err("unterminated string".into());
                };
                i += 1;
                if d == c {
                    break;
                }
                if d == '\\' {
                    let Some(&e) = chars.get(i) else {
                        return Err("unterminated string".into());
                    };
                    i += 1;
                    s.push(match e {
                        'n' => '\n',
                        't' => '\t',
                        'r' => '\r',
                        '0' => '\0',
                        other => other,
                    });
                } else {
                    s.push(d);
                }
            }
            out.push(Tok::Str(s));
        } else {
            let rest: String = chars[i..chars.len().min(i + 2)].iter().collect();
            let Some(op) = OPS.iter().find(|o| rest.starts_with(**o)) else {
                return Err(format!("unexpected character `{c}`"));
            };
            i += op.chars().count();
            out.push(Tok::Op(op));
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------- parser

#[derive(Debug, Clone)]
enum Expr {
    Lit(Py),
    Name(String),
    List(Vec<Expr>),
    Tuple(Vec<Expr>),
    Set(Vec<Expr>),
    Dict(Vec<(Expr, Expr)>),
    Index(Box<Expr>, Box<Expr>),
    Slice(Box<Expr>, Option<Box<Expr>>, Option<Box<Expr>>),
    Attr(Box<Expr>, String),
    Call(Box<Expr>, Vec<Expr>),
    Unary(&'static str, Box<Expr>),
    Bin(&'static str, Box<Expr>, Box<Expr>),
    Compare(Box<Expr>, Vec<(String, Expr)>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    If(Box<Expr>, Box<Expr>, Box<Expr>),
    /// `[elt for ...]` (list) or `(elt for ...)` (generator, evaluated as a list).
    Comp(Box<Expr>, Vec<Clause>),
}

#[derive(Debug, Clone)]
struct Clause {
    targets: Vec<String>,
    iter: Expr,
    conds: Vec<Expr>,
}

/// A bracketed sequence: its items, whether it had a comma, and its comprehension clauses.
type Sequence = (Vec<Expr>, bool, Option<Vec<Clause>>);

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn is_op(&self, op: &str) -> bool {
        matches!(self.peek(), Some(Tok::Op(o)) if *o == op)
    }

    fn is_kw(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Tok::Name(n)) if n == kw)
    }

    fn eat_op(&mut self, op: &str) -> bool {
        let yes = self.is_op(op);
        if yes {
            self.pos += 1;
        }
        yes
    }

    fn eat_kw(&mut self, kw: &str) -> bool {
        let yes = self.is_kw(kw);
        if yes {
            self.pos += 1;
        }
        yes
    }

    fn expect_op(&mut self, op: &str) -> Result<(), String> {
        if self.eat_op(op) {
            Ok(())
        } else {
            Err(format!(
                "expected `{op}`, found {}",
                self.peek()
                    .map_or("the end".to_string(), |t| format!("`{}`", t.text()))
            ))
        }
    }

    fn enter(&mut self) -> Result<(), String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err("expression nested too deeply".into());
        }
        Ok(())
    }

    fn expr(&mut self) -> Result<Expr, String> {
        self.enter()?;
        let e = self.ternary();
        self.depth -= 1;
        e
    }

    fn ternary(&mut self) -> Result<Expr, String> {
        let body = self.or()?;
        if self.eat_kw("if") {
            let cond = self.or()?;
            if !self.eat_kw("else") {
                return Err("expected `else`".into());
            }
            let other = self.expr()?;
            return Ok(Expr::If(Box::new(cond), Box::new(body), Box::new(other)));
        }
        Ok(body)
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut l = self.and()?;
        let base = self.depth;
        while self.eat_kw("or") {
            self.enter()?;
            l = Expr::Or(Box::new(l), Box::new(self.and()?));
        }
        self.depth = base;
        Ok(l)
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut l = self.not()?;
        let base = self.depth;
        while self.eat_kw("and") {
            self.enter()?;
            l = Expr::And(Box::new(l), Box::new(self.not()?));
        }
        self.depth = base;
        Ok(l)
    }

    fn not(&mut self) -> Result<Expr, String> {
        if self.eat_kw("not") {
            self.enter()?;
            let e = self.not();
            self.depth -= 1;
            return Ok(Expr::Unary("not", Box::new(e?)));
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Expr, String> {
        let first = self.arith()?;
        let mut rest = Vec::new();
        loop {
            let op = if let Some(Tok::Op(o @ ("==" | "!=" | "<" | "<=" | ">" | ">="))) = self.peek()
            {
                let o = o.to_string();
                self.pos += 1;
                o
            } else if self.eat_kw("in") {
                "in".into()
            } else if self.is_kw("not")
                && matches!(self.toks.get(self.pos + 1), Some(Tok::Name(n)) if n == "in")
            {
                self.pos += 2;
                "not in".into()
            } else if self.eat_kw("is") {
                if self.eat_kw("not") {
                    "is not".into()
                } else {
                    "is".into()
                }
            } else {
                break;
            };
            rest.push((op, self.arith()?));
        }
        Ok(if rest.is_empty() {
            first
        } else {
            Expr::Compare(Box::new(first), rest)
        })
    }

    fn arith(&mut self) -> Result<Expr, String> {
        let mut l = self.term()?;
        let base = self.depth;
        loop {
            let op = if self.eat_op("+") {
                "+"
            } else if self.eat_op("-") {
                "-"
            } else {
                break;
            };
            self.enter()?;
            l = Expr::Bin(op, Box::new(l), Box::new(self.term()?));
        }
        self.depth = base;
        Ok(l)
    }

    fn term(&mut self) -> Result<Expr, String> {
        let mut l = self.factor()?;
        let base = self.depth;
        loop {
            let op = ["*", "//", "/", "%"].into_iter().find(|o| self.is_op(o));
            let Some(op) = op else { break };
            self.pos += 1;
            self.enter()?;
            l = Expr::Bin(op, Box::new(l), Box::new(self.factor()?));
        }
        self.depth = base;
        Ok(l)
    }

    fn factor(&mut self) -> Result<Expr, String> {
        for op in ["-", "+"] {
            if self.eat_op(op) {
                self.enter()?;
                let e = self.factor();
                self.depth -= 1;
                return Ok(Expr::Unary(op, Box::new(e?)));
            }
        }
        self.postfix()
    }

    fn postfix(&mut self) -> Result<Expr, String> {
        let mut e = self.atom()?;
        let base = self.depth;
        let r = self.postfix_ops(&mut e);
        self.depth = base;
        r.map(|()| e)
    }

    /// Subscripts, calls and attributes after an atom; each counts towards the depth limit,
    /// since evaluating (and dropping) the chain recurses once per link.
    fn postfix_ops(&mut self, e: &mut Expr) -> Result<(), String> {
        loop {
            if self.is_op("[") || self.is_op("(") || self.is_op(".") {
                self.enter()?;
            }
            let cur = std::mem::replace(e, Expr::Lit(Py::None));
            if self.eat_op("[") {
                let lo = if self.is_op(":") {
                    None
                } else {
                    Some(self.expr()?)
                };
                if self.eat_op(":") {
                    let hi = if self.is_op("]") {
                        None
                    } else {
                        Some(Box::new(self.expr()?))
                    };
                    self.expect_op("]")?;
                    *e = Expr::Slice(Box::new(cur), lo.map(Box::new), hi);
                } else {
                    self.expect_op("]")?;
                    let idx = lo.ok_or("empty subscript")?;
                    *e = Expr::Index(Box::new(cur), Box::new(idx));
                }
            } else if self.eat_op("(") {
                let args = self.call_args()?;
                *e = Expr::Call(Box::new(cur), args);
            } else if self.eat_op(".") {
                match self.peek().cloned() {
                    Some(Tok::Name(n)) => {
                        self.pos += 1;
                        *e = Expr::Attr(Box::new(cur), n);
                    }
                    _ => return Err("expected a name after `.`".into()),
                }
            } else {
                *e = cur;
                return Ok(());
            }
        }
    }

    fn call_args(&mut self) -> Result<Vec<Expr>, String> {
        let mut args = Vec::new();
        if self.eat_op(")") {
            return Ok(args);
        }
        let first = self.expr()?;
        if self.is_kw("for") {
            let clauses = self.clauses()?;
            self.expect_op(")")?;
            return Ok(vec![Expr::Comp(Box::new(first), clauses)]);
        }
        args.push(first);
        while self.eat_op(",") {
            if self.is_op(")") {
                break;
            }
            args.push(self.expr()?);
        }
        self.expect_op(")")?;
        Ok(args)
    }

    fn clauses(&mut self) -> Result<Vec<Clause>, String> {
        let mut out = Vec::new();
        while self.eat_kw("for") {
            let mut targets = Vec::new();
            loop {
                let paren = self.eat_op("(");
                loop {
                    match self.peek().cloned() {
                        Some(Tok::Name(n)) if n != "in" => {
                            self.pos += 1;
                            targets.push(n);
                        }
                        _ => return Err("expected a name after `for`".into()),
                    }
                    if !self.eat_op(",") {
                        break;
                    }
                }
                if paren {
                    self.expect_op(")")?;
                }
                if !self.eat_op(",") {
                    break;
                }
            }
            if !self.eat_kw("in") {
                return Err("expected `in`".into());
            }
            let iter = self.or()?;
            let mut conds = Vec::new();
            while self.eat_kw("if") {
                conds.push(self.or()?);
            }
            out.push(Clause {
                targets,
                iter,
                conds,
            });
        }
        Ok(out)
    }

    /// Items up to `close`, allowing a trailing comma; a comprehension when `for` follows the first.
    fn sequence(&mut self, close: &str) -> Result<Sequence, String> {
        let mut items = Vec::new();
        let mut comma = false;
        if self.eat_op(close) {
            return Ok((items, comma, None));
        }
        let first = self.expr()?;
        if self.is_kw("for") {
            let clauses = self.clauses()?;
            self.expect_op(close)?;
            return Ok((vec![first], false, Some(clauses)));
        }
        items.push(first);
        while self.eat_op(",") {
            comma = true;
            if self.is_op(close) {
                break;
            }
            items.push(self.expr()?);
        }
        self.expect_op(close)?;
        Ok((items, comma, None))
    }

    fn atom(&mut self) -> Result<Expr, String> {
        let Some(t) = self.peek().cloned() else {
            return Err("unexpected end of expression".into());
        };
        self.pos += 1;
        match t {
            Tok::Num(s) => {
                let clean = s.replace('_', "");
                if let Ok(i) = clean.parse::<i64>() {
                    Ok(Expr::Lit(Py::Int(i)))
                } else {
                    clean
                        .parse::<f64>()
                        .map(|f| Expr::Lit(Py::Float(f)))
                        .map_err(|_| format!("bad number `{s}`"))
                }
            }
            Tok::Str(mut s) => {
                // Adjacent literals concatenate.
                while let Some(Tok::Str(more)) = self.peek().cloned() {
                    self.pos += 1;
                    s.push_str(&more);
                }
                Ok(Expr::Lit(Py::Str(s)))
            }
            Tok::Name(n) => Ok(match n.as_str() {
                "True" => Expr::Lit(Py::Bool(true)),
                "False" => Expr::Lit(Py::Bool(false)),
                "None" => Expr::Lit(Py::None),
                "lambda" | "import" | "yield" | "await" => {
                    return Err(format!("`{n}` is not supported"));
                }
                _ => Expr::Name(n),
            }),
            Tok::Op("(") => {
                self.enter()?;
                let (items, comma, comp) = self.sequence(")")?;
                self.depth -= 1;
                Ok(match comp {
                    Some(c) => Expr::Comp(Box::new(items.into_iter().next().ok_or("empty")?), c),
                    None if items.len() == 1 && !comma => {
                        items.into_iter().next().ok_or("empty")?
                    }
                    None => Expr::Tuple(items),
                })
            }
            Tok::Op("[") => {
                self.enter()?;
                let (items, _, comp) = self.sequence("]")?;
                self.depth -= 1;
                Ok(match comp {
                    Some(c) => Expr::Comp(Box::new(items.into_iter().next().ok_or("empty")?), c),
                    None => Expr::List(items),
                })
            }
            Tok::Op("{") => {
                self.enter()?;
                let r = self.brace();
                self.depth -= 1;
                r
            }
            other => Err(format!("unexpected `{}`", other.text())),
        }
    }

    fn brace(&mut self) -> Result<Expr, String> {
        if self.eat_op("}") {
            return Ok(Expr::Dict(Vec::new()));
        }
        let first = self.expr()?;
        if self.eat_op(":") {
            let mut pairs = vec![(first, self.expr()?)];
            while self.eat_op(",") {
                if self.is_op("}") {
                    break;
                }
                let k = self.expr()?;
                self.expect_op(":")?;
                pairs.push((k, self.expr()?));
            }
            self.expect_op("}")?;
            return Ok(Expr::Dict(pairs));
        }
        let mut items = vec![first];
        while self.eat_op(",") {
            if self.is_op("}") {
                break;
            }
            items.push(self.expr()?);
        }
        self.expect_op("}")?;
        Ok(Expr::Set(items))
    }
}

// ---------------------------------------------------------------- evaluator

const BUILTINS: [&str; 19] = [
    "len",
    "str",
    "int",
    "float",
    "bool",
    "list",
    "dict",
    "set",
    "tuple",
    "all",
    "any",
    "sum",
    "min",
    "max",
    "range",
    "enumerate",
    "zip",
    "sorted",
    "reversed",
];

struct Eval {
    scopes: Vec<Vec<(String, Py)>>,
    steps: u64,
    cells: u64,
}

/// The size of a value in cells (one per value, one per 16 bytes of text), counted up to `cap`.
fn weight(v: &Py, cap: u64) -> u64 {
    let mut total = 0u64;
    let mut stack = vec![v];
    while let Some(x) = stack.pop() {
        total += 1;
        if total > cap {
            break;
        }
        match x {
            Py::Str(s) => total += (s.len() / 16) as u64,
            Py::List(v) | Py::Tuple(v) | Py::Set(v) => stack.extend(v.iter()),
            Py::Dict(d) => {
                for (k, v) in d {
                    stack.push(k);
                    stack.push(v);
                }
            }
            Py::Method(t, _) => stack.push(t),
            _ => {}
        }
    }
    total
}

fn index(len: usize, i: i64) -> Option<usize> {
    let n = i64::try_from(len).ok()?;
    let k = if i < 0 { n + i } else { i };
    usize::try_from(k).ok().filter(|_| (0..n).contains(&k))
}

fn bound(n: usize) -> Result<(), String> {
    if n > MAX_ITEMS {
        Err(format!("more than {MAX_ITEMS} items"))
    } else {
        Ok(())
    }
}

impl Eval {
    fn step(&mut self) -> Result<(), String> {
        self.steps += 1;
        if self.steps > MAX_STEPS {
            return Err("the expression takes too long to evaluate".into());
        }
        Ok(())
    }

    fn lookup(&self, name: &str) -> Result<Py, String> {
        for scope in self.scopes.iter().rev() {
            if let Some((_, v)) = scope.iter().rev().find(|(k, _)| k == name) {
                return Ok(v.clone());
            }
        }
        BUILTINS
            .iter()
            .find(|b| **b == name)
            .map(|b| Py::Builtin(b))
            .ok_or_else(|| format!("name '{name}' is not defined"))
    }

    fn eval(&mut self, e: &Expr) -> Result<Py, String> {
        self.step()?;
        let v = self.eval_inner(e)?;
        self.cells += weight(&v, MAX_CELLS - self.cells.min(MAX_CELLS));
        if self.cells > MAX_CELLS {
            return Err("the expression builds too much data".into());
        }
        Ok(v)
    }

    fn eval_inner(&mut self, e: &Expr) -> Result<Py, String> {
        Ok(match e {
            Expr::Lit(v) => v.clone(),
            Expr::Name(n) => self.lookup(n)?,
            Expr::List(items) => Py::List(self.all(items)?),
            Expr::Tuple(items) => Py::Tuple(self.all(items)?),
            Expr::Set(items) => Py::Set(dedup(self.all(items)?)?),
            Expr::Dict(pairs) => {
                let mut d: Vec<(Py, Py)> = Vec::new();
                for (k, v) in pairs {
                    let (k, v) = (self.eval(k)?, self.eval(v)?);
                    match d.iter_mut().find(|(k2, _)| k2.eq(&k)) {
                        Some(slot) => slot.1 = v,
                        None => d.push((k, v)),
                    }
                }
                Py::Dict(d)
            }
            Expr::Index(target, idx) => {
                let (t, i) = (self.eval(target)?, self.eval(idx)?);
                subscript(&t, &i)?
            }
            Expr::Slice(target, lo, hi) => {
                let t = self.eval(target)?;
                let lo = lo.as_ref().map(|e| self.eval(e)).transpose()?;
                let hi = hi.as_ref().map(|e| self.eval(e)).transpose()?;
                slice(&t, lo.as_ref(), hi.as_ref())?
            }
            Expr::Attr(target, name) => {
                let t = self.eval(target)?;
                let known: &[&str] = match t {
                    Py::Dict(_) => &["get", "keys", "values", "items"],
                    Py::Str(_) => &[
                        "startswith",
                        "endswith",
                        "lower",
                        "upper",
                        "strip",
                        "split",
                        "count",
                        "join",
                    ],
                    Py::List(_) | Py::Tuple(_) => &["count", "index"],
                    _ => &[],
                };
                if !known.contains(&name.as_str()) {
                    return Err(format!(
                        "'{}' object has no attribute '{name}'",
                        t.type_name()
                    ));
                }
                Py::Method(Box::new(t), name.clone())
            }
            Expr::Call(f, args)
                if matches!(&**f, Expr::Name(n) if n == "all" || n == "any")
                    && matches!(args.as_slice(), [Expr::Comp(..)])
                    && matches!(self.eval(f)?, Py::Builtin(_)) =>
            {
                // all()/any() over a generator stop at the first deciding item, as in Python.
                let want = matches!(&**f, Expr::Name(n) if n == "any");
                let [Expr::Comp(elt, clauses)] = args.as_slice() else {
                    return Err("internal: not a generator".into());
                };
                let mut out = Vec::new();
                self.scopes.push(Vec::new());
                let r = self.comp(elt, clauses, &mut out, Some(want));
                self.scopes.pop();
                Py::Bool(if r? { want } else { !want })
            }
            Expr::Call(f, args) => {
                let f = self.eval(f)?;
                let args = self.all(args)?;
                self.call(f, args)?
            }
            Expr::Unary(op, x) => {
                let v = self.eval(x)?;
                match (*op, &v) {
                    ("not", _) => Py::Bool(!v.truthy()),
                    ("-", Py::Int(i)) => Py::Int(i.checked_neg().ok_or("integer overflow")?),
                    ("-", Py::Bool(b)) => Py::Int(-i64::from(*b)),
                    ("-", Py::Float(f)) => Py::Float(-f),
                    ("+", Py::Int(_) | Py::Float(_)) => v.clone(),
                    _ => {
                        return Err(format!(
                            "bad operand type for unary {op}: '{}'",
                            v.type_name()
                        ));
                    }
                }
            }
            Expr::Bin(op, l, r) => {
                let (a, b) = (self.eval(l)?, self.eval(r)?);
                binary(op, &a, &b)?
            }
            Expr::Compare(first, rest) => {
                let mut left = self.eval(first)?;
                for (op, e) in rest {
                    let right = self.eval(e)?;
                    let ok = match op.as_str() {
                        "==" => left.eq(&right),
                        "!=" => !left.eq(&right),
                        "<" => left.cmp(&right)? == Ordering::Less,
                        "<=" => left.cmp(&right)? != Ordering::Greater,
                        ">" => left.cmp(&right)? == Ordering::Greater,
                        ">=" => left.cmp(&right)? != Ordering::Less,
                        "in" => right.contains(&left)?,
                        "not in" => !right.contains(&left)?,
                        "is" => is(&left, &right),
                        _ => !is(&left, &right),
                    };
                    if !ok {
                        return Ok(Py::Bool(false));
                    }
                    left = right;
                }
                Py::Bool(true)
            }
            Expr::And(l, r) => {
                let a = self.eval(l)?;
                if a.truthy() { self.eval(r)? } else { a }
            }
            Expr::Or(l, r) => {
                let a = self.eval(l)?;
                if a.truthy() { a } else { self.eval(r)? }
            }
            Expr::If(c, a, b) => {
                if self.eval(c)?.truthy() {
                    self.eval(a)?
                } else {
                    self.eval(b)?
                }
            }
            Expr::Comp(elt, clauses) => {
                let mut out = Vec::new();
                self.scopes.push(Vec::new());
                let r = self.comp(elt, clauses, &mut out, None);
                self.scopes.pop();
                r?;
                Py::List(out)
            }
        })
    }

    fn all(&mut self, items: &[Expr]) -> Result<Vec<Py>, String> {
        items.iter().map(|e| self.eval(e)).collect()
    }

    /// Runs a comprehension into `out`. With `stop: Some(t)`, stops at the first item whose
    /// truthiness is `t` and returns true (for all/any).
    fn comp(
        &mut self,
        elt: &Expr,
        clauses: &[Clause],
        out: &mut Vec<Py>,
        stop: Option<bool>,
    ) -> Result<bool, String> {
        let Some((c, rest)) = clauses.split_first() else {
            let v = self.eval(elt)?;
            if stop.is_some_and(|t| v.truthy() == t) {
                return Ok(true);
            }
            if stop.is_none() {
                out.push(v);
            }
            bound(out.len())?;
            return Ok(false);
        };
        for item in self.eval(&c.iter)?.items()? {
            self.step()?;
            let bindings: Vec<(String, Py)> = if c.targets.len() == 1 {
                vec![(c.targets[0].clone(), item)]
            } else {
                let parts = item.items()?;
                if parts.len() != c.targets.len() {
                    return Err("cannot unpack: wrong number of values".into());
                }
                c.targets.iter().cloned().zip(parts).collect()
            };
            if let Some(scope) = self.scopes.last_mut() {
                scope.extend(bindings);
            }
            let mut keep = true;
            for cond in &c.conds {
                if !self.eval(cond)?.truthy() {
                    keep = false;
                    break;
                }
            }
            if keep && self.comp(elt, rest, out, stop)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn call(&mut self, f: Py, args: Vec<Py>) -> Result<Py, String> {
        match f {
            Py::Builtin(name) => builtin(name, args),
            Py::Method(target, name) => method(*target, &name, args),
            other => Err(format!("'{}' object is not callable", other.type_name())),
        }
    }
}

/// Distinct items, in order; pairwise, so the comparisons are budgeted.
fn dedup(items: Vec<Py>) -> Result<Vec<Py>, String> {
    let mut out: Vec<Py> = Vec::new();
    let mut compared = 0u64;
    for x in items {
        compared += out.len() as u64;
        if compared > MAX_STEPS * 5 {
            return Err("too many items to compare".into());
        }
        if !out.iter().any(|y| y.eq(&x)) {
            out.push(x);
        }
    }
    Ok(out)
}

fn is(a: &Py, b: &Py) -> bool {
    match (a, b) {
        (Py::None, Py::None) => true,
        (Py::Bool(x), Py::Bool(y)) => x == y,
        _ => false,
    }
}

fn subscript(t: &Py, i: &Py) -> Result<Py, String> {
    match t {
        Py::Dict(d) => d
            .iter()
            .find(|(k, _)| k.eq(i))
            .map(|(_, v)| v.clone())
            .ok_or_else(|| format!("KeyError: {}", i.str())),
        Py::List(v) | Py::Tuple(v) => {
            let k = i.int().ok_or("indices must be integers")?;
            index(v.len(), k)
                .map(|k| v[k].clone())
                .ok_or_else(|| "index out of range".to_string())
        }
        Py::Str(s) => {
            let chars: Vec<char> = s.chars().collect();
            let k = i.int().ok_or("string indices must be integers")?;
            index(chars.len(), k)
                .map(|k| Py::Str(chars[k].to_string()))
                .ok_or_else(|| "string index out of range".to_string())
        }
        other => Err(format!(
            "'{}' object is not subscriptable",
            other.type_name()
        )),
    }
}

fn slice(t: &Py, lo: Option<&Py>, hi: Option<&Py>) -> Result<Py, String> {
    let clamp = |len: usize, v: Option<&Py>, default: usize| -> Result<usize, String> {
        let Some(v) = v.filter(|v| !matches!(v, Py::None)) else {
            return Ok(default);
        };
        let i = v.int().ok_or("slice indices must be integers")?;
        let n = i64::try_from(len).unwrap_or(i64::MAX);
        let k = if i < 0 { (n + i).max(0) } else { i.min(n) };
        Ok(usize::try_from(k).unwrap_or(0))
    };
    match t {
        Py::List(v) | Py::Tuple(v) => {
            let (a, b) = (clamp(v.len(), lo, 0)?, clamp(v.len(), hi, v.len())?);
            let items = if a < b { v[a..b].to_vec() } else { Vec::new() };
            Ok(if matches!(t, Py::Tuple(_)) {
                Py::Tuple(items)
            } else {
                Py::List(items)
            })
        }
        Py::Str(s) => {
            let chars: Vec<char> = s.chars().collect();
            let (a, b) = (
                clamp(chars.len(), lo, 0)?,
                clamp(chars.len(), hi, chars.len())?,
            );
            Ok(Py::Str(if a < b {
                chars[a..b].iter().collect()
            } else {
                String::new()
            }))
        }
        other => Err(format!(
            "'{}' object is not subscriptable",
            other.type_name()
        )),
    }
}

fn binary(op: &str, a: &Py, b: &Py) -> Result<Py, String> {
    let unsupported = || {
        format!(
            "unsupported operand type(s) for {op}: '{}' and '{}'",
            a.type_name(),
            b.type_name()
        )
    };
    if let (Some(x), Some(y)) = (a.int(), b.int()) {
        return match op {
            "+" => x
                .checked_add(y)
                .map(Py::Int)
                .ok_or("integer overflow".into()),
            "-" => x
                .checked_sub(y)
                .map(Py::Int)
                .ok_or("integer overflow".into()),
            "*" => x
                .checked_mul(y)
                .map(Py::Int)
                .ok_or("integer overflow".into()),
            "/" if y == 0 => Err("division by zero".into()),
            "/" => Ok(Py::Float(x as f64 / y as f64)),
            "//" | "%" if y == 0 => Err("integer division or modulo by zero".into()),
            "//" => Ok(Py::Int(
                x.div_euclid(y) - i64::from(y < 0 && x.rem_euclid(y) != 0),
            )),
            "%" => Ok(Py::Int(((x % y) + y) % y)),
            _ => Err(unsupported()),
        };
    }
    if let (Some(x), Some(y)) = (a.num(), b.num()) {
        return match op {
            "+" => Ok(Py::Float(x + y)),
            "-" => Ok(Py::Float(x - y)),
            "*" => Ok(Py::Float(x * y)),
            "/" | "//" | "%" if y == 0.0 => Err("float division by zero".into()),
            "/" => Ok(Py::Float(x / y)),
            "//" => Ok(Py::Float((x / y).floor())),
            "%" => Ok(Py::Float(x - y * (x / y).floor())),
            _ => Err(unsupported()),
        };
    }
    match (op, a, b) {
        ("+", Py::Str(x), Py::Str(y)) => Ok(Py::Str(format!("{x}{y}"))),
        ("+", Py::List(_), Py::List(_)) | ("+", Py::Tuple(_), Py::Tuple(_))
            if weight(a, MAX_CELLS) + weight(b, MAX_CELLS) > MAX_ITEMS as u64 =>
        {
            Err(format!("more than {MAX_ITEMS} items"))
        }
        ("+", Py::List(x), Py::List(y)) => Ok(Py::List([x.clone(), y.clone()].concat())),
        ("+", Py::Tuple(x), Py::Tuple(y)) => Ok(Py::Tuple([x.clone(), y.clone()].concat())),
        ("*", Py::Str(s), n) | ("*", n, Py::Str(s)) if n.int().is_some() => {
            let k = usize::try_from(n.int().unwrap_or(0)).unwrap_or(0);
            bound(s.len().saturating_mul(k))?;
            Ok(Py::Str(s.repeat(k)))
        }
        ("*", Py::List(v), n) | ("*", n, Py::List(v)) if n.int().is_some() => {
            let k = usize::try_from(n.int().unwrap_or(0)).unwrap_or(0);
            let each = usize::try_from(weight(a, MAX_CELLS).max(weight(b, MAX_CELLS)))
                .unwrap_or(usize::MAX);
            bound(each.saturating_mul(k))?;
            Ok(Py::List(
                v.iter().cloned().cycle().take(v.len() * k).collect(),
            ))
        }
        _ => Err(unsupported()),
    }
}

fn one(name: &str, args: &[Py]) -> Result<Py, String> {
    match args {
        [x] => Ok(x.clone()),
        _ => Err(format!(
            "{name}() takes exactly one argument ({} given)",
            args.len()
        )),
    }
}

fn builtin(name: &str, args: Vec<Py>) -> Result<Py, String> {
    Ok(match name {
        "len" => {
            let x = one(name, &args)?;
            let n = match &x {
                Py::Str(s) => s.chars().count(),
                Py::List(v) | Py::Tuple(v) | Py::Set(v) => v.len(),
                Py::Dict(d) => d.len(),
                other => {
                    return Err(format!(
                        "object of type '{}' has no len()",
                        other.type_name()
                    ));
                }
            };
            Py::Int(i64::try_from(n).unwrap_or(i64::MAX))
        }
        "str" => Py::Str(args.first().map_or(String::new(), Py::str)),
        "bool" => Py::Bool(args.first().is_some_and(Py::truthy)),
        "int" => match args.first() {
            None => Py::Int(0),
            Some(Py::Float(f)) if f.is_finite() => Py::Int(f.trunc() as i64),
            Some(Py::Str(s)) => Py::Int(s.trim().replace('_', "").parse().map_err(|_| {
                format!(
                    "invalid literal for int() with base 10: {}",
                    Py::Str(s.clone()).str()
                )
            })?),
            Some(x) => Py::Int(x.int().ok_or_else(|| {
                format!(
                    "int() argument must be a string or a number, not '{}'",
                    x.type_name()
                )
            })?),
        },
        "float" => match args.first() {
            None => Py::Float(0.0),
            Some(Py::Str(s)) => Py::Float(s.trim().parse().map_err(|_| {
                format!(
                    "could not convert string to float: {}",
                    Py::Str(s.clone()).str()
                )
            })?),
            Some(x) => Py::Float(x.num().ok_or_else(|| {
                format!(
                    "float() argument must be a string or a real number, not '{}'",
                    x.type_name()
                )
            })?),
        },
        "list" => Py::List(args.first().map_or(Ok(Vec::new()), Py::items)?),
        "tuple" => Py::Tuple(args.first().map_or(Ok(Vec::new()), Py::items)?),
        "set" => Py::Set(dedup(args.first().map_or(Ok(Vec::new()), Py::items)?)?),
        "dict" => match args.first() {
            None => Py::Dict(Vec::new()),
            Some(Py::Dict(d)) => Py::Dict(d.clone()),
            Some(x) => {
                let mut d = Vec::new();
                for pair in x.items()? {
                    match pair.items()?.as_slice() {
                        [k, v] => d.push((k.clone(), v.clone())),
                        _ => {
                            return Err(
                                "dictionary update sequence element has wrong length".into()
                            );
                        }
                    }
                }
                Py::Dict(d)
            }
        },
        "all" => Py::Bool(one(name, &args)?.items()?.iter().all(Py::truthy)),
        "any" => Py::Bool(one(name, &args)?.items()?.iter().any(Py::truthy)),
        "sum" => {
            let mut acc = args.get(1).cloned().unwrap_or(Py::Int(0));
            for x in args
                .first()
                .ok_or("sum() takes at least 1 argument")?
                .items()?
            {
                acc = binary("+", &acc, &x)?;
            }
            acc
        }
        "min" | "max" => {
            let items = if args.len() == 1 {
                args[0].items()?
            } else {
                args
            };
            let mut best: Option<Py> = None;
            for x in items {
                best = Some(match best {
                    None => x,
                    Some(b) => {
                        let ord = x.cmp(&b)?;
                        if (name == "min" && ord == Ordering::Less)
                            || (name == "max" && ord == Ordering::Greater)
                        {
                            x
                        } else {
                            b
                        }
                    }
                });
            }
            best.ok_or_else(|| format!("{name}() arg is an empty sequence"))?
        }
        "range" => {
            let ints: Vec<i64> = args
                .iter()
                .map(|a| a.int().ok_or("range() takes integers"))
                .collect::<Result<_, _>>()?;
            let (start, stop, step) = match ints.as_slice() {
                [stop] => (0, *stop, 1),
                [start, stop] => (*start, *stop, 1),
                [start, stop, step] if *step != 0 => (*start, *stop, *step),
                _ => return Err("range() takes 1 to 3 integers (step not 0)".into()),
            };
            let count = if step > 0 {
                (stop - start).max(0) / step
            } else {
                (start - stop).max(0) / -step
            };
            bound(usize::try_from(count).unwrap_or(usize::MAX))?;
            let mut out = Vec::new();
            let mut i = start;
            while (step > 0 && i < stop) || (step < 0 && i > stop) {
                out.push(Py::Int(i));
                i += step;
            }
            Py::List(out)
        }
        "enumerate" => Py::List(
            one(name, &args)?
                .items()?
                .into_iter()
                .enumerate()
                .map(|(i, x)| Py::Tuple(vec![Py::Int(i as i64), x]))
                .collect(),
        ),
        "zip" => {
            let lists: Vec<Vec<Py>> = args.iter().map(Py::items).collect::<Result<_, _>>()?;
            let n = lists.iter().map(Vec::len).min().unwrap_or(0);
            Py::List(
                (0..n)
                    .map(|i| Py::Tuple(lists.iter().map(|l| l[i].clone()).collect()))
                    .collect(),
            )
        }
        "sorted" => {
            let mut items = one(name, &args)?.items()?;
            let mut err = None;
            items.sort_by(|a, b| {
                a.cmp(b).unwrap_or_else(|e| {
                    err = Some(e);
                    Ordering::Equal
                })
            });
            if let Some(e) = err {
                return Err(e);
            }
            Py::List(items)
        }
        "reversed" => {
            let mut items = one(name, &args)?.items()?;
            items.reverse();
            Py::List(items)
        }
        other => return Err(format!("name '{other}' is not defined")),
    })
}

fn method(target: Py, name: &str, args: Vec<Py>) -> Result<Py, String> {
    let arg_str = |i: usize| -> Result<String, String> {
        match args.get(i) {
            Some(Py::Str(s)) => Ok(s.clone()),
            _ => Err(format!("{name}() needs a string argument")),
        }
    };
    Ok(match (&target, name) {
        (Py::Dict(d), "get") => {
            let k = args.first().ok_or("get() needs a key")?;
            d.iter()
                .find(|(k2, _)| k2.eq(k))
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| args.get(1).cloned().unwrap_or(Py::None))
        }
        (Py::Dict(d), "keys") => Py::List(d.iter().map(|(k, _)| k.clone()).collect()),
        (Py::Dict(d), "values") => Py::List(d.iter().map(|(_, v)| v.clone()).collect()),
        (Py::Dict(d), "items") => Py::List(
            d.iter()
                .map(|(k, v)| Py::Tuple(vec![k.clone(), v.clone()]))
                .collect(),
        ),
        (Py::Str(s), "startswith") => Py::Bool(s.starts_with(&arg_str(0)?)),
        (Py::Str(s), "endswith") => Py::Bool(s.ends_with(&arg_str(0)?)),
        (Py::Str(s), "lower") => Py::Str(s.to_lowercase()),
        (Py::Str(s), "upper") => Py::Str(s.to_uppercase()),
        (Py::Str(s), "strip") => Py::Str(s.trim().to_string()),
        (Py::Str(s), "split") => Py::List(match args.first() {
            None | Some(Py::None) => s.split_whitespace().map(|p| Py::Str(p.into())).collect(),
            Some(_) => s
                .split(arg_str(0)?.as_str())
                .map(|p| Py::Str(p.into()))
                .collect(),
        }),
        (Py::Str(s), "count") => {
            let sub = arg_str(0)?;
            Py::Int(if sub.is_empty() {
                s.chars().count() as i64 + 1
            } else {
                s.matches(sub.as_str()).count() as i64
            })
        }
        (Py::Str(s), "join") => {
            let parts: Vec<String> = args
                .first()
                .ok_or("join() needs an iterable")?
                .items()?
                .into_iter()
                .map(|p| match p {
                    Py::Str(x) => Ok(x),
                    other => Err(format!(
                        "sequence item: expected str instance, {} found",
                        other.type_name()
                    )),
                })
                .collect::<Result<_, _>>()?;
            Py::Str(parts.join(s))
        }
        (Py::List(v) | Py::Tuple(v), "count") => {
            let x = args.first().ok_or("count() needs an argument")?;
            Py::Int(v.iter().filter(|y| y.eq(x)).count() as i64)
        }
        (Py::List(v) | Py::Tuple(v), "index") => {
            let x = args.first().ok_or("index() needs an argument")?;
            let i = v
                .iter()
                .position(|y| y.eq(x))
                .ok_or_else(|| format!("{} is not in list", x.str()))?;
            Py::Int(i as i64)
        }
        (t, m) => return Err(format!("'{}' object has no attribute '{m}'", t.type_name())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars() -> Vec<(&'static str, Value)> {
        vec![
            ("execution_order", json!(["extract", "summarise"])),
            (
                "agent_outputs",
                json!({"extract": {"success": true, "fields": ["a", "b"], "n": 2}, "summarise": {"output": "Hello World"}}),
            ),
            ("execution_time", json!(1.5)),
            ("ensemble_name", json!("e")),
        ]
    }

    fn t(src: &str) -> bool {
        evaluate(src, &vars()).unwrap_or_else(|e| panic!("{src}: {e}"))
    }

    #[test]
    fn supported_expressions() {
        assert!(t("len(execution_order) == 2"));
        assert!(t(
            "execution_order.index('extract') < execution_order.index('summarise')"
        ));
        assert!(t(
            "all(a in execution_order for a in ['extract', 'summarise'])"
        ));
        assert!(!t("any(a not in execution_order for a in ('extract',))"));
        assert!(t("agent_outputs['extract'].get('success') is True"));
        assert!(t("agent_outputs.get('nope', {}).get('x') is None"));
        assert!(t("'World' in agent_outputs['summarise']['output']"));
        assert!(t(
            "'extract' in agent_outputs and 'b' in agent_outputs['extract']['fields']"
        ));
        assert!(t("0 < execution_time <= 2"));
        assert!(t("1 == 1.0 == True"));
        assert!(t(
            "len([k for k in agent_outputs if k.startswith('s')]) == 1"
        ));
        assert!(t("sum(x for x in range(5)) == 10 and max([3, 1, 2]) == 3"));
        assert!(t("sorted(execution_order, ) == ['extract', 'summarise']"));
        assert!(t("(0 or 'x') == 'x' and (1 and 0) == 0"));
        assert!(t("'yes' if execution_time > 1 else 'no'"));
        assert!(t("{'a': 1}['a'] + 7 // 2 - 10 % 3 == 3"));
        assert!(t(
            "[k for k, v in agent_outputs.items() if v.get('n') == 2] == ['extract']"
        ));
        assert!(t(
            "str(2) + 'x' == '2x' and int('7') == 7 and float('1.5') == 1.5"
        ));
        assert!(t(
            "execution_order[-1] == 'summarise' and execution_order[:1] == ['extract']"
        ));
        assert!(t(
            "ensemble_name.upper() == 'E' and ', '.join(execution_order).count(',') == 1"
        ));
        assert!(!t("len(agent_outputs) > 5"));
        assert!(t("not []"));
        // all()/any() over a generator stop early, as Python's do.
        assert!(t(
            "any(True for k in ['extract', 'zz'] if agent_outputs[k])"
        ));
        assert!(!t(
            "all(k == 'x' for k in ['extract', 'zz'] if agent_outputs[k])"
        ));
    }

    #[test]
    fn errors_not_panics() {
        for bad in [
            "agent_outputs['ghost']",
            "execution_order[5]",
            "undefined_name",
            "__import__('os')",
            "lambda: 1",
            "sorted([1, 'a'])",
            "1 / 0",
            "execution_order.index('nope')",
            "len(5)",
            "(",
            "'unterminated",
            "open('/etc/passwd')",
            "agent_outputs.__class__",
        ] {
            assert!(evaluate(bad, &vars()).is_err(), "{bad} should be an error");
        }
    }

    #[test]
    fn hostile_input_ends_quickly() {
        let deep = format!("{}1{}", "(".repeat(10_000), ")".repeat(10_000));
        assert!(evaluate(&deep, &[]).is_err());
        assert!(evaluate("len(range(10**12))", &[]).is_err());
        assert!(evaluate("len(range(100000000))", &[]).is_err());
        assert!(evaluate("sum(1 for a in range(999999) for b in range(999999))", &[]).is_err());
        assert!(evaluate("'x' * 100000000", &[]).is_err());
        assert!(evaluate(&"not ".repeat(5000), &[]).is_err());
        // Long chains must not overflow a small (tokio worker) stack.
        let chain = |op: &str, n: usize| vec!["1"; n].join(op);
        let h = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(move || {
                for op in [" + ", " and ", " or ", " * "] {
                    assert!(evaluate(&chain(op, 90), &[]).is_ok(), "{op}");
                    assert!(evaluate(&chain(op, 5000), &[]).is_err(), "{op}");
                }
                assert!(evaluate(&format!("x{}", "[0]".repeat(5000)), &[]).is_err());
            })
            .unwrap();
        h.join().unwrap();
        assert!(evaluate("len(set(range(100000))) > 0", &[]).is_err());
        // Found by the fuzzer: a list of copies of a list.
        assert!(evaluate("[5]+[[5]*5425]*4256", &[]).is_err());
        assert!(evaluate("[[5] * 5000 for _ in range(5000)]", &[]).is_err());
        assert!(
            evaluate(
                "len([s for s in ['x' * 900000] * 3 for _ in range(100)])",
                &[]
            )
            .is_err()
        );
    }
}
