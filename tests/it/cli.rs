//! The command line around the commands: completions, the man page, logging, `validate
//! --runnable`.

use crate::common;

use std::io::Write;
use std::process::Stdio;

use common::{TestProject, native_config, peer_project};
use orc::testkit::sim::{SimConfig, Simulator};

/// Every shell clap_complete knows gets a script naming orc's commands and flags.
#[test]
fn completions_for_every_shell() {
    let p = TestProject::new();
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let r = p.orc(&["completions", shell]);
        assert_eq!(r.code, 0, "{shell}: {}", r.stderr);
        for word in ["invoke", "list-ensembles", "output-format", "resume"] {
            assert!(r.stdout.contains(word), "{shell}: no `{word}`");
        }
    }
    p.test(&["completions", "tcsh"])
        .status(2)
        .stdout("")
        .stderr(
            r#"
            error: invalid value 'tcsh' for '<SHELL>'
              [possible values: bash, elvish, fish, powershell, zsh]

              tip: a similar value exists: 'zsh'

            For more information, try '--help'.
            "#,
        )
        .run();
}

#[test]
fn man_page_is_roff_listing_the_commands() {
    let p = TestProject::new();
    p.test(&["man"])
        .status(0)
        .stdout(
            r#"
            .ie \n(.g .ds Aq \(aq
            .el .ds Aq '
            .TH orc 1  "orc 0.1.0" 
            .SH NAME
            orc \- A native swarm executor for llm\-orc ensembles
            .SH SYNOPSIS
            \fBorc\fR [\fB\-\-project\fR] [\fB\-v \fR]... [\fB\-h\fR|\fB\-\-help\fR] [\fB\-V\fR|\fB\-\-version\fR] <\fIsubcommands\fR>
            .SH DESCRIPTION
            A native swarm executor for llm\-orc ensembles
            .SH OPTIONS
            .TP
            \fB\-\-project\fR [\fI<DIR>\fR]
            Project directory (holding .llm\-orc/); default: walk up from the current directory. Without DIR (`orc skill install \-\-project`): the current directory\*(Aqs project root
            .TP
            \fB\-v\fR
            Log to stderr as the work goes: \-v each request, retry, fallback and slot wait; \-vv debug detail (RUST_LOG, when set, replaces this; default: warnings only)
            .TP
            \fB\-h\fR, \fB\-\-help\fR
            Print help
            .TP
            \fB\-V\fR, \fB\-\-version\fR
            Print version
            .SH SUBCOMMANDS
            .TP
            orc\-invoke(1)
            Run an ensemble on Ollama and write its artifact
            .TP
            orc\-validate(1)
            Check ensembles: YAML, agents, dependencies, profiles, scripts, nesting
            .TP
            orc\-list\-ensembles(1)
            List ensembles by tier (local, library, global)
            .TP
            orc\-list\-profiles(1)
            List model profiles, merged from config.yaml and profiles/ of each tier
            .TP
            orc\-graph(1)
            Show an ensemble\*(Aqs compiled graph: levels, pattern, agents per model
            .TP
            orc\-hosts(1)
            The Ollama hosts runs use (`hosts:` / OLLAMA_HOSTS, else the one host): reachable, version, models installed and loaded, in flight, breaker, priority
            .TP
            orc\-config(1)
            Create or check the project configuration
            .TP
            orc\-report(1)
            Reports on runs
            .TP
            orc\-mcp(1)
            The MCP server Claude uses (llm\-orc\*(Aqs tool surface)
            .TP
            orc\-completions(1)
            Print a shell completion script to stdout, e.g. `orc completions bash > ~/.local/share/bash\-completion/completions/orc`
            .TP
            orc\-man(1)
            Print orc\*(Aqs man page (roff) to stdout, e.g. `orc man > ~/.local/share/man/man1/orc.1`
            .TP
            orc\-route(1)
            Recommend where a task goes: a local ensemble, a new ensemble, or Claude
            .TP
            orc\-eval(1)
            Judging runs: should a run be judged, record a judgment or feedback, judge locally
            .TP
            orc\-learn(1)
            Learn routing from the evaluations: task profiles, a new routing config, LoRA candidates
            .TP
            orc\-routing(1)
            Routing config versions: history and rollback
            .TP
            orc\-export(1)
            Export training data from judged runs as JSONL: sft, dpo or judge
            .TP
            orc\-record\-claude\-task(1)
            Log work Claude did itself (for savings and PGR)
            .TP
            orc\-library(1)
            The shared library: browse, search, info, copy into the project
            .TP
            orc\-deps(1)
            Everything an ensemble needs, where each is found, what each tier lacks
            .TP
            orc\-promote(1)
            Promote an ensemble (with its dependencies) to the global tier or the library; \-\-check shows readiness. Nothing is written without \-\-yes
            .TP
            orc\-demote(1)
            Remove an ensemble from the global tier or the library. Nothing is removed without \-\-yes
            .TP
            orc\-skill(1)
            The Claude Code skill that drives orc
            .TP
            orc\-cache(1)
            The result and script caches (.llm\-orc/cache): stats, clear
            .TP
            orc\-status(1)
            One line on what orc can do now: model servers and their loaded models, ensembles runnable with the models installed, the learning log\*(Aqs running total; then a line per host and per ensemble that cannot run. Exit 1 when orc cannot be used
            .TP
            orc\-help(1)
            Print this message or the help of the given subcommand(s)
            .SH VERSION
            v0.1.0
            "#,
        )
        .stderr("")
        .run();
}

/// `orc mcp serve` logs to stderr and to `--log-file`, never to stdout: stdout holds only the
/// transport's JSON-RPC lines.
#[test]
fn mcp_serve_logs_to_stderr_and_a_file_never_stdout() {
    let p = TestProject::new();
    let log = p.dir.path().join("mcp.log");
    let log_arg = log.to_string_lossy().into_owned();
    let mut cmd = p.command(&["-v", "mcp", "serve", "--log-file", &log_arg]);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn orc");
    {
        let mut stdin = child.stdin.take().expect("stdin");
        writeln!(
            stdin,
            r#"{{"jsonrpc":"2.0","id":1,"method":"initialize","params":{{"protocolVersion":"2025-03-26","capabilities":{{}},"clientInfo":{{"name":"t","version":"1"}}}}}}"#
        )
        .expect("write");
    } // stdin closed: the server ends.
    let r = common::Run::from(child.wait_with_output().expect("wait"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{}", r.stdout);
    let answer: serde_json::Value = serde_json::from_str(lines[0]).expect("JSON-RPC on stdout");
    assert_eq!(answer["id"], 1);
    assert!(r.stderr.contains("MCP server: stdio"), "{}", r.stderr);
    let file = std::fs::read_to_string(&log).expect("log file");
    assert!(
        file.contains("INFO") && file.contains("MCP server: stdio"),
        "{file}"
    );
    assert!(!file.contains('\u{1b}'), "no colours in the file: {file}");

    // An unwritable log file is a usage error, before anything is served.
    p.test(&["mcp", "serve", "--log-file", "/nonexistent-dir/x.log"])
        .status(2)
        .stdout("")
        .stderr(
            r#"
            error: --log-file /nonexistent-dir/x.log: No such file or directory (os error 2)
            "#,
        )
        .run();
}

/// `validate --runnable` asks the host whether every model is installed: exit 0 when all are,
/// else 1 with the agents that cannot run and the `ollama pull` commands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_runnable_lists_missing_models_and_the_pulls() {
    let sim = Simulator::start(
        SimConfig {
            models: vec!["qwen3:0.6b".into(), "gemma3:4b".into()],
            ..SimConfig::default()
        },
        0,
    )
    .await
    .expect("sim");
    let p = peer_project();
    p.write(".llm-orc/config.yaml", &native_config(&sim.url()));
    p.ensemble(
        "only-tiny",
        r#"
            name: only-tiny
            description: d
            agents:
              - name: a
                model_profile: tiny
        "#,
    );
    p.test(&["validate", "only-tiny", "--runnable"])
        .status(0)
        .stdout(
            r#"
            ok       only-tiny (single, 1 agents) [ROOT]/.llm-orc/ensembles/only-tiny.yaml

            runnable only-tiny (1 model(s) installed)
            "#,
        )
        .stderr("")
        .run();

    // peer-sequential also uses gemma3:1b (profile `small`), which this host lacks.
    p.test(&["validate", "peer-sequential", "only-tiny", "--runnable"])
        .status(1)
        .stdout(
            r#"
            ok       peer-sequential (sequential, 3 agents) [ROOT]/.llm-orc/ensembles/peer-sequential.yaml
            ok       only-tiny (single, 1 agents) [ROOT]/.llm-orc/ensembles/only-tiny.yaml

            2 ensemble(s): 2 valid, 0 invalid, 0 warning(s)

            missing  peer-sequential
              critic: `gemma3:1b` on http://127.0.0.1:[PORT]: missing (installed, nearest in size: qwen3:0.6b, gemma3:4b)
            runnable only-tiny (1 model(s) installed)

            to install the missing models:
              OLLAMA_HOST=http://127.0.0.1:[PORT] ollama pull gemma3:1b
            "#,
        )
        .stderr("")
        .run();

    let r = p
        .orc_async(&[
            "validate",
            "peer-sequential",
            "--runnable",
            "--format",
            "json",
        ])
        .await;
    assert_eq!(r.code, 1);
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).expect("json");
    assert_eq!(doc["valid"], true);
    assert_eq!(doc["runnable"], false);
    assert_eq!(
        doc["models"][0]["agents"][1]["hint"],
        "ollama pull gemma3:1b"
    );

    // A host that does not answer is not runnable either, and says so.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    p.write(
        ".llm-orc/config.yaml",
        &native_config(&format!("http://127.0.0.1:{port}")),
    );
    p.test(&["validate", "only-tiny", "--runnable"])
        .status(1)
        .stdout(
            r#"
            ok       only-tiny (single, 1 agents) [ROOT]/.llm-orc/ensembles/only-tiny.yaml

            missing  only-tiny
              a: `qwen3:0.6b` on http://127.0.0.1:[PORT]: unreachable: cannot reach http://127.0.0.1:[PORT]: connection refused: client error (Connect): tcp connect error: Connection refused (os error 111) (is Ollama running? start it with `ollama serve` or set OLLAMA_HOST) (is Ollama running there? `ollama serve`, or set OLLAMA_HOST)
            "#,
        )
        .stderr("")
        .run();
}

/// `orc status --hook` (the plugin's session-start line): the project's runnable ensembles on
/// the server that answers (not orc's packaged examples), then the learning log's net.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_hook_says_what_runs_and_the_net_so_far() {
    let sim = Simulator::start(
        SimConfig {
            models: vec!["qwen3:0.6b".into()],
            ..SimConfig::default()
        },
        0,
    )
    .await
    .expect("sim");
    let p = TestProject::new();
    p.write(".llm-orc/config.yaml", &native_config(&sim.url()));
    p.ensemble(
        "on-tiny",
        r#"
            name: on-tiny
            description: d
            agents:
              - name: a
                model_profile: tiny
        "#,
    );
    p.ensemble(
        "on-small",
        r#"
            name: on-small
            description: d
            agents:
              - name: a
                model_profile: small
        "#,
    );
    p.test(&["status", "--hook"])
        .status(0)
        .stdout(
            r#"
            orc: 1 of 2 ensembles runnable on 127.0.0.1:[PORT]
            "#,
        )
        .stderr("")
        .run();
    let run = p
        .orc_async(&["invoke", "on-tiny", "hello", "--task-type", "summarization"])
        .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    p.test(&["status", "--hook"])
        .status(0)
        .stdout(
            r#"
            orc: 1 of 2 ensembles runnable on 127.0.0.1:[PORT] (qwen3:0.6b loaded); 1 local run(s) logged, net saving ~$0.0003 so far (estimate: gross - hand-over - judging)
            "#,
        )
        .stderr("")
        .run();
    // A CLI run has no hand-over and this one was not judged: the net is its gross.
}
