//! An llm-orc 0.19 project that uses guards, loops, dispatch, primitives and validation blocks
//! (tests/fixtures/compat-0.19) gives the same results under orc as under llm-orc 0.19.0.
//!
//! The expectations in `expected/` are llm-orc 0.19.0's own results, recorded against orc-sim
//! by `scripts/compat-0.19 --write-expected`. The simulator's replies are a function of the
//! model and the prompt, so equal responses mean byte-equal prompts all the way down. Results
//! are normalised as the script does: status and response per agent, whole ensemble results
//! (nested, dispatched) reduced to their results and deliverable, and orc's two documented
//! decisions mapped (a script reporting `"success": false` is `failed`; "not found" errors say
//! where orc looked).

use crate::common;

use std::path::Path;

use common::TestProject;
use orc::testkit::sim::{SimConfig, Simulator};
use serde_json::{Value, json};

const INPUT: &str = "Please review the parser change.";

/// Agents whose prompt differs from 0.19.0's by design, and the ensemble they are in, because
/// orc follows llm-orc 0.25.2 (ARCHITECTURE row "0.19: an agent whose dependencies all failed
/// ..."): 0.25.2 shows an agent every dependency, a skipped one as `Agent d (Role) (skipped): no
/// response`, where 0.19.0 left it out (`summary`), and a loop's response carries `has_errors`
/// (`report` reads one, and `polish` reads `report`). Their status is compared; their answer
/// cannot be.
const PROMPT_DIFFERS_BY_025: &[(&str, &str)] = &[
    ("triage", "summary"),
    ("refine", "report"),
    ("refine", "polish"),
];

fn copy_tree(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).expect("read fixture") {
        let entry = entry.expect("entry");
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        if src.is_dir() {
            std::fs::create_dir_all(&dst).expect("mkdir");
            copy_tree(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).expect("copy");
        }
    }
}

/// A loop agent's response without the `has_errors` llm-orc 0.25.2 added (0.19 has none).
fn loop_response_019(s: &str) -> Option<Value> {
    let Ok(Value::Object(mut m)) = serde_json::from_str::<Value>(s) else {
        return None;
    };
    if !(m.contains_key("terminated") && m.contains_key("iterations")) {
        return None;
    }
    m.shift_remove("has_errors")?;
    Some(Value::String(orc::pyfmt::json_dumps(&Value::Object(m))))
}

fn norm_response(v: &Value) -> Value {
    if let Some(r) = v.as_str().and_then(loop_response_019) {
        return r;
    }
    // A gathered fan-out over nested agents is a list of their documents.
    if let Value::Array(items) = v {
        return Value::Array(items.iter().map(norm_response).collect());
    }
    if let Value::String(s) = v
        && let Ok(parsed @ Value::Object(_)) = serde_json::from_str::<Value>(s)
        && parsed.get("results").is_some()
        && parsed.get("ensemble").is_some()
    {
        return norm_result(&parsed);
    }
    v.clone()
}

fn norm_entry(e: &Value) -> Value {
    let mut status = e["status"].as_str().unwrap_or("").to_string();
    let mut error = e["error"].as_str().map(str::to_string);
    if status == "success"
        && let Some(s) = e["response"].as_str()
        && let Ok(env) = serde_json::from_str::<Value>(s)
        && env.get("success") == Some(&Value::Bool(false))
    {
        status = "failed".into();
        error = env["error"].as_str().map(str::to_string);
    }
    if status == "failed" {
        let mut err = error.unwrap_or_default();
        if err.starts_with("script `")
            && let Some((_, rest)) = err.split_once("failed: ")
        {
            err = rest.to_string();
        }
        if let Some((head, _)) = err.split_once(" (looked for") {
            err = head.to_string();
        }
        return json!({"status": "failed", "error": err});
    }
    json!({"status": status, "response": norm_response(&e["response"])})
}

fn norm_result(doc: &Value) -> Value {
    let results: Vec<Value> = doc["results"]
        .as_object()
        .map(|m| m.iter().map(|(k, v)| json!([k, norm_entry(v)])).collect())
        .unwrap_or_default();
    let failed = results.iter().any(|r| r[1]["status"] == "failed");
    json!({
        "ensemble": doc["ensemble"],
        "status": if failed { "completed_with_errors" } else { "completed" },
        "results": results,
        "deliverable": norm_response(&doc["deliverable"]),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn llm_orc_019_project_gives_the_same_results() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/compat-0.19");
    let sim = Simulator::start(SimConfig::default(), 0)
        .await
        .expect("simulator");
    let p = TestProject::new();
    copy_tree(&fixture, &p.root());
    let mut compared = 0;
    for name in ["triage", "refine", "router", "files", "checked"] {
        let want: Value = serde_json::from_str(
            &std::fs::read_to_string(fixture.join(format!("expected/{name}.json")))
                .expect("expected results"),
        )
        .expect("json");
        let mut cmd = p.command(&["invoke", name, INPUT, "--output-format", "json"]);
        cmd.env("OLLAMA_HOST", sim.url());
        let out = tokio::task::spawn_blocking(move || cmd.output().expect("run orc"))
            .await
            .expect("join");
        let doc: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{name}: {e}\n{}", String::from_utf8_lossy(&out.stderr)));
        let mut got = norm_result(&json!({
            "ensemble": name,
            "results": doc["results"],
            "deliverable": doc["deliverable"],
        }));
        got["input"] = json!(INPUT);
        let mut want = want;
        for (ens, agent) in PROMPT_DIFFERS_BY_025.iter().filter(|(e, _)| *e == name) {
            let at = |doc: &Value| {
                doc["results"]
                    .as_array()
                    .and_then(|r| r.iter().position(|x| x[0] == *agent))
                    .unwrap_or_else(|| panic!("{ens}: no agent {agent}"))
            };
            let (w, g) = (at(&want), at(&got));
            assert_eq!(
                want["results"][w][1]["status"], got["results"][g][1]["status"],
                "{ens}: agent {agent}"
            );
            let theirs = want["results"][w][1]["response"].clone();
            want["results"][w][1] = got["results"][g][1].clone();
            if want["deliverable"] == theirs {
                want["deliverable"] = got["deliverable"].clone();
            }
        }
        let want_results = want["results"].as_array().cloned().unwrap_or_default();
        let got_results = got["results"].as_array().cloned().unwrap_or_default();
        for (w, g) in want_results.iter().zip(&got_results) {
            assert_eq!(w, g, "{name}: agent {}", w[0]);
        }
        assert_eq!(want, got, "{name}");
        compared += want_results.len();
    }
    assert_eq!(compared, 23, "every agent of the five ensembles compared");
    // `validate run` prints what llm-orc prints and exits as it does.
    for name in ["checked", "checked-fails"] {
        let want = std::fs::read_to_string(fixture.join(format!("expected/validate-{name}.txt")))
            .expect("expected report");
        let mut cmd = p.command(&["validate", "run", name, "--verbose"]);
        cmd.env("OLLAMA_HOST", sim.url());
        let out = tokio::task::spawn_blocking(move || cmd.output().expect("run orc"))
            .await
            .expect("join");
        let got = format!(
            "exit {}\n{}",
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout)
        );
        assert_eq!(want, got, "validate run {name}");
    }
    // write_file wrote where llm-orc writes: relative to the working directory.
    assert_eq!(
        std::fs::read_to_string(p.root().join("out/summary.txt")).expect("written"),
        "saved by the files ensemble"
    );
}
