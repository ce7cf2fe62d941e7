//! Reading the project's files: the located YAML tree (`yaml`), the problems found in it
//! (`diag`), typed ensemble and profile specs (`spec`), the project's tiers, config.yaml and
//! catalogue (`project`), and script and nested-ensemble references (`resolve`).

pub mod diag;
pub mod project;
pub mod resolve;
pub mod spec;
pub mod yaml;
