//! The command line: parse arguments, call the service layer, render results.
//! Results go to stdout, diagnostics to stderr. Exit codes: 0 ok, 1 invalid files or a failed
//! request, 2 usage errors.

use std::io::Write;

use crate::load::diag::Diagnostic;
use crate::load::project::{Env, Tier};
use crate::report;
use crate::service::providers::{ModelStatus, RunnableCheck};
use crate::service::shapes::RunnableShape;
use crate::service::{self, Service, ServiceError};

pub mod args;
pub mod cache;
pub mod hosts;
pub mod invoke;
pub mod learn;
pub mod library;
pub mod output;
pub mod reference;
mod serve;
pub mod status;

pub use args::{
    Cli, Command, ConfigCommand, Format, FormatArgs, GraphArgs, GraphFormat, InvokeArgs,
    McpCommand, ReportCommand, ValidateArgs,
};

/// Exit status of a command.
pub type Code = u8;

/// Runs a parsed command.
pub fn run(cli: Cli) -> anyhow::Result<Code> {
    // TLS (rustls/ring) for every HTTP client the process builds.
    crate::backend::install_crypto_provider();
    let cwd = std::env::current_dir()?;
    let env = Env::from_process();
    let log_file = match &cli.command {
        Command::Mcp(McpCommand::Serve { log_file, .. }) => log_file.as_deref(),
        _ => None,
    };
    if let Err(e) = init_logging(cli.verbosity, log_file) {
        eprintln!("error: {}", term_safe(&format!("{e:#}")));
        return Ok(2);
    }
    let command = match cli.command {
        Command::Mcp(serve @ McpCommand::Serve { .. }) => {
            return serve::mcp_serve(serve, cwd, cli.project, env);
        }
        other => other,
    };
    dispatch(command, &cwd, cli.project.as_deref(), &env)
}

/// One function per command (the MCP server is started before, as it owns stdout).
fn dispatch(
    command: Command,
    cwd: &std::path::Path,
    project: Option<&std::path::Path>,
    env: &Env,
) -> anyhow::Result<Code> {
    let open = || Service::open(cwd, project, env);
    let stdout = &mut std::io::stdout().lock();
    match command {
        Command::Invoke(args) => crate::cli::invoke::invoke(&open(), env, args),
        Command::Validate(args) => match args.ensembles.first().map(String::as_str) {
            Some(mode @ ("run" | "all" | "category")) if !args.runnable => {
                validation_runs(&open(), env, mode, &args)
            }
            _ => validate(&open(), &args, stdout),
        },
        Command::ListEnsembles(args) => list_ensembles(&open(), args.format, stdout),
        Command::ListProfiles(args) => list_profiles(&open(), args.format, stdout),
        Command::Graph(args) => graph(&open(), &args, stdout),
        Command::Hosts(args) => crate::cli::hosts::hosts(&open(), args.format, stdout),
        Command::Config(ConfigCommand::Init { project_name }) => {
            let root = project.map_or_else(|| cwd.to_path_buf(), std::path::Path::to_path_buf);
            config_init(&root, project_name.as_deref(), stdout)
        }
        Command::Config(ConfigCommand::Check { format }) => check(&open(), format, stdout),
        Command::Mcp(McpCommand::Serve { .. }) => unreachable_mcp(),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(shell, &mut Cli::command(), "orc", stdout);
            Ok(0)
        }
        Command::Man => {
            use clap::CommandFactory;
            clap_mangen::Man::new(Cli::command()).render(stdout)?;
            Ok(0)
        }
        Command::Mcp(McpCommand::Install(a)) => {
            crate::cli::library::mcp_install(&open(), a, stdout)
        }
        Command::Library(c) => crate::cli::library::library(&open(), c, stdout),
        Command::Deps(a) => crate::cli::library::deps(&open(), a, stdout),
        Command::Promote(a) => crate::cli::library::promote(&open(), a, stdout),
        Command::Demote(a) => crate::cli::library::demote(&open(), a, stdout),
        Command::Skill(c) => crate::cli::library::skill(&open(), c, stdout),
        Command::Cache(c) => crate::cli::cache::cache(&open(), c, stdout),
        Command::Route(a) => crate::cli::learn::route(&open(), a, stdout),
        Command::Status(a) => crate::cli::status::status(&open(), a, stdout),
        Command::Eval(c) => crate::cli::learn::eval(&open(), c, stdout),
        Command::Learn(a) => crate::cli::learn::learn(&open(), a, stdout),
        Command::Routing(c) => crate::cli::learn::routing(&open(), c, stdout),
        Command::Export(a) => crate::cli::learn::export(&open(), a, stdout),
        Command::RecordClaudeTask(a) => crate::cli::learn::record_claude_task(&open(), a, stdout),
        Command::Report(ReportCommand::Learning(a)) => {
            crate::cli::learn::learning_report(&open(), a, stdout)
        }
        Command::Report(ReportCommand::Timeline { artifact, output }) => {
            report_timeline(&open(), &artifact, output, stdout)
        }
    }
}

/// `orc validate run NAME...` / `all` / `category NAME`: run the ensembles' `validation:`
/// blocks.
fn validation_runs(
    svc: &Service,
    env: &Env,
    mode: &str,
    args: &ValidateArgs,
) -> anyhow::Result<Code> {
    let rest = &args.ensembles[1..];
    let names: Vec<String> = match mode {
        "run" if !rest.is_empty() => rest.to_vec(),
        "run" => {
            eprintln!("error: `orc validate run` needs an ensemble name");
            return Ok(2);
        }
        _ => {
            let category = if mode == "category" {
                match args
                    .category
                    .as_deref()
                    .or(rest.first().map(String::as_str))
                {
                    Some(c) => Some(c),
                    None => {
                        eprintln!(
                            "error: `orc validate category` needs a category: `orc validate category NAME`"
                        );
                        return Ok(2);
                    }
                }
            } else {
                None
            };
            let found: Vec<String> = svc
                .validation_ensembles(category)
                .iter()
                .map(|f| f.qualified_name())
                .collect();
            if found.is_empty() {
                eprintln!(
                    "error: no ensemble with a `validation:` block{}",
                    category
                        .map(|c| format!(" in category `{c}`"))
                        .unwrap_or_default()
                );
                return Ok(1);
            }
            found
        }
    };
    crate::cli::invoke::validate_runs(svc, env, &names, args.verbose, args.allow_outside_project)
}

/// `orc config init`: a project's `.llm-orc/`, and what was created and kept.
fn config_init(
    root: &std::path::Path,
    project_name: Option<&str>,
    stdout: &mut impl Write,
) -> anyhow::Result<Code> {
    let r = service::init_project(root, project_name)?;
    for p in &r.created {
        writeln!(stdout, "created {}", p.display())?;
    }
    for p in &r.kept {
        writeln!(stdout, "kept    {} (exists)", p.display())?;
    }
    writeln!(
        stdout,
        "\n{} ready: {} file(s) created, {} kept. Next: orc list-ensembles",
        r.root.display(),
        r.created.len(),
        r.kept.len()
    )?;
    Ok(0)
}

/// `orc report timeline`: a run's timeline as SVG, to stdout or a file.
fn report_timeline(
    svc: &Service,
    artifact: &str,
    output: Option<std::path::PathBuf>,
    stdout: &mut impl Write,
) -> anyhow::Result<Code> {
    let path = match crate::store::read::find(&svc.artifacts_root(), artifact) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {}", term_safe(&e.to_string()));
            return Ok(1);
        }
    };
    let (name, rows) = match crate::report::timeline::load(&path) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: {}", term_safe(&e.to_string()));
            return Ok(1);
        }
    };
    let path = std::fs::canonicalize(&path).unwrap_or(path);
    let title = format!(
        "{name}: {}",
        path.parent()
            .and_then(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    );
    let svg = crate::report::timeline::svg(&title, &rows);
    match output {
        Some(f) => {
            let (_, to) = output::write_output(&f, output::Privacy::Default, stdout, |w| {
                w.write_all(svg.as_bytes())
            })?;
            if let output::Written::File(_) = to {
                eprintln!(
                    "wrote {} ({} agents)",
                    term_safe(&f.display().to_string()),
                    rows.len()
                );
            }
        }
        None => write!(stdout, "{svg}")?,
    }
    Ok(0)
}

/// The log filter: `RUST_LOG` when it is set (and valid), else warnings, `-v` orc's info
/// events, `-vv` orc's debug events, `-vvv` every crate's debug events.
fn log_filter(verbosity: u8) -> tracing_subscriber::EnvFilter {
    use tracing_subscriber::EnvFilter;
    if let Ok(spec) = std::env::var("RUST_LOG")
        && !spec.trim().is_empty()
    {
        match EnvFilter::try_new(&spec) {
            Ok(f) => return f,
            Err(e) => eprintln!("warning: RUST_LOG=`{spec}` is not a valid filter ({e}); using -v"),
        }
    }
    EnvFilter::new(match verbosity {
        0 => "warn",
        1 => "warn,orc=info",
        2 => "warn,orc=debug",
        _ => "debug",
    })
}

/// Sends `tracing` events to stderr (never stdout: it carries results, or the MCP transport),
/// and also to `log_file` when given.
pub fn init_logging(verbosity: u8, log_file: Option<&std::path::Path>) -> anyhow::Result<()> {
    use std::io::IsTerminal;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let file = match log_file {
        Some(p) => Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .map_err(|e| anyhow::anyhow!("--log-file {}: {e}", p.display()))?,
        ),
        None => None,
    };
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let file = file.map(|f| {
        tracing_subscriber::fmt::layer()
            .with_writer(std::sync::Mutex::new(f))
            .with_ansi(false)
    });
    // A second initialisation (tests calling `run` twice) keeps the first subscriber.
    let _ = tracing_subscriber::registry()
        .with(log_filter(verbosity))
        .with(stderr)
        .with(file)
        .try_init();
    Ok(())
}

fn unreachable_mcp() -> anyhow::Result<Code> {
    anyhow::bail!("internal error: the MCP server is started before stdout is taken")
}

/// One word for a shell line orc suggests (`ollama pull NAME`): quoted when it needs to be, and
/// safe for the terminal too (a word shlex cannot quote, with a NUL, is shown escaped).
pub fn shell_word(s: &str) -> String {
    match shlex::try_quote(s) {
        Ok(q) => term_safe(&q).into_owned(),
        Err(_) => format!("'{}'", term_safe(&s.replace('\0', "\\0"))),
    }
}

pub use crate::term::safe as term_safe;

pub(crate) fn print_diagnostics(diags: &[Diagnostic]) {
    let mut err = std::io::stderr().lock();
    for d in diags {
        let _ = writeln!(err, "{}", term_safe(&d.to_string()));
    }
}

pub(crate) fn fail(e: &ServiceError) -> Code {
    match e {
        ServiceError::Invalid { diagnostics, .. } => print_diagnostics(diagnostics),
        // The files that could not be read, each with its line and hint, then a short "not
        // found" that points at them.
        ServiceError::NotFound {
            name,
            searched,
            suggestion,
            unreadable,
        } if !unreadable.is_empty() => {
            print_diagnostics(unreadable);
            let brief = ServiceError::NotFound {
                name: name.clone(),
                searched: searched.clone(),
                suggestion: suggestion.clone(),
                unreadable: Vec::new(),
            };
            eprintln!("error: {}", term_safe(&brief.to_string()));
            eprintln!(
                "  hint: {} file(s) above could not be read; `{}` may be defined in one of them: fix it and try again",
                unreadable.len(),
                term_safe(name)
            );
            return 1;
        }
        // A failure to read or write is said to be one, never worded as a refusal.
        _ if e.kind() == crate::service::ErrorKind::Io => {
            eprintln!("error: I/O error: {}", term_safe(&e.to_string()));
            return 1;
        }
        _ => {}
    }
    eprintln!("error: {}", term_safe(&e.to_string()));
    1
}

fn validate(svc: &Service, args: &ValidateArgs, out: &mut impl Write) -> anyhow::Result<Code> {
    let reports = match svc.validate(&args.ensembles) {
        Ok(r) => r,
        Err(e) => return Ok(fail(&e)),
    };
    let config_diags = &svc.project.diagnostics;
    print_diagnostics(config_diags);
    let config_errors = config_diags.iter().any(Diagnostic::is_error);
    let invalid = reports.iter().filter(|r| !r.valid).count();
    let runnable = if args.runnable {
        Some(check_runnable(svc, &reports)?)
    } else {
        None
    };
    let not_runnable = runnable.as_ref().is_some_and(|rs| {
        rs.iter()
            .any(|(_, r)| !r.as_ref().is_ok_and(|c| c.runnable))
    });
    let warnings: usize = reports
        .iter()
        .flat_map(|r| &r.diagnostics)
        .filter(|d| !d.is_error())
        .count();
    match args.format {
        Format::Json => {
            let mut doc = serde_json::json!({
                "valid": invalid == 0 && !config_errors,
                "ensembles": reports,
                "config_diagnostics": config_diags,
            });
            if let Some(rs) = &runnable {
                doc["runnable"] = serde_json::json!(!not_runnable);
                doc["models"] = serde_json::to_value(runnable_shapes(rs))?;
            }
            writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
        }
        Format::Text => {
            write_reports(out, svc, &reports, warnings)?;
            if let Some(rs) = &runnable {
                write_runnable(out, rs)?;
            }
        }
    }
    Ok(if invalid > 0 || config_errors || not_runnable {
        1
    } else {
        0
    })
}

/// `orc validate`'s text: a line per ensemble (its problems on stderr), then the totals.
fn write_reports(
    out: &mut impl Write,
    svc: &Service,
    reports: &[service::ValidationReport],
    warnings: usize,
) -> anyhow::Result<()> {
    let invalid = reports.iter().filter(|r| !r.valid).count();
    if reports.is_empty() {
        let searched = &svc.project.catalogue().searched;
        writeln!(
            out,
            "no ensembles found (looked in: {})",
            if searched.is_empty() {
                "no ensemble directories exist; run `orc config init`".to_string()
            } else {
                searched
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        )?;
    }
    for r in reports {
        print_diagnostics(&r.diagnostics);
        if r.valid {
            writeln!(
                out,
                "ok       {} ({}, {} agents) {}",
                term_safe(&r.name),
                r.pattern.unwrap_or("?"),
                r.agents.unwrap_or(0),
                r.path.display()
            )?;
        } else {
            let n = r.diagnostics.iter().filter(|d| d.is_error()).count();
            writeln!(
                out,
                "invalid  {} ({n} error(s)) {}",
                term_safe(&r.name),
                r.path.display()
            )?;
        }
    }
    if reports.len() > 1 || warnings > 0 || invalid > 0 {
        writeln!(
            out,
            "\n{} ensemble(s): {} valid, {} invalid, {} warning(s)",
            reports.len(),
            reports.len() - invalid,
            invalid,
            warnings
        )?;
    }
    Ok(())
}

/// `validate --runnable`: MCP check_ensemble_runnable's answer for every valid ensemble (or
/// why it could not be checked).
fn check_runnable(
    svc: &Service,
    reports: &[service::ValidationReport],
) -> anyhow::Result<Vec<(String, Result<RunnableCheck, String>)>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for r in reports.iter().filter(|r| r.valid) {
        if !seen.insert(r.name.as_str()) {
            continue;
        }
        let check = runtime
            .block_on(svc.check_runnable(&r.name))
            .map_err(|e| e.to_string());
        out.push((r.name.clone(), check));
    }
    Ok(out)
}

/// `validate --runnable --format json`'s `models`: check_ensemble_runnable's answers.
fn runnable_shapes(checks: &[(String, Result<RunnableCheck, String>)]) -> Vec<RunnableShape> {
    checks
        .iter()
        .map(|(name, r)| match r {
            Ok(c) => RunnableShape::from(c.clone()),
            Err(e) => RunnableShape::failed(name.clone(), e.clone()),
        })
        .collect()
}

/// One line per ensemble, one per model that cannot run, then the pulls to run.
fn write_runnable(
    out: &mut impl Write,
    checks: &[(String, Result<RunnableCheck, String>)],
) -> anyhow::Result<()> {
    let default_host = crate::backend::hosts::DEFAULT_OLLAMA_HOST;
    let mut pulls = std::collections::BTreeSet::new();
    writeln!(out)?;
    for (name, check) in checks {
        let c = match check {
            Ok(c) if c.runnable => {
                let models: std::collections::BTreeSet<&str> =
                    c.agents.iter().map(|a| a.model.as_str()).collect();
                writeln!(
                    out,
                    "runnable {} ({} model(s) installed{})",
                    term_safe(name),
                    models.len(),
                    if models.is_empty() {
                        "; no LLM agents"
                    } else {
                        ""
                    }
                )?;
                continue;
            }
            Ok(c) => c,
            Err(e) => {
                writeln!(out, "missing  {}", term_safe(name))?;
                writeln!(out, "  {}", term_safe(e))?;
                continue;
            }
        };
        writeln!(out, "missing  {}", term_safe(name))?;
        for a in c.agents.iter().filter(|a| !a.status.runs()) {
            let host = a.host.as_deref().unwrap_or(default_host);
            let mut line = format!(
                "  {}: `{}` on {}: {}",
                term_safe(&a.name),
                term_safe(&a.model),
                term_safe(host),
                term_safe(&a.status.to_string())
            );
            match &a.status {
                ModelStatus::Missing { truncated: None } => {
                    if !a.alternatives.is_empty() {
                        line.push_str(&format!(
                            " (installed, nearest in size: {})",
                            term_safe(&a.alternatives.join(", "))
                        ));
                    }
                    pulls.insert(if host == default_host {
                        format!("ollama pull {}", shell_word(&a.model))
                    } else {
                        format!(
                            "OLLAMA_HOST={} ollama pull {}",
                            shell_word(host),
                            shell_word(&a.model)
                        )
                    });
                }
                ModelStatus::Unreachable(_) => {
                    line.push_str(" (is Ollama running there? `ollama serve`, or set OLLAMA_HOST)")
                }
                _ => {}
            }
            writeln!(out, "{line}")?;
        }
    }
    if !pulls.is_empty() {
        writeln!(
            out,
            "
to install the missing models:"
        )?;
        for p in pulls {
            writeln!(out, "  {p}")?;
        }
    }
    Ok(())
}

fn tier_heading(tier: Tier, svc: &Service) -> String {
    let dirs = &svc.project.dirs;
    let root = dirs
        .tier_root(tier)
        .map(|p| p.join("ensembles").display().to_string())
        .unwrap_or_default();
    match tier {
        Tier::Local => format!("Local ({root}):"),
        Tier::Library => format!("Library ({root}):"),
        Tier::Global => format!("Global ({root}):"),
        Tier::Packaged => format!("Packaged (shipped with orc, {root}):"),
    }
}

fn list_ensembles(svc: &Service, format: Format, out: &mut impl Write) -> anyhow::Result<Code> {
    let list = svc.list_ensembles();
    if let Format::Json = format {
        writeln!(out, "{}", serde_json::to_string_pretty(&list)?)?;
        return Ok(0);
    }
    if list.is_empty() {
        let searched: Vec<String> = svc
            .project
            .dirs
            .ensemble_dirs()
            .iter()
            .map(|(_, p)| p.display().to_string())
            .collect();
        writeln!(
            out,
            "No ensembles found. Looked in: {}",
            term_safe(&searched.join(", "))
        )?;
        writeln!(out, "Create a project with `orc config init`.")?;
        return Ok(0);
    }
    writeln!(out, "Available ensembles:")?;
    let mut current: Option<Tier> = None;
    for e in &list {
        if current != Some(e.tier) {
            writeln!(out, "\n{}", term_safe(&tier_heading(e.tier, svc)))?;
            current = Some(e.tier);
        }
        let mut line = format!("  {}", term_safe(&e.name));
        if let Some(d) = &e.description {
            line.push_str(&format!(": {}", term_safe(d)));
        }
        if !e.valid {
            line.push_str(&format!(
                "  [invalid: run `orc validate {}`]",
                shell_word(&e.name)
            ));
        }
        if e.shadowed {
            line.push_str("  [shadowed by an earlier tier]");
        }
        if !e.same_name_in_tier.is_empty() {
            line.push_str(&same_name_note(svc, e));
        }
        // Every piece is made safe once more as a whole (a second pass changes nothing).
        writeln!(out, "{}", term_safe(&line))?;
    }
    Ok(0)
}

/// `[same name as ... in this tier; ...]`: the other files, which one orc uses and why.
fn same_name_note(svc: &Service, e: &service::EnsembleListing) -> String {
    let base = svc
        .project
        .dirs
        .tier_root(e.tier)
        .map(|p| p.join("ensembles"));
    let short = |p: &std::path::Path| {
        base.as_deref()
            .and_then(|b| p.strip_prefix(b).ok())
            .unwrap_or(p)
            .display()
            .to_string()
    };
    let others: Vec<String> = e.same_name_in_tier.iter().map(|p| short(p)).collect();
    let this = short(&e.path);
    let rule = crate::load::project::SAME_NAME_RULE;
    match &e.used_instead {
        Some(w) => format!(
            "  [same name as {} in this tier; orc uses {}, never this file ({this}): {rule}]",
            others.join(", "),
            short(w)
        ),
        None => format!(
            "  [same name as {} in this tier; orc uses this file ({this}): {rule}]",
            others.join(", ")
        ),
    }
}

fn list_profiles(svc: &Service, format: Format, out: &mut impl Write) -> anyhow::Result<Code> {
    let profiles = &svc.project.profiles;
    print_diagnostics(&svc.project.diagnostics);
    if let Format::Json = format {
        let list: Vec<_> = profiles.by_name.values().collect();
        writeln!(out, "{}", serde_json::to_string_pretty(&list)?)?;
        return Ok(0);
    }
    if profiles.by_name.is_empty() {
        let searched: Vec<String> = profiles
            .searched
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        writeln!(
            out,
            "No model profiles found. Looked in: {}",
            searched.join(", ")
        )?;
        return Ok(0);
    }
    writeln!(out, "Available model profiles:")?;
    for tier in [Tier::Local, Tier::Global, Tier::Packaged] {
        let in_tier: Vec<_> = profiles
            .by_name
            .values()
            .filter(|p| p.tier == tier)
            .collect();
        if in_tier.is_empty() {
            continue;
        }
        let heading = match tier {
            Tier::Local => "Local",
            Tier::Packaged => "Packaged (shipped with orc)",
            _ => "Global",
        };
        writeln!(out, "\n{heading}:")?;
        for p in in_tier {
            let s = &p.spec;
            let runnable = match s
                .provider
                .as_deref()
                .and_then(crate::compile::ProviderKind::parse)
            {
                Some(pr) if !pr.runnable() => "  [cloud: not runnable by orc]",
                None if s.provider.is_some() => "  [unknown provider]",
                _ => "",
            };
            writeln!(out, "  {}:{runnable}", s.name)?;
            writeln!(
                out,
                "    Model: {}",
                s.model.as_deref().unwrap_or("Not specified")
            )?;
            writeln!(
                out,
                "    Provider: {}",
                s.provider.as_deref().unwrap_or("Not specified")
            )?;
            writeln!(
                out,
                "    Cost per token: {}",
                s.cost_per_token
                    .map(|c| c.to_string())
                    .unwrap_or_else(|| "Not specified".into())
            )?;
            if let Some(d) = &s.description {
                writeln!(out, "    Use: {d}")?;
            }
            writeln!(out, "    Defined in: {}", p.source.display())?;
            for o in &p.overrides {
                writeln!(out, "    Overrides: {}", o.display())?;
            }
        }
    }
    Ok(0)
}

fn graph(svc: &Service, args: &GraphArgs, out: &mut impl Write) -> anyhow::Result<Code> {
    let (e, diags) = match svc.compile(&args.ensemble) {
        Ok(v) => v,
        Err(err) => return Ok(fail(&err)),
    };
    print_diagnostics(&diags);
    match args.format {
        GraphFormat::Text => write!(out, "{}", report::text(&e, args.full))?,
        GraphFormat::Dot => write!(out, "{}", report::dot(&e))?,
        GraphFormat::Json => writeln!(out, "{}", serde_json::to_string_pretty(&report::view(&e))?)?,
    }
    Ok(0)
}

fn check(svc: &Service, format: Format, out: &mut impl Write) -> anyhow::Result<Code> {
    let r = svc.check_config();
    let errors = r.diagnostics.iter().any(Diagnostic::is_error);
    if let Format::Json = format {
        writeln!(out, "{}", serde_json::to_string_pretty(&r)?)?;
        return Ok(if errors { 1 } else { 0 });
    }
    print_diagnostics(&r.diagnostics);
    writeln!(out, "Trees (lookup order):")?;
    for d in &r.dirs {
        writeln!(
            out,
            "  {:8} {} {}",
            d.tier.label(),
            if d.exists { "found  " } else { "missing" },
            d.path.display()
        )?;
    }
    writeln!(out, "Config files:")?;
    if r.config_files.is_empty() {
        writeln!(out, "  none (defaults apply)")?;
    }
    for f in &r.config_files {
        writeln!(out, "  {}", f.display())?;
    }
    writeln!(out, "Profiles: {}", r.profiles)?;
    let ens: Vec<String> = r
        .ensembles
        .iter()
        .map(|(t, n)| format!("{n} {}", t.label()))
        .collect();
    writeln!(
        out,
        "Ensembles: {}",
        if ens.is_empty() {
            "none".into()
        } else {
            ens.join(", ")
        }
    )?;
    let warnings = r.diagnostics.iter().filter(|d| !d.is_error()).count();
    let n_err = r.diagnostics.len() - warnings;
    writeln!(
        out,
        "Status: {}",
        if errors {
            format!("{n_err} error(s), {warnings} warning(s)")
        } else if warnings > 0 {
            format!("ok, {warnings} warning(s)")
        } else {
            "ok".into()
        }
    )?;
    Ok(if errors { 1 } else { 0 })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn undocumented(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
        for a in cmd.get_arguments() {
            if matches!(a.get_id().as_str(), "help" | "version") {
                continue;
            }
            if a.get_help().is_none() && a.get_long_help().is_none() {
                missing.push(format!("{path}: argument `{}`", a.get_id()));
            }
        }
        for sub in cmd.get_subcommands() {
            if sub.get_name() == "help" {
                continue;
            }
            let sub_path = format!("{path} {}", sub.get_name());
            if sub.get_about().is_none() && sub.get_long_about().is_none() {
                missing.push(format!("{sub_path}: no description"));
            }
            undocumented(sub, &sub_path, missing);
        }
    }

    #[test]
    fn terminal_text_shows_escapes_instead_of_obeying_them() {
        assert!(matches!(
            term_safe("plain\ttext\n"),
            std::borrow::Cow::Borrowed(_)
        ));
        assert_eq!(
            term_safe("a\u{1b}]52;c;aGk=\u{7}b\u{1b}[2Jc\u{202e}d\r\ne\rf\u{9b}"),
            "a\\x1b]52;c;aGk=\\x07b\\x1b[2Jc\\u{202e}d\r\ne\\x0df\\x9b"
        );
    }

    /// `--help` describes every command, flag and argument (`orc invoke --help` once showed
    /// `--input` and `--output-format` bare).
    #[test]
    fn every_command_flag_and_argument_has_help_text() {
        Cli::command().debug_assert();
        let mut cmd = Cli::command();
        cmd.build();
        let mut missing = Vec::new();
        undocumented(&cmd, "orc", &mut missing);
        assert!(
            missing.is_empty(),
            "without help text:\n{}",
            missing.join("\n")
        );
        let mut help = Vec::new();
        cmd.find_subcommand_mut("invoke")
            .expect("invoke")
            .write_long_help(&mut help)
            .expect("help");
        let help = String::from_utf8_lossy(&help);
        assert!(help.contains("--output-format") && help.contains("llm-orc 0.25.2's document"));
        assert!(help.contains("-v..."), "{help}");
    }
}
