//! The values of the expression language: Python's types as the evaluator sees them, with
//! Python's equality, ordering, truthiness, `str()` and iteration, and their conversion from JSON.

use std::cmp::Ordering;

use serde_json::Value;

#[derive(Debug, Clone)]
pub(super) enum Py {
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
    pub(super) fn from_json(v: &Value) -> Py {
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

    pub(super) fn type_name(&self) -> &'static str {
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

    pub(super) fn truthy(&self) -> bool {
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

    pub(super) fn num(&self) -> Option<f64> {
        match self {
            Py::Bool(b) => Some(f64::from(u8::from(*b))),
            Py::Int(i) => Some(*i as f64),
            Py::Float(f) => Some(*f),
            _ => None,
        }
    }

    pub(super) fn int(&self) -> Option<i64> {
        match self {
            Py::Bool(b) => Some(i64::from(*b)),
            Py::Int(i) => Some(*i),
            _ => None,
        }
    }

    pub(super) fn eq(&self, other: &Py) -> bool {
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

    pub(super) fn cmp(&self, other: &Py) -> Result<Ordering, String> {
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

    pub(super) fn to_json(&self) -> Value {
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
    pub(super) fn str(&self) -> String {
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
    pub(super) fn items(&self) -> Result<Vec<Py>, String> {
        match self {
            Py::List(v) | Py::Tuple(v) | Py::Set(v) => Ok(v.clone()),
            Py::Dict(d) => Ok(d.iter().map(|(k, _)| k.clone()).collect()),
            Py::Str(s) => Ok(s.chars().map(|c| Py::Str(c.to_string())).collect()),
            other => Err(format!("'{}' object is not iterable", other.type_name())),
        }
    }

    pub(super) fn contains(&self, x: &Py) -> Result<bool, String> {
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
