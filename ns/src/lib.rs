//! Typed Linux namespace handles.
//!
//! - [`NsKind`] / [`NsKinds`]: the eight kinds (mnt, uts, ipc, pid, net, user,
//!   cgroup, time) and `CLONE_NEW*` masks of them.
//! - [`Namespace`]: an owned nsfs fd with its kind — from a process, a pidfd
//!   or a verified path; identity ([`NsId`], what `lsns` shows), owner user
//!   namespace, parent, owner uid, [`enter`](Namespace::enter).
//! - [`unshare`], atomic multi-namespace [`join`] through a pidfd, and
//!   [`run_in`] for per-thread kinds without moving the caller's thread.
//! - [`PidFd`]: signals and waits that a recycled pid cannot misdirect.
//! - [`Clone3`]: `clone3` with namespaces, `CLONE_PIDFD` and
//!   `CLONE_INTO_CGROUP`, falling back to `clone`.
//! - [`persist`] / [`persist_netns`] / [`unpersist`]: bind-mount a namespace
//!   to a file, `ip netns` compatible.
//! - [`IdMaps`] / [`write_id_maps`]: validated user-namespace id maps.
//! - [`TimeOffsets`]: clock offsets of a new time namespace.
//!
//! # Threads
//! `setns`/`unshare` of net, uts, ipc and cgroup change only the calling
//! thread; mount and user need a single-threaded process (or a freshly
//! cloned child); pid and time apply to children. Functions say which.
//!
//! ```no_run
//! use palisade_ns::{Namespace, NsKind, NsKinds, PidFd, join};
//! let target = PidFd::open(1234)?;
//! let net = target.namespace(NsKind::Net)?;
//! println!("target's netns is net:[{}]", net.id()?);
//! join(&target, NsKinds::NET | NsKinds::UTS)?; // one atomic setns
//! # Ok::<(), palisade_ns::Error>(())
//! ```

mod clone;
mod error;
mod idmap;
mod kind;
mod list;
mod namespace;
mod persist;
mod pidfd;
mod process;
mod sys;
mod time;

pub use clone::{Clone3, CloneResult, ClonedChild, flags};
pub use error::{Error, Result};
pub use idmap::{
    IdMap, IdMaps, MAX_ID_MAP_LINES, SetGroups, write_id_maps, write_id_maps_with_helpers,
};
pub use kind::{NsKind, NsKinds};
pub use list::{NsEntry, list_namespaces};
pub use namespace::{Namespace, NsId};
pub use persist::{NETNS_RUN_DIR, persist, persist_netns, unpersist};
pub use pidfd::{ExitStatus, PidFd};
pub use process::{join, run_in, unshare};
pub use time::TimeOffsets;
