//! The learning loop's commands: `route`, `eval`, `learn`, `routing`, `export`,
//! `record-claude-task` and `report learning`. Parse, call `learn::service`, render.

use std::io::Write;

use crate::cli::args::{
    ClaudeTaskArgs, EvalCommand, ExportArgs, LearnArgs, LearningReportArgs, ReportFormat,
    RouteArgs, RoutingCommand,
};
use crate::cli::output::{Privacy, Written};
use crate::cli::{Code, Format, term_safe};
use crate::learn::service::{ClaudeTask, Learning, NewEvaluation};
use crate::learn::{LearnError, batch, export, report};
use crate::service::Service;
use anyhow::Context;

fn warn_config(l: &Learning) {
    for w in &l.warnings {
        eprintln!("warning: {}", term_safe(&w.to_string()));
    }
}

/// Prints the error; bad input exits 2, anything else 1.
fn failed(e: &LearnError) -> Code {
    eprintln!("error: {}", term_safe(&e.to_string()));
    match e {
        LearnError::Refused(_) => 2,
        _ => 1,
    }
}

fn json(out: &mut impl Write, v: &impl serde::Serialize) -> anyhow::Result<()> {
    writeln!(out, "{}", serde_json::to_string_pretty(v)?)?;
    Ok(())
}

/// The free checks' verdict on stderr; an answer that was not delivered says so plainly.
pub fn print_checks(c: &crate::learn::checks::FreeChecks, routing_id: Option<&str>) {
    let shown: Vec<String> = c
        .checks
        .iter()
        .map(|s| format!("{} {:?}", s.check, s.outcome).to_lowercase())
        .collect();
    eprintln!(
        "free checks: {}{} ({}; {} attempt(s))",
        c.verdict,
        if c.strong { ", strong evidence" } else { "" },
        shown.join(", "),
        c.attempts
    );
    if !c.delivered {
        eprintln!(
            "NOT DELIVERED: {}; escalate to Claude{}",
            crate::cli::term_safe(c.escalate.as_deref().unwrap_or("a hard check failed")),
            routing_id
                .map(|id| format!(" (record_claude_task --redoes {id})"))
                .unwrap_or_default()
        );
    }
}

pub fn route(svc: &Service, a: RouteArgs, out: &mut impl Write) -> anyhow::Result<Code> {
    let l = Learning::open(svc);
    warn_config(&l);
    let req = match route_request(a.task, a.input, a.input_files, a.delegation)? {
        Ok(req) => req,
        Err(code) => return Ok(code),
    };
    let routed = match crate::learn::breakeven::route(
        &l,
        svc,
        &req,
        crate::learn::breakeven::CLI_DEFINITION_TOKENS,
    ) {
        Ok(r) => r,
        Err(e) => return Ok(failed(&e)),
    };
    let r = &routed.recommendation;
    for w in &r.warnings {
        eprintln!("warning: {}", term_safe(&w.to_string()));
    }
    match a.format {
        Format::Json => json(out, &routed)?,
        Format::Text => {
            write_route(out, &routed)?;
        }
    }
    Ok(0)
}

/// The task (`-`: from stdin, as Claude Code's /orc:route passes it, never through a shell)
/// and its input; a usage error when there is no task, or both would come from stdin.
fn route_request(
    task: String,
    input: Option<String>,
    input_files: Vec<String>,
    delegation: Option<u8>,
) -> anyhow::Result<Result<crate::learn::route::RouteRequest, Code>> {
    let from_stdin = task == "-";
    let task = if from_stdin {
        let mut t = String::new();
        std::io::Read::read_to_string(&mut std::io::Read::take(std::io::stdin(), 1 << 20), &mut t)
            .context("reading the task from stdin")?;
        t.trim().to_string()
    } else {
        task
    };
    if task.is_empty() {
        eprintln!("error: no task given (orc route \"the task\", or `-` with the task on stdin)");
        return Ok(Err(2));
    }
    let input = match input.as_deref() {
        Some("-") if from_stdin => {
            eprintln!("error: the task and --input cannot both come from stdin");
            return Ok(Err(2));
        }
        Some("-") => {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
                .context("reading the input from stdin")?;
            Some(s)
        }
        other => other.map(str::to_string),
    };
    Ok(Ok(crate::learn::route::RouteRequest {
        task,
        input,
        input_files,
        delegation,
    }))
}

/// `orc route`'s text: the break-even, the route and why, the limits, the candidates and the
/// evidence.
fn write_route(
    out: &mut impl Write,
    routed: &crate::learn::breakeven::Routed,
) -> anyhow::Result<()> {
    let r = &routed.recommendation;
    let b = &routed.breakeven;
    writeln!(
        out,
        "break-even: net ~${:.4} (Claude itself ~${:.4}, hand-over ~${:.4}, judging ~${:.4}; estimates)",
        b.net_usd, b.claude_direct.usd, b.handover.usd, b.judging_usd
    )?;
    writeln!(out, "task type: {}", r.task_type)?;
    writeln!(
        out,
        "route:     {}{}",
        r.route,
        r.ensemble
            .as_deref()
            .map(|e| format!(" -> {e}"))
            .unwrap_or_default()
    )?;
    writeln!(out, "reason:    {}", r.reason)?;
    if let Some(s) = r.shape {
        writeln!(out, "build:     {s} (tiers: {})", r.tiers.join(", "))?;
    }
    writeln!(
        out,
        "confidence: {:.2} ({}); delegation level {} ({})",
        r.confidence, r.confidence_level, r.delegation.level, r.delegation.source
    )?;
    writeln!(
        out,
        "input:     {} token(s), {} document(s){}",
        r.input.tokens,
        r.input.documents,
        if r.input.measured {
            ""
        } else {
            " (none given: size not checked)"
        }
    )?;
    let failed: Vec<String> = r
        .limits
        .iter()
        .filter(|l| !l.passed)
        .map(|l| format!("{} ({})", l.limit, l.detail))
        .collect();
    writeln!(
        out,
        "limits:    {}",
        if failed.is_empty() {
            "all passed".to_string()
        } else {
            failed.join("; ")
        }
    )?;
    for c in &r.candidates {
        writeln!(
            out,
            "candidate: {} ({}) score {:.2} = relevance {:.2} x type fit {:.2} x quality {:.2}{}",
            c.ensemble,
            c.tier,
            c.score,
            c.relevance,
            c.type_fit,
            c.quality,
            if c.demoted { ", demoted" } else { "" }
        )?;
    }
    let t = &r.evidence["task_type"];
    writeln!(
        out,
        "evidence:  {} run(s) of {}, {} judged ({} good, {} acceptable, {} poor), {} accepted / {} rejected",
        t["runs"],
        r.task_type,
        t["evaluations"],
        t["good"],
        t["acceptable"],
        t["poor"],
        t["accepted"],
        t["rejected"]
    )?;
    if let Some(e) = r.evidence.get("ensemble") {
        writeln!(
            out,
            "ensemble:  {} run(s), {} good / {} acceptable / {} poor, acceptance {}",
            e["runs"],
            e["good"],
            e["acceptable"],
            e["poor"],
            e["acceptance_rate"]
                .as_f64()
                .map(|x| format!("{:.0}%", x * 100.0))
                .unwrap_or_else(|| "n/a".into())
        )?;
    }
    writeln!(out, "decided by: {}", r.decided_by)?;
    Ok(())
}

pub fn eval(svc: &Service, cmd: EvalCommand, out: &mut impl Write) -> anyhow::Result<Code> {
    let l = Learning::open(svc);
    warn_config(&l);
    match cmd {
        EvalCommand::Should { routing_id, format } => eval_should(&l, &routing_id, format, out),
        EvalCommand::Record {
            routing_id,
            score,
            judge,
            reasoning,
            failure_mode,
            judge_tokens,
            subject,
            format,
        } => {
            let e = NewEvaluation {
                routing_id,
                score,
                judge,
                reasoning,
                failure_mode,
                judge_tokens_used: judge_tokens,
                subject,
            };
            eval_record(&l, &e, format, out)
        }
        EvalCommand::Feedback {
            routing_id,
            accepted,
            rejected: _,
        } => match l.record_feedback(&routing_id, accepted) {
            Ok(r) => {
                writeln!(
                    out,
                    "{}: {}",
                    r.id,
                    if accepted { "accepted" } else { "rejected" }
                )?;
                Ok(0)
            }
            Err(e) => Ok(failed(&e)),
        },
        EvalCommand::Judge {
            routing_id,
            profile,
            format,
        } => eval_judge(svc, &l, &routing_id, &profile, format, out),
    }
}

/// `orc eval should`: whether a run should be judged, and with which rubric.
fn eval_should(
    l: &Learning,
    routing_id: &str,
    format: Format,
    out: &mut impl Write,
) -> anyhow::Result<Code> {
    let d = match l.should_evaluate(routing_id) {
        Ok(d) => d,
        Err(e) => return Ok(failed(&e)),
    };
    match format {
        Format::Json => json(out, &d)?,
        Format::Text => {
            writeln!(
                out,
                "evaluate: {} ({}: {})",
                if d.decision.evaluate { "yes" } else { "no" },
                d.decision.rule,
                d.decision.detail
            )?;
            if let Some(j) = &d.decision.judge {
                writeln!(out, "judge: {j}")?;
            }
            if let Some(r) = d.decision.rubric {
                writeln!(out, "\nrubric:\n{r}")?;
            }
        }
    }
    Ok(0)
}

/// `orc eval record`: a judgment recorded (and routing re-learned every so often).
fn eval_record(
    l: &Learning,
    e: &NewEvaluation,
    format: Format,
    out: &mut impl Write,
) -> anyhow::Result<Code> {
    let r = match l.record_evaluation(e, false) {
        Ok(r) => r,
        Err(e) => return Ok(failed(&e)),
    };
    if let Some(e) = &r.learn_error {
        eprintln!("warning: the evaluation is recorded, but the batch learn failed: {e}");
    }
    match format {
        Format::Json => json(out, &r)?,
        Format::Text => {
            writeln!(
                out,
                "recorded evaluation {} of {}: {}",
                r.evaluation.id,
                r.evaluation.routing_id,
                r.evaluation.score.as_str()
            )?;
            match &r.learned {
                Some(v) => writeln!(
                    out,
                    "learned routing config v{} ({} evaluations)",
                    v.version, v.evaluations_seen
                )?,
                None => writeln!(
                    out,
                    "{} evaluation(s) since routing was last learned (learns every {})",
                    r.evaluations_since_learn, l.config.learn_every
                )?,
            }
        }
    }
    Ok(0)
}

/// `orc eval judge`: a run judged by a local model, and its verdict recorded.
fn eval_judge(
    svc: &Service,
    l: &Learning,
    routing_id: &str,
    profile: &str,
    format: Format,
    out: &mut impl Write,
) -> anyhow::Result<Code> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let r = match runtime.block_on(l.judge_locally(svc, routing_id, profile)) {
        Ok(r) => r,
        Err(e) => return Ok(failed(&e)),
    };
    if let Some(e) = &r.learn_error {
        eprintln!("warning: the evaluation is recorded, but the batch learn failed: {e}");
    }
    match format {
        Format::Json => json(out, &r)?,
        Format::Text => writeln!(
            out,
            "{} judged {}: {}{} ({} tokens)\n{}",
            profile,
            r.evaluation.routing_id,
            r.evaluation.score.as_str(),
            r.evaluation
                .failure_mode
                .as_deref()
                .map(|m| format!(", {m}"))
                .unwrap_or_default(),
            r.evaluation.judge_tokens_used,
            r.evaluation.reasoning.as_deref().unwrap_or("")
        )?,
    }
    Ok(0)
}

pub fn learn(svc: &Service, a: LearnArgs, out: &mut impl Write) -> anyhow::Result<Code> {
    let l = Learning::open(svc);
    warn_config(&l);
    let r = match batch::learn_with(&l.paths, &l.config, a.unpin) {
        Ok(r) => r,
        Err(e) => return Ok(failed(&e)),
    };
    match a.format {
        Format::Json => json(out, &r)?,
        Format::Text => {
            if r.new_version {
                writeln!(
                    out,
                    "routing config v{} from {} evaluation(s): {}",
                    r.version, r.evaluations_seen, r.routing_config
                )?;
            } else {
                writeln!(
                    out,
                    "no route changed: routing config v{} stays current ({} evaluation(s) seen; no new version written)",
                    r.version, r.evaluations_seen
                )?;
            }
            if !r.pinned.is_empty() {
                writeln!(
                    out,
                    "pinned by a rollback: {} (only evaluations after it count; `orc learn --unpin` lifts it)",
                    r.pinned.join(", ")
                )?;
            }
            if r.routes.is_empty() {
                writeln!(
                    out,
                    "no task type has enough judged runs yet: the routing matrix decides"
                )?;
            }
            for (tt, rule) in &r.routes {
                writeln!(
                    out,
                    "  {tt}: {}{} ({})",
                    rule.route,
                    rule.ensemble
                        .as_deref()
                        .map(|e| format!(" -> {e}"))
                        .unwrap_or_default(),
                    rule.reason
                )?;
            }
            if !r.changed.is_empty() {
                writeln!(out, "changed: {}", r.changed.join(", "))?;
            }
            for c in &r.lora_candidates {
                writeln!(out, "LoRA candidate: {c} (see lora-candidates.yaml)")?;
            }
        }
    }
    Ok(0)
}

pub fn routing(svc: &Service, cmd: RoutingCommand, out: &mut impl Write) -> anyhow::Result<Code> {
    let l = Learning::open(svc);
    match cmd {
        RoutingCommand::History { format } => {
            let h = match batch::history(&l.paths) {
                Ok(h) => h,
                Err(e) => return Ok(failed(&e)),
            };
            match format {
                Format::Json => json(out, &h)?,
                Format::Text => {
                    if h.is_empty() {
                        writeln!(out, "no routing config yet (run `orc learn`)")?;
                    }
                    for v in &h {
                        if let Some(e) = &v.error {
                            writeln!(out, "  v{}  unreadable: {}", v.version, term_safe(e))?;
                            continue;
                        }
                        writeln!(
                            out,
                            "{} v{}  {}  {} evaluation(s), {} route(s)",
                            if v.current { "*" } else { " " },
                            v.version,
                            term_safe(&v.created_at),
                            v.evaluations_seen,
                            v.routes
                        )?;
                    }
                }
            }
            Ok(0)
        }
        RoutingCommand::Rollback { version } => match batch::rollback(&l.paths, version) {
            Ok(c) => {
                writeln!(
                    out,
                    "routing config v{} is current ({} route(s))",
                    c.version,
                    c.routes.len()
                )?;
                Ok(0)
            }
            Err(e) => Ok(failed(&e)),
        },
    }
}

pub fn export(svc: &Service, a: ExportArgs, out: &mut impl Write) -> anyhow::Result<Code> {
    let l = Learning::open(svc);
    let filter = export::Filter {
        task_type: a.task_type.clone(),
        ensemble: a.ensemble.clone(),
        judge: a.judge.clone(),
    };
    // Streamed: rows go out as they are made (to a temporary file renamed over FILE, or stdout).
    let streamed = |w: &mut dyn Write| -> std::io::Result<Result<export::Exported, LearnError>> {
        let mut w = std::io::BufWriter::with_capacity(1 << 20, w);
        let r = export::export(&l, a.kind, &filter, &mut w);
        w.flush()?;
        Ok(r)
    };
    match &a.output {
        // Training data holds task inputs: a new file is private. A failed export keeps FILE.
        Some(f) => {
            let mut failure = None;
            let written = crate::cli::output::write_output(f, Privacy::Private, out, |w| {
                match streamed(w)? {
                    Ok(r) => Ok(r),
                    Err(e) => {
                        failure = Some(e);
                        Err(std::io::Error::other("the export failed"))
                    }
                }
            });
            if let Some(e) = failure {
                return Ok(failed(&e));
            }
            let (r, to) = written?;
            match to {
                Written::File(_) => eprintln!(
                    "wrote {} row(s) to {}",
                    r.rows,
                    term_safe(&f.display().to_string())
                ),
                Written::Stdout => eprintln!("{} row(s)", r.rows),
            }
            missing(&r);
        }
        None => {
            let r = match streamed(out)? {
                Ok(r) => r,
                Err(e) => return Ok(failed(&e)),
            };
            eprintln!("{} row(s)", r.rows);
            missing(&r);
        }
    }
    Ok(0)
}

fn missing(r: &export::Exported) {
    if r.missing_artifacts > 0 {
        eprintln!(
            "warning: {} qualifying run(s) left out: their example and artifact are missing or unreadable",
            r.missing_artifacts
        );
    }
}

pub fn record_claude_task(
    svc: &Service,
    a: ClaudeTaskArgs,
    out: &mut impl Write,
) -> anyhow::Result<Code> {
    let l = Learning::open(svc);
    warn_config(&l);
    let output = match &a.output_file {
        Some(f) => Some(
            std::fs::read_to_string(f)
                .with_context(|| format!("cannot read --output-file {}", f.display()))?,
        ),
        None => None,
    };
    let r = match l.record_claude_task(&ClaudeTask {
        task: a.task,
        task_type: a.task_type,
        input_tokens: a.input_tokens,
        output_tokens: a.output_tokens,
        output,
        redoes: a.redoes,
        paired_with: a.paired_with,
    }) {
        Ok(r) => r,
        Err(e) => return Ok(failed(&e)),
    };
    match a.format {
        Format::Json => json(out, &r)?,
        Format::Text => writeln!(out, "routing id: {} ({}, claude)", r.id, r.task_type)?,
    }
    Ok(0)
}

pub fn learning_report(
    svc: &Service,
    a: LearningReportArgs,
    out: &mut impl Write,
) -> anyhow::Result<Code> {
    let l = Learning::open(svc);
    let r = match report::build(&l) {
        Ok(r) => r,
        Err(e) => return Ok(failed(&e)),
    };
    // A text report on stdout ends with its warnings already: say them once.
    if !(a.format == ReportFormat::Text && a.output.is_none()) {
        for w in &r.warnings {
            eprintln!("warning: {}", term_safe(&w.to_string()));
        }
    }
    let body = match a.format {
        // Names in the report come from files anyone can write (a planted ensemble name).
        ReportFormat::Text => term_safe(&report::text(&r)).into_owned(),
        ReportFormat::Json => serde_json::to_string_pretty(&r)? + "\n",
        ReportFormat::Html => report::html(&r),
    };
    match &a.output {
        // The report names tasks and ensembles: a new file is private.
        Some(f) => {
            let (_, to) = crate::cli::output::write_output(f, Privacy::Private, out, |w| {
                w.write_all(body.as_bytes())
            })?;
            if let Written::File(_) = to {
                eprintln!("wrote {}", super::term_safe(&f.display().to_string()));
            }
        }
        None => out.write_all(body.as_bytes())?,
    }
    Ok(0)
}
