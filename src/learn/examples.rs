//! Training examples that stand on their own: when a run is judged or rejected, its instruction,
//! input and output are copied from its artifact into `.llm-orc/evaluations/examples/<routing
//! id>.json`. `cleanup_artifacts` only ever deletes under `artifacts/`, so exports built from
//! here do not shrink when old runs are cleaned up. With `learning.log_inputs: none` nothing is
//! kept (the user asked that inputs stay out of the learning files).

use std::fs::OpenOptions;

use serde::{Deserialize, Serialize};

use super::records::RoutingRecord;
use super::service::Learning;
use super::{LearnError, LogInputs, check_id};

/// One kept example.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Example {
    pub routing_id: String,
    pub task_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ensemble: Option<String>,
    /// `local`, `new-ensemble` or `claude`.
    pub route: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instruction: Option<String>,
    pub input: String,
    pub output: String,
    pub kept_at: String,
}

/// The example's path relative to `.llm-orc/` (what an evaluation record keeps).
pub fn reference(id: &str) -> String {
    format!("evaluations/examples/{id}.json")
}

impl Learning {
    /// Keeps the run's instruction, input and output (once; a kept example is never rewritten).
    /// Returns its reference, or None when there is nothing to keep (no readable artifact, or
    /// `log_inputs: none`).
    pub fn keep_example(&self, rec: &RoutingRecord) -> Result<Option<String>, LearnError> {
        if self.config.log_inputs == LogInputs::None {
            return Ok(None);
        }
        let id = check_id(&rec.id)?;
        let dir = self.paths.examples();
        let path = dir.join(format!("{id}.json"));
        if super::open_no_follow(&path, OpenOptions::new().read(true)).is_ok() {
            return Ok(Some(reference(id)));
        }
        let Some((input, output)) = self.artifact_io(rec) else {
            return Ok(None);
        };
        super::ensure_dir(&dir)?;
        let ex = Example {
            routing_id: id.to_string(),
            task_type: rec.task_type.clone(),
            ensemble: rec.ensemble_used.clone(),
            route: rec.route.as_str().to_string(),
            instruction: rec.instruction.clone(),
            input,
            output,
            kept_at: super::now(),
        };
        let bytes = serde_json::to_vec(&ex).map_err(|e| LearnError::Refused(e.to_string()))?;
        super::refuse_linked_dirs(&path).map_err(LearnError::io(&path))?;
        crate::store::atomic::write_atomic(&path, &bytes)
            .map_err(|e| LearnError::Refused(e.to_string()))?;
        Ok(Some(reference(id)))
    }

    /// A kept example of a run, if there is one.
    pub fn example(&self, id: &str) -> Option<Example> {
        let id = check_id(id).ok()?;
        let path = self.paths.examples().join(format!("{id}.json"));
        let mut f = super::open_no_follow(&path, OpenOptions::new().read(true)).ok()?;
        let mut text = String::new();
        std::io::Read::read_to_string(&mut f, &mut text).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// A run's instruction, input and output: from its kept example, else its artifact.
    pub fn run_io(&self, rec: &RoutingRecord) -> Option<(Option<String>, String, String)> {
        if let Some(e) = self.example(&rec.id) {
            return Some((
                e.instruction.or_else(|| rec.instruction.clone()),
                e.input,
                e.output,
            ));
        }
        let (input, output) = self.artifact_io(rec)?;
        Some((rec.instruction.clone(), input, output))
    }
}
