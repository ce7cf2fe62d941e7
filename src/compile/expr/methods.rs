//! The methods of the expression language's values: `dict.get/keys/values/items`, the string
//! methods, `list.count/index`.

use super::value::Py;

pub(super) fn method(target: Py, name: &str, args: Vec<Py>) -> Result<Py, String> {
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
