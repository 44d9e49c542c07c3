//! Linux seccomp filters for containers and sandboxes: a typed filter,
//! Docker's default profile, OCI `linux.seccomp` JSON in and out, an
//! async-signal-safe install, and the supervisor side of user notification.
//!
//! ```no_run
//! use palisade_caps::CapSet;
//! use palisade_seccomp::{InstallFlags, Profile};
//!
//! // In the parent: resolve and compile (allocates).
//! let filter = Profile::docker_default(&CapSet::docker_default()).to_filter()?;
//! let compiled = filter.compile()?;
//! let flags = compiled.profile_flags() & InstallFlags::available();
//! // In the child, after prctl(PR_SET_NO_NEW_PRIVS), last before execve:
//! let listener = compiled.install(flags).expect("seccomp");
//! assert!(listener.is_none()); // Docker's profile has no Notify rule
//! # Ok::<(), palisade_seccomp::Error>(())
//! ```
//!
//! # Pieces
//! - [`Filter`], [`Rule`], [`Condition`], [`Action`], [`Arch`]: the typed
//!   filter. Names resolve per ABI (libseccomp's tables, e.g. `chown32`
//!   exists on i386 only); a required name no ABI knows is
//!   [`Error::UnknownSyscall`].
//! - [`Profile`]: OCI / Docker / Podman JSON ([`Profile::from_json`],
//!   [`Profile::from_oci_config`], [`Profile::to_json`]),
//!   [`Profile::docker_default`] with Docker's capability-dependent rules.
//! - [`Filter::compile`] → [`CompiledFilter`] (a `Vec` of `sock_filter`),
//!   [`CompiledFilter::install`] (one raw `seccomp(2)` call, no allocation),
//!   [`features`] / [`InstallFlags::available`] (probed once).
//! - [`NotifyListener`]: `recv`, `id_valid`, `respond`, `add_fd`.
//!
//! # Why libseccomp (and not seccompiler)
//! The filter is compiled by [libseccomp](https://github.com/seccomp/libseccomp)
//! through the `libseccomp` crate, chosen over rust-vmm's pure-Rust
//! `seccompiler` (0.5) on these grounds, checked against both crates' sources:
//!
//! | need | libseccomp 2.5 | seccompiler 0.5 |
//! |---|---|---|
//! | actions | all eight, incl. `NOTIFY` and `LOG` | no `Notify` (`SeccompAction` has Allow, Errno, KillThread, KillProcess, Log, Trace, Trap) |
//! | ABIs | x86_64, i386, x32, arm, aarch64, riscv64, ppc, s390, mips, loongarch | `TargetArch` is x86_64, aarch64, riscv64 only: no i386, so `int 0x80` cannot be filtered by rule (only killed by the arch check) |
//! | names → numbers per ABI | yes, incl. multiplexed `socketcall`/`ipc` on i386 | its JSON front end only, native tables, not per ABI |
//! | `==` `!=` `<` `<=` `>` `>=` masked-eq, 64-bit | yes | yes (plus explicit 32-bit) |
//! | dispatch | binary tree on the syscall number (`SCMP_FLTATR_CTL_OPTIMIZE=2`) | linear chain, one compare per listed syscall |
//! | OCI profiles elsewhere | what runc, crun and Podman use, so the same profile means the same filter | — |
//! | cost to a user | `libseccomp-dev` and `pkg-config` at build (Debian/Ubuntu/Fedora package it); runtime `libseccomp.so.2`, present wherever Docker or Podman is | none (pure Rust) |
//!
//! Docker's profile allows ~370 calls; a linear chain makes a late-listed
//! call pay hundreds of compares, the tree about nine (see the benchmark
//! `seccomp` in `benches/`). Losing `Notify` and i386 would lose two of this
//! crate's stated features. The build dependency is the price.
//!
//! Licence: libseccomp is LGPL-2.1. Linking it dynamically (the default)
//! puts no obligation on this crate's users beyond shipping/pointing at the
//! library. Static linking (`LIBSECCOMP_LINK_TYPE=static
//! LIBSECCOMP_LIB_PATH=/usr/lib/x86_64-linux-gnu`, using Debian's
//! `libseccomp.a`) works but then the LGPL asks the distributor to let users
//! relink with another libseccomp (e.g. by providing object files).
//!
//! What libseccomp does not do, and this crate adds: the `ENOSYS` prologue
//! for calls newer than the profile (runc's "patchbpf" does the same, in
//! Go), installing a pre-compiled program without allocating (libseccomp's
//! `seccomp_load` compiles at load time), and the notification ioctls
//! (done here directly on the fd, not through libseccomp, which would
//! allocate).
//!
//! Known limits: names are only as new as the linked libseccomp's tables
//! (Debian 12's 2.5.4 knows calls up to Linux ~5.19); a newer name in a
//! profile is skipped (see [`CompiledFilter::skipped`]) and the call then
//! gets `ENOSYS` from the prologue, which is what libc expects of a call the
//! kernel lacks. 32-bit argument comparisons other than `==` and masked-eq
//! are refused (libseccomp compares 64 bits). The `ENOSYS` prologue leaves
//! x32 calls to the filter proper.
//!
//! # Cost
//! Measured on a 2-core VM, kernel 6.18, libseccomp 2.5.4
//! (`cargo bench -p palisade-seccomp`, example `seccomp_compile_time`):
//! compiling Docker's profile takes ~16 ms for x86_64 + i386 + x32 (about
//! 4.5 ms for x86_64 alone) — libseccomp's own time, which grows with the
//! number of ABIs — so compile once and reuse the [`CompiledFilter`] (it is
//! `Clone` and holds no fd). A `getppid` costs ~237 ns unfiltered,
//! ~262 ns under Docker's profile as compiled here (tree + prologue),
//! ~276 ns under libseccomp's tree alone (within noise of ours: the
//! prologue is 7 instructions per ABI) and ~304 ns under libseccomp's
//! linear chain.
//!
//! # When to install
//! [`CompiledFilter::install`] documents it: with `no_new_privs`, as the
//! last step before `execve` (the runtime's own remaining calls need not be
//! allowed by the profile); without it, while `CAP_SYS_ADMIN` is still
//! held, i.e. before capabilities are dropped (runc: `InitSeccomp` early
//! when `NoNewPrivileges` is false, just before `execve` otherwise).

mod action;
mod arch;
mod compile;
mod error;
mod filter;
mod install;
mod notify;
mod profile;

pub use action::{Action, MAX_ERRNO};
pub use arch::Arch;
pub use error::{Error, Result};
pub use filter::{CmpOp, Condition, Filter, Rule, Width};
pub use install::{CompiledFilter, Features, Insn, InstallFlags, features};
pub use notify::{Notification, NotifyListener, Response};
pub use profile::{ArchMap, Arg, Condset, Profile, Syscalls};
