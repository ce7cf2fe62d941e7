//! The operators of the expression language on values: subscripts, slices, arithmetic and
//! concatenation, identity.

use super::budget::{MAX_CELLS, MAX_ITEMS, bound, weight};
use super::value::Py;

/// A Python index (negative from the end) into `len` items, when in range.
fn index(len: usize, i: i64) -> Option<usize> {
    let n = i64::try_from(len).ok()?;
    let k = if i < 0 { n + i } else { i };
    usize::try_from(k).ok().filter(|_| (0..n).contains(&k))
}

pub(super) fn is(a: &Py, b: &Py) -> bool {
    match (a, b) {
        (Py::None, Py::None) => true,
        (Py::Bool(x), Py::Bool(y)) => x == y,
        _ => false,
    }
}

pub(super) fn subscript(t: &Py, i: &Py) -> Result<Py, String> {
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

pub(super) fn slice(t: &Py, lo: Option<&Py>, hi: Option<&Py>) -> Result<Py, String> {
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

pub(super) fn binary(op: &str, a: &Py, b: &Py) -> Result<Py, String> {
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
