//! `orc cache stats|clear`: the project's store of results kept between runs
//! (`.llm-orc/cache/<kind>/`).

use std::io::Write;

use clap::{Args, Subcommand, ValueEnum};
use serde_json::json;

use super::{Code, Format};
use crate::service::Service;
use crate::store::memo::MemoKind;

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

impl From<KindArg> for MemoKind {
    fn from(k: KindArg) -> MemoKind {
        match k {
            KindArg::Llm => MemoKind::Llm,
            KindArg::Scripts => MemoKind::Scripts,
        }
    }
}

pub fn cache(svc: &Service, c: CacheCommand, out: &mut impl Write) -> anyhow::Result<Code> {
    let Some(memo) = svc.cache_store() else {
        eprintln!("error: no project here (no .llm-orc/ folder): there is no cache");
        return Ok(1);
    };
    match c {
        CacheCommand::Stats(a) => {
            let stats = memo.stats();
            if a.format == Format::Json {
                let doc = json!({"dir": memo.dir(), "kinds": stats});
                writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
            } else {
                writeln!(out, "{}", memo.dir().display())?;
                for s in stats {
                    writeln!(
                        out,
                        "{:<8} {:>6} entries {:>12} bytes",
                        s.kind.folder(),
                        s.entries,
                        s.bytes
                    )?;
                }
            }
        }
        CacheCommand::Clear(a) => {
            let kind = a.kind.map(MemoKind::from);
            let (n, bytes) = memo.clear(kind);
            let what = kind.map_or("every kind", MemoKind::folder);
            writeln!(out, "removed {n} entries ({bytes} bytes) of {what}")?;
        }
    }
    Ok(0)
}
