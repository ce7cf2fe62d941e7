//! The delegation benchmark (issue 21): what handing a task to orc costs Claude, against what
//! doing it itself would, from what crosses the wire.
//!
//! Drives `orc mcp serve` (the binary given, core tool set) with rmcp's MCP client over stdio,
//! as Claude Code would: `tools/list`, `route_task`, then `invoke`, for the shipped ensembles and
//! the 32 -> 4 -> 1 sample swarm, on documents of a few sizes passed inline (retyped as
//! arguments) and by file (`input_files`). The models are orc's simulator (replies as long as
//! the profiles' `max_tokens`). Per case it prints the Claude-side tokens of the hand-over
//! (definitions, arguments, results), the Claude-direct estimate (the document in, the
//! deliverable out), the net and route_task's break-even verdict; and the size of the compact
//! result against llm-orc's full document. Prices: claude-sonnet-4, $3 / $15 per M tokens in /
//! out; tokens as orc counts them (an o200k_base approximation times 1.2). Definitions per call:
//! DEFS_SHARE (default 0.1, a prompt-cache read; 1 without caching).
//!
//!   scripts/delegation-bench            # builds release, prints the table
//!   cargo run --release --example delegation_bench -- --orc target/release/orc

use std::path::{Path, PathBuf};

use orc::learn::estimate::claude_tokens;
use orc::testkit::sim::{SimConfig, Simulator};
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::TokioChildProcess;
use serde_json::{Value, json};

const IN_USD: f64 = 3.0 / 1e6;
const OUT_USD: f64 = 15.0 / 1e6;
const FACTOR: f64 = 1.2;

/// Deterministic prose of about `words` words (my own generator: no corpus needed).
fn document(words: usize) -> String {
    const W: &[&str] = &[
        "the",
        "committee",
        "reviewed",
        "budget",
        "for",
        "next",
        "year",
        "and",
        "agreed",
        "to",
        "raise",
        "spending",
        "on",
        "maintenance",
        "while",
        "the",
        "board",
        "asked",
        "whether",
        "the",
        "new",
        "system",
        "would",
        "reduce",
        "costs",
        "Ada",
        "Lovelace",
        "proposed",
        "a",
        "pilot",
        "in",
        "March",
        "with",
        "three",
        "teams",
        "risks",
        "include",
        "delays",
        "staffing",
        "vendor",
        "lock-in",
        "decision",
        "deferred",
        "until",
        "April",
        "numbers",
        "show",
        "12%",
        "growth",
        "since",
        "2024",
    ];
    let mut s = String::new();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..words {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.push_str(W[(x % W.len() as u64) as usize]);
        s.push(if i % 17 == 16 {
            '.'
        } else if i % 120 == 119 {
            '\n'
        } else {
            ' '
        });
        if i % 17 == 16 {
            s.push(' ');
        }
    }
    s
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read").flatten() {
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).expect("copy");
        }
    }
}

struct Case {
    ensemble: String,
    words: usize,
    by_file: bool,
}

struct Measured {
    defs: u64,
    args: u64,
    results: u64,
    direct_in: u64,
    direct_out: u64,
    compact_chars: usize,
    full_chars: usize,
    route_pays: bool,
    route: String,
}

async fn call(
    c: &rmcp::Peer<rmcp::RoleClient>,
    tool: &str,
    args: Value,
) -> (Value, String, String) {
    let text_args = args.to_string();
    let mut p = CallToolRequestParams::new(tool.to_string());
    if let Value::Object(m) = args {
        p = p.with_arguments(m);
    }
    let r = c.call_tool(p).await.expect(tool);
    let text = r
        .content
        .first()
        .and_then(|c| c.as_text())
        .map(|t| t.text.clone())
        .unwrap_or_default();
    (r.structured_content.unwrap_or(Value::Null), text_args, text)
}

async fn measure(orc: &Path, project: &Path, host: &str, case: &Case, share: f64) -> Measured {
    let mut cmd = tokio::process::Command::new(orc);
    cmd.args(["mcp", "serve"])
        .current_dir(project)
        .env("OLLAMA_HOST", host)
        .env("HOME", project.join("home"))
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("LLM_ORC_LIBRARY_PATH")
        .stderr(std::process::Stdio::null());
    let c = ().serve(TokioChildProcess::new(cmd).expect("spawn")).await.expect("init");
    let tools = c.list_all_tools().await.expect("tools");
    let defs_per_call =
        (claude_tokens(&serde_json::to_string(&tools).expect("json"), FACTOR) as f64 * share)
            .round() as u64;
    let doc = document(case.words);
    let file = format!("docs/doc-{}.md", case.words);
    std::fs::create_dir_all(project.join("docs")).expect("mkdir");
    std::fs::write(project.join(&file), &doc).expect("write");
    let task = "Review this document: claims, evidence, risks, decisions.";
    let (route_args, invoke_args) = if case.by_file {
        (
            json!({"task": task, "input_files": [file]}),
            json!({"ensemble_name": case.ensemble, "input_data": task, "input_files": [file], "task_type": "summarization"}),
        )
    } else {
        (
            json!({"task": format!("{task}\n\n{doc}")}),
            json!({"ensemble_name": case.ensemble, "input_data": format!("{task}\n\n{doc}"), "task_type": "summarization"}),
        )
    };
    let (routed, ra, rt) = call(c.peer(), "route_task", route_args).await;
    let (run, ia, it) = call(c.peer(), "invoke", invoke_args).await;
    let run_id = run["run_id"].as_str().unwrap_or("").to_string();
    let (full, _, ft) = call(
        c.peer(),
        "run_result",
        json!({"run_id": run_id, "detail": "full", "max_chars": 100_000_000}),
    )
    .await;
    let _ = full;
    let deliverable = run["deliverable"].as_str().unwrap_or("");
    let m = Measured {
        defs: 2 * defs_per_call,
        args: claude_tokens(&ra, FACTOR) + claude_tokens(&ia, FACTOR),
        results: claude_tokens(&rt, FACTOR) + claude_tokens(&it, FACTOR),
        direct_in: claude_tokens(&format!("{task}\n\n{doc}"), FACTOR),
        direct_out: claude_tokens(deliverable, FACTOR),
        compact_chars: it.chars().count(),
        full_chars: ft.chars().count(),
        route_pays: routed["breakeven"]["pays"] == true,
        route: routed["route"].as_str().unwrap_or("?").to_string(),
    };
    c.cancel().await.ok();
    m
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let orc = args
        .iter()
        .position(|a| a == "--orc")
        .and_then(|i| args.get(i + 1))
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target/release/orc"));
    let orc = std::fs::canonicalize(&orc).expect("the orc binary (--orc PATH)");
    let share: f64 = std::env::var("DEFS_SHARE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0.1);
    let sizes: Vec<usize> = std::env::var("WORDS")
        .ok()
        .map(|s| s.split(',').filter_map(|x| x.parse().ok()).collect())
        .unwrap_or_else(|| vec![200, 1000, 4000, 12000]);
    let sim = Simulator::start(
        SimConfig {
            tokens: 200,
            ..SimConfig::default()
        },
        0,
    )
    .await
    .expect("sim");
    let host = sim.url().trim_start_matches("http://").to_string();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    // Kept after the run, so `orc --project target/delegation-bench/project report learning`
    // shows what the learning report makes of these delegations.
    let project = repo.join("target/delegation-bench/project");
    let _ = std::fs::remove_dir_all(&project);
    copy_dir(&repo.join("ensembles"), &project.join(".llm-orc/ensembles"));
    copy_dir(&repo.join("profiles"), &project.join(".llm-orc/profiles"));
    copy_dir(
        &repo.join("ensembles/scripts"),
        &project.join(".llm-orc/scripts"),
    );
    let _ = std::fs::remove_dir_all(project.join(".llm-orc/ensembles/scripts"));
    std::fs::write(
        project.join(".llm-orc/ensembles/sample-swarm.yaml"),
        orc::testkit::synth::swarm("sample-swarm", 32),
    )
    .expect("swarm");
    std::fs::create_dir_all(project.join("home")).expect("home");
    // route_task prices the definitions with the same share as the table.
    std::fs::write(
        project.join(".llm-orc/config.yaml"),
        format!("learning:\n  definitions_share: {share}\n"),
    )
    .expect("config");
    let mut ensembles: Vec<String> = std::fs::read_dir(project.join(".llm-orc/ensembles"))
        .expect("ensembles")
        .flatten()
        .filter_map(|e| {
            e.file_name()
                .to_str()
                .and_then(|n| n.strip_suffix(".yaml"))
                .map(str::to_string)
        })
        .collect();
    ensembles.sort();
    let mut out = String::new();
    out.push_str(&format!(
        "Definitions share per call {share}; prices $3 / $15 per M tokens in / out (claude-sonnet-4); tokens: orc's o200k_base approximation x {FACTOR}. Estimates.\n\n"
    ));
    out.push_str("| ensemble | document | passed | definitions in | arguments out | results in | hand-over $ | Claude-direct $ | NET $ | efficiency | route_task says | compact / full result (chars) |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for e in &ensembles {
        for &w in &sizes {
            for by_file in [false, true] {
                let case = Case {
                    ensemble: e.clone(),
                    words: w,
                    by_file,
                };
                let m = measure(&orc, &project, &host, &case, share).await;
                let handover = (m.defs + m.results) as f64 * IN_USD + m.args as f64 * OUT_USD;
                let direct = m.direct_in as f64 * IN_USD + m.direct_out as f64 * OUT_USD;
                let net = direct - handover;
                let row = format!(
                    "| {e} | {} tokens | {} | {} | {} | {} | {:.4} | {:.4} | {}{:.4} | {:.0}% | {} ({}) | {} / {} |\n",
                    m.direct_in,
                    if by_file { "file" } else { "inline" },
                    m.defs,
                    m.args,
                    m.results,
                    handover,
                    direct,
                    if net < 0.0 { "LOSS " } else { "" },
                    net,
                    net / direct * 100.0,
                    m.route,
                    if m.route_pays { "pays" } else { "does not pay" },
                    m.compact_chars,
                    m.full_chars
                );
                eprint!("{row}");
                out.push_str(&row);
            }
        }
    }
    let dir = repo.join("target/delegation-bench");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(dir.join("results.md"), &out).expect("write");
    println!("{out}");
    println!("table: {}", dir.join("results.md").display());
}
