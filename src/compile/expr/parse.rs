//! The parser of the expression language: tokens into an expression tree, by precedence climbing,
//! its depth bounded.

use super::budget::MAX_DEPTH;
use super::lex::{Tok, lex};
use super::value::Py;

#[derive(Debug, Clone)]
pub(super) enum Expr {
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
pub(super) struct Clause {
    pub(super) targets: Vec<String>,
    pub(super) iter: Expr,
    pub(super) conds: Vec<Expr>,
}

/// A bracketed sequence: its items, whether it had a comma, and its comprehension clauses.
type Sequence = (Vec<Expr>, bool, Option<Vec<Clause>>);

/// Parses `src` whole: one expression and nothing after it.
pub(super) fn parse(src: &str) -> Result<Expr, String> {
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
