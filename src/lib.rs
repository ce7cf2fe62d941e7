//! orc: a native swarm executor for llm-orc ensembles.
//!
//! The folders are the layers, in the order the data flows: `load` (files on disk) ->
//! `compile` (the checked graph) -> `run` (the scheduler, over `backend`: model servers) ->
//! `store` (artifacts); `service` is the one layer the front ends (`cli`, `mcp`) call.
//! ARCHITECTURE.md draws the tree.

pub mod backend;
pub mod cli;
pub mod compile;
pub mod learn;
pub mod load;
pub mod mcp;
pub mod pyfmt;
pub mod report;
pub mod run;
pub mod service;
pub mod store;
pub mod term;
#[cfg(feature = "testkit")]
pub mod testkit;
