//! The MCP tools: each a thin adapter that checks names, calls one service operation and maps
//! its typed result to llm-orc's JSON shape (`shapes`).

use std::path::PathBuf;

use rmcp::handler::server::wrapper::Parameters;
use rmcp::service::RequestContext;
use rmcp::{RoleServer, tool, tool_router};
use serde_json::{Map, Value, json};

use super::params::*;
use super::{OrcMcp, ToolResult, err, forbidden_project_dir, lock, names, ok};
use crate::learn::service::Learning;
use crate::service::shapes;

#[tool_router(vis = "pub(super)")]
impl OrcMcp {
    #[tool(
        description = "Point the server at a project: a directory holding .llm-orc/ (or the .llm-orc directory itself; no walking up). With init: true, a directory without one gets a new .llm-orc/ (never a system directory or the home directory itself)."
    )]
    async fn set_project(&self, Parameters(a): Parameters<PathArg>) -> ToolResult {
        let refuse = |error: String| ok(json!({"status": "error", "error": error}));
        if let Err(e) = names(&[("path", &a.path)]) {
            return refuse(e);
        }
        let p = PathBuf::from(&a.path);
        let p = if p.is_absolute() {
            p
        } else {
            self.state.cwd.join(p)
        };
        if !p.is_dir() {
            return refuse(format!("Path does not exist: {}", a.path));
        }
        let p = match std::fs::canonicalize(&p) {
            Ok(p) => p,
            Err(e) => return refuse(format!("{}: {e}", p.display())),
        };
        // The project's .llm-orc directory itself names its parent.
        let root = match p.parent() {
            Some(parent)
                if p.file_name()
                    .is_some_and(|n| n == crate::load::project::LOCAL_DIR) =>
            {
                parent.to_path_buf()
            }
            _ => p,
        };
        let mut out = json!({"status": "ok", "project_path": root});
        if !root.join(crate::load::project::LOCAL_DIR).is_dir() {
            if !a.init {
                return refuse(format!(
                    "{} is not an orc project (it has no .llm-orc/ directory); point at a project, or pass init: true to create .llm-orc/ there",
                    root.display()
                ));
            }
            if let Some(why) = forbidden_project_dir(&root, self.state.env.home.as_deref()) {
                return refuse(why);
            }
            match crate::service::init_project(&root, None) {
                Ok(report) => {
                    out["initialized"] = json!(true);
                    out["created"] = json!(report.created);
                }
                Err(e) => return refuse(e.to_string()),
            }
        }
        *lock(&self.state.project) = Some(root);
        ok(out)
    }

    #[tool(
        description = "List ensembles in every tier (local, library, global) with descriptions and agent counts."
    )]
    async fn list_ensembles(&self) -> ToolResult {
        ok(shapes::to_value(&shapes::EnsemblesShape::from(
            self.svc().ensemble_summaries(),
        ))?)
    }

    #[tool(
        description = "Validate an ensemble: YAML, agents, dependencies, cycles, profiles, scripts, nesting. Errors carry file:line:column."
    )]
    async fn validate_ensemble(&self, Parameters(a): Parameters<EnsembleArg>) -> ToolResult {
        names(&[("ensemble_name", &a.ensemble_name)])?;
        let check = self
            .svc()
            .validate_ensemble(&a.ensemble_name)
            .map_err(err)?;
        ok(shapes::to_value(&shapes::ValidationShape::from(check))?)
    }

    #[tool(
        description = "Create a project ensemble from agent objects or by copying another ensemble's agents; it is validated after writing."
    )]
    async fn create_ensemble(&self, Parameters(a): Parameters<CreateEnsembleArgs>) -> ToolResult {
        names(&[
            ("name", &a.name),
            ("from_template", a.from_template.as_deref().unwrap_or("")),
        ])?;
        let created = self
            .svc()
            .create_ensemble(
                &a.name,
                &a.description,
                a.agents.map(Value::Array),
                a.from_template.as_deref(),
            )
            .map_err(err)?;
        ok(shapes::to_value(&shapes::EnsembleCreatedShape::from(
            created,
        ))?)
    }

    #[tool(
        description = "Change top-level keys of a project ensemble (dry_run previews; the result must validate; backup keeps a .bak)."
    )]
    async fn update_ensemble(&self, Parameters(a): Parameters<UpdateEnsembleArgs>) -> ToolResult {
        names(&[("ensemble_name", &a.ensemble_name)])?;
        let changes = Value::Object(a.changes);
        let update = self
            .svc()
            .update_ensemble(&a.ensemble_name, &changes, a.dry_run, a.backup)
            .map_err(err)?;
        ok(shapes::to_value(&shapes::EnsembleUpdateShape::new(
            update, changes,
        ))?)
    }

    #[tool(description = "Delete a project ensemble. Requires confirm: true.")]
    async fn delete_ensemble(&self, Parameters(a): Parameters<DeleteEnsembleArgs>) -> ToolResult {
        names(&[("ensemble_name", &a.ensemble_name)])?;
        let path = self
            .svc()
            .delete_ensemble(&a.ensemble_name, a.confirm)
            .map_err(err)?;
        ok(shapes::to_value(&shapes::PathDeletedShape {
            deleted: true,
            path,
        })?)
    }

    #[tool(
        description = "Check that every model an ensemble needs is installed on its Ollama host; for missing ones, name the installed model of the nearest size."
    )]
    async fn check_ensemble_runnable(&self, Parameters(a): Parameters<EnsembleArg>) -> ToolResult {
        names(&[("ensemble_name", &a.ensemble_name)])?;
        self.svc()
            .mcp_check_runnable(&a.ensemble_name)
            .await
            .map_err(err)
            .and_then(ok)
    }

    #[tool(
        description = "Run an ensemble. Pass documents by path (input_files), not as text. Answers with status, the deliverable, each agent's status and error, usage and routing_id (detail: agents or full for more). Progress while it runs; cancelling the request stops it. async: true returns a run_id at once."
    )]
    async fn invoke(
        &self,
        Parameters(a): Parameters<InvokeArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> ToolResult {
        self.invoke_tool(a, ctx).await
    }

    #[tool(
        description = "Status of a run started by invoke: running (and which agents), completed, failed or cancelled; agents done and failed so far."
    )]
    async fn run_status(&self, Parameters(a): Parameters<RunArg>) -> ToolResult {
        self.run_status_tool(a)
    }

    #[tool(
        description = "The result of a finished run, shaped as invoke's (detail, max_chars); agent: NAME gives that agent's answer alone, from offset."
    )]
    async fn run_result(&self, Parameters(a): Parameters<RunResultArgs>) -> ToolResult {
        self.run_result_tool(a)
    }

    #[tool(
        description = "Stop a running run: requests in flight are cancelled; finished results are kept and its artifact is marked interrupted."
    )]
    async fn cancel_run(&self, Parameters(a): Parameters<RunArg>) -> ToolResult {
        self.cancel_run_tool(a)
    }

    #[tool(
        description = "List model profiles (config.yaml and profiles/ of each tier, merged), optionally of one provider."
    )]
    async fn list_profiles(&self, Parameters(a): Parameters<ProviderFilter>) -> ToolResult {
        ok(shapes::to_value(&shapes::ProfilesShape::from(
            self.svc().profile_summaries(a.provider.as_deref()),
        ))?)
    }

    #[tool(description = "Create a model profile file in the project's .llm-orc/profiles/.")]
    async fn create_profile(&self, Parameters(a): Parameters<CreateProfileArgs>) -> ToolResult {
        names(&[("name", &a.name)])?;
        let mut extra = Map::new();
        extra.insert("system_prompt".into(), json!(a.system_prompt));
        extra.insert("timeout_seconds".into(), json!(a.timeout_seconds));
        extra.insert("temperature".into(), json!(a.temperature));
        extra.insert("max_tokens".into(), json!(a.max_tokens));
        extra.insert("base_url".into(), json!(a.base_url));
        extra.insert("cost_per_token".into(), json!(a.cost_per_token));
        let path = self
            .svc()
            .create_profile(&a.name, &a.provider, &a.model, extra)
            .map_err(err)?;
        ok(shapes::to_value(&shapes::ProfileCreatedShape {
            created: true,
            path,
        })?)
    }

    #[tool(description = "Change keys of a project profile file (null removes a key).")]
    async fn update_profile(&self, Parameters(a): Parameters<UpdateProfileArgs>) -> ToolResult {
        names(&[("name", &a.name)])?;
        let path = self
            .svc()
            .update_profile(&a.name, &Value::Object(a.changes))
            .map_err(err)?;
        ok(shapes::to_value(&shapes::ProfileUpdatedShape {
            updated: true,
            path,
        })?)
    }

    #[tool(description = "Delete a project profile file. Requires confirm: true.")]
    async fn delete_profile(&self, Parameters(a): Parameters<NameConfirm>) -> ToolResult {
        names(&[("name", &a.name)])?;
        let path = self.svc().delete_profile(&a.name, a.confirm).map_err(err)?;
        ok(shapes::to_value(&shapes::ProfileDeletedShape {
            deleted: true,
            name: a.name,
            path,
        })?)
    }

    #[tool(description = "List the project's scripts (.llm-orc/scripts/<category>/<name>).")]
    async fn list_scripts(&self, Parameters(a): Parameters<CategoryFilter>) -> ToolResult {
        names(&[("category", a.category.as_deref().unwrap_or(""))])?;
        ok(shapes::to_value(&shapes::ScriptsShape::from(
            self.svc().script_summaries(a.category.as_deref()),
        ))?)
    }

    #[tool(
        description = "Create a script from a template (basic, splitter) in .llm-orc/scripts/<category>/."
    )]
    async fn create_script(&self, Parameters(a): Parameters<CreateScriptArgs>) -> ToolResult {
        names(&[("name", &a.name), ("category", &a.category)])?;
        let created = self
            .svc()
            .create_script(&a.name, &a.category, &a.template)
            .map_err(err)?;
        ok(shapes::to_value(&shapes::ScriptCreatedShape::from(
            created,
        ))?)
    }

    #[tool(description = "Show a script's source and description.")]
    async fn get_script(&self, Parameters(a): Parameters<ScriptArgs>) -> ToolResult {
        names(&[("name", &a.name), ("category", &a.category)])?;
        let script = self.svc().get_script(&a.name, &a.category).map_err(err)?;
        ok(shapes::to_value(&shapes::ScriptSourceShape::from(script))?)
    }

    #[tool(
        description = "Run a script with an input as a script agent would, and show what it printed."
    )]
    async fn test_script(&self, Parameters(a): Parameters<TestScriptArgs>) -> ToolResult {
        names(&[("name", &a.name), ("category", &a.category)])?;
        let run = self
            .svc()
            .test_script(&a.name, &a.category, &a.input, a.parameters)
            .await
            .map_err(err)?;
        ok(shapes::to_value(&shapes::ScriptRunShape::from(run))?)
    }

    #[tool(description = "Delete a project script. Requires confirm: true.")]
    async fn delete_script(&self, Parameters(a): Parameters<DeleteScriptArgs>) -> ToolResult {
        names(&[("name", &a.name), ("category", &a.category)])?;
        self.svc()
            .delete_script(&a.name, &a.category, a.confirm)
            .map_err(err)?;
        ok(shapes::to_value(&shapes::ScriptDeletedShape {
            deleted: true,
            name: a.name,
            category: a.category,
        })?)
    }

    #[tool(
        description = "Summarise a run's artifact: agents ok and failed, tokens, cost, duration, slowest agents."
    )]
    async fn analyze_execution(&self, Parameters(a): Parameters<ArtifactArg>) -> ToolResult {
        names(&[("artifact_id", &a.artifact_id)])?;
        let analysis = self.svc().analyze(&a.artifact_id).map_err(err)?;
        ok(shapes::to_value(&shapes::AnalysisShape::from(analysis))?)
    }

    #[tool(
        description = "Delete one run's artifact (latest is repointed). Requires confirm: true."
    )]
    async fn delete_artifact(&self, Parameters(a): Parameters<DeleteArtifactArgs>) -> ToolResult {
        names(&[("artifact_id", &a.artifact_id)])?;
        self.svc()
            .delete_artifact(&a.artifact_id, a.confirm)
            .map_err(err)?;
        ok(shapes::to_value(&shapes::DeletedShape {
            deleted: true,
            artifact_id: a.artifact_id,
        })?)
    }

    #[tool(
        description = "Delete artifacts older than N days (by their run time), for one ensemble or all. dry_run lists them first."
    )]
    async fn cleanup_artifacts(&self, Parameters(a): Parameters<CleanupArgs>) -> ToolResult {
        names(&[("ensemble_name", a.ensemble_name.as_deref().unwrap_or(""))])?;
        let ids = self
            .svc()
            .cleanup_artifacts(a.ensemble_name.as_deref(), a.older_than_days, a.dry_run)
            .map_err(err)?;
        ok(shapes::to_value(&shapes::CleanupShape::new(
            a.dry_run, ids,
        ))?)
    }

    #[tool(description = "Browse the library's ensembles and scripts, optionally one category.")]
    async fn library_browse(&self, Parameters(a): Parameters<BrowseArgs>) -> ToolResult {
        names(&[("category", a.category.as_deref().unwrap_or(""))])?;
        let listing = self
            .svc()
            .library_browse(&a.browse_type, a.category.as_deref())
            .map_err(err)?;
        ok(shapes::to_value(&shapes::LibraryBrowseShape::from(
            listing,
        ))?)
    }

    #[tool(description = "Search the library by name, description or category.")]
    async fn library_search(&self, Parameters(a): Parameters<SearchArgs>) -> ToolResult {
        let found = self.svc().library_search(&a.query).map_err(err)?;
        ok(shapes::to_value(&shapes::LibrarySearchShape::from(found))?)
    }

    #[tool(description = "Where the library is and what it holds.")]
    async fn library_info(&self) -> ToolResult {
        ok(shapes::to_value(&shapes::LibraryInfoShape::from(
            self.svc().library_info(),
        ))?)
    }

    #[tool(description = "Copy an ensemble or script from the library into the project.")]
    async fn library_copy(&self, Parameters(a): Parameters<CopyArgs>) -> ToolResult {
        names(&[
            ("source", &a.source),
            ("destination", a.destination.as_deref().unwrap_or("")),
        ])?;
        let copied = self
            .svc()
            .library_copy(&a.source, a.destination.as_deref(), a.overwrite)
            .map_err(err)?;
        ok(shapes::to_value(&shapes::LibraryCopyShape::from(copied))?)
    }

    #[tool(
        description = "Which Ollama hosts answer and which models they have installed; other providers' status."
    )]
    async fn get_provider_status(&self) -> ToolResult {
        ok(self.svc().mcp_provider_status().await)
    }

    #[tool(
        description = "The profiles, models and providers an ensemble needs, and whether each is available."
    )]
    async fn list_dependencies(&self, Parameters(a): Parameters<EnsembleArg>) -> ToolResult {
        names(&[("ensemble_name", &a.ensemble_name)])?;
        self.svc()
            .mcp_list_dependencies(&a.ensemble_name)
            .await
            .map_err(err)
            .and_then(ok)
    }

    #[tool(
        description = "Is an ensemble ready for the global tier or the library? The bar (3+ good evaluations for global; 5+ and no project-specific signal for the library), with the evidence: the evaluation record, hard-coded paths, project-specific words, non-standard profiles, project-only scripts; plus missing profiles, broken references, unavailable models and every dependency."
    )]
    async fn check_promotion_readiness(
        &self,
        Parameters(a): Parameters<ReadinessArgs>,
    ) -> ToolResult {
        names(&[("ensemble_name", &a.ensemble_name)])?;
        self.svc()
            .mcp_check_promotion(&a.ensemble_name, &a.destination)
            .await
            .map_err(err)
            .and_then(ok)
    }

    #[tool(
        description = "Promote an ensemble with everything it needs (profiles, scripts, nested ensembles) to the global tier or the library. Ask the user first: without confirm: true it only lists the files it would write. Below the readiness bar it needs force: true. A library that is a git repository gets a commit on branch contribute/NAME and a pull-request description; pushing is the user's step."
    )]
    async fn promote_ensemble(&self, Parameters(a): Parameters<PromoteArgs>) -> ToolResult {
        names(&[("ensemble_name", &a.ensemble_name)])?;
        self.svc()
            .mcp_promote(
                &a.ensemble_name,
                &a.destination,
                a.include_profiles,
                a.dry_run,
                a.overwrite,
                a.confirm,
                a.force,
                a.category.as_deref(),
            )
            .await
            .map_err(err)
            .and_then(ok)
    }

    #[tool(
        description = "Remove an ensemble from the global tier or the library (and, optionally, profiles only it used). Without confirm: true it only lists the files it would remove."
    )]
    async fn demote_ensemble(&self, Parameters(a): Parameters<DemoteArgs>) -> ToolResult {
        names(&[("ensemble_name", &a.ensemble_name)])?;
        self.svc()
            .mcp_demote(
                &a.ensemble_name,
                &a.tier,
                a.remove_orphaned_profiles,
                a.confirm,
            )
            .map_err(err)
            .and_then(ok)
    }

    #[tool(description = "How orc's tools, files and workflows fit together.")]
    async fn get_help(&self) -> ToolResult {
        ok(help())
    }

    // ---------------------------------------------------------------- the learning loop

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
            "text" => ok(json!({"format": "text", "content": crate::learn::report::text(&r)})),
            "html" => ok(json!({"format": "html", "content": crate::learn::report::html(&r)})),
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
        crate::learn::batch::history(&l.paths)
            .map(|v| json!({"versions": v}))
            .map_err(|e| e.to_string())
            .and_then(ok)
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
        ok(
            json!({"kind": kind, "file": file, "rows": r.rows, "missing_artifacts": r.missing_artifacts, "from_examples": r.from_examples, "filter": filter}),
        )
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

/// The `get_help` document: what the tools are for and how they fit together.
pub fn help() -> Value {
    json!({
        "overview": "orc runs llm-orc ensembles (YAML graphs of small local models) on Ollama. Use it to hand extraction, classification and summarisation to a swarm of local models: discover ensembles, create or adapt one, validate it, invoke it, then analyse the artifact.",
        "directory_structure": {
            "local": ".llm-orc/ in the project (ensembles/, profiles/, scripts/, artifacts/); set with set_project",
            "library": "$LLM_ORC_LIBRARY_PATH or ./llm-orchestra-library (ensembles/<category>/, scripts/<category>/)",
            "global": "$XDG_CONFIG_HOME/llm-orc or ~/.config/llm-orc",
            "priority": "local, then library, then global: the first ensemble with the name wins",
        },
        "schemas": {
            "ensemble": {"name": "string", "description": "string", "agents": "list of agents"},
            "agent": {
                "name": "string (unique)",
                "model_profile": "a profile name (or model + provider)",
                "system_prompt": "string",
                "depends_on": "list of agent names; the agent starts when they finish",
                "fan_out": "true: run once per item of the first dependency's JSON array",
                "script": "a script path instead of a model",
                "ensemble": "another ensemble, run as this agent",
                "timeout_seconds": "number",
            },
            "profile": {"name": "string", "provider": "ollama | openai-compatible", "model": "e.g. qwen3:0.6b", "base_url": "optional", "system_prompt": "optional", "temperature": "optional", "max_tokens": "optional"},
        },
        "tools": {
            "set_project": "point the server at a project directory",
            "list_ensembles / validate_ensemble / check_ensemble_runnable": "discover and check",
            "create_ensemble / update_ensemble / delete_ensemble": "edit project ensembles (update applies the changes; dry_run previews)",
            "invoke": "run an ensemble; pass documents by path (input_files); a compact result (detail: agents or full for more, max_chars caps it); progress per agent and heartbeats; cancelling the request stops the run; async: true returns a run_id at once",
            "run_status / run_result": "follow a run and fetch its result (run_result agent: NAME gives one agent's answer)",
            "list_profiles / create_profile / update_profile / delete_profile": "model profiles",
            "list_scripts / get_script / create_script / test_script / delete_script": "script agents",
            "analyze_execution / delete_artifact / cleanup_artifacts": "artifacts (ids are ensemble/timestamp or ensemble/latest)",
            "library_browse / library_search / library_info / library_copy": "the shared library",
            "get_provider_status": "which Ollama hosts answer and what models they have",
            "route_task / record_claude_task": "where a task goes (local ensemble, new ensemble, Claude), with the break-even: a delegation that would not pay goes to Claude; log work Claude did itself",
            "should_evaluate / record_evaluation / record_feedback / judge_locally": "judge sampled runs with the rubric (reasoning before verdict); the user's verdict",
            "learning_report / learn_routing / routing_history / rollback_routing / export_training_data": "savings and quality; learn routing in batches; training data",
            "list_dependencies / check_promotion_readiness / promote_ensemble / demote_ensemble": "what an ensemble needs; readiness with evidence; promotion only with confirm: true (force below the bar)",
            "cancel_run": "stop a running run",
        },
        "skill": "The `orc` Claude Code skill (`orc skill install`) teaches the whole loop: route, build in tiers, invoke, judge, record, learn in batches, promote with consent.",
        "workflows": {
            "the_learning_loop": ["route_task", "create_ensemble or library_copy (if route is new-ensemble)", "invoke with task_type, instruction and expect (delivered: false -> do it yourself, record_claude_task with redoes) (or, if route is claude, do it and record_claude_task with output)", "should_evaluate (judge: claude -> you judge; a profile -> judge_locally; spot_check -> judge_locally too; paired: true -> answer too with record_claude_task paired_with, judge both)", "judge with the rubric, reasoning first", "record_evaluation (also of Claude's redo, logged with record_claude_task redoes and output)", "record_feedback when the user accepts or rejects", "learn_routing in batches (automatic every 20 evaluations)"],
            "share_an_ensemble": ["check_promotion_readiness", "ask the user", "promote_ensemble with confirm: true (force: true only if the user wants it below the bar)", "for a git library: the user pushes contribute/NAME"],
            "route_a_task": ["list_ensembles", "check_ensemble_runnable", "invoke", "analyze_execution"],
            "build_an_ensemble": ["list_profiles", "create_ensemble", "validate_ensemble", "invoke"],
            "long_runs": ["invoke with async: true", "run_status until done", "run_result"],
            "clean_up": ["cleanup_artifacts (dry_run first)", "delete_artifact with confirm: true"],
        },
    })
}
