//! The evaluator of the expression language: walks an expression tree in scopes of bound names,
//! each step and each produced value charged to the budget.

use std::cmp::Ordering;

use super::budget::{MAX_CELLS, MAX_STEPS, bound, dedup, weight};
use super::builtins::{BUILTINS, builtin};
use super::methods::method;
use super::ops::{binary, is, slice, subscript};
use super::parse::{Clause, Expr};
use super::value::Py;

pub(super) struct Eval {
    pub(super) scopes: Vec<Vec<(String, Py)>>,
    pub(super) steps: u64,
    pub(super) cells: u64,
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

    pub(super) fn eval(&mut self, e: &Expr) -> Result<Py, String> {
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
            Expr::Dict(pairs) => self.dict(pairs)?,
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
            Expr::Attr(target, name) => self.attr(target, name)?,
            Expr::Call(f, args)
                if matches!(&**f, Expr::Name(n) if n == "all" || n == "any")
                    && matches!(args.as_slice(), [Expr::Comp(..)])
                    && matches!(self.eval(f)?, Py::Builtin(_)) =>
            {
                self.short_circuit(f, args)?
            }
            Expr::Call(f, args) => {
                let f = self.eval(f)?;
                let args = self.all(args)?;
                self.call(f, args)?
            }
            Expr::Unary(op, x) => self.unary(op, x)?,
            Expr::Bin(op, l, r) => {
                let (a, b) = (self.eval(l)?, self.eval(r)?);
                binary(op, &a, &b)?
            }
            Expr::Compare(first, rest) => self.compare(first, rest)?,
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

    /// A dict display: later keys replace earlier equal ones, in the first one's place.
    fn dict(&mut self, pairs: &[(Expr, Expr)]) -> Result<Py, String> {
        let mut d: Vec<(Py, Py)> = Vec::new();
        for (k, v) in pairs {
            let (k, v) = (self.eval(k)?, self.eval(v)?);
            match d.iter_mut().find(|(k2, _)| k2.eq(&k)) {
                Some(slot) => slot.1 = v,
                None => d.push((k, v)),
            }
        }
        Ok(Py::Dict(d))
    }

    /// `target.name`: a bound method, for the methods the target's type has.
    fn attr(&mut self, target: &Expr, name: &str) -> Result<Py, String> {
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
        if !known.contains(&name) {
            return Err(format!(
                "'{}' object has no attribute '{name}'",
                t.type_name()
            ));
        }
        Ok(Py::Method(Box::new(t), name.to_string()))
    }

    /// all()/any() over a generator stop at the first deciding item, as in Python.
    fn short_circuit(&mut self, f: &Expr, args: &[Expr]) -> Result<Py, String> {
        let want = matches!(f, Expr::Name(n) if n == "any");
        let [Expr::Comp(elt, clauses)] = args else {
            return Err("internal: not a generator".into());
        };
        let mut out = Vec::new();
        self.scopes.push(Vec::new());
        let r = self.comp(elt, clauses, &mut out, Some(want));
        self.scopes.pop();
        Ok(Py::Bool(if r? { want } else { !want }))
    }

    fn unary(&mut self, op: &str, x: &Expr) -> Result<Py, String> {
        let v = self.eval(x)?;
        Ok(match (op, &v) {
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
        })
    }

    /// A chain of comparisons: false at the first that fails, each operand evaluated once.
    fn compare(&mut self, first: &Expr, rest: &[(String, Expr)]) -> Result<Py, String> {
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
        Ok(Py::Bool(true))
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
