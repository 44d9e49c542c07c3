//! Lists namespaces like util-linux `lsns`: id, kind, number of processes,
//! lowest pid and its command.
//!
//! `cargo run -p palisade-ns --example lsns [-- --json] [-- -t KIND]`

use palisade_ns::{NsKind, list_namespaces};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let json = args.iter().any(|a| a == "--json" || a == "-J");
    let only: Option<NsKind> = match args.windows(2).find(|w| w[0] == "-t") {
        Some(w) => match w[1].parse() {
            Ok(k) => Some(k),
            Err(e) => {
                eprintln!("lsns: {e}");
                std::process::exit(2);
            }
        },
        None => None,
    };
    let list = match list_namespaces(only) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("lsns: {e}");
            std::process::exit(1);
        }
    };
    if json {
        let rows: Vec<String> = list
            .iter()
            .map(|n| {
                format!(
                    "{{\"ns\":{},\"type\":\"{}\",\"nprocs\":{},\"pid\":{},\"command\":{:?}}}",
                    n.id.ino, n.kind, n.nprocs, n.pid, n.command
                )
            })
            .collect();
        println!("{{\"namespaces\":[{}]}}", rows.join(","));
        return;
    }
    println!(
        "{:>12} {:<6} {:>6} {:>7} COMMAND",
        "NS", "TYPE", "NPROCS", "PID"
    );
    for n in list {
        println!(
            "{:>12} {:<6} {:>6} {:>7} {}",
            n.id.ino, n.kind, n.nprocs, n.pid, n.command
        );
    }
}
