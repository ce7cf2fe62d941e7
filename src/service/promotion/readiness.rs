//! Readiness: whether an ensemble meets the bar for a destination (good evaluations, and for
//! the library no project-specific signal), with the evidence and the models it lacks.

use serde::Serialize;

use super::closure::{Closure, ModelDep, ModelStatus};
use super::signals::Signal;
use super::{Dest, EvalRecord, Evidence, GLOBAL_GOOD, LIBRARY_GOOD, refuse};
use crate::load::project::EnsembleFile;
use crate::service::{Service, ServiceError};

#[derive(Debug, Clone, Serialize)]
pub struct Readiness {
    pub ensemble: String,
    pub destination: Dest,
    /// Promotion may go ahead without `force`.
    pub ready: bool,
    /// The bar: good evaluations (and, for the library, no project-specific signal).
    pub bar: String,
    pub meets_bar: bool,
    /// Why the bar is not met.
    pub below_bar: Vec<String>,
    pub evaluations: EvalRecord,
    pub signals: Vec<Signal>,
    /// Problems that stop promotion whatever the override (the ensemble does not compile).
    pub errors: Vec<String>,
    /// Models not installed on any reachable host, with the nearest installed ones.
    pub model_warnings: Vec<String>,
}

impl Service {
    /// Readiness of an ensemble for a destination, with its evidence. An ensemble that does
    /// not compile is not ready, whatever the override.
    pub async fn readiness(
        &self,
        name: &str,
        dest: Dest,
        evidence: &dyn Evidence,
    ) -> Result<(Readiness, Option<Closure>), ServiceError> {
        let file = self.find(name)?;
        let closure = match self.closure(name).await {
            Ok(c) => Some(c),
            Err(ServiceError::Invalid { diagnostics, .. }) => {
                let errors: Vec<String> = diagnostics
                    .iter()
                    .filter(|d| d.is_error())
                    .map(|d| d.to_string().replace("\n  hint: ", " (hint: "))
                    .collect();
                return Ok((uncompiled(&file, dest, errors, evidence)?, None));
            }
            Err(e) => return Err(e),
        };
        let Some(c) = closure else {
            return Err(refuse("internal: no closure"));
        };
        let evaluations = evidence.eval_record(&c.ensemble)?;
        let signals = self.signals(&c, dest);
        let mut below = Vec::new();
        let need = dest.good_needed();
        if evaluations.good < need {
            below.push(format!(
                "{} good evaluation(s) of the {need} the {} tier needs",
                evaluations.good,
                dest.label()
            ));
        }
        if dest == Dest::Library && !signals.is_empty() {
            below.push(format!(
                "{} project-specific signal(s); the library takes none",
                signals.len()
            ));
        }
        let model_warnings = model_warnings(&c.models);
        let meets = below.is_empty();
        Ok((
            Readiness {
                ensemble: c.ensemble.clone(),
                destination: dest,
                ready: meets,
                bar: bar_text(dest),
                meets_bar: meets,
                below_bar: below,
                evaluations,
                signals,
                errors: Vec::new(),
                model_warnings,
            },
            Some(c),
        ))
    }
}

/// The readiness of an ensemble that does not compile: never ready.
fn uncompiled(
    file: &EnsembleFile,
    dest: Dest,
    errors: Vec<String>,
    evidence: &dyn Evidence,
) -> Result<Readiness, ServiceError> {
    let evaluations = evidence.eval_record(&file.name)?;
    Ok(Readiness {
        ensemble: file.name.clone(),
        destination: dest,
        ready: false,
        bar: bar_text(dest),
        meets_bar: false,
        below_bar: vec!["the ensemble does not compile".into()],
        evaluations,
        signals: Vec::new(),
        errors,
        model_warnings: Vec::new(),
    })
}

/// A warning for each model not installed on any reachable host.
fn model_warnings(models: &[ModelDep]) -> Vec<String> {
    models
        .iter()
        .filter(|m| m.status == ModelStatus::Missing)
        .map(|m| {
            format!(
                "model `{}` (profile {}) is not installed on any reachable host{}",
                m.model,
                if m.profiles.is_empty() {
                    "none".to_string()
                } else {
                    m.profiles.join(", ")
                },
                m.nearest
                    .first()
                    .map(|n| format!("; nearest installed in size: {n}"))
                    .unwrap_or_default()
            )
        })
        .collect()
}

fn bar_text(dest: Dest) -> String {
    match dest {
        Dest::Global => format!("{GLOBAL_GOOD} or more good evaluations"),
        Dest::Library => {
            format!("{LIBRARY_GOOD} or more good evaluations and no project-specific signal")
        }
    }
}
