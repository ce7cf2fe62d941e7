//! `orc invoke`: input acquisition, progress, output and exit codes.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Read, Write};
use std::time::Duration;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};

use crate::cli::{Code, Format, InvokeArgs, fail, print_diagnostics, term_safe};
use crate::learn::deliver::Checked;
use crate::learn::invoke::Delegation;
use crate::load::project::Env;
use crate::run::{Event, RunResult, Status};
use crate::service::{Invocation, InvokeOptions, Service};
use crate::store::read::Artifact;

/// llm-orc's input when none is given.
const DEFAULT_INPUT: &str = "Please analyze this.";

/// The input, from the first source that gives one, as llm-orc does; None when none does (no
/// argument, no --input, no --input-file, stdin a terminal or empty).
fn read_input(args: &InvokeArgs) -> anyhow::Result<Option<String>> {
    if let Some(s) = args.input.as_ref().filter(|s| !s.is_empty()) {
        return Ok(Some(s.clone()));
    }
    if let Some(s) = args.input_flag.as_ref().filter(|s| !s.is_empty()) {
        return Ok(Some(s.clone()));
    }
    if let Some(f) = &args.input_file {
        return std::fs::read_to_string(f)
            .map(Some)
            .with_context(|| format!("cannot read --input-file {}", f.display()));
    }
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        let mut s = String::new();
        stdin
            .lock()
            .read_to_string(&mut s)
            .context("cannot read stdin")?;
        let s = s.trim();
        if !s.is_empty() {
            return Ok(Some(s.to_string()));
        }
    }
    Ok(None)
}

/// The earlier run `--resume` names: its id and its artifact.
fn load_resume(svc: &Service, ensemble: &str, arg: &str) -> anyhow::Result<(String, Artifact)> {
    // `latest` here means this ensemble's latest run.
    let wanted = if arg == "latest" { ensemble } else { arg };
    let path = crate::store::read::find(&svc.artifacts_root(), wanted)?;
    let path = std::fs::canonicalize(&path).unwrap_or(path);
    let artifact = Artifact::read(&path)?;
    let id = format!(
        "{}/{}",
        artifact.ensemble.as_deref().unwrap_or(ensemble),
        path.parent()
            .and_then(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    );
    Ok((id, artifact))
}

/// What the flags say the answer must be.
fn expect_of(args: &InvokeArgs) -> Result<crate::learn::checks::Expect, String> {
    let schema = match &args.expect_schema {
        Some(f) => {
            let text = std::fs::read_to_string(f)
                .map_err(|e| format!("--expect-schema {}: {e}", f.display()))?;
            Some(
                serde_json::from_str(&text)
                    .map_err(|e| format!("--expect-schema {}: not JSON: {e}", f.display()))?,
            )
        }
        None => None,
    };
    let e = crate::learn::checks::Expect {
        json: args.expect_json,
        schema,
        labels: args
            .expect_labels
            .iter()
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())
            .collect(),
        samples: args.samples,
        target_file: args.target_file.clone(),
        ..Default::default()
    };
    e.validate()?;
    Ok(e)
}

pub fn invoke(svc: &Service, env: &Env, args: InvokeArgs) -> anyhow::Result<Code> {
    if let Err(e) = crate::learn::classify::check_task_type(args.task_type.as_deref()) {
        eprintln!("error: --task-type: {}", term_safe(&e.to_string()));
        return Ok(2);
    }
    let (input, resume) = match run_input(svc, &args)? {
        Ok(v) => v,
        Err(code) => return Ok(code),
    };
    let expect = match expect_of(&args) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let (cancel_tx, cancel_rx) = tokio::sync::watch::channel(false);
    let again = {
        let (rx, host) = (cancel_rx.clone(), env.ollama_host.clone());
        let (max, budget, outside) = (
            args.max_concurrent,
            args.token_budget,
            args.allow_outside_project,
        );
        move || {
            let mut o = InvokeOptions::new(rx.clone());
            o.ollama_host = host.clone();
            o.max_concurrent = max;
            o.token_budget = budget;
            o.allow_outside_project = outside;
            o
        }
    };
    let checked_input = input.clone();
    let (ev_tx, ev_rx) = tokio::sync::mpsc::unbounded_channel();
    // With -v the log shows the run as it goes; a progress line would be torn by it.
    let show_progress = std::io::stderr().is_terminal() && !tracing::enabled!(tracing::Level::INFO);
    let outcome = runtime.block_on(async {
        // First Ctrl-C: stop and keep what finished; second: leave at once.
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!(
                    "\ninterrupting: cancelling requests in flight (Ctrl-C again to quit at once)"
                );
                let _ = cancel_tx.send(true);
                if tokio::signal::ctrl_c().await.is_ok() {
                    crate::run::script::kill_running_scripts();
                    std::process::exit(130);
                }
            }
        });
        let mut opts = InvokeOptions::new(cancel_rx);
        opts.max_concurrent = args.max_concurrent;
        opts.ollama_host = env.ollama_host.clone();
        opts.write_artifact = !args.no_artifact;
        opts.resume = resume;
        opts.ask = terminal_asker();
        opts.allow_outside_project = args.allow_outside_project;
        opts.token_budget = args.token_budget;
        opts.cache = match (args.cache, args.no_cache) {
            (_, true) => Some(false),
            (true, _) => Some(true),
            _ => None,
        };
        let progress = show_progress.then(|| tokio::spawn(render_progress(ev_rx)));
        if show_progress {
            opts.events = Some(ev_tx);
        } else {
            drop(ev_tx);
        }
        let r = svc.invoke(&args.ensemble, input, opts).await;
        if let Some(p) = progress {
            let _ = p.await;
        }
        r
    });
    let inv = match outcome {
        Ok(inv) => inv,
        Err(e) => {
            if args.output_format == Format::Json {
                print_error_document(&e)?;
            }
            let code = fail(&e);
            return Ok(
                if code == 1 && matches!(e, crate::service::ServiceError::Invalid { .. }) {
                    2
                } else {
                    code
                },
            );
        }
    };
    print_diagnostics(&inv.warnings);
    let req = crate::learn::deliver::Request {
        task_type: args.task_type.clone(),
        task_summary: args.task_summary.clone(),
        instruction: args.instruction.clone(),
        expect,
    };
    let l = crate::learn::service::Learning::open(svc);
    let d = Delegation {
        ensemble: &args.ensemble,
        input: checked_input,
        request: &req,
        checks: !(args.no_checks || args.resume.is_some() || !delegated(&args)),
    };
    let delegated = runtime.block_on(crate::learn::invoke::deliver(svc, &l, &d, inv, &again));
    let routing_id = match delegated.log(&l) {
        Ok(id) => Some(id),
        Err(e) => {
            eprintln!("warning: the run was not logged for learning: {e}");
            None
        }
    };
    let Checked { inv, checks, .. } = delegated.checked;
    if let Some(c) = &checks {
        crate::cli::learn::print_checks(c, routing_id.as_deref());
    }
    let stdout = &mut std::io::stdout().lock();
    match args.output_format {
        Format::Json => {
            let mut w = std::io::BufWriter::new(&mut *stdout);
            let mut doc = json_output(&inv);
            doc.routing_id = routing_id.clone();
            doc.quality = checks.clone();
            crate::store::atomic::write_pretty_ascii(&mut w, &doc)?;
            writeln!(w)?;
        }
        Format::Text => {
            write_text(stdout, &inv)?;
            if let Some(id) = &routing_id {
                writeln!(stdout, "routing id: {id}")?;
            }
        }
    }
    report_run(&inv, args.output_format);
    report_failures(&inv.result);
    let undelivered = checks.as_ref().is_some_and(|c| !c.delivered);
    Ok(if inv.result.interrupted {
        130
    } else if inv.result.has_errors() {
        1
    } else if undelivered {
        // The answer failed its free checks on every local attempt: not delivered.
        3
    } else {
        0
    })
}

/// What `orc invoke` says on stderr after the answer: where the artifact is (or why it is
/// not), what a resume reused, what a budget stopped.
fn report_run(inv: &Invocation, format: Format) {
    match &inv.artifact {
        Some(Err(e)) => eprintln!("warning: the artifact was not written: {e}"),
        Some(Ok(w)) if format == Format::Json => {
            eprintln!("artifact: {}", w.dir.display())
        }
        _ => {}
    }
    let reused = inv
        .result
        .all_entries
        .iter()
        .filter(|(_, e)| e.reused)
        .count();
    if let Some(from) = &inv.result.resumed_from {
        eprintln!(
            "resumed {from}: {reused} result(s) reused, {} call(s) made",
            inv.result.usage.len()
        );
    }
    if let Some(b) = inv.result.budget.as_ref().filter(|b| !b.skipped.is_empty()) {
        eprintln!(
            "budget exhausted: {} token(s), ${:.6} counted; {} agent(s) not run: {}",
            b.spent_tokens,
            b.spent_cost_usd,
            b.skipped.len(),
            term_safe(&b.skipped.join(", "))
        );
    }
    if let Some(note) = inv.result.budget.as_ref().and_then(|b| b.estimate_note()) {
        eprintln!("warning: {}", term_safe(&note));
    }
}

/// The artifact a run resumes (`--resume`): its id and execution.json.
type Resume = Option<(String, Artifact)>;

/// The input of a run and the artifact it resumes: resuming without an input means "the same
/// run again" (its input, not the default, which would change every prompt and rerun
/// everything). A bad `--resume` is a usage error.
fn run_input(svc: &Service, args: &InvokeArgs) -> anyhow::Result<Result<(String, Resume), Code>> {
    let given = read_input(args)?;
    let resume = match &args.resume {
        Some(a) => match load_resume(svc, &args.ensemble, a) {
            Ok(r) => Some(r),
            Err(e) => {
                eprintln!(
                    "error: --resume {}: {}",
                    term_safe(a),
                    term_safe(&format!("{e:#}"))
                );
                return Ok(Err(2));
            }
        },
        None => None,
    };
    let input = match (given, &resume) {
        (Some(s), _) => s,
        (None, Some((id, run))) => match run.input.data.as_str() {
            Some(s) => {
                eprintln!("reusing the input of {}", term_safe(id));
                s.to_string()
            }
            None => DEFAULT_INPUT.to_string(),
        },
        (None, None) => DEFAULT_INPUT.to_string(),
    };
    Ok(Ok((input, resume)))
}

/// The run is a delegated task (the free checks apply): the caller said what the task is or
/// what its answer must be. A plain run answers as llm-orc does.
fn delegated(a: &InvokeArgs) -> bool {
    a.checks
        || a.task_type.is_some()
        || a.instruction.is_some()
        || a.expect_json
        || a.expect_schema.is_some()
        || !a.expect_labels.is_empty()
        || a.samples.is_some()
        || a.target_file.is_some()
}

/// `--output-format json` when the run never started (the ensemble is invalid or not found):
/// llm-orc 0.25.2's error document (`status: error`, no results, the `error` with its kind
/// and message), with each problem of the file and its line. The diagnostics still go to
/// stderr.
fn print_error_document(e: &crate::service::ServiceError) -> anyhow::Result<()> {
    use crate::service::{ErrorKind, ServiceError};
    let kind = match e.kind() {
        ErrorKind::NotFound => "not_found",
        ErrorKind::Invalid => "invalid",
        ErrorKind::Refused => "refused",
        ErrorKind::Io => "io",
    };
    let diagnostics = match e {
        ServiceError::Invalid { diagnostics, .. } => diagnostics.clone(),
        ServiceError::NotFound { unreadable, .. } => unreadable.clone(),
        _ => Vec::new(),
    };
    let doc = json!({
        "status": "error",
        "has_errors": true,
        "results": {},
        "deliverable": null,
        "error": {"kind": kind, "message": e.to_string(), "diagnostics": diagnostics},
    });
    let stdout = &mut std::io::stdout().lock();
    crate::store::atomic::write_pretty_ascii(&mut *stdout, &doc)?;
    writeln!(stdout)?;
    Ok(())
}

/// Asks on the terminal for get_user_input / confirm_action, one question at a time: the prompt
/// on stderr, the answer from stdin. None when stdin is not a terminal (it may hold the input).
pub fn terminal_asker() -> Option<crate::run::Asker> {
    if !std::io::stdin().is_terminal() {
        return None;
    }
    let lock = std::sync::Mutex::new(());
    Some(std::sync::Arc::new(move |agent: &str, prompt: &str| {
        let _one_at_a_time = lock.lock().unwrap_or_else(|e| e.into_inner());
        eprint!("\n[{agent}] {prompt} ");
        let mut line = String::new();
        match std::io::stdin().read_line(&mut line) {
            Ok(0) | Err(_) => None,
            Ok(_) => Some(line.trim_end_matches(['\n', '\r']).to_string()),
        }
    }))
}

/// One line per distinct cause, so an unreachable host is one message, not 37.
fn report_failures(r: &RunResult) {
    let mut causes: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for (name, e) in &r.entries {
        if e.status == Status::Failed
            && let Some(err) = &e.error
        {
            // A script's stderr is in its payload; its tail says why it exited.
            let cause = crate::run::script::error_with_stderr(err, e.payload.as_ref());
            causes.entry(cause).or_default().push(name);
        }
    }
    for (cause, agents) in causes {
        let who = if agents.len() == 1 {
            format!("agent `{}`", agents[0])
        } else {
            format!(
                "{} agents ({}{})",
                agents.len(),
                agents[..agents.len().min(3)].join(", "),
                if agents.len() > 3 { ", ..." } else { "" }
            )
        };
        eprintln!("error: {} failed: {}", term_safe(&who), term_safe(&cause));
    }
}

/// `--output-format json`: llm-orc 0.25.2's document (results, metadata, deliverable, status,
/// has_errors), plus where the artifact went. Borrows the run's document rather than copying it.
#[derive(serde::Serialize)]
struct JsonOutput<'a> {
    results: &'a Value,
    metadata: &'a Value,
    deliverable: Option<&'a str>,
    status: &'static str,
    has_errors: bool,
    raw_output: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    artifact: Option<Value>,
    /// The run's record in .llm-orc/evaluations/routing-log.jsonl.
    #[serde(skip_serializing_if = "Option::is_none")]
    routing_id: Option<String>,
    /// What the free checks found; `delivered: false` means the task goes to Claude.
    #[serde(skip_serializing_if = "Option::is_none")]
    quality: Option<crate::learn::checks::FreeChecks>,
}

fn json_output(inv: &Invocation) -> JsonOutput<'_> {
    let failed = inv.result.has_errors() || inv.result.interrupted;
    JsonOutput {
        results: &inv.doc["results"],
        metadata: &inv.doc["metadata"],
        deliverable: inv.result.deliverable.as_deref(),
        status: if failed { "error" } else { "success" },
        has_errors: failed,
        raw_output: inv.ensemble.spec.raw_output,
        artifact: match &inv.artifact {
            Some(Ok(w)) => Some(json!({"id": w.id, "dir": w.dir, "json": w.json})),
            _ => None,
        },
        routing_id: None,
        quality: None,
    }
}

/// Text output: names, answers and errors come from files, models and servers, so every one
/// goes through `term_safe` (no escape sequence reaches the terminal).
fn write_text(out: &mut impl Write, inv: &Invocation) -> std::io::Result<()> {
    let r = &inv.result;
    for (name, e) in &r.entries {
        let name = term_safe(name);
        if e.instances.is_some() || e.kind == "ensemble" && e.is_success() {
            // Gathered fan-outs and nested results are shown through their parts.
            if e.kind == "ensemble" {
                writeln!(out, "== {name} (ensemble, {}) ==", e.outcome())?;
                if let Some(h) = &e.handover {
                    writeln!(out, "{}\n", term_safe(h))?;
                }
            }
            continue;
        }
        let model = r
            .usage
            .iter()
            .find(|(n, _)| *n == *name)
            .map(|(_, u)| format!(", {}", term_safe(&u.model)))
            .unwrap_or_default();
        writeln!(out, "== {name} ({}{model}) ==", e.outcome())?;
        match (&e.error, e.status) {
            (Some(err), _) => writeln!(
                out,
                "error: {}\n",
                term_safe(&crate::run::script::error_with_stderr(
                    err,
                    e.payload.as_ref()
                ))
            )?,
            (None, Status::Skipped) => writeln!(
                out,
                "{}\n",
                term_safe(
                    e.reason
                        .as_deref()
                        .or(e.note.as_deref())
                        .unwrap_or("skipped")
                )
            )?,
            (None, _) => writeln!(out, "{}\n", term_safe(&crate::pyfmt::str_of(&e.response)))?,
        }
    }
    // Tokens per tier of model size.
    let mut tiers: BTreeMap<(u8, &'static str), (u64, u64, usize, usize)> = BTreeMap::new();
    for (_, u) in &r.usage {
        let t = tiers.entry(crate::report::size_tier(&u.model)).or_default();
        t.0 = t.0.saturating_add(u.usage.input_tokens.unwrap_or(0));
        t.1 = t.1.saturating_add(u.usage.output_tokens.unwrap_or(0));
        t.2 += 1;
        if !u.usage.missing_counts().is_empty() {
            t.3 += 1;
        }
    }
    writeln!(out, "-- usage by tier --")?;
    for ((_, class), (i, o, n, missing)) in &tiers {
        let note = if *missing > 0 {
            format!(" ({missing} with counts missing)")
        } else {
            String::new()
        };
        writeln!(
            out,
            "{class:>8}: {n} call(s), {i} in + {o} out = {} tokens{note}",
            i.saturating_add(*o)
        )?;
    }
    let totals = crate::run::document::totals_to_json(&r.usage);
    writeln!(
        out,
        "   total: {} tokens in {:.2}s; status {}",
        totals["total_tokens"],
        r.duration_s(),
        r.status()
    )?;
    if let Some(d) = &r.deliverable {
        writeln!(out, "\n-- deliverable --\n{}", term_safe(d))?;
    }
    if let Some(Ok(w)) = &inv.artifact {
        writeln!(out, "\nartifact: {}", w.dir.display())?;
    }
    Ok(())
}

/// A live line on stderr: done/total, running, queued, tokens so far. The total grows as agents
/// become known (fan-out instances and nested agents appear during the run).
async fn render_progress(mut rx: tokio::sync::mpsc::UnboundedReceiver<Event>) {
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {pos}/{len} done  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    let (mut queued, mut running, mut tokens, mut failed, mut seen) =
        (0i64, 0i64, 0u64, 0u64, 0u64);
    let mut started = std::collections::HashSet::new();
    while let Some(ev) = rx.recv().await {
        match ev {
            Event::Ready { .. } => {
                queued += 1;
                seen += 1;
                // Fan-out instances are only known once their array is: grow the total.
                if seen > bar.length().unwrap_or(0) {
                    bar.set_length(seen);
                }
            }
            Event::Started { agent } => {
                if started.insert(agent) {
                    queued -= 1;
                    running += 1;
                }
            }
            Event::Tokens { .. } | Event::Retrying { .. } => {}
            Event::Finished {
                agent,
                status,
                tokens: t,
            } => {
                // Skipped agents and early failures finish without having started.
                if started.remove(&agent) {
                    running -= 1;
                } else {
                    queued -= 1;
                }
                tokens = tokens.saturating_add(t.unwrap_or(0));
                if status == Status::Failed {
                    failed += 1;
                }
                bar.inc(1);
            }
        }
        let failed_note = if failed > 0 {
            format!("  {failed} failed")
        } else {
            String::new()
        };
        bar.set_message(format!(
            "running {}  queued {}  tokens {tokens}{failed_note}",
            running.max(0),
            queued.max(0)
        ));
    }
    bar.finish_and_clear();
}

/// `orc validate run NAME`, `validate all`, `validate category NAME`: run each ensemble that has
/// a `validation:` block on llm-orc's test input and report its checks as llm-orc does. Exit 1
/// when a check fails (each failure on stderr: which check, and why), or when an ensemble has
/// no `validation:` block or cannot run.
pub fn validate_runs(
    svc: &Service,
    env: &Env,
    names: &[String],
    verbose: bool,
    allow_outside_project: bool,
) -> anyhow::Result<Code> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let (_keep, cancel_rx) = tokio::sync::watch::channel(false);
    let stdout = &mut std::io::stdout().lock();
    let (mut passed, mut failed) = (0usize, 0usize);
    for name in names {
        let mut opts = InvokeOptions::new(cancel_rx.clone());
        opts.ollama_host = env.ollama_host.clone();
        opts.ask = terminal_asker();
        opts.allow_outside_project = allow_outside_project;
        writeln!(stdout, "Validating ensemble: {name}")?;
        writeln!(stdout, "{}", "\u{2500}".repeat(50))?;
        let inv = match runtime.block_on(svc.validation_run(name, opts)) {
            Ok(inv) => inv,
            Err(e) => {
                fail(&e);
                failed += 1;
                continue;
            }
        };
        print_diagnostics(&inv.warnings);
        report_failures(&inv.result);
        let outcome = inv.result.validation.clone().unwrap_or(Value::Null);
        let ok = outcome["passed"] == true;
        writeln!(
            stdout,
            "Validation {}",
            if ok { "PASSED" } else { "FAILED" }
        )?;
        if verbose || !ok {
            if let Some(err) = outcome["error"].as_str() {
                writeln!(stdout, "  {}", term_safe(err))?;
            }
            if let Some(layers) = outcome["results"].as_object() {
                writeln!(stdout, "\nValidation Layer Results:")?;
                for (layer, r) in layers.iter().filter(|(_, r)| !r.is_null()) {
                    let word = if r["passed"] == true { "PASS" } else { "FAIL" };
                    writeln!(stdout, "  {layer}: {word}")?;
                    for e in r["errors"].as_array().into_iter().flatten() {
                        writeln!(
                            stdout,
                            "    - {}",
                            term_safe(e.as_str().unwrap_or_default())
                        )?;
                    }
                }
            }
        }
        for f in crate::run::validation::failures(&outcome) {
            eprintln!("error: {}: {}", term_safe(name), term_safe(&f));
        }
        for n in crate::run::validation::notes(&outcome) {
            eprintln!("note: {}: {}", term_safe(name), term_safe(&n));
        }
        if let Some(Ok(w)) = &inv.artifact {
            eprintln!("artifact: {}", w.dir.display());
        }
        if ok {
            passed += 1;
        } else {
            failed += 1;
        }
        if names.len() > 1 {
            writeln!(stdout)?;
        }
    }
    if names.len() > 1 {
        writeln!(stdout, "{passed} passed, {failed} failed")?;
    }
    Ok(if failed > 0 { 1 } else { 0 })
}
