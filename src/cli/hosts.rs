//! `orc hosts`: the Ollama hosts runs use (the pool, or the one host) and each one's state.

use std::io::Write;

use crate::cli::{Code, Format, term_safe};
use crate::service::Service;

pub fn hosts(svc: &Service, format: Format, outer: &mut impl Write) -> anyhow::Result<Code> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let report = rt.block_on(svc.hosts());
    match format {
        Format::Json => writeln!(outer, "{}", serde_json::to_string_pretty(&report)?)?,
        Format::Text => {
            // What a server says of itself (its version, model names, errors) is its own text:
            // the whole listing is made safe for the terminal before it is printed.
            let mut text: Vec<u8> = Vec::new();
            let out = &mut text;
            if !report.pool {
                writeln!(
                    out,
                    "no host pool (set `hosts:` in config.yaml or OLLAMA_HOSTS); the one host:"
                )?;
            }
            for h in &report.hosts {
                let reach = match h.reachable {
                    Some(true) => format!("up (Ollama {})", h.version.as_deref().unwrap_or("?")),
                    Some(false) => {
                        format!("DOWN: {}", h.last_error.as_deref().unwrap_or("no answer"))
                    }
                    None => "not looked at".to_string(),
                };
                writeln!(out, "{}  {reach}", h.url)?;
                let none = || "-".to_string();
                let list = |v: &[String]| if v.is_empty() { none() } else { v.join(", ") };
                writeln!(out, "  installed: {}", list(&h.models_installed))?;
                writeln!(out, "  loaded:    {}", list(&h.models_loaded))?;
                writeln!(
                    out,
                    "  in flight: {}  breaker: {:?}  priority: {}  max loaded models: {}",
                    h.in_flight,
                    h.breaker,
                    h.priority,
                    h.max_loaded_models.map_or_else(none, |n| n.to_string())
                )?;
            }
            let text = String::from_utf8_lossy(&text).into_owned();
            write!(outer, "{}", term_safe(&text))?;
        }
    }
    // Exit 1 when no host answers: scripts can check the pool before a run.
    Ok(u8::from(
        !report.hosts.iter().any(|h| h.reachable == Some(true)),
    ))
}
