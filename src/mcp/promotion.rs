//! The promotion tools' bodies (`list_dependencies`, `check_promotion_readiness`,
//! `promote_ensemble`, `demote_ensemble`): their parameters mapped to a service call, with the
//! evidence read through the learn layer, and the typed result in llm-orc's JSON shape
//! (`service::promotion::shapes`, which `orc promote --format json` prints too).

use serde_json::Value;

use super::params::{DemoteArgs, PromoteArgs, ReadinessArgs};
use crate::learn::service::Learning;
use crate::service::promotion::shapes::{check, demotion, dependencies, promotion};
use crate::service::promotion::{Dest, PromoteRequest};
use crate::service::{Service, ServiceError};

fn refuse(msg: impl Into<String>) -> ServiceError {
    ServiceError::Refused(msg.into())
}

/// `list_dependencies`.
pub(super) async fn list_dependencies(svc: &Service, name: &str) -> Result<Value, ServiceError> {
    Ok(dependencies(&svc.list_dependencies(name).await?))
}

/// `check_promotion_readiness`.
pub(super) async fn check_promotion_readiness(
    svc: &Service,
    a: &ReadinessArgs,
) -> Result<Value, ServiceError> {
    let evidence = Learning::open(svc);
    let c = svc
        .check_promotion(&a.ensemble_name, &a.destination, &evidence)
        .await?;
    Ok(check(&c))
}

/// `promote_ensemble`: nothing is written without `confirm: true`; `dry_run` (or no confirm)
/// returns the plan. `force` promotes below the readiness bar.
pub(super) async fn promote_ensemble(
    svc: &Service,
    a: &PromoteArgs,
) -> Result<Value, ServiceError> {
    Dest::parse(&a.destination)?;
    if a.dry_run == Some(false) && !a.confirm {
        return Err(refuse(
            "Confirmation required to promote (pass confirm: true after the user agreed); nothing was written. Call without dry_run: false to see the files it would write.",
        ));
    }
    let req = PromoteRequest {
        dry_run: a.dry_run.unwrap_or(!a.confirm),
        confirm: a.confirm,
        overwrite: a.overwrite,
        force: a.force,
        category: a.category.clone(),
        skip_profiles: !a.include_profiles,
    };
    let evidence = Learning::open(svc);
    let p = svc
        .promote(&a.ensemble_name, &a.destination, &req, &evidence)
        .await?;
    Ok(promotion(&p))
}

/// `demote_ensemble`: the global tier or the library only, as `orc demote --from`. The
/// project's own ensembles are never demoted (before, `tier: "local"` deleted the project's
/// ensemble and, with `remove_orphaned_profiles`, its profiles).
pub(super) fn demote_ensemble(svc: &Service, a: &DemoteArgs) -> Result<Value, ServiceError> {
    if !matches!(a.tier.as_str(), "global" | "library") {
        return Err(refuse(format!(
            "tier `{}` refused: demote removes an ensemble from the global tier or the library, never the project's own (tier must be 'global' or 'library')",
            a.tier.chars().take(40).collect::<String>()
        )));
    }
    let d = svc.demote(
        &a.ensemble_name,
        &a.tier,
        a.remove_orphaned_profiles,
        a.confirm,
    )?;
    Ok(demotion(&d))
}
