//! Compiles a profile (a JSON file, or Docker's default) and prints its
//! size, the names libseccomp skipped, and the instructions.
//!
//! `cargo run -p palisade-seccomp --example seccomp_dump [-- profile.json]`
use palisade_caps::CapSet;
use palisade_seccomp::Profile;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let profile = match std::env::args().nth(1) {
        Some(path) => Profile::from_json(&std::fs::read_to_string(path)?)?.resolve(
            palisade_seccomp::Arch::native(),
            &CapSet::docker_default(),
            (6, 0),
        )?,
        None => Profile::docker_default(&CapSet::docker_default()),
    };
    let compiled = profile.to_filter()?.compile()?;
    println!(
        "{} instructions; skipped: {:?}",
        compiled.len(),
        compiled.skipped()
    );
    for (i, insn) in compiled.instructions().iter().enumerate() {
        println!(
            "{i:4}: code={:#06x} jt={:3} jf={:3} k={:#010x}",
            insn.code, insn.jt, insn.jf, insn.k
        );
    }
    Ok(())
}
