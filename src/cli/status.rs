//! `orc status`: the one line (Claude Code's session-start hook prints it), then a line per
//! model server and per ensemble that cannot run.

use std::io::Write;
use std::time::Duration;

use crate::cli::args::StatusArgs;
use crate::cli::{Code, Format};
use crate::service::Service;

pub fn status(svc: &Service, a: StatusArgs, out: &mut impl Write) -> anyhow::Result<Code> {
    let deadline = Duration::from_millis(a.timeout_ms.unwrap_or(if a.hook { 1500 } else { 5000 }));
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) if a.hook => {
            writeln!(
                out,
                "orc: status unavailable ({e}); orc's tools may still work"
            )?;
            return Ok(0);
        }
        Err(e) => return Err(e.into()),
    };
    let s = rt.block_on(crate::learn::status::status(svc, deadline));
    // Nothing left running holds the process up (the learning log's reader, a slow probe).
    rt.shutdown_background();
    if a.hook {
        writeln!(out, "{}", s.line)?;
        return Ok(0);
    }
    match a.format {
        Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(&s)?)?,
        Format::Text => {
            writeln!(out, "{}", s.line)?;
            for h in &s.hosts {
                let url = h.url.trim_start_matches("http://");
                if h.up {
                    writeln!(
                        out,
                        "  {url}  up{}, {} model(s) installed, loaded: {}",
                        h.version
                            .as_deref()
                            .map(|v| format!(" (Ollama {})", clean(v)))
                            .unwrap_or_default(),
                        h.installed,
                        if h.loaded.is_empty() {
                            "none".to_string()
                        } else {
                            h.loaded
                                .iter()
                                .map(|m| clean(m))
                                .collect::<Vec<_>>()
                                .join(", ")
                        }
                    )?;
                } else {
                    writeln!(
                        out,
                        "  {url}  DOWN: {}",
                        clean(h.error.as_deref().unwrap_or("no answer"))
                    )?;
                }
            }
            for b in &s.blocked {
                writeln!(out, "  cannot run {}: {}", b.ensemble, b.missing.join(", "))?;
            }
        }
    }
    Ok(u8::from(!s.available))
}

fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}
