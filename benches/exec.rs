//! Execution against the in-process simulator.
//!
//! - `throughput`: zero model latency; fan-in of 8, 128, 1,000 and 10,000 agents and a three-tier
//!   swarm. Reports agents per second; the summary prints microseconds of orc per agent.
//!   Goal: under 50 us per agent at 10,000 agents.
//! - `makespan`: a latency model (time to first token + per-token time, scaled down) with 1, 4 and
//!   64 slots per model, against the level-barrier ideal and the lower bound of the graph.
//!   Goal: never above the ideal, within 2% of the lower bound.
//! - `control_flow`: a 10-iteration loop (a one-agent body run ten times as child runs) beside a
//!   plain 10-agent chain, both at zero model latency: what a loop iteration costs over a step.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use orc::compile::CompiledEnsemble;
use orc::load::project::Env;
use orc::service::{InvokeOptions, Service};
use orc::testkit::sim::{SimConfig, Simulator};

struct Setup {
    _dir: tempfile::TempDir,
    svc: Service,
    ens: Arc<CompiledEnsemble>,
}

fn setup(sim_url: &str, limit: usize, yaml: &str) -> Setup {
    setup_with(sim_url, limit, yaml, &[])
}

fn setup_with(sim_url: &str, limit: usize, yaml: &str, others: &[(&str, &str)]) -> Setup {
    let dir = tempfile::tempdir().expect("tempdir");
    let local = dir.path().join(".llm-orc");
    std::fs::create_dir_all(local.join("ensembles")).expect("mkdir");
    for (name, text) in others {
        std::fs::write(local.join(format!("ensembles/{name}.yaml")), text).expect("write");
    }
    std::fs::write(
        local.join("config.yaml"),
        orc::testkit::synth::config(sim_url, limit),
    )
    .expect("write");
    std::fs::write(local.join("ensembles/bench.yaml"), yaml).expect("write");
    let svc = Service::open(dir.path(), None, &Env::default());
    let ens = svc.compile("bench").map(|(e, _)| e).expect("compile");
    Setup {
        _dir: dir,
        svc,
        ens,
    }
}

async fn run_once(s: &Setup) -> (Duration, usize) {
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let mut opts = InvokeOptions::new(rx);
    opts.write_artifact = false;
    let t = Instant::now();
    let (r, _, _) = s
        .svc
        .run_compiled(s.ens.clone(), "", "bench input".into(), opts)
        .await;
    let ok = r.entries.iter().filter(|(_, e)| e.is_success()).count();
    (t.elapsed(), ok)
}

fn throughput(c: &mut Criterion, rt: &tokio::runtime::Runtime) {
    let sim = rt
        .block_on(Simulator::start(
            SimConfig {
                tokens: 4,
                ..SimConfig::default()
            },
            0,
        ))
        .expect("sim");
    let mut group = c.benchmark_group("throughput");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(8));
    let cases: Vec<(String, String)> = [8usize, 128, 1_000, 10_000]
        .iter()
        .map(|&n| {
            (
                format!("fan_in/{n}"),
                orc::testkit::synth::fan_in("bench", n),
            )
        })
        .chain([(
            String::from("swarm/1000"),
            orc::testkit::synth::swarm("bench", 888),
        )])
        .collect();
    let mut summary = Vec::new();
    for (label, yaml) in &cases {
        let s = setup(&sim.url(), 64, yaml);
        let agents = s.ens.agents.len();
        let (_, ok) = rt.block_on(run_once(&s));
        assert_eq!(ok, agents, "{label}: every agent must succeed");
        group.throughput(Throughput::Elements(agents as u64));
        let mut best = Duration::MAX;
        group.bench_function(BenchmarkId::from_parameter(label), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let (d, _) = rt.block_on(run_once(&s));
                    best = best.min(d);
                    total += d;
                }
                total
            });
        });
        summary.push((label.clone(), agents, best));
    }
    group.finish();
    println!("\nthroughput at zero model latency (best run; includes the simulator's own time):");
    // A filtered run (`cargo bench --bench exec -- control_flow`) measures nothing here.
    for (label, agents, d) in summary.into_iter().filter(|s| s.2 != Duration::MAX) {
        println!(
            "  {label:<14} {agents:>6} agents  {:>9.2} ms  {:>8.1} us/agent  {:>9.0} agents/s",
            d.as_secs_f64() * 1e3,
            d.as_secs_f64() * 1e6 / agents as f64,
            agents as f64 / d.as_secs_f64()
        );
    }
}

fn makespan(c: &mut Criterion, rt: &tokio::runtime::Runtime) {
    // Scaled latency: 20 ms to first token + 8 tokens x 2.5 ms = 40 ms per call. The bounds use
    // the service time the simulator actually took (its timers round up to the millisecond), so
    // what remains above them is orc's own.
    let ttft = Duration::from_millis(20);
    let per_token = Duration::from_micros(2500);
    let tokens = 8u32;
    let nominal = (ttft + per_token * tokens).as_secs_f64();
    let mut group = c.benchmark_group("makespan");
    group.sample_size(10);
    let mut rows = Vec::new();
    for slots in [1usize, 4, 64] {
        let sim = rt
            .block_on(Simulator::start(
                SimConfig {
                    ttft,
                    per_token,
                    tokens,
                    parallel: slots,
                    ..SimConfig::default()
                },
                0,
            ))
            .expect("sim");
        let s = setup(&sim.url(), slots, &orc::testkit::synth::swarm("bench", 32));
        let mut runs = Vec::new();
        let mut vs_realized = Vec::new();
        // Which agent a request came from: its system prompt.
        let by_prompt: std::collections::HashMap<String, usize> = s
            .ens
            .agents
            .iter()
            .enumerate()
            .filter_map(|(i, a)| match &a.kind {
                orc::compile::Kind::Llm(l) => Some((l.system_prompt.clone(), i)),
                _ => None,
            })
            .collect();
        group.bench_function(
            BenchmarkId::new("swarm-32-4-1", format!("{slots}-slots")),
            |bch| {
                bch.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let seen = sim.requests().len();
                        let (d, ok) = rt.block_on(run_once(&s));
                        assert_eq!(ok, s.ens.agents.len());
                        let mut service = vec![0.0; s.ens.agents.len()];
                        for r in &sim.requests()[seen..] {
                            if let Some(&i) = r.body["messages"][0]["content"]
                                .as_str()
                                .and_then(|p| by_prompt.get(p))
                            {
                                service[i] = (r.t_end_ms - r.t_start_ms) / 1e3;
                            }
                        }
                        vs_realized.push(
                            d.as_secs_f64() / orc::report::realized_bound(&s.ens, &service, slots),
                        );
                        runs.push(d.as_secs_f64());
                        total += d;
                    }
                    total
                });
            },
        );
        runs.sort_by(f64::total_cmp);
        vs_realized.sort_by(f64::total_cmp);
        let median = runs.get(runs.len() / 2).copied().unwrap_or(0.0);
        let realized = vs_realized
            .get(vs_realized.len() / 2)
            .copied()
            .unwrap_or(0.0);
        let reqs = sim.requests();
        let service = reqs.iter().map(|r| r.t_end_ms - r.t_start_ms).sum::<f64>()
            / reqs.len().max(1) as f64
            / 1e3;
        let b = orc::report::bounds(&s.ens, slots, service);
        rows.push((slots, median, b, service, realized));
    }
    group.finish();
    println!(
        "\nmakespan of the 32 -> 4 -> 1 swarm, {:.0} ms per call nominal (median of all runs):",
        nominal * 1e3
    );
    println!(
        "  slots  call (mean)  makespan   level-barrier ideal   lower bound   vs ideal   vs bound   vs bound of the run's own call times"
    );
    for (slots, m, b, service, realized) in rows.into_iter().filter(|r| r.1 > 0.0) {
        println!(
            "  {slots:>5}  {:>8.2} ms  {:>7.1} ms  {:>12.1} ms      {:>8.1} ms   {:>7.3}   {:>+7.1}%   {:>+7.1}%",
            service * 1e3,
            m * 1e3,
            b.level_barrier_ideal * 1e3,
            b.lower_bound * 1e3,
            m / b.level_barrier_ideal,
            (m / b.lower_bound - 1.0) * 100.0,
            (realized - 1.0) * 100.0
        );
    }
}

fn control_flow(c: &mut Criterion, rt: &tokio::runtime::Runtime) {
    let sim = rt
        .block_on(Simulator::start(
            SimConfig {
                tokens: 4,
                ..SimConfig::default()
            },
            0,
        ))
        .expect("sim");
    let mut chain = String::from("name: bench\ndescription: chain\nagents:\n");
    for i in 0..10 {
        chain.push_str(&format!("  - name: step-{i}\n    model_profile: micro\n"));
        if i > 0 {
            chain.push_str(&format!("    depends_on: [step-{}]\n", i - 1));
        }
    }
    let body =
        "name: body\ndescription: one step\nagents:\n  - name: step\n    model_profile: micro\n";
    let looped = "name: bench\ndescription: loop\nagents:\n  - name: rounds\n    loop: {body: body, until: '${value} == never', max_iterations: 10, carry: '${value}'}\n";
    let cases = [
        ("chain/10", setup(&sim.url(), 64, &chain), 10usize),
        (
            "loop/10",
            setup_with(&sim.url(), 64, looped, &[("body", body)]),
            1,
        ),
    ];
    let mut group = c.benchmark_group("control_flow");
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(8));
    let mut summary = Vec::new();
    for (label, s, want_ok) in &cases {
        let (_, ok) = rt.block_on(run_once(s));
        assert_eq!(ok, *want_ok, "{label}: every agent must succeed");
        let mut samples = Vec::new();
        group.bench_function(BenchmarkId::from_parameter(label), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let (d, _) = rt.block_on(run_once(s));
                    samples.push(d);
                    total += d;
                }
                total
            });
        });
        samples.sort();
        if let Some(&median) = samples.get(samples.len() / 2) {
            summary.push((label, median));
        }
    }
    group.finish();
    println!("\ncontrol flow at zero model latency (median run; 10 model calls each):");
    for (label, d) in &summary {
        println!(
            "  {label:<10} {:>8.2} ms  {:>7.1} us per step",
            d.as_secs_f64() * 1e3,
            d.as_secs_f64() * 1e5
        );
    }
    if let [(_, chain), (_, looped)] = summary.as_slice() {
        println!(
            "  a loop iteration costs {:+.1} us over a chain step ({:.2}x)",
            (looped.as_secs_f64() - chain.as_secs_f64()) * 1e5,
            looped.as_secs_f64() / chain.as_secs_f64()
        );
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut c = Criterion::default().configure_from_args();
    throughput(&mut c, &rt);
    makespan(&mut c, &rt);
    control_flow(&mut c, &rt);
    c.final_summary();
    let _ = Path::new(".");
}
