//! Synthetic ensembles of any size, for benches, measurements and tests.

use std::fmt::Write as _;

/// Two profiles, `micro` and `small`, on the native Ollama provider at `base_url`, with
/// `per_model_limit` requests in flight per model.
pub fn config(base_url: &str, per_model_limit: usize) -> String {
    format!(
        "model_profiles:\n  micro:\n    model: qwen3:0.6b\n    provider: ollama\n    base_url: {base_url}\n  small:\n    model: gemma3:4b\n    provider: ollama\n    base_url: {base_url}\nperformance:\n  concurrency:\n    per_model_limit: {per_model_limit}\n"
    )
}

/// `n` micro agents feeding one small synthesiser.
pub fn fan_in(name: &str, n: usize) -> String {
    let mut s = format!("name: {name}\ndescription: fan-in of {n}\nagents:\n");
    for i in 0..n {
        let _ = writeln!(
            s,
            "  - name: x{i}\n    model_profile: micro\n    system_prompt: Extract fact {i}."
        );
    }
    let deps: Vec<String> = (0..n).map(|i| format!("x{i}")).collect();
    let _ = writeln!(
        s,
        "  - name: synth\n    model_profile: small\n    depends_on: [{}]",
        deps.join(", ")
    );
    s
}

/// A three-tier swarm: `micro` extractors -> one analyser per eight -> one synthesiser.
pub fn swarm(name: &str, micro: usize) -> String {
    let groups = micro.div_ceil(8).max(1);
    let mut s = format!("name: {name}\ndescription: swarm {micro} -> {groups} -> 1\nagents:\n");
    for i in 0..micro {
        let _ = writeln!(
            s,
            "  - name: x{i}\n    model_profile: micro\n    system_prompt: Extract fact {i}."
        );
    }
    for g in 0..groups {
        let deps: Vec<String> = (g * 8..((g + 1) * 8).min(micro))
            .map(|i| format!("x{i}"))
            .collect();
        let _ = writeln!(
            s,
            "  - name: a{g}\n    model_profile: small\n    depends_on: [{}]",
            deps.join(", ")
        );
    }
    let deps: Vec<String> = (0..groups).map(|g| format!("a{g}")).collect();
    let _ = writeln!(
        s,
        "  - name: synth\n    model_profile: small\n    depends_on: [{}]",
        deps.join(", ")
    );
    s
}
