//! The executor: runs a compiled ensemble, starting every agent the moment its dependencies
//! have finished (no level barriers), within the global and per-(host, model) limits.
//!
//! `engine` (what runs share: limits, retries, events), `scheduler` (the ready-queue loop over
//! one graph), `node` (one agent of the graph: guards, input_key, dispatch, fan-out, reuse),
//! `units` (one fn per kind of unit: llm, script, primitive, child, loop), `call` (model calls
//! with fallbacks, slots and retries), `results` (what a run produces, in memory) and
//! `document` (its execution.json, typed).

mod call;
pub mod document;
mod engine;
pub mod hash;
mod node;
pub mod primitives;
pub mod prompt;
pub mod results;
mod scheduler;
pub mod script;
mod units;
pub mod validation;

use std::sync::Arc;

use crate::compile::CompiledEnsemble;
pub use call::Question;
pub use document::ExecutionDoc;
pub use engine::{
    Asker, Budget, Engine, Event, Limits, Resolver, ResultCacheUse, RetryPolicy, Reusable,
    ScriptMemo,
};
pub use results::{
    AgentUsage, AuxiliaryCall, BudgetReport, Entry, InstanceStatus, RunResult, Status, TimelineRow,
    Timing,
};
pub use scheduler::run;

/// What a unit, a node or a child run produced besides its entry: the usage of the LLM calls
/// made for it (named), timeline rows, and the LLM and script results (leaves), nested ones
/// included, by display name.
#[derive(Clone, Default)]
struct Outputs {
    usage: Vec<(String, AgentUsage)>,
    rows: Vec<TimelineRow>,
    leaves: Vec<(String, Entry)>,
}

impl Outputs {
    fn append(&mut self, mut other: Outputs) {
        self.usage.append(&mut other.usage);
        self.rows.append(&mut other.rows);
        self.leaves.append(&mut other.leaves);
    }

    /// A finished run's usage, rows and leaves, moved out of it.
    fn take_from(result: &mut RunResult) -> Outputs {
        Outputs {
            usage: std::mem::take(&mut result.usage),
            rows: std::mem::take(&mut result.timeline),
            leaves: std::mem::take(&mut result.all_entries),
        }
    }
}

/// The input of one unit of work.
enum Work {
    Text(String),
    Script(script::ScriptInput),
    /// A dispatch agent's input and the ensemble it picked.
    Child {
        input: String,
        child: Arc<CompiledEnsemble>,
    },
}

/// Bytes per token when a budget has to estimate a count the server left out (English text
/// runs about 4 bytes a token).
const BYTES_PER_TOKEN: u64 = 4;

/// Where a run sits: its depth, the display prefix of its agents, and the ensembles from the
/// root to it (for the depth-limit error).
#[derive(Clone)]
struct Place {
    pub depth: u64,
    pub prefix: String,
    pub chain: Arc<Vec<String>>,
}

impl Place {
    /// The place of a child run started by agent `display` for ensemble `target`, or the depth
    /// error llm-orc gives, with the chain.
    pub fn child(
        &self,
        engine: &engine::Engine,
        display: &str,
        target: &str,
    ) -> Result<Place, String> {
        let depth = self.depth + 1;
        let limit = engine.max_depth.min(crate::compile::MAX_ENSEMBLE_DEPTH);
        if depth > limit {
            return Err(format!(
                "Ensemble nesting depth limit exceeded: depth {depth} > limit {limit} ({} -> {target})",
                self.chain.join(" -> ")
            ));
        }
        let mut chain = (*self.chain).clone();
        chain.push(target.to_string());
        Ok(Place {
            depth,
            prefix: format!("{display}/"),
            chain: Arc::new(chain),
        })
    }

    /// The same place under another display prefix (a loop's iteration).
    pub fn with_prefix(&self, prefix: String) -> Place {
        Place {
            prefix,
            ..self.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use crate::load::project::Env;
    use crate::service::{InvokeOptions, Service};
    use crate::testkit::sim::{SimConfig, Simulator};

    /// A writer into a shared buffer, for capturing log lines.
    #[derive(Clone)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// The scheduler says, at debug level, when each agent becomes ready, starts and finishes
    /// (status and milliseconds), why one was skipped, and how many instances a fan-out made.
    #[test]
    fn the_scheduler_traces_each_agent() {
        let buf = Captured(Arc::new(Mutex::new(Vec::new())));
        let writer = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .finish();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let dir = tempfile::tempdir().expect("tempdir");
        let local = dir.path().join(".llm-orc");
        std::fs::create_dir_all(local.join("ensembles")).expect("mkdir");
        tracing::subscriber::with_default(subscriber, || {
            rt.block_on(async {
                let sim = Simulator::start(SimConfig::default(), 0)
                    .await
                    .expect("sim");
                std::fs::write(
                    local.join("config.yaml"),
                    crate::testkit::synth::config(&sim.url(), 4),
                )
                .expect("write");
                std::fs::write(
                    local.join("ensembles/e.yaml"),
                    "name: e\ndescription: d\nagents:\n  - name: plan\n    model_profile: micro\n    system_prompt: '[[fake:json_array=3]]'\n  - name: work\n    model_profile: micro\n    depends_on: [plan]\n    fan_out: true\n  - name: never\n    model_profile: micro\n    depends_on: [plan]\n    when: '${plan.missing}'\n",
                )
                .expect("write");
                let svc = Service::open(dir.path(), None, &Env::default());
                let (ens, _) = svc.compile("e").expect("compile");
                let (_tx, rx) = tokio::sync::watch::channel(false);
                let mut opts = InvokeOptions::new(rx);
                opts.write_artifact = false;
                let (r, _, _) = svc.run_compiled(ens, "", "x".into(), opts).await;
                assert!(!r.interrupted);
            });
        });
        let log = String::from_utf8_lossy(
            &buf.0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
        .into_owned();
        let has = |needle: &str| log.lines().any(|l| l.contains(needle));
        for agent in ["plan", "work", "never", "work[0]", "work[2]"] {
            assert!(
                has(&format!("agent ready agent=\"{agent}\"")),
                "{agent}: {log}"
            );
        }
        assert!(has("agent started agent=\"plan\""), "{log}");
        assert!(has("agent started agent=\"work[1]\""), "{log}");
        assert!(
            log.lines()
                .any(|l| l.contains("agent finished agent=\"plan\" status=\"succeeded\" ms=")),
            "{log}"
        );
        assert!(
            has("agent finished agent=\"work\" status=\"succeeded\" ms="),
            "{log}"
        );
        assert!(has("fan-out expanded agent=\"work\" instances=3"), "{log}");
        assert!(
            has("agent skipped agent=\"never\" reason=\"`when: ${plan.missing}` is false"),
            "{log}"
        );
    }
}
