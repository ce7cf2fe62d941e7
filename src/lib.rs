//! orc: a native swarm executor for llm-orc ensembles.
//!
//! Data flows `yaml` -> `spec` -> `config` (the project's files) -> `graph` (compiled DAG);
//! `service` is the one layer the front ends (`cli`) call.

pub mod diag;
pub mod spec;
pub mod yaml;
