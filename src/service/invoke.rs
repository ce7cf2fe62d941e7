//! Running an ensemble for a front: the options (host, cancellation, progress events,
//! resume, budget, cache), the engine built from the project's settings, the run and its
//! artifact.

use std::path::Path;
use std::sync::Arc;

use crate::compile::CompiledEnsemble;
use crate::load::diag::Diagnostic;
use crate::load::project::EnsembleFile;
use crate::run::{self as exec, Engine, Event, RetryPolicy, RunResult};
use crate::service::{Service, ServiceError};
use crate::store::artifact::{self, ArtifactError, Written};
use crate::store::cache as store_cache;
use crate::store::memo::MemoKind;

/// How to run an ensemble.
pub struct InvokeOptions {
    /// Overrides `performance.concurrency.max_concurrent_agents` (0 = unlimited).
    pub max_concurrent: Option<u64>,
    /// `OLLAMA_HOST`, when set.
    pub ollama_host: Option<String>,
    pub events: Option<tokio::sync::mpsc::UnboundedSender<Event>>,
    /// Set to true to stop the run (its artifact is still written, marked interrupted).
    pub cancel: tokio::sync::watch::Receiver<bool>,
    pub write_artifact: bool,
    pub retry: RetryPolicy,
    /// An earlier run's artifact (execution.json) to reuse unchanged results from.
    pub resume: Option<(String, crate::store::read::Artifact)>,
    /// Asks the user for the interactive primitives (None: no one can answer).
    pub ask: Option<exec::Asker>,
    /// Let read_file/write_file reach outside the project directory.
    pub allow_outside_project: bool,
    /// Answer interactive primitives as the ensemble's `test_mode.llm_simulation` says (a
    /// validation run), through the run's engine; falls back to `ask`.
    pub simulate_users: bool,
    /// Overrides `performance.budget.tokens_per_run` (`--token-budget`).
    pub token_budget: Option<u64>,
    /// Overrides `performance.result_cache`: `Some(true)` caches deterministic answers (or as
    /// configured when that says more), `Some(false)` turns the cache off.
    pub cache: Option<bool>,
}

impl InvokeOptions {
    pub fn new(cancel: tokio::sync::watch::Receiver<bool>) -> Self {
        InvokeOptions {
            max_concurrent: None,
            ollama_host: None,
            events: None,
            cancel,
            write_artifact: true,
            retry: RetryPolicy::default(),
            resume: None,
            ask: None,
            allow_outside_project: false,
            simulate_users: false,
            token_budget: None,
            cache: None,
        }
    }
}

/// A finished run.
pub struct Invocation {
    pub ensemble: Arc<CompiledEnsemble>,
    pub result: RunResult,
    /// The run as llm-orc's JSON document (what execution.json holds).
    pub doc: serde_json::Value,
    /// Warnings from compiling the ensemble.
    pub warnings: Vec<Diagnostic>,
    pub artifact: Option<Result<Written, ArtifactError>>,
}

impl Service {
    /// Compiles and runs an ensemble, then writes its artifact.
    pub async fn invoke(
        &self,
        name: &str,
        input: String,
        opts: InvokeOptions,
    ) -> Result<Invocation, ServiceError> {
        let found = self.compile_found(name)?;
        Ok(self.run_found(found, input, opts).await)
    }

    /// Runs a compiled ensemble found by name and gathers what the front ends show.
    pub(super) async fn run_found(
        &self,
        (file, ensemble, warnings): (EnsembleFile, Arc<CompiledEnsemble>, Vec<Diagnostic>),
        input: String,
        opts: InvokeOptions,
    ) -> Invocation {
        let (result, doc, artifact) = self
            .run_compiled(ensemble.clone(), &file.rel_dir, input, opts)
            .await;
        Invocation {
            ensemble,
            result,
            doc,
            warnings,
            artifact,
        }
    }

    /// Compiles dispatch targets picked at run time, remembering each.
    pub(super) fn resolver(&self) -> exec::Resolver {
        let project = self.project.clone();
        let seen: std::sync::Mutex<
            std::collections::HashMap<(std::path::PathBuf, String), Arc<CompiledEnsemble>>,
        > = std::sync::Mutex::new(std::collections::HashMap::new());
        Arc::new(move |from: &CompiledEnsemble, name: &str| {
            let key = (from.file.clone(), name.to_string());
            if let Some(c) = seen.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
                return Ok(c.clone());
            }
            let c = crate::compile::compile_dispatch_target(&project, from, name)?;
            seen.lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(key, c.clone());
            Ok(c)
        })
    }

    /// Where the file primitives may read and write: the project directory (the folder holding
    /// `.llm-orc/`, else the working directory).
    pub fn file_scope(&self, unconfined: bool) -> exec::primitives::FileScope {
        let dirs = &self.project.dirs;
        let root = dirs
            .local
            .as_ref()
            .and_then(|l| l.parent())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| dirs.cwd.clone());
        exec::primitives::FileScope {
            root,
            cwd: dirs.cwd.clone(),
            unconfined,
        }
    }

    /// The result cache a run uses: `performance.result_cache`, unless the caller said
    /// (`--cache` keeps deterministic answers, `--no-cache` none); only in a project.
    pub(super) fn result_cache_use(&self, asked: Option<bool>) -> Option<exec::ResultCacheUse> {
        use crate::load::project::CacheMode;
        let rc = &self.project.config.performance.result_cache;
        let mode = match (asked, rc.mode) {
            (Some(false), _) => CacheMode::Off,
            (Some(true), CacheMode::Off) => CacheMode::Deterministic,
            (_, m) => m,
        };
        let local = self.project.dirs.local.as_ref()?;
        (mode != CacheMode::Off).then(|| exec::ResultCacheUse {
            store: Arc::new(store_cache::KindView::new(
                store_cache::results(local, rc),
                MemoKind::Llm,
            )),
            always: mode == CacheMode::Always,
        })
    }

    /// The project's cache store (`.llm-orc/cache`), for `orc cache stats|clear`; None outside
    /// a project.
    pub fn cache_store(&self) -> Option<Arc<crate::store::memo::Memo>> {
        let local = self.project.dirs.local.as_ref()?;
        Some(store_cache::results(
            local,
            &self.project.config.performance.result_cache,
        ))
    }

    /// The engine of one run: the project's performance settings, overridden by `opts`.
    fn engine(
        &self,
        ensemble: &CompiledEnsemble,
        opts: InvokeOptions,
        http: reqwest::Client,
        pool: Option<Arc<crate::backend::pool::HostPool>>,
    ) -> Arc<Engine> {
        let perf = &self.project.config.performance;
        let max = opts.max_concurrent.unwrap_or(perf.max_concurrent_agents);
        // Token streaming only pays off when someone watches the progress.
        // (and so does the idle deadline of a pool, which needs the answer's messages as they come).
        let stream = perf.streaming_enabled.unwrap_or(
            opts.events.is_some() || (perf.idle_timeout.is_some() && !self.pool_hosts().is_empty()),
        );
        let simulated = opts.simulate_users;
        let mut host_limits: std::collections::BTreeMap<String, usize> = perf
            .hosts
            .iter()
            .map(|(k, v)| (k.clone(), usize::try_from(*v).unwrap_or(usize::MAX)))
            .collect();
        for h in self.pool_hosts() {
            if let Some(n) = h.per_model_limit {
                host_limits.insert(h.url.clone(), usize::try_from(n).unwrap_or(usize::MAX));
            }
        }
        Arc::new_cyclic(|me| Engine {
            http,
            ollama_host: crate::backend::hosts::ollama_host(None, opts.ollama_host.as_deref()),
            llama_server_url: crate::backend::hosts::llama_server_url(
                None,
                self.env.llama_server_url.as_deref(),
            ),
            pool,
            limits: exec::Limits::new(
                usize::try_from(perf.per_model_limit).unwrap_or(usize::MAX),
                host_limits,
            ),
            max_concurrent: (max > 0).then(|| {
                Arc::new(tokio::sync::Semaphore::new(
                    usize::try_from(max).unwrap_or(usize::MAX),
                ))
            }),
            retry: opts.retry,
            max_depth: perf.max_ensemble_depth,
            max_fan_out: perf.max_fan_out,
            events: opts.events,
            origin: std::time::Instant::now(),
            cancel: opts.cancel,
            stream,
            max_response_bytes: perf.max_response_bytes,
            idle_timeout: perf
                .idle_timeout
                .and_then(|s| std::time::Duration::try_from_secs_f64(s).ok()),
            reuse: opts
                .resume
                .as_ref()
                .map(|(_, a)| a.reusable())
                .unwrap_or_default(),
            resolver: Some(self.resolver()),
            ask: simulated
                .then(|| self.simulated_users(ensemble, me.clone()))
                .flatten()
                .or_else(|| opts.ask.clone()),
            files: self.file_scope(opts.allow_outside_project),
            script_cache: perf
                .script_cache_enabled
                .then_some(self.project.dirs.local.as_ref())
                .flatten()
                .map(|l| {
                    Arc::new(store_cache::KindView::new(
                        store_cache::scripts(l, &perf.result_cache),
                        MemoKind::Scripts,
                    )) as Arc<dyn exec::ScriptMemo>
                }),
            result_cache: self.result_cache_use(opts.cache),
            budget: exec::Budget::new(
                opts.token_budget.or(perf.budget_tokens),
                perf.budget_cost_usd,
            ),
            user_inputs: std::sync::atomic::AtomicU64::new(0),
            auxiliary: std::sync::Mutex::new(Vec::new()),
        })
    }

    /// Runs an already compiled ensemble with this project's settings.
    pub async fn run_compiled(
        &self,
        ensemble: Arc<CompiledEnsemble>,
        rel_dir: &str,
        input: String,
        opts: InvokeOptions,
    ) -> (
        RunResult,
        serde_json::Value,
        Option<Result<Written, ArtifactError>>,
    ) {
        let resumed_from = opts.resume.as_ref().map(|(id, _)| id.clone());
        let write_artifact = opts.write_artifact;
        let http = crate::backend::http_client();
        let pool = self.host_pool(&http);
        if let Some(pool) = &pool {
            pool.refresh().await;
        }
        let refresher = pool.as_ref().map(|p| p.spawn_refresher());
        let engine = self.engine(&ensemble, opts, http, pool.clone());
        let process_at_start = artifact::ProcessSample::now();
        let mut result = exec::run(engine.clone(), ensemble.clone(), input).await;
        if let Some(r) = refresher {
            r.abort();
        }
        result.user_inputs = engine
            .user_inputs
            .load(std::sync::atomic::Ordering::Relaxed);
        if let Some(block) = &ensemble.spec.validation
            && !result.interrupted
        {
            result.validation = Some(self.check_run(block, &result, &engine).await);
        }
        result.auxiliary_calls = std::mem::take(
            &mut *engine
                .auxiliary
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        result.resumed_from = resumed_from;
        result.budget = engine.budget.as_ref().map(exec::Budget::report);
        let mut doc = result.to_doc();
        artifact::add_resource_metrics(&mut doc, &result, &ensemble, process_at_start);
        if let (Some(pool), Some(orc)) = (&pool, doc.metadata.orc.as_mut()) {
            // The pool as the run left it: who served, whose breaker opened.
            orc.hosts = Some(serde_json::to_value(pool.status()).unwrap_or_default());
        }
        let artifact =
            write_artifact.then(|| artifact::write(&self.artifacts_root(), rel_dir, &result, &doc));
        (result, crate::run::document::to_value(&doc), artifact)
    }
}
