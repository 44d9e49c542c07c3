//! Linux capabilities: names, sets, profiles, thread state, ordered apply,
//! and file capabilities.
//!
//! - [`Capability`]: every capability the kernel knows (0..=`cap_last_cap`,
//!   read at runtime), canonical names, unknown numbers representable.
//! - [`CapSet`]: a `u64` mask with set algebra, parsing of names, `ALL`,
//!   comma lists and `/proc` hex masks; Docker/Podman/CRI-O profiles and
//!   Docker-style [`tweak`](CapSet::tweak).
//! - [`CapState`]: the five sets of a thread — [`current`](CapState::current),
//!   [`of_pid`](CapState::of_pid), [`diff`](CapState::diff).
//! - [`PreparedCaps`]: checked in the parent, applied in the child in the
//!   safe order without allocating.
//! - [`ids`]: uid/gid/groups of the calling thread by raw system call,
//!   safe between `clone` and `execve`.
//! - [`FileCaps`]: `security.capability` v2/v3 encode/decode, read/write.
//!
//! ```no_run
//! use palisade_caps::{CapSet, CapState, PreparedCaps};
//! let caps = CapSet::docker_default().tweak(&["NET_ADMIN"], &["MKNOD"])?;
//! let prepared = PreparedCaps::new(CapState::container(caps))?;
//! // ... in the container's child process, before execve:
//! prepared.apply()?;
//! # Ok::<(), palisade_caps::Error>(())
//! ```

mod capability;
mod error;
mod file;
pub mod ids;
mod set;
mod state;

pub use capability::Capability;
pub use error::{ApplyStep, Error, Result};
pub use file::FileCaps;
pub use set::CapSet;
pub use state::{
    CapState, CapStateDiff, IdSwitch, PreparedCaps, no_new_privs, securebits, set_no_new_privs,
    set_securebits,
};
