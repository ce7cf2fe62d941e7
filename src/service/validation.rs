//! `orc validate run`: an ensemble's `validation:` block run on llm-orc's test input, its
//! `test_mode` simulated users, and the questions both ask a model outside the ensemble.

use std::sync::Arc;

use crate::compile::CompiledEnsemble;
use crate::load::project::EnsembleFile;
use crate::run::{self as exec, Engine, RunResult};
use crate::service::{Invocation, InvokeOptions, Service, ServiceError};

impl Service {
    /// The ensembles that carry a `validation:` block, optionally only those of one category
    /// (the block's `category:`, or a folder of the ensemble's path), by qualified name.
    pub fn validation_ensembles(&self, category: Option<&str>) -> Vec<EnsembleFile> {
        self.project
            .catalogue()
            .files
            .iter()
            .filter(|f| {
                let Some(spec) = &f.spec else { return false };
                let Some(block) = &spec.validation else {
                    return false;
                };
                match category {
                    None => true,
                    Some(c) => {
                        block.get("category").and_then(|v| v.as_str()) == Some(c)
                            || f.rel_dir.split('/').any(|part| part == c)
                    }
                }
            })
            .cloned()
            .collect()
    }

    /// `validate run`: runs an ensemble that has a `validation:` block on llm-orc's test input
    /// and returns the run with its `validation_result`. With `test_mode.enabled`, interactive
    /// primitives are answered by the block's simulated users instead of the terminal.
    pub async fn validation_run(
        &self,
        name: &str,
        mut opts: InvokeOptions,
    ) -> Result<Invocation, ServiceError> {
        let (file, ensemble, warnings) = self.compile_found(name)?;
        if ensemble.spec.validation.is_none() {
            return Err(ServiceError::Refused(format!(
                "Ensemble '{name}' does not have validation configuration."
            )));
        }
        opts.simulate_users = true;
        Ok(self
            .run_found(
                (file, ensemble, warnings),
                VALIDATION_INPUT.to_string(),
                opts,
            )
            .await)
    }

    /// `test_mode: {enabled: true, llm_simulation: [{agent, model, persona, cached_responses}]}`:
    /// an asker that answers an agent's question from its cached responses (keyed by the
    /// question), else by asking its simulation model in the persona's voice.
    pub(super) fn simulated_users(
        &self,
        ensemble: &CompiledEnsemble,
        engine: std::sync::Weak<Engine>,
    ) -> Option<exec::Asker> {
        let tm = ensemble.spec.test_mode.as_ref()?;
        if !tm
            .get("enabled")
            .is_some_and(crate::compile::predicate::truthy)
        {
            return None;
        }
        let sims: Vec<serde_json::Value> = tm
            .get("llm_simulation")
            .and_then(|v| v.as_array())
            .cloned()
            .unwrap_or_default();
        let profiles = self.project.profiles.clone();
        let handle = tokio::runtime::Handle::try_current().ok()?;
        Some(Arc::new(move |agent: &str, question: &str| {
            let sim = sims.iter().find(|s| s["agent"] == agent)?;
            if let Some(a) = sim["cached_responses"]
                .get(question)
                .and_then(|v| v.as_str())
            {
                return Some(a.to_string());
            }
            let target = model_target(&profiles, sim["model"].as_str().unwrap_or("qwen3:0.6b"));
            let persona = sim["persona"].as_str().unwrap_or("helpful_user");
            let system = format!(
                "You play a user ({persona}) answering a program's question. Reply with the answer only, in a sentence at most."
            );
            let engine = engine.upgrade()?;
            handle
                .block_on(ask_model(
                    &engine,
                    "simulated_user",
                    Some(agent),
                    &target,
                    &system,
                    question,
                ))
                .ok()
        }))
    }

    /// Evaluates an ensemble's `validation:` block against its finished run (llm-orc's
    /// `validation_result`). The semantic layer asks its validator model through Ollama.
    pub(super) async fn check_run(
        &self,
        block: &serde_json::Value,
        result: &RunResult,
        engine: &Arc<Engine>,
    ) -> serde_json::Value {
        let cfg = match crate::run::validation::parse(block) {
            Ok(c) => c,
            Err(e) => {
                return serde_json::json!({
                    "ensemble_name": result.ensemble,
                    "passed": false,
                    "error": format!("the validation block is invalid: {e}"),
                });
            }
        };
        let doc = result.to_json(true);
        let empty = serde_json::Map::new();
        let view = crate::run::validation::RunView {
            ensemble: &result.ensemble,
            execution_order: &result.execution_order,
            results: doc["results"].as_object().unwrap_or(&empty),
            execution_time: (result.completed_at - result.started_at).max(0.0),
        };
        let profiles = self.project.profiles.clone();
        let engine = engine.clone();
        let judge = move |model: &str, prompt: &str| {
            let target = model_target(&profiles, model);
            let (engine, prompt) = (engine.clone(), prompt.to_string());
            let fut: futures::future::BoxFuture<'static, Result<String, String>> =
                Box::pin(async move {
                    let purpose = "semantic_validation";
                    ask_model(&engine, purpose, None, &target, JUDGE_SYSTEM, &prompt).await
                });
            fut
        };
        crate::run::validation::evaluate(&cfg, &view, Some(&judge)).await
    }
}

/// The input `validate run` gives an ensemble, as llm-orc does.
pub const VALIDATION_INPUT: &str = "validation test input";

/// The system prompt of the semantic layer's judge.
const JUDGE_SYSTEM: &str = "You review the outputs of other models strictly. Start your answer with PASS or FAIL, then say why in a sentence or two.";

/// A model named in a `validation:` or `test_mode:` block: a profile's model and host when a
/// profile has that name, else that model on the run's Ollama host. Only the model and host are
/// taken from the profile; the question is sent without its options.
fn model_target(
    profiles: &crate::load::project::Profiles,
    name: &str,
) -> crate::compile::ModelTarget {
    let (profile, model, base_url) = match profiles.get(name) {
        Some(p) => (
            Some(name.to_string()),
            p.spec.model.clone().unwrap_or_else(|| name.to_string()),
            p.spec.base_url.clone(),
        ),
        None => (None, name.to_string(), None),
    };
    crate::compile::ModelTarget {
        profile,
        model,
        provider: crate::compile::ProviderKind::Ollama,
        base_url,
        temperature: None,
        max_tokens: None,
        options: serde_json::Map::new(),
        cost_per_token: None,
    }
}

/// One question to a model outside the ensemble's agents (`purpose`: `semantic_validation`,
/// `simulated_user`), through the run's engine: its slots, retries and provider code; the usage
/// lands in the artifact's `metadata.orc.auxiliary_calls`. The reply's text, or why there is none.
pub async fn ask_model(
    engine: &Engine,
    purpose: &'static str,
    agent: Option<&str>,
    target: &crate::compile::ModelTarget,
    system: &str,
    prompt: &str,
) -> Result<String, String> {
    engine
        .ask_model(exec::Question {
            purpose,
            agent,
            target,
            system,
            user: prompt,
            // As before: the question is not cut short (a week is the longest timeout orc knows).
            timeout: std::time::Duration::from_secs_f64(crate::load::spec::MAX_TIMEOUT_SECONDS),
        })
        .await
}
