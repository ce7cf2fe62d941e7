//! Reading the project's files: the located YAML tree (`yaml`), the problems found in it
//! (`diag`), typed ensemble and profile specs (`spec`), the project's tiers, config.yaml and
//! catalogue (`project`), the ensembles shipped with orc (`packaged`), and script and
//! nested-ensemble references (`resolve`).

pub mod diag;
pub mod packaged;
pub mod project;
pub mod resolve;
pub mod spec;
pub mod yaml;
