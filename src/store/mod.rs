//! What outlives a run on disk: artifacts (`artifact`: written atomically, cleaned up, the
//! `latest` link; `read`: located and read back typed), the one store of results kept between runs (`memo`; the script
//! and result caches are its kinds, `cache`), and the file
//! primitives they are written with (`atomic`).

pub mod artifact;
pub mod atomic;
pub mod cache;
pub mod memo;
pub mod read;
