//! OverlayFS for container root filesystems.
//!
//! [`Overlay::builder`] takes image layers (lowers, top first), the
//! container's writable upper layer and its work directory, options and
//! mount flags; [`OverlayBuilder::build`] checks the kernel's rules before
//! any syscall. Mounting picks, by a cached probe, the new mount API with
//! one `lowerdir+` per layer (Linux 6.8: no length limit) or mount(2) with
//! every path escaped when the option string fits a page — never a
//! colon-joined `lowerdir=` through `fsconfig`, whose values are capped at
//! 255 bytes. The result is a guard that unmounts on drop, or a detached
//! mount fd to `move_mount` later. [`changes`] reads an upper directory
//! the way `docker diff` reports it.
//!
//! ```no_run
//! use palisade_overlay::{changes, Overlay};
//! let overlay = Overlay::builder()
//!     .lowers(["/img/app", "/img/base"])
//!     .upper("/ctr/upper")
//!     .work("/ctr/work")
//!     .build()?;
//! let mounted = overlay.mount("/ctr/merged")?;
//! std::fs::write("/ctr/merged/hello", "hi").unwrap();
//! drop(mounted);
//! assert_eq!(changes("/ctr/upper", &["/img/app", "/img/base"])?[0].to_string(), "A /hello");
//! # Ok::<(), palisade_overlay::Error>(())
//! ```

mod builder;
mod changes;
mod error;
mod mount;
mod options;

pub use builder::{MAX_LOWERS, MountFlags, Overlay, OverlayBuilder};
pub use changes::{Change, ChangeKind, changes};
pub use error::{Error, Result};
pub use mount::{MountedOverlay, Strategy, move_mount, strategy};
pub use options::{Options, RedirectDir, Uuid, Xino, escape_path, split_escaped};
