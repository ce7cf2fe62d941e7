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

mod budget;
mod builtins;
mod eval;
mod lex;
mod methods;
mod ops;
mod parse;
mod value;

use serde_json::Value;

use eval::Eval;
use parse::parse;
use value::Py;

/// Parses `src`: Ok when it is an expression of the supported subset.
pub fn check(src: &str) -> Result<(), String> {
    parse(src).map(|_| ())
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
