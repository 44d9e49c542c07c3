//! Builds `palisade-init` (src/init/palisade-init.c), the small static
//! program the library embeds and runs inside containers in place of a
//! fork of the host program (see docs/security.md). `$CC` is honoured;
//! Debian's gcc with libc6-dev is enough (the kernel's uapi headers; on
//! targets other than x86_64 also the static libc.a).

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let src = "src/init/palisade-init.c";
    println!("cargo:rerun-if-changed={src}");
    println!("cargo:rerun-if-env-changed=CC");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let bin = out.join("palisade-init");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_owned());
    let mut cmd = Command::new(&cc);
    cmd.args([
        "-static",
        "-Os",
        "-s",
        "-Wall",
        "-Werror",
        "-fno-asynchronous-unwind-tables",
    ]);
    // On x86_64 the init is freestanding (its own _start and raw system
    // calls): no C library start-up on every spawn and exec (see the
    // source's header for the measured cost).
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("x86_64") {
        cmd.args([
            "-nostdlib",
            "-ffreestanding",
            "-fno-stack-protector",
            "-DPALISADE_INIT_FREESTANDING",
        ]);
    }
    let status = cmd
        .arg("-o")
        .arg(&bin)
        .arg(src)
        .status()
        .unwrap_or_else(|e| panic!("running {cc} to build palisade-init: {e}"));
    assert!(
        status.success(),
        "{cc} failed to build palisade-init from {src} (a static C toolchain is needed: gcc + libc6-dev)"
    );
}
