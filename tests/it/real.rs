//! Real inference: every pattern on a real small model behind Ollama's API (orc's
//! `scripts/local-ollama`: SmolLM2-135M on llama.cpp). `.ci/run` starts it and sets
//! ORC_REAL_OLLAMA (host) and ORC_REAL_OLLAMA_LOG (its request log). Without them this tier is
//! skipped with one line, or fails when `CI` is set. The model's answers are not checked, only structure and accounting
//! (temperature 0, few tokens).

use crate::common;

use std::path::PathBuf;

use common::TestProject;
use serde_json::Value;

fn real() -> Option<(String, PathBuf)> {
    let host = std::env::var("ORC_REAL_OLLAMA")
        .ok()
        .filter(|s| !s.is_empty())?;
    let log = std::env::var("ORC_REAL_OLLAMA_LOG")
        .ok()
        .filter(|s| !s.is_empty())?;
    Some((host, PathBuf::from(log)))
}

fn log_lines(log: &PathBuf) -> Vec<Value> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn run(p: &TestProject, host: &str, args: &[&str]) -> (i32, Value, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_orc"))
        .args(args)
        .args(["--output-format", "json"])
        .current_dir(p.root())
        .env("HOME", p.home())
        .env("OLLAMA_HOST", host)
        .output()
        .expect("run orc");
    let doc = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (
        out.status.code().unwrap_or(-1),
        doc,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const CONFIG: &str = "model_profiles:
  tiny:
    model: qwen3:0.6b
    provider: ollama
    temperature: 0
    max_tokens: 12
    system_prompt: Answer in one short sentence.
  small:
    model: gemma3:1b
    provider: ollama
    temperature: 0
    max_tokens: 16
    system_prompt: Summarise briefly.
  ghost:
    model: not-there:7b
    provider: ollama
performance:
  concurrency:
    per_model_limit: 8
";

fn agent(name: &str, profile: &str, deps: &[&str]) -> String {
    let mut s = format!("  - name: {name}\n    model_profile: {profile}\n");
    if !deps.is_empty() {
        s.push_str(&format!("    depends_on: [{}]\n", deps.join(", ")));
    }
    s
}

#[test]
fn every_pattern_on_a_real_model() {
    let Some((host, log)) = real() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but ORC_REAL_OLLAMA is not: the real-inference tier must run in CI (.ci/run)"
        );
        // Written to the stream itself, not through eprintln!, so the test harness shows it.
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "skipped: real-inference tier (no ORC_REAL_OLLAMA; .ci/run starts scripts/local-ollama and sets it)"
        );
        return;
    };
    let p = TestProject::new();
    p.write(".llm-orc/config.yaml", CONFIG);
    p.ensemble(
        "sequential",
        &format!(
            "name: sequential\ndescription: d\nagents:\n{}{}{}",
            agent("a", "tiny", &[]),
            agent("b", "small", &["a"]),
            agent("c", "tiny", &["b"])
        ),
    );
    let fanin: String = (0..8)
        .map(|i| agent(&format!("x{i}"), "tiny", &[]))
        .collect::<String>()
        + &agent(
            "sum",
            "small",
            &["x0", "x1", "x2", "x3", "x4", "x5", "x6", "x7"],
        );
    p.ensemble(
        "fanin",
        &format!("name: fanin\ndescription: eight on a 2-slot server\nagents:\n{fanin}"),
    );
    p.ensemble(
        "fanout",
        "name: fanout\ndescription: d\nagents:\n  - name: plan\n    model_profile: tiny\n    max_tokens: 60\n    system_prompt: List two or three short subtasks.\n    ollama_format:\n      type: object\n      properties:\n        data:\n          type: array\n          items: {type: string, maxLength: 20}\n          minItems: 2\n          maxItems: 3\n      required: [data]\n  - name: work\n    model_profile: tiny\n    depends_on: [plan]\n    fan_out: true\n  - name: merge\n    model_profile: small\n    depends_on: [work]\n",
    );
    let swarm: String = (0..6)
        .map(|i| agent(&format!("e{i}"), "tiny", &[]))
        .collect::<String>()
        + &agent("a0", "small", &["e0", "e1", "e2"])
        + &agent("a1", "small", &["e3", "e4", "e5"])
        + &agent("s", "small", &["a0", "a1"]);
    p.ensemble(
        "swarm",
        &format!("name: swarm\ndescription: d\nagents:\n{swarm}"),
    );
    p.ensemble("nested", &format!("name: nested\ndescription: d\nagents:\n{}  - name: child\n    ensemble: sequential\n    depends_on: [frame]\n{}", agent("frame", "tiny", &[]), agent("judge", "small", &["child"])));

    for (name, pattern_calls) in [
        ("sequential", 3),
        ("fanin", 9),
        ("swarm", 9),
        ("nested", 5),
        ("fanout", 0),
    ] {
        let before = log_lines(&log).len();
        let (code, doc, err) = run(&p, &host, &["invoke", name, "Why is the sky blue?"]);
        assert_eq!(code, 0, "{name}: {err}");
        assert_eq!(doc["status"], "success", "{name}");
        let lines = log_lines(&log);
        let mine = &lines[before..];
        if pattern_calls > 0 {
            assert_eq!(mine.len(), pattern_calls, "{name}: calls");
        }
        let served: (u64, u64) = mine.iter().fold((0, 0), |(i, o), l| {
            (
                i + l["prompt_eval_count"].as_u64().unwrap_or(0),
                o + l["eval_count"].as_u64().unwrap_or(0),
            )
        });
        let t = &doc["metadata"]["usage"]["totals"];
        assert_eq!(
            (
                t["total_input_tokens"].as_u64().unwrap_or(0),
                t["total_output_tokens"].as_u64().unwrap_or(0)
            ),
            served,
            "{name}: totals equal the server's counts"
        );
        assert_eq!(t["agents_with_missing_counts"], 0, "{name}");
        // num_predict is honoured and done_reason recorded for every call.
        for (agent, u) in doc["metadata"]["usage"]["agents"]
            .as_object()
            .into_iter()
            .flatten()
        {
            let limit = if u["model"] == "gemma3:1b" {
                16
            } else if agent == "plan" {
                60
            } else {
                12
            };
            assert!(
                u["output_tokens"].as_u64().is_some_and(|n| n <= limit),
                "{name}/{agent}: {u}"
            );
            assert!(
                u["done_reason"] == "stop" || u["done_reason"] == "length",
                "{name}/{agent}: {u}"
            );
        }
        if name == "fanout" {
            let n = doc["results"]["work"]["instances"]
                .as_array()
                .map_or(0, Vec::len);
            assert!(
                (2..=3).contains(&n),
                "fan-out over the model's JSON array: {}",
                doc["results"]["plan"]
            );
            assert_eq!(mine.len(), n + 2);
        }
    }

    // An unknown model fails with the pull hint; the run still ends with an artifact.
    p.ensemble(
        "missing",
        &format!(
            "name: missing\ndescription: d\nagents:\n{}",
            agent("g", "ghost", &[])
        ),
    );
    let (code, _, err) = run(&p, &host, &["invoke", "missing", "x"]);
    assert_eq!(code, 1);
    assert!(err.contains("run `ollama pull not-there:7b`"), "{err}");
    guards_and_loops_on_a_real_model(&host);
}

/// Control flow on the real model: a guard reads the model's own JSON (constrained by a schema),
/// so exactly one branch runs; a loop re-runs an LLM body until its bound. Called at the end of
/// `every_pattern_on_a_real_model`, which counts the server's log and so must not overlap it.
fn guards_and_loops_on_a_real_model(host: &str) {
    let p = TestProject::new();
    p.write(".llm-orc/config.yaml", CONFIG);
    p.ensemble(
        "route",
        "name: route\ndescription: d\nagents:
  - name: classify
    model_profile: tiny
    max_tokens: 30
    system_prompt: Is the request about code or docs? Answer in JSON.
    ollama_format:
      type: object
      properties:
        route: {type: string, enum: [code, docs]}
      required: [route]
  - name: code
    model_profile: tiny
    depends_on: [classify]
    when: \"${classify.route} == code\"
  - name: docs
    model_profile: tiny
    depends_on: [classify]
    when: \"${classify.route} == docs\"
  - name: rounds
    depends_on: [classify]
    loop: {body: step, until: '${value} == never', max_iterations: 2, carry: '${value}'}
",
    );
    p.ensemble(
        "step",
        &format!(
            "name: step\ndescription: d\nagents:\n{}",
            agent("improve", "tiny", &[])
        ),
    );
    let (code, doc, stderr) = run(
        &p,
        host,
        &["invoke", "route", "Fix the null check in parser.rs"],
    );
    assert_eq!(code, 0, "{stderr}");
    let route: Value = serde_json::from_str(
        doc["results"]["classify"]["response"]
            .as_str()
            .unwrap_or(""),
    )
    .expect("the schema makes the reply JSON");
    let chosen = route["route"].as_str().expect("route");
    let other = if chosen == "code" { "docs" } else { "code" };
    assert_eq!(doc["results"][chosen]["status"], "success");
    assert_eq!(doc["results"][other]["status"], "skipped");
    let rounds: Value =
        serde_json::from_str(doc["results"]["rounds"]["response"].as_str().unwrap_or(""))
            .expect("loop response");
    assert_eq!(rounds["iterations"], 2);
    assert_eq!(rounds["terminated"], "exhausted");
    // Every call was counted: classify, the branch, and two loop iterations.
    assert_eq!(doc["metadata"]["usage"]["totals"]["agents_count"], 4);
}
