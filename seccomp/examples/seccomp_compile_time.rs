//! Times compiling Docker's default profile under a few settings.
//!
//! `cargo run --release -p palisade-seccomp --example seccomp_compile_time`
use palisade_caps::CapSet;
use palisade_seccomp::{Arch, Profile};
use std::time::Instant;

fn main() -> Result<(), palisade_seccomp::Error> {
    let base = Profile::docker_default(&CapSet::docker_default()).to_filter()?;
    let variants = [
        ("x86_64+x86+x32, tree", base.clone()),
        ("x86_64+x86+x32, linear", {
            let mut f = base.clone();
            f.binary_tree = false;
            f
        }),
        (
            "x86_64 only, tree",
            base.clone().architectures(&[Arch::X86_64]),
        ),
        ("x86_64 only, linear", {
            let mut f = base.clone().architectures(&[Arch::X86_64]);
            f.binary_tree = false;
            f
        }),
    ];
    for (name, f) in variants {
        let n = 20;
        let start = Instant::now();
        let mut len = 0;
        for _ in 0..n {
            len = f.compile()?.len();
        }
        println!(
            "{name:28} {:8.2} ms  {len} insns",
            start.elapsed().as_secs_f64() * 1e3 / n as f64
        );
    }
    Ok(())
}
