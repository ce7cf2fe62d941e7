//! The bounds on an evaluation's work: parse depth, steps, items, and cells (the size of every
//! value produced), with the helpers that charge them.

use super::value::Py;

pub(super) const MAX_DEPTH: usize = 100;
pub(super) const MAX_STEPS: u64 = 2_000_000;
pub(super) const MAX_ITEMS: usize = 1_000_000;
/// The most values (and 16-byte pieces of strings) an evaluation may produce in all: every
/// result is charged, so neither a huge structure nor copying a big one many times gets far.
pub(super) const MAX_CELLS: u64 = 4_000_000;

/// The size of a value in cells (one per value, one per 16 bytes of text), counted up to `cap`.
pub(super) fn weight(v: &Py, cap: u64) -> u64 {
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

pub(super) fn bound(n: usize) -> Result<(), String> {
    if n > MAX_ITEMS {
        Err(format!("more than {MAX_ITEMS} items"))
    } else {
        Ok(())
    }
}

/// Distinct items, in order; pairwise, so the comparisons are budgeted.
pub(super) fn dedup(items: Vec<Py>) -> Result<Vec<Py>, String> {
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
