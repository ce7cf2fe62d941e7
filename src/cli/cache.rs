//! `orc cache stats|clear`: the project's store of results kept between runs
//! (`.llm-orc/cache/<kind>/`).

use std::io::Write;

use serde_json::json;

pub use super::args::{CacheClearArgs, CacheCommand, CacheStatsArgs, KindArg};
use super::{Code, Format, term_safe};
use crate::service::Service;
use crate::store::memo::MemoKind;

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
                writeln!(out, "{}", term_safe(&memo.dir().display().to_string()))?;
                for s in stats {
                    writeln!(
                        out,
                        "{:<8} {:>6} entries {:>12} bytes",
                        s.kind.folder(),
                        s.entries,
                        s.bytes
                    )?;
                    let o = s.origin;
                    if s.linked {
                        writeln!(
                            out,
                            "         the folder is a symbolic link: not read, counted or cleared"
                        )?;
                    } else if s.entries > 0 {
                        writeln!(
                            out,
                            "         written here {}, in another folder of this machine {}, elsewhere or unrecorded {} (never served), stamped in the future {} (never served)",
                            o.this_project, o.other_folder, o.elsewhere, o.future
                        )?;
                    }
                }
            }
        }
        CacheCommand::Clear(a) => {
            let kind = a.kind.map(MemoKind::from);
            let c = memo.clear(kind);
            let what = kind.map_or("every kind", MemoKind::folder);
            writeln!(
                out,
                "removed {} entries ({} bytes) of {what}",
                c.entries, c.bytes
            )?;
            for link in &c.links {
                eprintln!(
                    "warning: {} is a symbolic link: left alone (nothing removed through it)",
                    term_safe(&link.display().to_string())
                );
            }
            if !c.links.is_empty() {
                return Ok(1);
            }
        }
    }
    Ok(0)
}
