//! Test support, behind the `testkit` feature: the Ollama simulator (`sim`), generated
//! ensembles (`synth`) and the fuzz targets' entry points (`fuzzing`).

pub mod fuzzing;
pub mod sim;
pub mod synth;
