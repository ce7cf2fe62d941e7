//! The learning loop's commands: `route`, `eval`, `learn`, `routing`, `export`,
//! `record-claude-task` and `report learning`. Parse, call `learn::service`, render.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};

use crate::cli::{Code, Format};
use crate::learn::service::{ClaudeTask, Learning, NewEvaluation};
use crate::learn::{LearnError, batch, export, report, route};
use crate::service::{Invocation, Service};

#[derive(Debug, Args)]
pub struct RouteArgs {
    /// The task, in words.
    pub task: String,
    /// Output format: text for people, json for programs.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Subcommand)]
pub enum EvalCommand {
    /// Should this run be judged? The sampling policy's answer, the rule that decided, the rubric.
    Should {
        /// The run's routing id (printed by `orc invoke`, returned by MCP `invoke`).
        routing_id: String,
        /// Output format: text for people, json for programs.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Record a judgment of a run's output.
    Record {
        /// The run's routing id (printed by `orc invoke`, returned by MCP `invoke`).
        routing_id: String,
        /// good, acceptable or poor.
        #[arg(long)]
        score: String,
        /// Who judged (e.g. claude-sonnet-4, a person's name).
        #[arg(long)]
        judge: String,
        /// The judge's reasoning, written before the verdict.
        #[arg(long)]
        reasoning: Option<String>,
        /// e.g. hallucination, incomplete, wrong_format.
        #[arg(long)]
        failure_mode: Option<String>,
        /// Tokens the judge spent.
        #[arg(long, default_value_t = 0)]
        judge_tokens: u64,
        /// Whose output was judged: local or claude (default: whoever did the routed work).
        #[arg(long)]
        subject: Option<String>,
        /// Output format: text for people, json for programs.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Record whether the user accepted a run's output.
    Feedback {
        /// The run's routing id (printed by `orc invoke`, returned by MCP `invoke`).
        routing_id: String,
        /// The user accepted the output.
        #[arg(
            long,
            conflicts_with = "rejected",
            required_unless_present = "rejected"
        )]
        accepted: bool,
        /// The user rejected the output (makes the ensemble's next run be judged).
        #[arg(long)]
        rejected: bool,
    },
    /// Judge a run with a local model (a profile) and the rubric; records its verdict.
    Judge {
        /// The run's routing id (printed by `orc invoke`, returned by MCP `invoke`).
        routing_id: String,
        /// The model profile that judges (a local model).
        #[arg(long)]
        profile: String,
        /// Output format: text for people, json for programs.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
}

#[derive(Debug, Args)]
pub struct LearnArgs {
    /// Output format: text for people, json for programs.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Subcommand)]
pub enum RoutingCommand {
    /// Every routing config version; the current one is marked.
    History {
        /// Output format: text for people, json for programs.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Make routing-config.vN.yaml current again.
    Rollback {
        /// The version to make current (N of routing-config.vN.yaml).
        version: u64,
    },
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// What to export: sft (chat examples), dpo (preference pairs) or judge (judge training).
    pub kind: export::Kind,
    /// Write here instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ClaudeTaskArgs {
    /// The task Claude did.
    pub task: String,
    /// The task type (extraction, classification, summarization, ...); guessed when missing.
    #[arg(long)]
    pub task_type: Option<String>,
    /// Input tokens Claude reported for the task.
    #[arg(long, default_value_t = 0)]
    pub input_tokens: u64,
    /// Output tokens Claude reported for the task.
    #[arg(long, default_value_t = 0)]
    pub output_tokens: u64,
    /// Claude's answer, from a file (kept for `orc export`).
    #[arg(long, value_name = "FILE")]
    pub output_file: Option<PathBuf>,
    /// The routing id of the local run whose work Claude redid.
    #[arg(long, value_name = "ROUTING_ID")]
    pub redoes: Option<String>,
    /// Output format: text for people, json for programs.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    Text,
    Json,
    Html,
}

#[derive(Debug, Args)]
pub struct LearningReportArgs {
    /// Output format: text for people, json for programs (html: one self-contained page with charts).
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    pub format: ReportFormat,
    /// Write here instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

fn warn_config(l: &Learning) {
    for w in &l.warnings {
        eprintln!("warning: {w}");
    }
}

/// Prints the error; bad input exits 2, anything else 1.
fn failed(e: &LearnError) -> Code {
    eprintln!("error: {e}");
    match e {
        LearnError::Refused(_) => 2,
        _ => 1,
    }
}

fn json(out: &mut impl Write, v: &impl serde::Serialize) -> anyhow::Result<()> {
    writeln!(out, "{}", serde_json::to_string_pretty(v)?)?;
    Ok(())
}

/// Appends the routing record of a finished `invoke`; its id, or None (with a warning).
pub fn log_run(
    svc: &Service,
    inv: &Invocation,
    task_type: Option<&str>,
    task_summary: Option<&str>,
) -> Option<String> {
    let l = Learning::open(svc);
    match l.log_run(inv, task_type, task_summary) {
        Ok(r) => Some(r.id),
        Err(e) => {
            eprintln!("warning: the run was not logged for learning: {e}");
            None
        }
    }
}

pub fn route(svc: &Service, a: RouteArgs, out: &mut impl Write) -> anyhow::Result<Code> {
    let l = Learning::open(svc);
    warn_config(&l);
    let r = match route::route(&l, svc, &a.task) {
        Ok(r) => r,
        Err(e) => return Ok(failed(&e)),
    };
    for w in &r.warnings {
        eprintln!("warning: {w}");
    }
    match a.format {
        Format::Json => json(out, &r)?,
        Format::Text => {
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
        }
    }
    Ok(0)
}

pub fn eval(svc: &Service, cmd: EvalCommand, out: &mut impl Write) -> anyhow::Result<Code> {
    let l = Learning::open(svc);
    warn_config(&l);
    match cmd {
        EvalCommand::Should { routing_id, format } => {
            let d = match l.should_evaluate(&routing_id) {
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
            let r = match l.record_evaluation(
                &NewEvaluation {
                    routing_id,
                    score,
                    judge,
                    reasoning,
                    failure_mode,
                    judge_tokens_used: judge_tokens,
                    subject,
                },
                false,
            ) {
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
        } => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("cannot start the async runtime")?;
            let r = match runtime.block_on(l.judge_locally(svc, &routing_id, &profile)) {
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
    }
}

pub fn learn(svc: &Service, a: LearnArgs, out: &mut impl Write) -> anyhow::Result<Code> {
    let l = Learning::open(svc);
    warn_config(&l);
    let r = match batch::learn(&l) {
        Ok(r) => r,
        Err(e) => return Ok(failed(&e)),
    };
    match a.format {
        Format::Json => json(out, &r)?,
        Format::Text => {
            writeln!(
                out,
                "routing config v{} from {} evaluation(s): {}",
                r.version, r.evaluations_seen, r.routing_config
            )?;
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
                        writeln!(
                            out,
                            "{} v{}  {}  {} evaluation(s), {} route(s)",
                            if v.current { "*" } else { " " },
                            v.version,
                            v.created_at,
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
    let mut buf = Vec::new();
    let r = match export::export(&l, a.kind, &mut buf) {
        Ok(r) => r,
        Err(e) => return Ok(failed(&e)),
    };
    match &a.output {
        Some(f) => {
            crate::store::atomic::write_atomic(f, &buf)?;
            eprintln!("wrote {} row(s) to {}", r.rows, f.display());
        }
        None => {
            out.write_all(&buf)?;
            eprintln!("{} row(s)", r.rows);
        }
    }
    if r.missing_artifacts > 0 {
        eprintln!(
            "warning: {} qualifying run(s) left out: their artifact is missing or unreadable",
            r.missing_artifacts
        );
    }
    Ok(0)
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
            eprintln!("warning: {w}");
        }
    }
    let body = match a.format {
        ReportFormat::Text => report::text(&r),
        ReportFormat::Json => serde_json::to_string_pretty(&r)? + "\n",
        ReportFormat::Html => report::html(&r),
    };
    match &a.output {
        Some(f) => {
            crate::store::atomic::write_atomic(f, body.as_bytes())?;
            eprintln!("wrote {}", f.display());
        }
        None => out.write_all(body.as_bytes())?,
    }
    Ok(0)
}
