//! What outlives a run on disk: artifacts (`artifact`: written atomically, cleaned up, the
//! `latest` link; `read`: located and read back typed), the script result cache (`cache`), and the file
//! primitives they are written with (`atomic`).

pub mod artifact;
pub mod atomic;
pub mod cache;
pub mod memo;
pub mod read;
