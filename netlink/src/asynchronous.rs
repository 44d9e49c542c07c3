//! Feature `tokio`: the blocking [`Netlink`] from async code. Each request
//! runs on Tokio's blocking pool, so a slow kernel answer (a veth delete
//! waits ~20 ms for an RCU grace period) never stalls a runtime worker.

use std::sync::{Arc, Mutex};

use nix::errno::Errno;

use crate::{Error, Netlink, Result};

/// A [`Netlink`] connection usable from async code; clones share it.
///
/// ```no_run
/// # async fn demo() -> Result<(), palisade_netlink::Error> {
/// use palisade_netlink::{AsyncNetlink, Netlink};
/// let nl = AsyncNetlink::new(Netlink::new()?);
/// nl.run(|nl| nl.set_up("lo")).await?;
/// let links = nl.run(|nl| nl.links()).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct AsyncNetlink(Arc<Mutex<Netlink>>);

impl AsyncNetlink {
    /// Wraps a connection (for another namespace: `Netlink::in_namespace`).
    pub fn new(netlink: Netlink) -> AsyncNetlink {
        AsyncNetlink(Arc::new(Mutex::new(netlink)))
    }

    /// Runs `f` with the connection on the blocking pool and awaits it.
    /// Requests of clones are serialized (one socket, one sequence).
    pub async fn run<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Netlink) -> Result<T> + Send + 'static,
    {
        let inner = Arc::clone(&self.0);
        tokio::task::spawn_blocking(move || {
            // A panic in an earlier request poisons the lock; the socket
            // itself is still consistent (each request is self-contained).
            let mut nl = inner.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut nl)
        })
        .await
        .map_err(|_| Error::Socket {
            op: "netlink request task was cancelled or panicked",
            errno: Errno::ECANCELED,
        })?
    }
}
