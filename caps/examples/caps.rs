//! Prints a process's five capability sets by name, like `getpcaps` and
//! `capsh --print`, or decodes a mask like `capsh --decode`.
//!
//! `cargo run -p palisade-caps --example caps -- [--pid PID] [--decode MASK]`

use palisade_caps::{CapSet, CapState};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |flag: &str| args.windows(2).find(|w| w[0] == flag).map(|w| w[1].clone());
    if let Some(mask) = value("--decode") {
        match mask.parse::<CapSet>() {
            Ok(set) => println!("0x{:016x}={}", set.mask(), set.to_string().to_lowercase()),
            Err(e) => {
                eprintln!("caps: {e}");
                std::process::exit(1);
            }
        }
        return;
    }
    let state = match value("--pid") {
        Some(pid) => pid
            .parse()
            .map_err(|_| format!("bad pid {pid:?}"))
            .and_then(|p| CapState::of_pid(p).map_err(|e| e.to_string())),
        None => CapState::current().map_err(|e| e.to_string()),
    };
    let state = match state {
        Ok(s) => s,
        Err(e) => {
            eprintln!("caps: {e}");
            std::process::exit(1);
        }
    };
    for (name, set) in [
        ("effective", state.effective),
        ("permitted", state.permitted),
        ("inheritable", state.inheritable),
        ("bounding", state.bounding),
        ("ambient", state.ambient),
    ] {
        println!(
            "{name:>11}: {}",
            if set.is_empty() {
                "(none)".to_owned()
            } else {
                set.to_string()
            }
        );
    }
}
