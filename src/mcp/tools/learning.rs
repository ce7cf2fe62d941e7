//! The learning-loop tools: route, record, judge, report, learn, roll back, export.

use rmcp::handler::server::wrapper::Parameters;
use rmcp::{tool, tool_router};
use serde::Serialize;

use crate::learn::service::Learning;
use crate::mcp::params::*;
use crate::mcp::{OrcMcp, ToolResult, err, ok};
use crate::service::shapes;

#[tool_router(router = learning_router, vis = "pub(super)")]
impl OrcMcp {
    #[tool(
        description = "Where a task goes: local (the best-ranked ensemble), new-ensemble (a shape) or claude. Classifies the instruction in `task`, measures `input` / `input_files`, checks the hard limits (8K tokens, several documents, multi-hop, over 4 constraints, security) and the break-even (does handing it over cost Claude less than doing it?). Answers with the reason, confidence and steps."
    )]
    async fn route_task(&self, Parameters(a): Parameters<TaskArg>) -> ToolResult {
        let svc = self.svc();
        let req = crate::learn::route::RouteRequest {
            task: a.task,
            input: a.input,
            input_files: a.input_files,
            delegation: a.delegation,
        };
        let defs = self.state.definition_tokens;
        learn_out(
            blocking(move || {
                crate::learn::breakeven::route(&Learning::open(&svc), &svc, &req, defs)
            })
            .await?,
        )
    }

    #[tool(
        description = "Log work Claude did itself (tokens it reports; optionally its answer, and the local run it redid), so savings and PGR count it. Returns the routing record."
    )]
    async fn record_claude_task(&self, Parameters(a): Parameters<ClaudeTaskArgs>) -> ToolResult {
        let svc = self.svc();
        let output = match (&a.output, &a.output_file) {
            (Some(_), Some(_)) => return Err("give output or output_file, not both".into()),
            (_, Some(f)) => {
                let files = crate::service::inputs::read(
                    svc.project.dirs.script_base(),
                    std::slice::from_ref(f),
                )
                .map_err(err)?;
                Some(crate::service::inputs::compose("", &files))
            }
            (o, None) => o.clone(),
        };
        learn_out(
            blocking(move || {
                Learning::open(&svc).record_claude_task(&crate::learn::service::ClaudeTask {
                    task: a.task,
                    task_type: a.task_type,
                    input_tokens: a.input_tokens,
                    output_tokens: a.output_tokens,
                    output,
                    redoes: a.redoes,
                    paired_with: a.paired_with,
                })
            })
            .await?,
        )
    }

    #[tool(
        description = "Should this run be judged? {evaluate, rule, rubric, judge}: an ensemble's first uses, negative feedback, doubtful free checks and a 10-20% sample; never established ensembles. When yes, judge with the rubric."
    )]
    async fn should_evaluate(&self, Parameters(a): Parameters<RoutingIdArg>) -> ToolResult {
        let svc = self.svc();
        learn_out(blocking(move || Learning::open(&svc).should_evaluate(&a.routing_id)).await?)
    }

    #[tool(
        description = "Record a judgment of a run's output. Every 20 evaluations routing is re-learned; if that fails the evaluation still stands (learn_error says why; do not record it again)."
    )]
    async fn record_evaluation(&self, Parameters(a): Parameters<EvaluationArgs>) -> ToolResult {
        let svc = self.svc();
        learn_out(
            blocking(move || {
                Learning::open(&svc).record_evaluation(
                    &crate::learn::service::NewEvaluation {
                        routing_id: a.routing_id,
                        score: a.score,
                        judge: a.judge,
                        reasoning: a.reasoning,
                        failure_mode: a.failure_mode,
                        judge_tokens_used: a.judge_tokens_used,
                        subject: a.subject,
                    },
                    false,
                )
            })
            .await?,
        )
    }

    #[tool(description = "Record whether the user accepted a run's output (sets user_accepted).")]
    async fn record_feedback(&self, Parameters(a): Parameters<FeedbackArgs>) -> ToolResult {
        let svc = self.svc();
        learn_out(
            blocking(move || Learning::open(&svc).record_feedback(&a.routing_id, a.accepted))
                .await?,
        )
    }

    #[tool(
        description = "The learning report: the net saving (gross - hand-over - judging), quality, acceptance, free checks, PGR, per ensemble and task type."
    )]
    async fn learning_report(&self, Parameters(a): Parameters<ReportArgs>) -> ToolResult {
        let svc = self.svc();
        let r = blocking(move || crate::learn::report::build(&Learning::open(&svc)))
            .await?
            .map_err(|e| e.to_string())?;
        match a.format.as_deref().unwrap_or("json") {
            "json" => learn_out(Ok::<_, crate::learn::LearnError>(r)),
            "text" => ok(shapes::to_value(&RenderedReport {
                format: "text",
                content: crate::learn::report::text(&r),
            })?),
            "html" => ok(shapes::to_value(&RenderedReport {
                format: "html",
                content: crate::learn::report::html(&r),
            })?),
            other => Err(format!("format `{other}` is not json, text or html")),
        }
    }

    #[tool(
        description = "Learn routing in a batch now: task profiles, a new routing-config version when a route changed, LoRA candidates. A rollback's pin holds unless unpin: true."
    )]
    async fn learn_routing(&self, Parameters(a): Parameters<LearnRoutingArgs>) -> ToolResult {
        let svc = self.svc();
        learn_out(
            blocking(move || {
                let l = Learning::open(&svc);
                crate::learn::batch::learn_with(&l.paths, &l.config, a.unpin.unwrap_or(false))
            })
            .await?,
        )
    }

    #[tool(description = "Every routing config version, the current one marked.")]
    async fn routing_history(&self) -> ToolResult {
        let l = Learning::open(&self.svc());
        learn_out(
            crate::learn::batch::history(&l.paths).map(|versions| RoutingHistory { versions }),
        )
    }

    #[tool(description = "Make an earlier routing config version current again.")]
    async fn rollback_routing(&self, Parameters(a): Parameters<VersionArg>) -> ToolResult {
        let l = Learning::open(&self.svc());
        learn_out(crate::learn::batch::rollback(&l.paths, a.version))
    }

    #[tool(
        description = "Export training data as JSONL into .llm-orc/evaluations/exports/: sft (chat examples of good outputs and Claude's redos), dpo (chosen/rejected pairs), judge (rows for training a local judge). Returns the file and row count."
    )]
    async fn export_training_data(&self, Parameters(a): Parameters<ExportArgs>) -> ToolResult {
        let l = Learning::open(&self.svc());
        let kind = crate::learn::export::Kind::parse(&a.kind).ok_or_else(|| {
            format!(
                "kind `{}` is not sft, dpo or judge",
                a.kind.chars().take(40).collect::<String>()
            )
        })?;
        let filter = crate::learn::export::Filter {
            task_type: a.task_type,
            ensemble: a.ensemble,
            judge: a.judge,
        };
        let dir = l.paths.dir.join("exports");
        crate::learn::ensure_dir(&dir).map_err(|e| e.to_string())?;
        let file = dir.join(format!(
            "{}-{}.jsonl",
            kind.as_str(),
            chrono::Local::now().format("%Y%m%d-%H%M%S-%3f")
        ));
        let (f2, filter2) = (file.clone(), filter.clone());
        // Streamed into the file as rows are made, on the blocking pool.
        let r = blocking(move || crate::learn::export::export_to_file(&l, kind, &filter2, &f2))
            .await?
            .map_err(|e| e.to_string())?;
        ok(shapes::to_value(&ExportReply {
            kind,
            file,
            exported: r,
            filter,
        })?)
    }

    #[tool(
        description = "Judge a run with a local model (a profile) and the rubric, and record its verdict (judge: the profile). The report shows its agreement with Claude (Cohen's kappa)."
    )]
    async fn judge_locally(&self, Parameters(a): Parameters<LocalJudgeArgs>) -> ToolResult {
        let svc = self.svc();
        let l = Learning::open(&svc);
        learn_out(l.judge_locally(&svc, &a.routing_id, &a.profile).await)
    }
}

/// `learning_report` as text or HTML: the rendered report.
#[derive(Serialize)]
struct RenderedReport {
    format: &'static str,
    content: String,
}

/// `routing_history`: every routing-config version.
#[derive(Serialize)]
struct RoutingHistory {
    versions: Vec<crate::learn::batch::Version>,
}

/// `export_training_data`: what was written where, and with which filter.
#[derive(Serialize)]
struct ExportReply {
    kind: crate::learn::export::Kind,
    file: std::path::PathBuf,
    #[serde(flatten)]
    exported: crate::learn::export::Exported,
    filter: crate::learn::export::Filter,
}

/// Runs file-scanning work (the learning logs can hold millions of lines, and appends wait for
/// a file lock) on tokio's blocking pool, so other tool calls are not held up meanwhile.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, String> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| format!("the task failed: {e}"))
}

/// A learning result as structured content, or its error as a tool error.
fn learn_out<T: serde::Serialize>(r: Result<T, crate::learn::LearnError>) -> ToolResult {
    let v = r.map_err(|e| e.to_string())?;
    serde_json::to_value(v)
        .map_err(|e| e.to_string())
        .and_then(ok)
}
