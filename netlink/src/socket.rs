//! The blocking core: one NETLINK_ROUTE socket, checked sequence numbers,
//! a receive timeout, extended-ACK messages, interrupted-dump retries.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::time::Duration;

use netlink_packet_core::{
    NLM_F_ACK, NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_REQUEST, NetlinkBuffer, NetlinkHeader,
    NetlinkMessage, NetlinkPayload,
};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};
use nix::errno::Errno;

use crate::error::io;
use crate::{Error, Result};

/// How long a reply may take before the call fails with EAGAIN.
pub const RECEIVE_TIMEOUT: Duration = Duration::from_secs(5);
const DUMP_ATTEMPTS: u32 = 5;

/// One request of a batch sent by [`Netlink::ack_all`].
pub(crate) struct Request {
    /// What it does, for the error if the kernel refuses it.
    pub op: String,
    pub message: RouteNetlinkMessage,
    /// Flags beside `NLM_F_REQUEST | NLM_F_ACK`.
    pub flags: u16,
}

/// A route-netlink connection bound to one network namespace: the one it
/// was opened in. Every call blocks until the kernel answers.
///
/// ```no_run
/// use palisade_netlink::Netlink;
/// let mut nl = Netlink::new()?;
/// for link in nl.links()? {
///     println!("{} {} up={}", link.index, link.name, link.up);
/// }
/// # Ok::<(), palisade_netlink::Error>(())
/// ```
#[derive(Debug)]
pub struct Netlink {
    socket: Socket,
    seq: u32,
    buf: Vec<u8>,
}

impl Netlink {
    /// A connection in the calling thread's network namespace.
    pub fn new() -> Result<Netlink> {
        let mut socket = Socket::new(NETLINK_ROUTE).map_err(|e| io("socket", e))?;
        socket
            .bind(&SocketAddr::new(0, 0))
            .map_err(|e| io("bind", e))?;
        // Kernel error text with every NACK; no echo of our request.
        let _ = socket.set_ext_ack(true);
        let _ = socket.set_cap_ack(true);
        let tv = libc::timeval {
            tv_sec: RECEIVE_TIMEOUT.as_secs() as libc::time_t,
            tv_usec: 0,
        };
        // SAFETY: setsockopt with a timeval of the right size.
        let r = unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&raw const tv).cast(),
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            )
        };
        if r != 0 {
            return Err(Error::Socket {
                op: "setsockopt SO_RCVTIMEO",
                errno: Errno::last(),
            });
        }
        Ok(Netlink {
            socket,
            seq: 0,
            buf: vec![0; 64 * 1024],
        })
    }

    /// A connection in the network namespace `netns` (an nsfs fd, e.g. from
    /// palisade-ns or `/run/netns/NAME`). The socket is opened by a
    /// long-lived helper thread that enters the namespace and returns; the
    /// caller's thread never changes namespace, so this is safe on any
    /// thread (tokio workers included). The socket stays bound to `netns`.
    ///
    /// ```no_run
    /// let netns = std::fs::File::open("/run/netns/box")?;
    /// let mut inside = palisade_netlink::Netlink::in_namespace(&netns)?;
    /// inside.loopback_up()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn in_namespace(netns: impl AsFd) -> Result<Netlink> {
        crate::nsworker::connect_in(netns.as_fd())
    }

    /// The socket, for another client to use (it stays bound to the
    /// namespace it was opened in).
    #[cfg(feature = "rtnetlink")]
    pub(crate) fn into_socket(self) -> Socket {
        self.socket
    }

    /// Runs `f` on a short-lived thread inside `netns` (for sysctls and
    /// other per-namespace files); the caller's thread never moves.
    pub fn run_in<T: Send>(netns: BorrowedFd<'_>, f: impl FnOnce() -> T + Send) -> Result<T> {
        std::thread::scope(|s| {
            s.spawn(|| {
                // SAFETY: setns on a borrowed fd; only this thread moves.
                if unsafe { libc::setns(netns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                    return Err(Error::Socket {
                        op: "setns to the target network namespace",
                        errno: Errno::last(),
                    });
                }
                Ok(f())
            })
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))
        })
    }

    pub(crate) fn raw_fd(&self) -> std::os::fd::RawFd {
        self.socket.as_raw_fd()
    }

    /// Appends `message` with the next sequence number to `out`.
    fn encode(&mut self, message: RouteNetlinkMessage, flags: u16, out: &mut Vec<u8>) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        let mut header = NetlinkHeader::default();
        header.flags = flags;
        header.sequence_number = self.seq;
        let mut msg = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(message));
        msg.finalize();
        let start = out.len();
        // Messages in one datagram start on 4-byte boundaries.
        out.resize(start + ((msg.buffer_len() + 3) & !3), 0);
        msg.serialize(&mut out[start..]);
        self.seq
    }

    fn send(&mut self, message: RouteNetlinkMessage, flags: u16) -> Result<u32> {
        let mut out = Vec::new();
        let seq = self.encode(message, flags, &mut out);
        self.socket.send(&out, 0).map_err(|e| io("send", e))?;
        Ok(seq)
    }

    /// Sends every request in one datagram and reads their ACKs: the
    /// kernel runs them in order, each on its own (a refused one does not
    /// stop the rest). Returns the first refusal, named by its `op`.
    pub(crate) fn ack_all(&mut self, requests: Vec<Request>) -> Result<()> {
        let mut out = Vec::new();
        let mut pending = Vec::with_capacity(requests.len());
        for r in requests {
            let seq = self.encode(r.message, NLM_F_REQUEST | NLM_F_ACK | r.flags, &mut out);
            pending.push((seq, r.op));
        }
        if pending.is_empty() {
            return Ok(());
        }
        self.socket.send(&out, 0).map_err(|e| io("send", e))?;
        let mut first_error = None;
        for (seq, op) in pending {
            match self.receive(seq, || op, |_| {}) {
                Ok(_) => {}
                // The socket itself failed: later ACKs will not come.
                Err(e @ Error::Socket { .. }) => return Err(first_error.unwrap_or(e)),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Sends a request that expects an ACK (or NACK).
    pub(crate) fn ack(
        &mut self,
        op: impl FnOnce() -> String,
        message: RouteNetlinkMessage,
        flags: u16,
    ) -> Result<()> {
        let seq = self.send(message, NLM_F_REQUEST | NLM_F_ACK | flags)?;
        self.receive(seq, op, |_| {}).map(|_| ())
    }

    /// Sends a request that answers with messages and then an ACK.
    pub(crate) fn request_one(
        &mut self,
        message: RouteNetlinkMessage,
        out: &mut Vec<RouteNetlinkMessage>,
        op: impl FnOnce() -> String,
    ) -> Result<()> {
        let seq = self.send(message, NLM_F_REQUEST | NLM_F_ACK)?;
        self.receive(seq, op, |m| out.push(m)).map(|_| ())
    }

    /// Sends a dump request and collects every reply, retrying when the
    /// kernel flags the dump as interrupted.
    pub(crate) fn dump(
        &mut self,
        what: &'static str,
        message: RouteNetlinkMessage,
    ) -> Result<Vec<RouteNetlinkMessage>> {
        for _ in 0..DUMP_ATTEMPTS {
            let seq = self.send(message.clone(), NLM_F_REQUEST | NLM_F_DUMP)?;
            let mut out = Vec::new();
            let interrupted = self.receive(seq, || format!("dump {what}"), |m| out.push(m))?;
            if !interrupted {
                return Ok(out);
            }
        }
        Err(Error::DumpInterrupted {
            what,
            attempts: DUMP_ATTEMPTS,
        })
    }

    /// Reads replies for `seq` until ACK/NACK or DONE; returns whether the
    /// dump was interrupted.
    fn receive(
        &mut self,
        seq: u32,
        op: impl FnOnce() -> String,
        mut each: impl FnMut(RouteNetlinkMessage),
    ) -> Result<bool> {
        let mut op = Some(op);
        let mut interrupted = false;
        loop {
            // SAFETY: recv into our buffer.
            let n = unsafe {
                libc::recv(
                    self.socket.as_raw_fd(),
                    self.buf.as_mut_ptr().cast(),
                    self.buf.len(),
                    0,
                )
            };
            if n < 0 {
                let errno = Errno::last();
                if errno == Errno::EINTR {
                    continue;
                }
                return Err(Error::Socket { op: "recv", errno });
            }
            let n = n as usize;
            if let Some(interrupted) =
                read_datagram(&self.buf[..n], seq, &mut op, &mut each, &mut interrupted)?
            {
                return Ok(interrupted);
            }
        }
    }
}

/// Takes the replies to `seq` out of one datagram: each inner message goes
/// to `each`; `Some(interrupted)` once the reply ends with an ACK or
/// `NLMSG_DONE` carrying no error. An `NLMSG_ERROR` with a code, or an
/// `NLMSG_DONE` with a negative one (a dump the kernel could not finish),
/// is an error: the messages before it are not the whole answer.
fn read_datagram(
    datagram: &[u8],
    seq: u32,
    op: &mut Option<impl FnOnce() -> String>,
    each: &mut impl FnMut(RouteNetlinkMessage),
    interrupted: &mut bool,
) -> Result<Option<bool>> {
    let mut offset = 0;
    let n = datagram.len();
    let mut refused = |errno: i32, message| Error::Kernel {
        op: op.take().map(|f| f()).unwrap_or_default(),
        errno: Errno::from_raw(errno),
        message,
    };
    while offset < n {
        let bytes = &datagram[offset..n];
        let len = NetlinkBuffer::new_checked(bytes)
            .map_err(|e| Error::Decode(e.to_string()))?
            .length() as usize;
        if len == 0 || len > bytes.len() {
            return Err(Error::Decode(format!("bad message length {len}")));
        }
        let msg = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&bytes[..len])
            .map_err(|e| Error::Decode(e.to_string()))?;
        offset += (len + 3) & !3;
        if msg.header.sequence_number != seq {
            continue; // a stale reply to an earlier, abandoned request
        }
        if msg.header.flags & NLM_F_DUMP_INTR != 0 {
            *interrupted = true;
        }
        match msg.payload {
            NetlinkPayload::InnerMessage(m) => each(m),
            NetlinkPayload::Done(d) if d.code < 0 => {
                return Err(refused(-d.code, tlv_message(&d.extended_ack)));
            }
            NetlinkPayload::Done(_) => return Ok(Some(*interrupted)),
            NetlinkPayload::Error(e) => {
                return match e.code {
                    None => Ok(Some(*interrupted)),
                    Some(code) => Err(refused(-code.get(), ext_ack_message(&e.header))),
                };
            }
            _ => {}
        }
    }
    Ok(None)
}

/// The `NLMSGERR_ATTR_MSG` text of an error's extended ACK: the TLVs after
/// the echoed request header (16 bytes, thanks to NETLINK_CAP_ACK).
fn ext_ack_message(after_code: &[u8]) -> Option<String> {
    tlv_message(after_code.get(16..)?)
}

/// The `NLMSGERR_ATTR_MSG` text among extended-ACK TLVs (which follow the
/// code directly in an `NLMSG_DONE`).
fn tlv_message(mut tlvs: &[u8]) -> Option<String> {
    while tlvs.len() >= 4 {
        let len = u16::from_ne_bytes([tlvs[0], tlvs[1]]) as usize;
        let kind = u16::from_ne_bytes([tlvs[2], tlvs[3]]);
        if len < 4 || len > tlvs.len() {
            return None;
        }
        if kind == 1 {
            let text = &tlvs[4..len];
            let end = text.iter().position(|b| *b == 0).unwrap_or(text.len());
            return Some(String::from_utf8_lossy(&text[..end]).into_owned());
        }
        tlvs = &tlvs[((len + 3) & !3).min(tlvs.len())..];
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_core::{DoneMessage, ErrorMessage};
    use netlink_packet_route::link::LinkMessage;

    const SEQ: u32 = 7;

    fn datagram(parts: &[(u32, u16, NetlinkPayload<RouteNetlinkMessage>)]) -> Vec<u8> {
        let mut out = Vec::new();
        for (seq, flags, payload) in parts {
            let mut header = NetlinkHeader::default();
            header.sequence_number = *seq;
            header.flags = *flags;
            let mut msg = NetlinkMessage::new(header, payload.clone());
            msg.finalize();
            let start = out.len();
            out.resize(start + msg.buffer_len(), 0);
            msg.serialize(&mut out[start..]);
            out.resize((out.len() + 3) & !3, 0);
        }
        out
    }

    fn link() -> NetlinkPayload<RouteNetlinkMessage> {
        NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(LinkMessage::default()))
    }

    fn done(code: i32, ack: &[u8]) -> NetlinkPayload<RouteNetlinkMessage> {
        let mut d = DoneMessage::default();
        d.code = code;
        d.extended_ack = ack.to_vec();
        NetlinkPayload::Done(d)
    }

    /// An `NLMSGERR_ATTR_MSG` TLV.
    fn msg_tlv(text: &str) -> Vec<u8> {
        let mut v = Vec::new();
        let len = (4 + text.len() + 1) as u16;
        v.extend_from_slice(&len.to_ne_bytes());
        v.extend_from_slice(&1u16.to_ne_bytes());
        v.extend_from_slice(text.as_bytes());
        v.push(0);
        v.resize((v.len() + 3) & !3, 0);
        v
    }

    /// Feeds crafted datagrams; returns what was collected and the result.
    fn read(datagrams: &[Vec<u8>]) -> (usize, Result<Option<bool>>) {
        let mut items = 0;
        let mut op = Some(|| "dump links".to_owned());
        let mut interrupted = false;
        for d in datagrams {
            let r = read_datagram(d, SEQ, &mut op, &mut |_| items += 1, &mut interrupted);
            match r {
                Ok(None) => continue,
                other => return (items, other),
            }
        }
        (items, Ok(None))
    }

    #[test]
    fn a_dump_ends_with_done_and_spans_datagrams() {
        let first = datagram(&[(SEQ, 2, link()), (SEQ, 2, link())]);
        let second = datagram(&[(SEQ, 2, link()), (SEQ, 2, done(0, &[]))]);
        let (items, r) = read(&[first, second]);
        assert_eq!(items, 3);
        assert_eq!(r.unwrap(), Some(false));
    }

    #[test]
    fn done_with_a_negative_code_is_the_kernels_error_not_a_short_list() {
        let d = datagram(&[
            (SEQ, 2, link()),
            (SEQ, 2, done(-libc::EMSGSIZE, &msg_tlv("dump too big"))),
        ]);
        match read(&[d]) {
            (1, Err(Error::Kernel { op, errno, message })) => {
                assert_eq!(op, "dump links");
                assert_eq!(errno, Errno::EMSGSIZE);
                assert_eq!(message.as_deref(), Some("dump too big"));
            }
            other => panic!("{other:?}"),
        }
        // Without extended-ACK text too.
        let d = datagram(&[(SEQ, 2, done(-libc::ENODEV, &[]))]);
        assert!(matches!(
            read(&[d]).1,
            Err(Error::Kernel {
                errno: Errno::ENODEV,
                message: None,
                ..
            })
        ));
    }

    #[test]
    fn an_error_message_inside_a_dump_is_an_error() {
        let mut e = ErrorMessage::default();
        e.code = std::num::NonZeroI32::new(-libc::EBUSY);
        let d = datagram(&[
            (SEQ, 2, link()),
            (SEQ, 2, link()),
            (SEQ, 0, NetlinkPayload::Error(e)),
        ]);
        match read(&[d]) {
            (2, Err(Error::Kernel { errno, .. })) => assert_eq!(errno, Errno::EBUSY),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_interrupted_dump_is_reported_to_the_retry_loop() {
        let d = datagram(&[
            (SEQ, 2, link()),
            (SEQ, 2 | NLM_F_DUMP_INTR, link()),
            (SEQ, 2, done(0, &[])),
        ]);
        assert_eq!(read(&[d]).1.unwrap(), Some(true));
        // The kernel may flag only the final NLMSG_DONE.
        let d = datagram(&[(SEQ, 2, link()), (SEQ, 2 | NLM_F_DUMP_INTR, done(0, &[]))]);
        assert_eq!(read(&[d]).1.unwrap(), Some(true));
    }

    #[test]
    fn stale_replies_are_skipped_and_an_unfinished_datagram_reads_on() {
        let d = datagram(&[(SEQ - 1, 2, done(-libc::EIO, &[])), (SEQ, 2, link())]);
        let (items, r) = read(&[d]);
        assert_eq!(items, 1);
        assert_eq!(r.unwrap(), None);
    }

    #[test]
    fn extended_ack_text_is_found_after_the_echoed_header() {
        let mut bytes = vec![0u8; 16];
        let msg = b"Unknown device type\0";
        let len = (4 + msg.len()) as u16;
        bytes.extend_from_slice(&len.to_ne_bytes());
        bytes.extend_from_slice(&1u16.to_ne_bytes());
        bytes.extend_from_slice(msg);
        assert_eq!(
            ext_ack_message(&bytes).as_deref(),
            Some("Unknown device type")
        );
        assert_eq!(ext_ack_message(&bytes[..10]), None);
        assert_eq!(ext_ack_message(&[0u8; 20]), None);
    }
}

#[cfg(test)]
mod fuzz_regressions {
    use netlink_packet_core::{NetlinkHeader, NetlinkMessage, NetlinkPayload};
    use netlink_packet_route::RouteNetlinkMessage;
    use netlink_packet_route::link::{LinkAttribute, LinkMessage};

    /// Found by the netlink_messages fuzz target: netlink-packet-core's
    /// serialize trusts header.length, so a message must be finalized
    /// before it is emitted — as `Netlink::send` does. A decoded message
    /// with a stale length must round-trip once finalized.
    #[test]
    fn stale_header_length_round_trips_after_finalize() {
        let crash = [
            17u8, 0, 0, 0, 1, 0, 0, 0, 37, 0, 1, 0, 0, 0, 1, 16, 1, 1, 0, 14, 59,
        ];
        if let Ok(mut msg) = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&crash) {
            msg.finalize();
            let mut out = vec![0u8; msg.buffer_len()];
            msg.serialize(&mut out);
        }
        let mut link = LinkMessage::default();
        link.attributes.push(LinkAttribute::IfName("eth0".into()));
        let mut msg = NetlinkMessage::new(
            NetlinkHeader::default(),
            NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(link)),
        );
        msg.finalize();
        let mut out = vec![0u8; msg.buffer_len()];
        msg.serialize(&mut out);
        let back = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&out).unwrap();
        assert_eq!(back.payload, msg.payload);
    }
}
