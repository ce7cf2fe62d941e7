//! Loading and compiling swarms of 10, 1,000 and 10,000 agents (three tiers: micro extractors
//! -> analysers over eight each -> one synthesiser). Goal: 10,000 agents in under 200 ms.

use std::path::Path;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use orc::load::project::Env;
use orc::service::Service;

const PROFILES: &str = "model_profiles:\n  micro:\n    model: qwen3:0.6b\n    provider: ollama\n  small:\n    model: gemma3:4b\n    provider: ollama\n";

/// A swarm of about `total` agents.
fn swarm(total: usize) -> String {
    orc::testkit::synth::swarm("swarm", (total * 8).div_ceil(9).saturating_sub(1).max(1))
}

fn project(dir: &Path, total: usize) {
    let local = dir.join(".llm-orc");
    std::fs::create_dir_all(local.join("ensembles")).expect("mkdir");
    std::fs::write(local.join("config.yaml"), PROFILES).expect("write");
    std::fs::write(local.join("ensembles/swarm.yaml"), swarm(total)).expect("write");
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("load_and_compile");
    group.sample_size(10);
    let env = Env::default();
    for total in [10usize, 1_000, 10_000] {
        let dir = tempfile::tempdir().expect("tempdir");
        project(dir.path(), total);
        let agents = Service::open(dir.path(), None, &env)
            .compile("swarm")
            .map(|(e, _)| e.agents.len())
            .unwrap_or(0);
        assert!(
            agents >= total.saturating_sub(1),
            "compiled {agents} agents for {total}"
        );
        group.throughput(Throughput::Elements(agents as u64));
        group.bench_with_input(BenchmarkId::from_parameter(total), &total, |b, _| {
            b.iter(|| {
                let svc = Service::open(dir.path(), None, &env);
                svc.compile("swarm")
                    .map(|(e, _)| e.agents.len())
                    .unwrap_or(0)
            });
        });
    }
    group.finish();

    let mut group = c.benchmark_group("parse_only");
    group.sample_size(10);
    for total in [10usize, 1_000, 10_000] {
        let text = swarm(total);
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(total), &text, |b, text| {
            b.iter(|| {
                let mut sink = orc::load::diag::Sink::new(Path::new("swarm.yaml"));
                orc::load::spec::parse_ensemble(text, Path::new("swarm.yaml"), &mut sink)
                    .map(|s| s.agents.len())
            });
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
