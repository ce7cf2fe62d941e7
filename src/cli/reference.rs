//! The command-line reference (`docs/reference/cli.md`) rendered from the clap definitions:
//! every subcommand with its description, aliases and arguments, in definition order. A test
//! (`tests/docs_reference.rs`) keeps the file equal to this text.

use clap::{Arg, ArgAction, Command, CommandFactory};

use super::args::Cli;

/// The whole reference as Markdown (deterministic: clap's definition order).
pub fn markdown() -> String {
    let cmd = Cli::command();
    let mut out = String::new();
    out.push_str("# Command-line reference\n\n");
    out.push_str(
        "Generated from the clap definitions (`src/cli/args.rs`) by `src/cli/reference.rs`; do not \
         edit by hand. After changing a command, regenerate it with\n\
         `ORC_REGENERATE_DOCS=1 cargo test --locked --test it docs_reference`.\n\n",
    );
    out.push_str("Commands:\n\n");
    for (path, _) in commands(&cmd, "orc") {
        out.push_str(&format!("- [`{path}`](#{})\n", anchor(&path)));
    }
    out.push('\n');
    for (path, sub) in commands(&cmd, "orc") {
        section(&mut out, &path, sub);
    }
    let end = out.trim_end().len();
    out.truncate(end);
    out.push('\n');
    out
}

/// Every command, depth first, in definition order, with its full path (`orc eval record`).
/// clap's own `help` subcommand is left out, as are hidden ones.
fn commands<'a>(cmd: &'a Command, path: &str) -> Vec<(String, &'a Command)> {
    let mut all = vec![(path.to_string(), cmd)];
    for sub in cmd.get_subcommands() {
        if sub.get_name() == "help" || sub.is_hide_set() {
            continue;
        }
        all.extend(commands(sub, &format!("{path} {}", sub.get_name())));
    }
    all
}

/// One command's section: heading, description, aliases, subcommands, arguments.
fn section(out: &mut String, path: &str, cmd: &Command) {
    out.push_str(&format!("## `{path}`\n\n"));
    let about = cmd
        .get_long_about()
        .or_else(|| cmd.get_about())
        .map(|s| s.to_string())
        .unwrap_or_default();
    if !about.is_empty() {
        out.push_str(about.trim());
        out.push_str("\n\n");
    }
    let aliases: Vec<String> = cmd
        .get_visible_aliases()
        .map(|a| format!("`{a}`"))
        .collect();
    if !aliases.is_empty() {
        out.push_str(&format!("Alias: {}.\n\n", aliases.join(", ")));
    }
    let subs: Vec<&Command> = cmd
        .get_subcommands()
        .filter(|s| s.get_name() != "help" && !s.is_hide_set())
        .collect();
    if !subs.is_empty() {
        out.push_str("| subcommand | what it does |\n|---|---|\n");
        for s in subs {
            let sub_path = format!("{path} {}", s.get_name());
            let about = s.get_about().map(|a| a.to_string()).unwrap_or_default();
            out.push_str(&format!(
                "| [`{}`](#{}) | {} |\n",
                s.get_name(),
                anchor(&sub_path),
                cell(&about)
            ));
        }
        out.push('\n');
    }
    let args: Vec<&Arg> = cmd
        .get_arguments()
        .filter(|a| !a.is_hide_set() && !matches!(a.get_id().as_str(), "help" | "version"))
        .collect();
    if !args.is_empty() {
        out.push_str("| argument | help |\n|---|---|\n");
        for a in args {
            out.push_str(&format!("| {} | {} |\n", usage(a), cell(&help(a))));
        }
        out.push('\n');
    }
}

/// How an argument is written: `<ENSEMBLE>`, `-f, --input-file <FILE>`, `-v`...
fn usage(a: &Arg) -> String {
    let value = a
        .get_value_names()
        .map(|names| {
            names
                .iter()
                .map(|n| format!("<{n}>"))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|| format!("<{}>", a.get_id().as_str().to_uppercase()));
    if a.is_positional() {
        return format!("`{value}`");
    }
    let mut names = Vec::new();
    if let Some(s) = a.get_short() {
        names.push(format!("-{s}"));
    }
    if let Some(l) = a.get_long() {
        names.push(format!("--{l}"));
    }
    let takes_value = matches!(a.get_action(), ArgAction::Set | ArgAction::Append);
    let mut text = names.join(", ");
    if takes_value {
        text.push(' ');
        text.push_str(&value);
    }
    format!("`{text}`")
}

/// An argument's help with its choices, default and whether it is global.
fn help(a: &Arg) -> String {
    let text = a
        .get_long_help()
        .or_else(|| a.get_help())
        .map(|s| s.to_string())
        .unwrap_or_default();
    let values: Vec<String> = a
        .get_possible_values()
        .iter()
        .filter(|v| !v.is_hide_set())
        .map(|v| format!("`{}`", v.get_name()))
        .collect();
    let takes_value = matches!(a.get_action(), ArgAction::Set | ArgAction::Append);
    let mut text = text.trim().to_string();
    if !text.is_empty() && !text.ends_with(['.', '!', '?']) {
        text.push('.');
    }
    if takes_value && !values.is_empty() {
        text.push_str(&format!(" Values: {}.", values.join(", ")));
    }
    let defaults: Vec<String> = a
        .get_default_values()
        .iter()
        .map(|v| format!("`{}`", v.to_string_lossy()))
        .collect();
    if !defaults.is_empty() {
        text.push_str(&format!(" Default: {}.", defaults.join(", ")));
    }
    if a.is_global_set() {
        text.push_str(" Global: accepted by every command.");
    }
    text.trim().to_string()
}

/// Text for one table cell: one line, pipes escaped.
fn cell(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

/// GitHub's anchor for a heading `` `orc eval record` ``: `orc-eval-record`.
fn anchor(path: &str) -> String {
    path.to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_follow_github_headings() {
        assert_eq!(anchor("orc eval record"), "orc-eval-record");
        assert_eq!(anchor("orc list-ensembles"), "orc-list-ensembles");
    }

    #[test]
    fn every_command_has_a_section() {
        let text = markdown();
        for (path, _) in commands(&Cli::command(), "orc") {
            assert!(text.contains(&format!("## `{path}`\n")), "{path}");
        }
    }
}
