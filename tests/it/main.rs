//! The integration tests, as one binary (one link, one process; tests run on threads): each
//! module is one area of orc, driven through the real `orc` binary or the library.

mod common;
mod hostile_server;

mod budget_cache;
mod claude_code;
mod claude_install;
mod cli;
mod compat;
mod control_flow;
mod delegation;
mod demo;
mod discovery;
mod docs_reference;
mod errors;
mod faults;
mod fuzz_corpus;
mod hardening;
mod hostile;
mod hosts;
mod invoke;
mod layers;
mod learning;
mod llm_orc_025;
mod mcp;
mod mcp_surface;
mod parity;
mod primitives;
mod promotion;
mod quality;
mod real;
mod routing;
mod scripts;
mod shapes;
mod timeline;
mod validation;
