//! The generated references under `docs/reference/` (the command line from clap, the MCP tools
//! from the tool list) are current: each file equals what its renderer produces now.
//! `ORC_REGENERATE_DOCS=1 cargo test --locked --test it docs_reference` writes them instead.

use std::path::PathBuf;

fn docs(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("docs/reference")
        .join(name)
}

/// The files and the text each should hold.
fn generated() -> Vec<(PathBuf, String)> {
    vec![
        (docs("cli.md"), orc::cli::reference::markdown()),
        (docs("mcp-tools.md"), orc::mcp::reference::markdown()),
    ]
}

#[test]
fn docs_reference_is_current() {
    let regenerate = std::env::var_os("ORC_REGENERATE_DOCS").is_some_and(|v| v == "1");
    let mut stale = Vec::new();
    for (path, text) in generated() {
        if regenerate {
            std::fs::write(&path, &text)
                .unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
            continue;
        }
        let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
        if on_disk != text {
            stale.push(path.display().to_string());
        }
    }
    assert!(
        stale.is_empty(),
        "stale generated reference(s): {}\nregenerate them with: \
         ORC_REGENERATE_DOCS=1 cargo test --locked --test it docs_reference",
        stale.join(", ")
    );
}

#[test]
fn every_subcommand_and_every_tool_appears() {
    use clap::CommandFactory;
    fn walk(cmd: &clap::Command, path: &str, out: &mut Vec<String>) {
        for sub in cmd.get_subcommands() {
            if sub.get_name() == "help" || sub.is_hide_set() {
                continue;
            }
            let sub_path = format!("{path} {}", sub.get_name());
            out.push(sub_path.clone());
            walk(sub, &sub_path, out);
        }
    }
    let mut paths = Vec::new();
    walk(&orc::cli::args::Cli::command(), "orc", &mut paths);
    assert!(paths.len() > 20, "{paths:?}");
    let cli = orc::cli::reference::markdown();
    for p in &paths {
        assert!(
            cli.contains(&format!("## `{p}`\n")),
            "{p} missing from cli.md"
        );
    }
    let tools = orc::mcp::surface::router(true).list_all();
    assert!(tools.len() >= 44, "{} tools", tools.len());
    let mcp = orc::mcp::reference::markdown();
    for t in &tools {
        assert!(
            mcp.contains(&format!("## `{}`\n", t.name)),
            "{} missing from mcp-tools.md",
            t.name
        );
    }
}
