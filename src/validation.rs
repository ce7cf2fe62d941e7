//! Validation ensembles: the checks of an ensemble's `validation:` block, evaluated after a run.
