//! palisade-oci: an OCI runtime built on palisade.
//!
//! The library turns an OCI bundle (`config.json` + root, runtime-spec
//! 1.0–1.2, parsed with the `oci-spec` crate) into a
//! [`palisade::Container`] ([`bundle::translate`]), keeps per-container
//! state under a root directory ([`state`]) and names signals as runc does
//! ([`signal`]). The `palisade-oci` binary puts a runc-compatible command
//! line on top, for containerd (`--runc-binary`, `BinaryName`) and podman
//! (`--runtime`).
//!
//! ```no_run
//! use std::path::Path;
//! use palisade_oci::bundle;
//! let bundle = Path::new("/srv/bundle");
//! let spec = bundle::load(bundle)?;
//! let opts = bundle::Options { id: "demo".into(), ..Default::default() };
//! let t = bundle::translate(&spec, bundle, &opts)?;
//! let mut child = t.container.spawn()?;
//! child.wait()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod bundle;
pub mod console;
pub mod signal;
pub mod state;
