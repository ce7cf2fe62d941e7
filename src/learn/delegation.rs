//! The one knob a user calibrates: how much routing may delegate to local models, a level from
//! 0 (nothing) to 5 (everything the matrix's hard limits allow), for the project and per task
//! type, in `.llm-orc/config.yaml`:
//!
//! ```yaml
//! routing:
//!   delegation: 3          # the default: the routing matrix as written
//!   task_types:
//!     code-review: 2       # only when the classifier is sure
//! ```
//!
//! A level says which of the matrix's reliability classes may go local and how sure the
//! classifier must be. The hard limits and the failure-mode signals apply at every level.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::classify::Reliability;

pub const DEFAULT_LEVEL: u8 = 3;
pub const MAX_LEVEL: u8 = 5;

/// `routing:` in config.yaml.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingSettings {
    #[serde(default)]
    pub delegation: Option<u8>,
    #[serde(default)]
    pub task_types: BTreeMap<String, u8>,
}

/// The level that applies to one task, and where it came from.
#[derive(Debug, Clone, Serialize)]
pub struct Delegation {
    pub level: u8,
    /// `default`, `config.yaml routing.delegation`, `config.yaml routing.task_types.<type>` or
    /// `this call`.
    pub source: String,
    /// What the level lets go local.
    pub allows: &'static str,
    /// The classifier's confidence a task needs at this level to go local.
    pub min_confidence: f64,
    /// The levels, for a user calibrating.
    pub scale: &'static str,
}

pub const SCALE: &str = "0 nothing local; 1 extraction, classification, summarization when sure; 2 also code, review and JSON when sure; 3 the matrix as written (default); 4 also on a weaker match; 5 any match the hard limits allow";

impl Delegation {
    pub fn at(level: u8, source: String) -> Delegation {
        let level = level.min(MAX_LEVEL);
        let (allows, min_confidence) = match level {
            0 => ("nothing: every task goes to Claude", 1.1),
            1 => (
                "the matrix's reliable types (extraction, classification, summarization) at high confidence",
                0.75,
            ),
            2 => (
                "reliable and adequate types (also code generation, code review, JSON) at high confidence",
                0.75,
            ),
            3 => (
                "the routing matrix as written: reliable, adequate, and marginal types within their conditions, at medium confidence or more",
                0.6,
            ),
            4 => (
                "as 3, also at low confidence (a single strong cue with a rival)",
                0.5,
            ),
            _ => ("as 3, on any match the hard limits allow", 0.2),
        };
        Delegation {
            level,
            source,
            allows,
            min_confidence,
            scale: SCALE,
        }
    }

    /// Whether a task of this reliability, classified with this confidence, may go local.
    pub fn permits(&self, local: Reliability, confidence: f64) -> bool {
        let class_ok = match self.level {
            0 => false,
            1 => local == Reliability::Yes,
            2 => matches!(local, Reliability::Yes | Reliability::Adequate),
            _ => local != Reliability::No,
        };
        class_ok && confidence >= self.min_confidence
    }
}

/// Reads `routing:` from the project's config.yaml; a missing file or key gives the defaults, a
/// broken one the defaults and a warning.
pub fn settings(llm_orc: &Path) -> (RoutingSettings, Vec<String>) {
    let path = llm_orc.join("config.yaml");
    let Ok(text) = std::fs::read_to_string(&path) else {
        return (RoutingSettings::default(), Vec::new());
    };
    #[derive(Deserialize)]
    struct Outer {
        #[serde(default)]
        routing: Option<serde_json::Value>,
    }
    let Ok(outer) = serde_saphyr::from_str::<Outer>(&text) else {
        return (RoutingSettings::default(), Vec::new()); // `config check` reports it
    };
    let mut warnings = Vec::new();
    let mut s = match outer.routing {
        None | Some(serde_json::Value::Null) => RoutingSettings::default(),
        Some(v) => match serde_json::from_value::<RoutingSettings>(v) {
            Ok(s) => s,
            Err(e) => {
                warnings.push(format!(
                    "{}: `routing:` ignored ({e}); delegation level {DEFAULT_LEVEL}",
                    path.display()
                ));
                RoutingSettings::default()
            }
        },
    };
    let mut clamp = |what: String, v: &mut u8| {
        if *v > MAX_LEVEL {
            warnings.push(format!(
                "{}: {what} {v} is above {MAX_LEVEL}; using {MAX_LEVEL}",
                path.display()
            ));
            *v = MAX_LEVEL;
        }
    };
    if let Some(v) = s.delegation.as_mut() {
        clamp("routing.delegation".into(), v);
    }
    let mut normalized = BTreeMap::new();
    for (k, mut v) in std::mem::take(&mut s.task_types) {
        clamp(format!("routing.task_types.{k}"), &mut v);
        normalized.insert(super::classify::normalize(&k), v);
    }
    s.task_types = normalized;
    (s, warnings)
}

/// The level for a task type: this call's, else the task type's, else the project's, else 3.
pub fn for_task(s: &RoutingSettings, task_type: &str, this_call: Option<u8>) -> Delegation {
    if let Some(l) = this_call {
        return Delegation::at(l, "this call".into());
    }
    if let Some(l) = s.task_types.get(task_type) {
        return Delegation::at(*l, format!("config.yaml routing.task_types.{task_type}"));
    }
    match s.delegation {
        Some(l) => Delegation::at(l, "config.yaml routing.delegation".into()),
        None => Delegation::at(DEFAULT_LEVEL, "default".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_widen_what_goes_local() {
        let y = Reliability::Yes;
        let a = Reliability::Adequate;
        let m = Reliability::Marginal;
        let d = |l| Delegation::at(l, "t".into());
        assert!(!d(0).permits(y, 1.0));
        assert!(d(1).permits(y, 0.8) && !d(1).permits(a, 0.8) && !d(1).permits(y, 0.7));
        assert!(d(2).permits(a, 0.8) && !d(2).permits(m, 0.8));
        assert!(d(3).permits(m, 0.6) && !d(3).permits(y, 0.5));
        assert!(d(4).permits(y, 0.5));
        assert!(d(5).permits(y, 0.25));
        for l in 0..=9 {
            assert!(!d(l).permits(Reliability::No, 1.0), "level {l}");
        }
        assert_eq!(d(9).level, MAX_LEVEL);
    }

    #[test]
    fn config_sets_the_project_and_each_task_type() {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::write(
            dir.path().join("config.yaml"),
            "routing:\n  delegation: 4\n  task_types:\n    Code_Review: 1\n    json: 12\n",
        )
        .expect("write");
        let (s, w) = settings(dir.path());
        assert_eq!(w.len(), 1, "{w:?}");
        assert_eq!(for_task(&s, "extraction", None).level, 4);
        let r = for_task(&s, "code-review", None);
        assert_eq!(
            (r.level, r.source.as_str()),
            (1, "config.yaml routing.task_types.code-review")
        );
        assert_eq!(for_task(&s, "json", None).level, MAX_LEVEL);
        assert_eq!(for_task(&s, "json", Some(0)).source, "this call");
        std::fs::write(dir.path().join("config.yaml"), "routing:\n  delegate: 2\n").expect("w");
        let (s, w) = settings(dir.path());
        assert_eq!((s.delegation, w.len()), (None, 1));
        assert_eq!(for_task(&s, "x", None).source, "default");
    }
}
