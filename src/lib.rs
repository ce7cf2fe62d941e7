//! orc: a native swarm executor for llm-orc ensembles.
//!
//! Data flows `yaml` -> `spec` -> `config` (the project's files) -> `graph` (compiled DAG);
//! `service` is the one layer the front ends (`cli`) call.

pub mod cli;
pub mod config;
pub mod diag;
pub mod graph;
pub mod report;
pub mod resolve;
pub mod service;
pub mod spec;
pub mod yaml;
