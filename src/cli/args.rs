//! Every clap definition of the command line: the commands, their arguments and value
//! enums. The logic and rendering live beside them, one file per command group (mod.rs for
//! the small commands, invoke.rs, learn.rs, library.rs).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::learn::export;

#[derive(Debug, Parser)]
#[command(
    name = "orc",
    version,
    about = "A native swarm executor for llm-orc ensembles"
)]
pub struct Cli {
    /// Project directory (holding .llm-orc/); default: walk up from the current directory.
    /// Without DIR (`orc skill install --project`): the current directory's project root.
    #[arg(long, global = true, value_name = "DIR", num_args = 0..=1, default_missing_value = ".")]
    pub project: Option<PathBuf>,
    /// Log to stderr as the work goes: -v each request, retry, fallback and slot wait; -vv
    /// debug detail (RUST_LOG, when set, replaces this; default: warnings only).
    #[arg(short = 'v', action = clap::ArgAction::Count, global = true)]
    pub verbosity: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run an ensemble on Ollama and write its artifact.
    #[command(visible_alias = "i")]
    Invoke(InvokeArgs),
    /// Check ensembles: YAML, agents, dependencies, profiles, scripts, nesting.
    Validate(ValidateArgs),
    /// List ensembles by tier (local, library, global).
    #[command(visible_alias = "le")]
    ListEnsembles(FormatArgs),
    /// List model profiles, merged from config.yaml and profiles/ of each tier.
    #[command(visible_alias = "lp")]
    ListProfiles(FormatArgs),
    /// Show an ensemble's compiled graph: levels, pattern, agents per model.
    Graph(GraphArgs),
    /// The Ollama hosts runs use (`hosts:` / OLLAMA_HOSTS, else the one host): reachable,
    /// version, models installed and loaded, in flight, breaker, priority.
    Hosts(FormatArgs),
    /// Create or check the project configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Reports on runs.
    #[command(subcommand)]
    Report(ReportCommand),
    /// The MCP server Claude uses (llm-orc's tool surface).
    #[command(subcommand, visible_alias = "m")]
    Mcp(McpCommand),
    /// Print a shell completion script to stdout, e.g. `orc completions bash > ~/.local/share/bash-completion/completions/orc`.
    Completions {
        /// The shell to complete for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print orc's man page (roff) to stdout, e.g. `orc man > ~/.local/share/man/man1/orc.1`.
    Man,
    /// Recommend where a task goes: a local ensemble, a new ensemble, or Claude.
    Route(RouteArgs),
    /// Judging runs: should a run be judged, record a judgment or feedback, judge locally.
    #[command(subcommand)]
    Eval(EvalCommand),
    /// Learn routing from the evaluations: task profiles, a new routing config, LoRA candidates.
    Learn(LearnArgs),
    /// Routing config versions: history and rollback.
    #[command(subcommand)]
    Routing(RoutingCommand),
    /// Export training data from judged runs as JSONL: sft, dpo or judge.
    Export(ExportArgs),
    /// Log work Claude did itself (for savings and PGR).
    RecordClaudeTask(ClaudeTaskArgs),
    /// The shared library: browse, search, info, copy into the project.
    #[command(subcommand)]
    Library(LibraryCommand),
    /// Everything an ensemble needs, where each is found, what each tier lacks.
    Deps(DepsArgs),
    /// Promote an ensemble (with its dependencies) to the global tier or the library; --check
    /// shows readiness. Nothing is written without --yes.
    Promote(PromoteArgs),
    /// Remove an ensemble from the global tier or the library. Nothing is removed without --yes.
    Demote(DemoteArgs),
    /// The Claude Code skill that drives orc.
    #[command(subcommand)]
    Skill(SkillCommand),
    /// The result and script caches (.llm-orc/cache): stats, clear.
    #[command(subcommand)]
    Cache(CacheCommand),
    /// One line on what orc can do now: model servers and their loaded models, ensembles
    /// runnable with the models installed, the learning log's running total; then a line per
    /// host and per ensemble that cannot run. Exit 1 when orc cannot be used.
    Status(StatusArgs),
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Claude Code's session-start hook: only the line, always exit 0, at most --timeout-ms.
    #[arg(long)]
    pub hook: bool,
    /// The longest any look may take (default: 1500 with --hook, else 5000).
    #[arg(long, value_name = "MS")]
    pub timeout_ms: Option<u64>,
    /// Output format: text for people, json for programs.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Subcommand)]
pub enum McpCommand {
    /// Serve MCP over stdin/stdout (what Claude Code starts), or over streamable HTTP.
    Serve {
        /// Serve streamable HTTP at ADDR (e.g. 127.0.0.1:8080) instead of stdio; the endpoint is /mcp.
        #[arg(long, value_name = "ADDR")]
        http: Option<std::net::SocketAddr>,
        /// Allow --http on an address other than loopback.
        #[arg(long)]
        allow_remote: bool,
        /// Let MCP clients create or update ensembles whose `script:` is inline shell content
        /// (running them still needs `scripts.allow_inline: true` in the project's config.yaml).
        #[arg(long)]
        allow_inline_scripts: bool,
        /// Also append the log (as set by -v / RUST_LOG) to this file; it always goes to stderr.
        #[arg(long, value_name = "PATH")]
        log_file: Option<PathBuf>,
        /// With --http: the file holding the bearer token clients must send (created, mode 0600,
        /// when missing). Default: $ORC_MCP_TOKEN if set, else $XDG_CONFIG_HOME/orc/mcp-token
        /// (~/.config/orc/mcp-token).
        #[arg(long, value_name = "PATH")]
        token_file: Option<std::path::PathBuf>,
        /// With --http: the most sessions open at once; a new one past it gets 503.
        #[arg(long, value_name = "N", default_value_t = 32)]
        max_sessions: usize,
        /// With --http: close a session after this many seconds without a request (1 to 30 days).
        #[arg(long, value_name = "SECS", default_value_t = 1800)]
        idle_timeout: u64,
        /// Serve every tool (llm-orc's whole surface and orc's additions), not only the core
        /// set the skill's loop uses (route, invoke, results, judging, learning, list, validate).
        #[arg(long)]
        all_tools: bool,
        /// While a run goes on, a progress notification at least this often (a heartbeat naming
        /// the agents running), so a client's inactivity timeout never fires (0.01 to 30).
        #[arg(long, value_name = "SECS", default_value_t = 15.0)]
        heartbeat: f64,
        /// The default cap on an invoke / run_result answer, in characters (clients may ask
        /// for another with max_chars); longer answers are cut with a note saying where the rest is.
        // 20,000 = mcp::result::DEFAULT_MAX_CHARS (the CLI never uses the MCP front end).
        #[arg(long, value_name = "N", default_value_t = 20_000)]
        max_result_chars: usize,
    },
    /// Register `orc mcp serve` with Claude Code (.mcp.json, or ~/.claude.json with --user),
    /// keeping the servers already there.
    Install(McpInstallArgs),
}

#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// Draw a run as an SVG Gantt chart: queue wait and service per agent, grouped by model,
    /// dependencies and the critical path.
    Timeline {
        /// An execution.json or run folder, `ENSEMBLE`, `ENSEMBLE/RUN`, or `latest`.
        artifact: String,
        /// Write the SVG here instead of stdout.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// The learning loop's report: savings (estimated), quality, acceptance, judge spend,
    /// break-even evaluation rate and PGR, per ensemble and per task type.
    Learning(LearningReportArgs),
}

#[derive(Debug, Args)]
pub struct InvokeArgs {
    /// The ensemble to run.
    pub ensemble: String,
    /// The input text (else --input, --input-file, stdin, or "Please analyze this.").
    pub input: Option<String>,
    /// The input text, as a flag (llm-orc's `--input-data` works too).
    #[arg(long = "input", visible_alias = "input-data", value_name = "TEXT")]
    pub input_flag: Option<String>,
    /// Read the input from a file.
    #[arg(short = 'f', long, value_name = "FILE")]
    pub input_file: Option<PathBuf>,
    /// text: each answer, tokens per tier, the deliverable; json: llm-orc 0.25.2's document.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub output_format: Format,
    /// Most agents working at once (0 = unlimited); overrides config.yaml.
    #[arg(long, value_name = "N")]
    pub max_concurrent: Option<u64>,
    /// Do not write an artifact.
    #[arg(long)]
    pub no_artifact: bool,
    /// Re-run an earlier run: reuse every result whose inputs are unchanged, run the agents that
    /// failed or never ran (ARTIFACT: `latest`, `ENSEMBLE`, `ENSEMBLE/RUN`, a run folder or file).
    #[arg(long, value_name = "ARTIFACT")]
    pub resume: Option<String>,
    /// Let the read_file and write_file primitives reach paths outside the project directory.
    #[arg(long)]
    pub allow_outside_project: bool,
    /// The task type for the routing log (extraction, classification, summarization, ...).
    #[arg(long, value_name = "T")]
    pub task_type: Option<String>,
    /// A short description of the task for the routing log.
    #[arg(long, value_name = "S")]
    pub task_summary: Option<String>,
    /// Start no new agent once the run has counted N tokens (overrides
    /// performance.budget.tokens_per_run); the rest are skipped and the run exits 1.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub token_budget: Option<u64>,
    /// Reuse cached answers to deterministic requests, and keep new ones (.llm-orc/cache/llm).
    #[arg(long, conflicts_with = "no_cache")]
    pub cache: bool,
    /// Neither read nor write the result cache, whatever config.yaml says.
    #[arg(long)]
    pub no_cache: bool,
    /// The task's instruction, apart from its input (what the free checks and judges read).
    #[arg(long, value_name = "TEXT")]
    pub instruction: Option<String>,
    /// Free checks: the answer must be JSON.
    #[arg(long)]
    pub expect_json: bool,
    /// Free checks: the answer must validate against this JSON Schema file.
    #[arg(long, value_name = "FILE")]
    pub expect_schema: Option<PathBuf>,
    /// Free checks: the answer must be one of these labels (comma-separated).
    #[arg(long, value_name = "A,B,...", value_delimiter = ',')]
    pub expect_labels: Vec<String>,
    /// Free checks: run the ensemble N times in all and compare the answers.
    #[arg(long, value_name = "N")]
    pub samples: Option<u32>,
    /// Free checks: the project file the answer's code replaces, for the test command.
    #[arg(long, value_name = "PATH")]
    pub target_file: Option<String>,
    /// Skip the free checks (and their retries) for this run.
    #[arg(long)]
    pub no_checks: bool,
    /// Run the free checks although the run is not a delegated task. They run by themselves
    /// with --task-type, --instruction, --expect-*, --samples or --target-file; a plain
    /// `orc invoke` answers as llm-orc does (no retries, exit codes 0, 1 and 130).
    #[arg(long, conflicts_with = "no_checks")]
    pub checks: bool,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Validation ensembles (a `validation:` block) are run and checked with:
  orc validate run NAME [--verbose]
  orc validate all [--verbose]
  orc validate category NAME [--verbose]   (or --category NAME)"
)]
pub struct ValidateArgs {
    /// Ensembles to check (default: all of them); or `run NAME`, `all`, `category NAME`.
    pub ensembles: Vec<String>,
    /// Check every ensemble in every tier.
    #[arg(long, conflicts_with = "ensembles")]
    pub all: bool,
    /// text for people, json for tools.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Also ask the Ollama hosts whether every model is installed (as MCP
    /// check_ensemble_runnable does) and print the `ollama pull` commands for missing ones;
    /// exit 1 if something is missing or a host does not answer.
    #[arg(long)]
    pub runnable: bool,
    /// With run/all/category: show every check, not only failed ones.
    #[arg(long)]
    pub verbose: bool,
    /// With `category`: the category (as llm-orc's `validate category --category C`).
    #[arg(long, value_name = "C")]
    pub category: Option<String>,
    /// With run/all/category: let read_file/write_file reach outside the project directory.
    #[arg(long)]
    pub allow_outside_project: bool,
}

#[derive(Debug, Args)]
pub struct FormatArgs {
    /// text for people, json for tools.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct GraphArgs {
    /// The ensemble to show.
    pub ensemble: String,
    /// text for people, json for tools, dot for Graphviz (`| dot -Tsvg`).
    #[arg(long, value_enum, default_value_t = GraphFormat::Text)]
    pub format: GraphFormat,
    /// List every agent of wide levels in the text view.
    #[arg(long)]
    pub full: bool,
}

#[derive(Debug, Clone, Copy, Default, ValueEnum, PartialEq, Eq)]
pub enum Format {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum GraphFormat {
    Text,
    Json,
    Dot,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Create .llm-orc/ with config.yaml, ensembles/, profiles/, scripts/ and examples.
    /// Existing files are kept.
    Init {
        /// `project.name` in config.yaml (default: the folder's name).
        #[arg(long)]
        project_name: Option<String>,
    },
    /// Show which trees, config files and profiles orc sees, and problems in them.
    Check {
        /// text for people, json for tools.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
}

// ---------------------------------------------------------------------- learning loop

#[derive(Debug, Args)]
pub struct RouteArgs {
    /// The instruction: what to do (classified on its own; the text it works on goes in
    /// --input or --input-file); `-` reads it from stdin.
    pub task: String,
    /// The text the task works on (measured, not classified); `-` reads it from stdin.
    #[arg(long)]
    pub input: Option<String>,
    /// A file the task works on, inside the project (repeatable; measured, not classified).
    #[arg(long = "input-file", value_name = "PATH")]
    pub input_files: Vec<String>,
    /// A delegation level (0-5) for this call only; the project's is `routing.delegation`.
    #[arg(long, value_parser = clap::value_parser!(u8).range(0..=5))]
    pub delegation: Option<u8>,
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
    /// Learn from every evaluation again, lifting the pin a rollback set.
    #[arg(long)]
    pub unpin: bool,
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
    /// Only rows of this task type.
    #[arg(long, value_name = "T")]
    pub task_type: Option<String>,
    /// Only rows of runs of this ensemble.
    #[arg(long, value_name = "NAME")]
    pub ensemble: Option<String>,
    /// Only rows whose verdict came from this judge.
    #[arg(long, value_name = "JUDGE")]
    pub judge: Option<String>,
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
    /// The routing id of a local run whose task Claude answered too, for a paired comparison.
    #[arg(long, value_name = "ROUTING_ID")]
    pub paired_with: Option<String>,
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

// ---------------------------------------------------------------------- library and promotion

#[derive(Debug, Subcommand)]
pub enum LibraryCommand {
    /// The library's ensembles and scripts, optionally of one category.
    Browse {
        /// Only this category (a folder of the library's ensembles/ or scripts/).
        category: Option<String>,
        /// all, ensembles or scripts.
        #[arg(long = "type", default_value = "all", value_name = "T")]
        kind: String,
        /// Output format: text for people, json for programs.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Search ensembles by name and description, scripts by name and category.
    Search {
        /// Words to look for.
        query: String,
        /// Output format: text for people, json for programs.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Where the library is and what it holds.
    Info {
        /// Output format: text for people, json for programs.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Copy an ensemble or script from the library into the project.
    Copy {
        /// A path inside the library, e.g. ensembles/research/summary.yaml (.yaml optional).
        source: String,
        /// A name or relative path inside .llm-orc/ensembles/ (a script: .llm-orc/scripts/).
        destination: Option<String>,
        /// Replace a file of the same name in the project.
        #[arg(long)]
        overwrite: bool,
    },
}

#[derive(Debug, Args)]
pub struct DepsArgs {
    /// The ensemble whose dependencies to list.
    pub ensemble: String,
    /// Output format: text for people, json for programs.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct PromoteArgs {
    /// The project ensemble to promote.
    pub ensemble: String,
    /// The destination tier.
    #[arg(long, value_name = "TIER", value_parser = ["global", "library"], required_unless_present = "check")]
    pub to: Option<String>,
    /// Show readiness and its evidence (for --to, else for both tiers); change nothing.
    #[arg(long)]
    pub check: bool,
    /// List the files it would write; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// The user's consent: without it nothing is written.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Replace files at the destination that differ.
    #[arg(long)]
    pub overwrite: bool,
    /// Promote although the ensemble is below the readiness bar.
    #[arg(long)]
    pub force: bool,
    /// The library category folder (default: the ensemble's sub-folder, else `general`).
    #[arg(long, value_name = "C")]
    pub category: Option<String>,
    /// Output format: text for people, json for programs.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct DemoteArgs {
    /// The ensemble to remove from a shared tier (the project's copy stays).
    pub ensemble: String,
    /// The tier to remove it from.
    #[arg(long, value_name = "TIER", value_parser = ["global", "library"])]
    pub from: String,
    /// The user's consent: without it nothing is removed.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Also remove profile files only this ensemble used there.
    #[arg(long)]
    pub remove_orphaned_profiles: bool,
    /// Output format: text for people, json for programs.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Subcommand)]
pub enum SkillCommand {
    /// Install the `orc` skill for Claude Code (.claude/skills/orc/ or ~/.claude/skills/orc/).
    Install(ScopeArgs),
}

#[derive(Debug, Args)]
pub struct ScopeArgs {
    /// Into your own configuration, for every project (default: the project, shared with
    /// everyone who clones it; `--project` says so explicitly).
    #[arg(long)]
    pub user: bool,
    /// Replace what is there when it differs, and install even where another install (the
    /// other scope, the orc plugin) already provides it.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct McpInstallArgs {
    #[command(flatten)]
    pub scope: ScopeArgs,
    /// The command Claude Code starts (default: `orc` if it is this binary on PATH, else this
    /// binary's absolute path, which a project's shared .mcp.json refuses).
    #[arg(long, value_name = "CMD")]
    pub command: Option<String>,
    /// Register the server with every tool (`orc mcp serve --all-tools`), not the core set.
    #[arg(long)]
    pub all_tools: bool,
    /// Let Claude Code run orc's tools without asking: read-only, core (the skill's tools and
    /// every read-only one) or all; written into .claude/settings.json (--user:
    /// ~/.claude/settings.json). Destructive tools (delete, demote, promote, cleanup) always ask.
    #[arg(long, value_name = "LEVEL", value_parser = ["read-only", "core", "all"])]
    pub allow: Option<String>,
    /// Write the command without checking that it starts and is orc.
    #[arg(long)]
    pub no_verify: bool,
}

#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// Entries and bytes per kind (llm: the result cache; scripts: the script cache).
    Stats(CacheStatsArgs),
    /// Remove cached entries: every kind, or one with --kind.
    Clear(CacheClearArgs),
}

#[derive(Debug, Args)]
pub struct CacheStatsArgs {
    /// text for people, json for tools.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct CacheClearArgs {
    /// Only this kind.
    #[arg(long, value_enum)]
    pub kind: Option<KindArg>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum KindArg {
    Llm,
    Scripts,
}
