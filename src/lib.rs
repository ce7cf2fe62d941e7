//! orc: a native swarm executor for llm-orc ensembles.
//!
//! Data flows `yaml` -> `spec` -> `config` (the project's files) -> `graph` (compiled DAG);
//! `service` is the one layer the front ends (`cli`) call.

pub mod artifact;
pub mod claude;
pub mod cli;
pub mod cli_invoke;
pub mod cli_learn;
pub mod cli_library;
pub mod config;
pub mod diag;
pub mod exec;
pub mod fuzzing;
pub mod graph;
pub mod learn;
pub mod manage;
pub mod mcp;
pub mod predicate;
pub mod promote;
pub mod provider;
pub mod pyfmt;
pub mod report;
pub mod resolve;
pub mod service;
pub mod sim;
pub mod spec;
pub mod synth;
pub mod timeline;
pub mod validation;
pub mod yaml;
