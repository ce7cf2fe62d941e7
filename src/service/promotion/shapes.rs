//! llm-orc's JSON shapes of promotion's typed results: `list_dependencies`,
//! `check_promotion_readiness`, `promote_ensemble` and `demote_ensemble` (`orc promote` and
//! `orc demote --format json` print the same, so both fronts use them; the layer rule keeps the
//! CLI from reaching into `mcp`, as for `service::shapes`). Key order is llm-orc's.

use serde_json::{Value, json};

use super::{
    AgentNeeds, DemoteOutcome, Demotion, Dependencies, Dest, Issue, Outcome, Promotion,
    PromotionCheck,
};

/// `list_dependencies`: each agent's profile, provider and model and whether it is available;
/// orc adds the closure report.
pub fn dependencies(d: &Dependencies) -> Value {
    let agents: Vec<Value> = d
        .agents
        .iter()
        .map(|a| match a {
            AgentNeeds::Script { name, script } => {
                json!({"name": name, "type": "script", "script": script})
            }
            AgentNeeds::Llm {
                name,
                model_profile,
                profile_found,
                profile_tier,
                provider,
                model,
                model_available,
            } => json!({
                "name": name, "model_profile": model_profile, "profile_found": profile_found,
                "profile_tier": profile_tier, "provider": provider, "model": model, "model_available": model_available,
            }),
        })
        .collect();
    let mut out = json!({
        "ensemble": d.ensemble, "source_tier": d.source_tier, "agents": agents,
        "profiles_needed": d.profiles_needed, "models_needed": d.models_needed,
        "providers_needed": d.providers_needed,
    });
    if let Some(c) = &d.closure {
        out["closure"] = json!(c);
    }
    out
}

/// One issue in llm-orc's words.
fn issue(i: &Issue, dest: Dest) -> Value {
    let (detail, resolution) = match i {
        Issue::BrokenReference { profile } => (
            format!("Profile '{profile}' not found in any tier"),
            "Create the profile before promoting".to_string(),
        ),
        Issue::MissingProfile { profile } => (
            format!("Profile '{profile}' not found at {} tier", dest.label()),
            "Will be copied during promotion if include_profiles=true".to_string(),
        ),
        Issue::ProviderUnavailable { profile, host } => (
            format!("Provider 'ollama' for profile '{profile}' is not available at {host}"),
            "Ensure ollama is running".to_string(),
        ),
        Issue::ModelUnavailable { model } => (
            format!("Model '{model}' requires Ollama but is not installed"),
            format!("Install with: ollama pull {model}"),
        ),
    };
    json!({"type": i.kind(), "detail": detail, "resolution": resolution})
}

/// `check_promotion_readiness`: llm-orc's issues, then orc's readiness (the bar and its
/// evidence) and the dependencies.
pub fn check(c: &PromotionCheck) -> Value {
    let issues: Vec<Value> = c.issues.iter().map(|i| issue(i, c.destination)).collect();
    let mut out = json!({
        "ensemble": c.ensemble, "destination": c.destination.label(), "ready": c.ready,
        "issues": issues, "already_exists": c.already_exists,
        "profiles_to_copy": c.profiles_to_copy,
        "profiles_already_present": c.profiles_already_present,
    });
    if let Some(w) = &c.would_write {
        out["would_write"] = json!(w);
    }
    if let Some(d) = &c.dependencies {
        out["dependencies"] = json!(d);
    }
    if let (Value::Object(o), Value::Object(extra)) = (&mut out, json!(c.readiness)) {
        for (k, v) in extra {
            if k != "ready" && k != "ensemble" && k != "destination" {
                o.insert(k, v);
            }
        }
    }
    out
}

/// `promote_ensemble` (and `orc promote --format json`): the plan and readiness, then what was
/// done.
pub fn promotion(p: &Promotion) -> Value {
    let mut out = json!({
        "ensemble": p.ensemble, "source_tier": p.source_tier, "source": p.source,
        "destination": p.destination, "ensemble_path": p.plan.ensemble_path,
        "readiness": p.readiness, "plan": p.plan,
        "profiles_copied": p.profiles_copied(),
        "profiles_already_present": p.profiles_already_present(),
    });
    let status = json!(p.outcome.status());
    match &p.outcome {
        Outcome::Preview {
            would_write,
            needs_force,
            ..
        } => {
            out["status"] = status;
            out["would_write"] = json!(would_write);
            if let Some(n) = needs_force {
                out["needs_force"] = json!(n);
            }
        }
        Outcome::Promoted {
            overridden,
            written,
        } => {
            out["overridden"] = json!(overridden);
            out["status"] = status;
            out["written"] = json!(written);
        }
        Outcome::Contributed {
            overridden,
            contribution: k,
        } => {
            out["overridden"] = json!(overridden);
            out["status"] = status;
            out["branch"] = json!(k.branch);
            out["commit"] = json!(k.commit);
            out["base"] = json!(k.base);
            out["pr_description"] = json!(k.pr_description);
            out["next_steps"] = json!(k.next_steps);
            out["committed"] = json!(k.committed);
        }
    }
    out
}

/// `demote_ensemble` (and `orc demote --format json`).
pub fn demotion(d: &Demotion) -> Value {
    let mut out = match &d.outcome {
        DemoteOutcome::Preview { orphaned_profiles } => {
            let mut would = json!({"ensemble": d.path});
            if let Some(o) = orphaned_profiles {
                would["orphaned_profiles"] = json!(o);
            }
            if let Some(r) = &d.readme {
                would["readme_line"] = json!(r);
            }
            json!({
                "status": "preview", "ensemble": d.ensemble, "tier": d.tier.label(),
                "would_remove": would, "files": d.files,
                "confirm_with": "confirm: true (CLI --yes)",
            })
        }
        DemoteOutcome::Demoted { removed_profiles } => {
            let mut out = json!({
                "status": "demoted", "ensemble": d.ensemble, "tier": d.tier.label(),
                "removed": d.files, "removed_profiles": removed_profiles,
            });
            if let Some(r) = &d.readme {
                out["readme_updated"] = json!(r);
            }
            out
        }
    };
    if let Some(n) = d.note() {
        out["note"] = json!(n);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issues_in_llm_orcs_words() {
        let v = issue(
            &Issue::MissingProfile {
                profile: "p".into(),
            },
            Dest::Library,
        );
        assert_eq!(
            v.to_string(),
            r#"{"type":"missing_profile","detail":"Profile 'p' not found at library tier","resolution":"Will be copied during promotion if include_profiles=true"}"#
        );
        let v = issue(&Issue::ModelUnavailable { model: "m".into() }, Dest::Global);
        assert_eq!(v["type"], "model_unavailable");
    }

    #[test]
    fn a_demotion_preview_names_what_it_would_remove() {
        let d = Demotion {
            ensemble: "x".into(),
            tier: Dest::Library,
            path: "/lib/ensembles/c/x.yaml".into(),
            files: vec!["/lib/ensembles/c/x.yaml".into()],
            readme: Some("/lib/ensembles/c/README.md".into()),
            git_library: false,
            outcome: DemoteOutcome::Preview {
                orphaned_profiles: None,
            },
        };
        assert_eq!(
            demotion(&d).to_string(),
            r#"{"status":"preview","ensemble":"x","tier":"library","would_remove":{"ensemble":"/lib/ensembles/c/x.yaml","readme_line":"/lib/ensembles/c/README.md"},"files":["/lib/ensembles/c/x.yaml"],"confirm_with":"confirm: true (CLI --yes)"}"#
        );
    }

    fn a_promotion(outcome: Outcome) -> Promotion {
        use crate::load::project::Tier;
        use crate::service::promotion::{EvalRecord, Plan, Readiness};
        let dest = Dest::Global;
        Promotion {
            ensemble: "x".into(),
            source_tier: Tier::Local,
            source: "/p/x.yaml".into(),
            destination: dest,
            readiness: Readiness {
                ensemble: "x".into(),
                destination: dest,
                ready: true,
                bar: "b".into(),
                meets_bar: true,
                below_bar: Vec::new(),
                evaluations: EvalRecord::default(),
                signals: Vec::new(),
                errors: Vec::new(),
                model_warnings: Vec::new(),
            },
            plan: Plan {
                destination: dest,
                root: "/g".into(),
                category: None,
                ensemble_path: "/g/ensembles/x.yaml".into(),
                files: Vec::new(),
                branch: None,
            },
            outcome,
        }
    }

    fn keys(v: &Value) -> Vec<&str> {
        v.as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default()
    }

    #[test]
    fn a_promotions_keys_come_in_llm_orcs_order() {
        let head = [
            "ensemble",
            "source_tier",
            "source",
            "destination",
            "ensemble_path",
            "readiness",
            "plan",
            "profiles_copied",
            "profiles_already_present",
        ];
        let preview = promotion(&a_promotion(Outcome::Preview {
            status: crate::service::promotion::PromoteStatus::NeedsConfirmation,
            would_write: Vec::new(),
            needs_force: None,
        }));
        assert_eq!(
            keys(&preview),
            [&head[..], &["status", "would_write"]].concat()
        );
        assert_eq!(preview["status"], "needs_confirmation");
        let done = promotion(&a_promotion(Outcome::Promoted {
            overridden: Vec::new(),
            written: vec!["/g/ensembles/x.yaml".into()],
        }));
        assert_eq!(
            keys(&done),
            [&head[..], &["overridden", "status", "written"]].concat()
        );
        let contributed = promotion(&a_promotion(Outcome::Contributed {
            overridden: Vec::new(),
            contribution: crate::service::promotion::Contribution {
                branch: "contribute/x".into(),
                commit: "c".into(),
                base: None,
                pr_description: "/p/.llm-orc/contributions/x.md".into(),
                next_steps: Vec::new(),
                committed: Vec::new(),
            },
        }));
        assert_eq!(
            keys(&contributed),
            [
                &head[..],
                &[
                    "overridden",
                    "status",
                    "branch",
                    "commit",
                    "base",
                    "pr_description",
                    "next_steps",
                    "committed"
                ]
            ]
            .concat()
        );
        assert!(contributed["base"].is_null());
    }
}
