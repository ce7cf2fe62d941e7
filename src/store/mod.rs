//! What outlives a run on disk: artifacts (`artifact`: written atomically, read back typed,
//! located, cleaned up, the `latest` link), the script result cache (`cache`), and the file
//! primitives they are written with (`atomic`).

pub mod artifact;
pub mod atomic;
pub mod cache;
pub mod memo;
