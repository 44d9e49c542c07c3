//! Mounts an overlay, or lists the changes of an upper directory.
//!
//! `cargo run -p palisade-overlay --example overlay -- --lower DIR [--lower DIR…] [--upper DIR --work DIR] --target DIR`
//! `cargo run -p palisade-overlay --example overlay -- --diff --upper DIR --lower DIR…`
//! The mount stays until Enter is pressed. Needs root.

use palisade_overlay::{Overlay, changes, strategy};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let all = |flag: &str| -> Vec<String> {
        args.windows(2)
            .filter(|w| w[0] == flag)
            .map(|w| w[1].clone())
            .collect()
    };
    let one = |flag: &str| all(flag).into_iter().next();
    let lowers = all("--lower");
    if args.iter().any(|a| a == "--diff") {
        let Some(upper) = one("--upper") else {
            eprintln!("overlay: --diff needs --upper");
            std::process::exit(2);
        };
        match changes(&upper, &lowers) {
            Ok(list) => list.iter().for_each(|c| println!("{c}")),
            Err(e) => {
                eprintln!("overlay: {e}");
                std::process::exit(1);
            }
        }
        return;
    }
    let Some(target) = one("--target") else {
        eprintln!("overlay: --target DIR is required");
        std::process::exit(2);
    };
    let mut builder = Overlay::builder().lowers(&lowers);
    if let (Some(u), Some(w)) = (one("--upper"), one("--work")) {
        builder = builder.upper(u).work(w);
    }
    let mounted = match builder.build().and_then(|o| o.mount(&target)) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("overlay: {e}");
            std::process::exit(1);
        }
    };
    println!(
        "mounted {} layers on {target} ({:?}); press Enter to unmount",
        lowers.len(),
        strategy()
    );
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    if let Err(e) = mounted.unmount() {
        eprintln!("overlay: {e}");
        std::process::exit(1);
    }
}
