//! Interop with the `rtnetlink` crate (feature `rtnetlink`): an async
//! [`rtnetlink::Handle`] bound to another network namespace. Its socket is
//! opened by the same helper thread as [`Netlink::in_namespace`], so no
//! Tokio worker thread ever changes namespace — the usual way to get such
//! a handle (`setns` on the current thread around `new_connection`) moves
//! whatever thread the task happens to run on.

use std::os::fd::{AsFd, FromRawFd, IntoRawFd};

use nix::errno::Errno;
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::sys::TokioSocket;

use crate::{Error, Netlink, Result};

/// The connection task of an rtnetlink handle; spawn it on the runtime.
pub type RtnetlinkConnection = rtnetlink::proto::Connection<RouteNetlinkMessage, TokioSocket>;

/// An rtnetlink connection and handle in the network namespace `netns`.
/// Call it inside a Tokio runtime (the socket registers with its reactor);
/// outside one it is an error, not a panic. Spawn the connection, then use
/// the handle as usual.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use futures::TryStreamExt;
/// let netns = std::fs::File::open("/run/netns/box")?;
/// let (connection, handle) = palisade_netlink::rtnetlink_in(&netns)?;
/// tokio::spawn(connection);
/// let mut links = handle.link().get().execute();
/// while let Some(link) = links.try_next().await? {
///     println!("{}", link.header.index);
/// }
/// # Ok(()) }
/// ```
pub fn rtnetlink_in(netns: impl AsFd) -> Result<(RtnetlinkConnection, rtnetlink::Handle)> {
    if tokio::runtime::Handle::try_current().is_err() {
        return Err(Error::Socket {
            op: "rtnetlink_in outside a Tokio runtime",
            errno: Errno::EINVAL,
        });
    }
    let socket = Netlink::in_namespace(netns)?.into_socket();
    // SAFETY: a bound NETLINK_ROUTE socket whose ownership moves here.
    let socket = unsafe { TokioSocket::from_raw_fd(socket.into_raw_fd()) };
    let (connection, handle, _) = rtnetlink::from_socket(socket);
    Ok((connection, handle))
}
