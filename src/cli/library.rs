//! The library, dependency, promotion and Claude Code commands: `library`, `deps`, `promote`,
//! `demote`, `skill install` and `mcp install`. Parse, call the service layer, render.

use std::io::Write;

use serde_json::Value;

use crate::cli::args::{
    DemoteArgs, DepsArgs, LibraryCommand, McpInstallArgs, PromoteArgs, ScopeArgs, SkillCommand,
};
use crate::cli::{Code, Format, term_safe};
use crate::learn::service::Learning;
use crate::load::project::Tier;
use crate::service::claude::{self, InstallStatus, Scope};
use crate::service::claude_tools::{self, AllowLevel};
use crate::service::promotion::shapes as promotion_shapes;
use crate::service::promotion::{
    Action, At, DemoteOutcome, Dest, ModelDep, ModelStatus, Outcome, PromoteRequest, PromoteStatus,
    Promotion, Readiness, ScriptHome, ScriptKind,
};
use crate::service::shapes;
use crate::service::{Service, ServiceError};
use crate::service::{claude_checks, claude_json};

impl ScopeArgs {
    fn scope(&self) -> Scope {
        if self.user {
            Scope::User
        } else {
            Scope::Project
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

fn json_out(out: &mut impl Write, v: &Value) -> anyhow::Result<()> {
    writeln!(out, "{}", serde_json::to_string_pretty(v)?)?;
    Ok(())
}

fn fail(e: &ServiceError) -> Code {
    crate::cli::fail(e)
}

/// A string field as printed: made safe for the terminal (names and paths come from files
/// anyone can write).
fn s(v: &Value) -> std::borrow::Cow<'_, str> {
    term_safe(v.as_str().unwrap_or(""))
}

// ---------------------------------------------------------------------- library

pub fn library(svc: &Service, cmd: LibraryCommand, out: &mut impl Write) -> anyhow::Result<Code> {
    match cmd {
        LibraryCommand::Browse {
            category,
            kind,
            format,
        } => {
            let v = match svc.library_browse(&kind, category.as_deref()) {
                Ok(l) => shape_value(&shapes::LibraryBrowseShape::from(l))?,
                Err(e) => return Ok(fail(&e)),
            };
            if format == Format::Json {
                json_out(out, &v)?;
                return Ok(0);
            }
            writeln!(out, "library: {}", svc.library_root().display())?;
            print_items(out, &v)?;
            Ok(0)
        }
        LibraryCommand::Search { query, format } => {
            let v = match svc.library_search(&query) {
                Ok(found) => shape_value(&shapes::LibrarySearchShape::from(found))?,
                Err(e) => return Ok(fail(&e)),
            };
            if format == Format::Json {
                json_out(out, &v)?;
                return Ok(0);
            }
            print_items(out, &v["results"])?;
            writeln!(out, "{} match(es) for `{}`", v["total"], s(&v["query"]))?;
            Ok(0)
        }
        LibraryCommand::Info { format } => {
            let v = shape_value(&shapes::LibraryInfoShape::from(svc.library_info()))?;
            if format == Format::Json {
                json_out(out, &v)?;
                return Ok(0);
            }
            writeln!(
                out,
                "library: {}{}",
                s(&v["path"]),
                if v["exists"] == true {
                    ""
                } else {
                    " (does not exist; set LLM_ORC_LIBRARY_PATH or create llm-orchestra-library/)"
                }
            )?;
            writeln!(
                out,
                "ensembles: {}, scripts: {}",
                v["ensembles_count"], v["scripts_count"]
            )?;
            let cats: Vec<&str> = v["categories"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            writeln!(
                out,
                "categories: {}",
                if cats.is_empty() {
                    "(none)".to_string()
                } else {
                    cats.join(", ")
                }
            )?;
            Ok(0)
        }
        LibraryCommand::Copy {
            source,
            destination,
            overwrite,
        } => match svc.library_copy(&source, destination.as_deref(), overwrite) {
            Ok(c) => {
                writeln!(
                    out,
                    "copied {} -> {}",
                    c.source.display(),
                    c.destination.display()
                )?;
                Ok(0)
            }
            Err(e) => Ok(fail(&e)),
        },
    }
}

/// A library answer in llm-orc's JSON shape (the MCP tools' words), which `--format json`
/// prints and the text view reads.
fn shape_value(shape: &impl serde::Serialize) -> anyhow::Result<Value> {
    shapes::to_value(shape).map_err(anyhow::Error::msg)
}

fn print_items(out: &mut impl Write, v: &Value) -> anyhow::Result<()> {
    for (key, label) in [("ensembles", "ensembles"), ("scripts", "scripts")] {
        let Some(items) = v[key].as_array() else {
            continue;
        };
        writeln!(out, "{label} ({}):", items.len())?;
        for i in items {
            let what = if key == "ensembles" {
                s(&i["description"])
            } else {
                "".into()
            };
            writeln!(
                out,
                "  {}  [{}]{}{}",
                s(&i["path"]),
                s(&i["category"]),
                if what.is_empty() { "" } else { "  " },
                what
            )?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------- deps

pub fn deps(svc: &Service, a: DepsArgs, out: &mut impl Write) -> anyhow::Result<Code> {
    let c = match runtime()?.block_on(svc.closure(&a.ensemble)) {
        Ok(c) => c,
        Err(e) => return Ok(fail(&e)),
    };
    let r = svc.deps_report(&c);
    if a.format == Format::Json {
        json_out(out, &serde_json::to_value(&r)?)?;
        return Ok(0);
    }
    writeln!(
        out,
        "{} ({}: {})",
        c.ensemble,
        c.source_tier.label(),
        c.source.display()
    )?;
    let at = |x: &At| {
        format!(
            "global: {:<8} library: {}",
            x.global.label(),
            x.library.label()
        )
    };
    writeln!(out, "ensembles:")?;
    for e in &r.ensembles {
        let d = &e.dep;
        writeln!(
            out,
            "  {:<28} {} {}, {}   {}",
            term_safe(&d.reference),
            d.how.label(),
            d.tier.map_or("", Tier::label),
            path(&d.path),
            at(&e.at)
        )?;
    }
    writeln!(out, "profiles:")?;
    for p in &r.profiles {
        let d = &p.dep;
        writeln!(
            out,
            "  {:<28} {}, {} ({})   {}",
            term_safe(&d.name),
            d.tier.label(),
            path(&d.source),
            term_safe(d.model.as_deref().unwrap_or("")),
            at(&p.at)
        )?;
    }
    writeln!(out, "scripts:")?;
    for sc in &r.scripts {
        let d = &sc.dep;
        let place = match d.kind {
            ScriptKind::File => format!(
                "{}, {}",
                d.found_in.map_or("", ScriptHome::label),
                d.path.as_deref().map(path).unwrap_or_default()
            ),
            k => k.label().to_string(),
        };
        writeln!(
            out,
            "  {:<28} {place}   {}",
            term_safe(&d.reference),
            at(&sc.at)
        )?;
    }
    writeln!(out, "models:")?;
    for m in &c.models {
        writeln!(out, "  {:<28} {}", term_safe(&m.model), model_state(m))?;
    }
    for u in &c.unresolved {
        writeln!(out, "note: {}", term_safe(&u.to_string()))?;
    }
    Ok(0)
}

/// Whether a model is installed where it will run, as `deps` prints it.
fn model_state(m: &ModelDep) -> String {
    match m.status {
        ModelStatus::Installed => format!("installed on {}", m.installed_on.join(", ")),
        ModelStatus::Missing => format!(
            "NOT installed on any reachable host{}",
            m.nearest
                .first()
                .map(|n| format!("; nearest in size: {n}"))
                .unwrap_or_default()
        ),
        ModelStatus::Unchecked => "unchecked: no Ollama host answered".into(),
        ModelStatus::NotOllama => format!("{} (not checked)", m.provider),
    }
}

/// A path as printed: made safe for the terminal.
fn path(p: &std::path::Path) -> String {
    term_safe(&p.to_string_lossy()).into_owned()
}

// ---------------------------------------------------------------------- promote / demote

fn print_readiness(out: &mut impl Write, r: &Readiness) -> anyhow::Result<()> {
    let e = &r.evaluations;
    writeln!(
        out,
        "{} -> {}: {}",
        r.ensemble,
        r.destination.label(),
        if r.ready {
            "ready"
        } else if r.errors.is_empty() {
            "below the bar"
        } else {
            "cannot be promoted"
        }
    )?;
    writeln!(out, "  bar: {}", r.bar)?;
    writeln!(
        out,
        "  evaluations: {} good, {} acceptable, {} poor{}; runs {}, accepted {}, rejected {}",
        e.good,
        e.acceptable,
        e.poor,
        if e.local_judge > 0 {
            format!(" ({} by a local judge, not counted)", e.local_judge)
        } else {
            String::new()
        },
        e.runs,
        e.accepted,
        e.rejected
    )?;
    for b in &r.below_bar {
        writeln!(out, "  below the bar: {}", term_safe(&b.to_string()))?;
    }
    if r.signals.is_empty() && r.errors.is_empty() {
        writeln!(out, "  signals: none")?;
    }
    for sig in &r.signals {
        writeln!(
            out,
            "  signal {}: {} ({})",
            sig.kind.label(),
            sig.detail,
            sig.location
        )?;
    }
    for w in &r.model_warnings {
        writeln!(out, "  warning: {}", term_safe(&w.to_string()))?;
    }
    for e in &r.errors {
        writeln!(out, "  error: {}", term_safe(&e.to_string()))?;
    }
    Ok(())
}

pub fn promote(svc: &Service, a: PromoteArgs, out: &mut impl Write) -> anyhow::Result<Code> {
    let rt = runtime()?;
    let evidence = Learning::open(svc);
    if a.check {
        let dests: Vec<Dest> = match a.to.as_deref() {
            Some(t) => vec![Dest::parse(t)?],
            None => vec![Dest::Global, Dest::Library],
        };
        let mut all = Vec::new();
        for d in dests {
            match rt.block_on(svc.readiness(&a.ensemble, d, &evidence)) {
                Ok((r, _)) => all.push(r),
                Err(e) => return Ok(fail(&e)),
            }
        }
        if a.format == Format::Json {
            json_out(out, &serde_json::to_value(&all)?)?;
        } else {
            for r in &all {
                print_readiness(out, r)?;
            }
        }
        return Ok(0);
    }
    let Some(to) = a.to.as_deref() else {
        eprintln!("error: --to global|library is required (or --check)");
        return Ok(2);
    };
    let req = PromoteRequest {
        dry_run: a.dry_run,
        confirm: a.yes,
        overwrite: a.overwrite,
        force: a.force,
        category: a.category.clone(),
        skip_profiles: false,
    };
    let p = match rt.block_on(svc.promote(&a.ensemble, to, &req, &evidence)) {
        Ok(p) => p,
        Err(e) => return Ok(fail(&e)),
    };
    if a.format == Format::Json {
        json_out(out, &promotion_shapes::promotion(&p))?;
    } else {
        print_promotion(out, &p, to)?;
    }
    match p.outcome.status() {
        PromoteStatus::NeedsConfirmation => {
            eprintln!(
                "nothing was written: add --yes to promote (or --dry-run to only list the files)"
            );
            Ok(1)
        }
        _ => Ok(0),
    }
}

/// The plan's files (what was done with each), then what happened.
fn print_promotion(out: &mut impl Write, p: &Promotion, to: &str) -> anyhow::Result<()> {
    // A git library's files go into a commit on a branch: name them as in that tree.
    let git_lib = p.plan.branch.is_some();
    let verb = match p.outcome.status() {
        PromoteStatus::Promoted => "wrote",
        PromoteStatus::Contributed => "committed",
        _ if git_lib => "would commit",
        _ => "would write",
    };
    for f in &p.plan.files {
        let label = match f.action {
            Action::Write => verb,
            Action::Skip => "skip",
            Action::Conflict => "CONFLICT",
        };
        let shown = if git_lib {
            term_safe(&f.rel).into_owned()
        } else {
            path(&f.path)
        };
        let note = term_safe(f.note.as_deref().unwrap_or(""));
        writeln!(
            out,
            "{label:<12} {:<8} {shown}{}",
            f.kind.label(),
            if note.is_empty() {
                String::new()
            } else {
                format!("  ({note})")
            }
        )?;
    }
    let ensemble = term_safe(&p.ensemble);
    let overridden = match &p.outcome {
        Outcome::Preview { .. } => None,
        Outcome::Promoted { overridden, .. } => {
            writeln!(out, "promoted `{ensemble}` to the {to} tier")?;
            Some(overridden)
        }
        Outcome::Contributed {
            overridden,
            contribution: k,
        } => {
            writeln!(
                out,
                "committed `{ensemble}` on branch {} ({}) in {}; your branch and working tree are unchanged",
                term_safe(&k.branch),
                term_safe(&k.commit),
                path(&p.plan.root)
            )?;
            writeln!(out, "pull-request description: {}", path(&k.pr_description))?;
            for step in &k.next_steps {
                writeln!(out, "next: {}", term_safe(step))?;
            }
            Some(overridden)
        }
    };
    for o in overridden.into_iter().flatten() {
        writeln!(out, "overridden (--force): {}", term_safe(o))?;
    }
    if let Outcome::Preview {
        needs_force: Some(needs),
        ..
    } = &p.outcome
    {
        for n in needs {
            writeln!(out, "below the bar (needs --force): {}", term_safe(n))?;
        }
    }
    Ok(())
}

pub fn demote(svc: &Service, a: DemoteArgs, out: &mut impl Write) -> anyhow::Result<Code> {
    let d = match svc.demote(&a.ensemble, &a.from, a.remove_orphaned_profiles, a.yes) {
        Ok(d) => d,
        Err(e) => return Ok(fail(&e)),
    };
    if a.format == Format::Json {
        json_out(out, &promotion_shapes::demotion(&d))?;
    } else {
        let label = match d.outcome {
            DemoteOutcome::Demoted { .. } => "removed",
            DemoteOutcome::Preview { .. } => "would remove",
        };
        for f in &d.files {
            writeln!(out, "{label} {}", path(f))?;
        }
        if let Some(r) = &d.readme {
            writeln!(out, "{label} the ensemble's line from {}", path(r))?;
        }
        if let Some(n) = d.note() {
            writeln!(out, "note: {}", term_safe(n))?;
        }
    }
    if a.yes {
        Ok(0)
    } else {
        eprintln!("nothing was removed: add --yes to demote");
        Ok(1)
    }
}

// ---------------------------------------------------------------------- Claude Code

/// Where project-scope Claude Code files go. A project directory found above the current one
/// or named with `--project DIR` is used as is; when it is the current directory (a bare
/// `--project`, or no `.llm-orc/` found), the project's root is the nearest directory walking up
/// that holds `.llm-orc/`, `.git` or `.mcp.json` (never HOME or above it), else the current one.
fn project_root(svc: &Service) -> std::path::PathBuf {
    let d = &svc.project.dirs;
    let start = d.project_root.clone().unwrap_or_else(|| d.cwd.clone());
    if start != d.cwd {
        return start;
    }
    let home = svc.env.home.as_deref();
    for dir in d.cwd.ancestors() {
        if dir.parent().is_none() || home.is_some_and(|h| dir == h) {
            break;
        }
        if dir.join(".llm-orc").is_dir()
            || dir.join(".git").exists()
            || dir.join(".mcp.json").is_file()
        {
            return dir.to_path_buf();
        }
    }
    start
}

pub fn skill(svc: &Service, cmd: SkillCommand, out: &mut impl Write) -> anyhow::Result<Code> {
    let SkillCommand::Install(a) = cmd;
    let root = project_root(svc);
    let home = svc.env.home.as_deref();
    let dir = match claude::skill_dir(a.scope(), &root, home) {
        Ok(d) => d,
        Err(e) => return refused(e),
    };
    if !a.force
        && let Some(other) = claude_checks::other_skill(a.scope(), &root, home)
    {
        return refused(claude::InstallError::Duplicate { what: other.what });
    }
    let confine = (a.scope() == Scope::Project).then_some(root.as_path());
    match claude::install_skill(&dir, a.force, confine) {
        Ok(r) => {
            for (label, list) in [
                ("created", &r.created),
                ("updated", &r.updated),
                ("unchanged", &r.unchanged),
            ] {
                for p in list {
                    writeln!(out, "{label:<10} {}", term_safe(&p.display().to_string()))?;
                }
            }
            writeln!(
                out,
                "the orc skill is installed in {} ({} scope); Claude Code loads it in its next session",
                r.dir.display(),
                a.scope().label()
            )?;
            Ok(0)
        }
        Err(e) => refused(e),
    }
}

fn refused(e: claude::InstallError) -> anyhow::Result<Code> {
    eprintln!("error: {}", term_safe(&e.to_string()));
    Ok(1)
}

/// Where `--allow` writes: the project's `.claude/settings.json` or the user's.
fn settings_target(
    scope: Scope,
    root: &std::path::Path,
    home: Option<&std::path::Path>,
) -> Result<claude_json::Target, claude::InstallError> {
    match scope {
        Scope::Project => claude_json::target(&root.join(".claude/settings.json"), Some(root)),
        Scope::User => {
            let h = home.ok_or(claude::InstallError::NoHome)?;
            claude_json::target(&h.join(".claude/settings.json"), None)
        }
    }
}

fn write_allow(
    out: &mut impl Write,
    scope: Scope,
    root: &std::path::Path,
    home: Option<&std::path::Path>,
    level: AllowLevel,
    prefix: &str,
) -> anyhow::Result<Result<(), claude::InstallError>> {
    let r = match settings_target(scope, root, home)
        .and_then(|t| claude_tools::write_permissions(&t, level, prefix))
    {
        Ok(r) => r,
        Err(e) => return Ok(Err(e)),
    };
    writeln!(
        out,
        "permissions ({}) in {}: {} allowed without a prompt{}{}; destructive tools ({}) always ask",
        level.label(),
        r.path.display(),
        level.tools().count(),
        if r.added.is_empty() {
            String::new()
        } else {
            format!(", {} added", r.added.len())
        },
        if r.removed.is_empty() {
            String::new()
        } else {
            format!(", removed: {}", r.removed.join(", "))
        },
        claude_tools::destructive()
            .map(|t| t.name)
            .collect::<Vec<_>>()
            .join(", ")
    )?;
    Ok(Ok(()))
}

pub fn mcp_install(svc: &Service, a: McpInstallArgs, out: &mut impl Write) -> anyhow::Result<Code> {
    let scope = a.scope.scope();
    let root = project_root(svc);
    let home = svc.env.home.as_deref();
    let level = a.allow.as_deref().and_then(AllowLevel::parse);
    let path = match claude::mcp_config_path(scope, &root, home) {
        Ok(p) => p,
        Err(e) => return refused(e),
    };
    // The orc plugin registers the server itself: a second registration offers every tool twice.
    if !a.scope.force
        && let Some(plugin) = claude_checks::plugin_enabled(&root, home)
    {
        let Some(level) = level else {
            return refused(claude::InstallError::Duplicate { what: plugin.what });
        };
        writeln!(
            out,
            "{} already registers the server (its tools are {}*); not registering a second one",
            plugin.what,
            claude_tools::PLUGIN_PREFIX
        )?;
        return match write_allow(out, scope, &root, home, level, claude_tools::PLUGIN_PREFIX)? {
            Ok(()) => Ok(0),
            Err(e) => refused(e),
        };
    }
    let explicit = a.command.is_some();
    let command = a.command.clone().unwrap_or_else(claude::default_command);
    if scope == Scope::Project && claude_checks::is_machine_path(&command) {
        if !explicit {
            return refused(claude::InstallError::MachinePath { command, path });
        }
        eprintln!(
            "warning: `{command}` is a path on this machine; whoever clones the project needs orc at that same path"
        );
    }
    if a.no_verify {
        eprintln!("warning: `{command}` was not checked (--no-verify)");
    } else {
        let path_var = std::env::var_os("PATH");
        match claude_checks::check_command(&command, &root, path_var.as_deref(), true) {
            Ok(c) => {
                for w in &c.warnings {
                    eprintln!("warning: {w}");
                }
            }
            Err(e) => return refused(e),
        }
    }
    let confine = (scope == Scope::Project).then_some(root.as_path());
    // Permissions are checked writable before the server is registered, so a refusal there
    // leaves nothing half done.
    if level.is_some()
        && let Err(e) = settings_target(scope, &root, home).and_then(|t| {
            claude_json::check_writable(&t)?;
            Ok(t)
        })
    {
        return refused(e);
    }
    let extra: &[&str] = if a.all_tools { &["--all-tools"] } else { &[] };
    match claude::install_mcp(&path, &command, extra, a.scope.force, confine) {
        Ok(r) => {
            writeln!(
                out,
                "{} the `orc` MCP server in {}{}",
                match r.status {
                    InstallStatus::Added => "registered",
                    InstallStatus::Updated => "updated",
                    InstallStatus::Unchanged => "already registered:",
                },
                r.path.display(),
                if r.kept.is_empty() {
                    String::new()
                } else {
                    format!(" (kept: {})", r.kept.join(", "))
                }
            )?;
            writeln!(
                out,
                "equivalent: {}{}",
                claude::claude_mcp_add_line(scope, &command),
                if a.all_tools { " --all-tools" } else { "" }
            )?;
            if let Some(level) = level
                && let Err(e) =
                    write_allow(out, scope, &root, home, level, claude_tools::SERVER_PREFIX)?
            {
                return refused(e);
            }
            if scope == Scope::Project {
                writeln!(
                    out,
                    "Claude Code asks each user to approve a project's .mcp.json servers once{}.",
                    if level.is_some() {
                        ", and applies the project's allow-list only once they trust the folder (headless runs in an untrusted folder need --allowedTools mcp__orc)"
                    } else {
                        ""
                    }
                )?;
            }
            if level.is_none() {
                writeln!(
                    out,
                    "Claude Code asks before each tool's first use (--allow read-only|core|all writes an allow-list); headless `claude -p` needs --allowedTools mcp__orc"
                )?;
            }
            Ok(0)
        }
        Err(e) => refused(e),
    }
}
