//! `orc-sim`: the Ollama simulator as its own process, for side-by-side runs and demos.
//!
//! orc-sim --port 0 --port-file /tmp/port --ttft-ms 20 --tok-ms 2 --tokens 64 --parallel 4

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use orc::testkit::sim::{SimConfig, Simulator};

#[derive(Parser)]
#[command(
    name = "orc-sim",
    about = "An Ollama simulator (native and /v1 APIs) for tests and benchmarks"
)]
struct Args {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 11434)]
    port: u16,
    /// Address to bind (loopback by default).
    #[arg(long, default_value = "127.0.0.1")]
    host: std::net::IpAddr,
    /// Write the chosen port here once listening.
    #[arg(long)]
    port_file: Option<PathBuf>,
    #[arg(long, default_value_t = 0.0)]
    ttft_ms: f64,
    #[arg(long, default_value_t = 0.0)]
    tok_ms: f64,
    #[arg(long, default_value_t = 16)]
    tokens: u32,
    /// Requests served at once per model (0 = unlimited).
    #[arg(long, default_value_t = 0)]
    parallel: usize,
    /// Requests allowed to wait per model before 503 (0 = unlimited).
    #[arg(long, default_value_t = 0)]
    max_queue: usize,
    /// Installed models, comma-separated.
    #[arg(long)]
    models: Option<String>,
    #[arg(long)]
    accept_any_model: bool,
    /// Models held loaded at once (0 = no limit): a request for another model waits for an
    /// idle one to be evicted and pays --load-ms.
    #[arg(long, default_value_t = 0)]
    max_loaded: usize,
    /// Time to load a model (with --max-loaded).
    #[arg(long, default_value_t = 0.0)]
    load_ms: f64,
    /// Append one JSON line per generation request.
    #[arg(long)]
    log: Option<PathBuf>,
}

/// A flag's milliseconds as a `Duration`: negative, NaN or too large is a usage error.
fn millis(ms: f64, flag: &str) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(ms / 1000.0)
        .with_context(|| format!("{flag} {ms} is not a usable number of milliseconds"))
}

fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    let mut cfg = SimConfig {
        ttft: millis(a.ttft_ms, "--ttft-ms")?,
        per_token: millis(a.tok_ms, "--tok-ms")?,
        tokens: a.tokens,
        parallel: a.parallel,
        max_queue: a.max_queue,
        accept_any_model: a.accept_any_model,
        max_loaded: a.max_loaded,
        load_time: millis(a.load_ms, "--load-ms")?,
        ..SimConfig::default()
    };
    if let Some(m) = &a.models {
        cfg.models = m
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
    }
    let log = match &a.log {
        Some(p) => Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .with_context(|| format!("cannot open {}", p.display()))?,
        ),
        None => None,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let sim = Simulator::start_on(cfg, SocketAddr::new(a.host, a.port), log)
            .await
            .context("cannot listen")?;
        if let Some(pf) = &a.port_file {
            std::fs::write(pf, sim.addr().port().to_string())
                .with_context(|| format!("cannot write {}", pf.display()))?;
        }
        eprintln!(
            "orc-sim listening on {} (OLLAMA_HOST={})",
            sim.url(),
            sim.url()
        );
        tokio::signal::ctrl_c().await.ok();
        drop(sim);
        Ok(())
    })
}
