//! The builtin functions of the expression language (`len`, `int`, `sum`, `range`, `sorted`...),
//! in groups: conversions, reductions, sequences.

use std::cmp::Ordering;

use super::budget::{bound, dedup};
use super::ops::binary;
use super::value::Py;

pub(super) const BUILTINS: [&str; 19] = [
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

fn one(name: &str, args: &[Py]) -> Result<Py, String> {
    match args {
        [x] => Ok(x.clone()),
        _ => Err(format!(
            "{name}() takes exactly one argument ({} given)",
            args.len()
        )),
    }
}

/// Calls the builtin `name` with `args`.
pub(super) fn builtin(name: &str, args: Vec<Py>) -> Result<Py, String> {
    match name {
        "len" | "str" | "bool" | "int" | "float" | "list" | "tuple" | "set" | "dict" => {
            conversion(name, args)
        }
        "all" | "any" | "sum" | "min" | "max" => reduction(name, args),
        "range" | "enumerate" | "zip" | "sorted" | "reversed" => sequence(name, args),
        other => Err(format!("name '{other}' is not defined")),
    }
}

/// The builtins that make a value of another type: `len str bool int float list tuple set dict`.
fn conversion(name: &str, args: Vec<Py>) -> Result<Py, String> {
    Ok(match name {
        "len" => len(one(name, &args)?)?,
        "str" => Py::Str(args.first().map_or(String::new(), Py::str)),
        "bool" => Py::Bool(args.first().is_some_and(Py::truthy)),
        "int" => int(args.first())?,
        "float" => float(args.first())?,
        "list" => Py::List(args.first().map_or(Ok(Vec::new()), Py::items)?),
        "tuple" => Py::Tuple(args.first().map_or(Ok(Vec::new()), Py::items)?),
        "set" => Py::Set(dedup(args.first().map_or(Ok(Vec::new()), Py::items)?)?),
        "dict" => dict(args.first())?,
        other => return Err(format!("name '{other}' is not defined")),
    })
}

fn len(x: Py) -> Result<Py, String> {
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
    Ok(Py::Int(i64::try_from(n).unwrap_or(i64::MAX)))
}

fn int(arg: Option<&Py>) -> Result<Py, String> {
    Ok(match arg {
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
    })
}

fn float(arg: Option<&Py>) -> Result<Py, String> {
    Ok(match arg {
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
    })
}

fn dict(arg: Option<&Py>) -> Result<Py, String> {
    Ok(match arg {
        None => Py::Dict(Vec::new()),
        Some(Py::Dict(d)) => Py::Dict(d.clone()),
        Some(x) => {
            let mut d = Vec::new();
            for pair in x.items()? {
                match pair.items()?.as_slice() {
                    [k, v] => d.push((k.clone(), v.clone())),
                    _ => {
                        return Err("dictionary update sequence element has wrong length".into());
                    }
                }
            }
            Py::Dict(d)
        }
    })
}

/// The builtins that fold an iterable into one value: `all any sum min max`.
fn reduction(name: &str, args: Vec<Py>) -> Result<Py, String> {
    Ok(match name {
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
        "min" | "max" => extreme(name, args)?,
        other => return Err(format!("name '{other}' is not defined")),
    })
}

/// `min` or `max`, of one iterable or of several arguments.
fn extreme(name: &str, args: Vec<Py>) -> Result<Py, String> {
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
    best.ok_or_else(|| format!("{name}() arg is an empty sequence"))
}

/// The builtins that make a list: `range enumerate zip sorted reversed`.
fn sequence(name: &str, args: Vec<Py>) -> Result<Py, String> {
    Ok(match name {
        "range" => range(&args)?,
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

fn range(args: &[Py]) -> Result<Py, String> {
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
    Ok(Py::List(out))
}
