//! What a run leaves on disk: artifacts (written atomically, read back typed, located,
//! cleaned up, the `latest` link).

pub mod artifact;
