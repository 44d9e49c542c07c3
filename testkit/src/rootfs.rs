//! A minimal busybox root filesystem, built once per workspace and reused.

use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Bump when the layout changes so stale trees are rebuilt.
const STAMP: &str = ".palisade-rootfs-v1";

static ROOTFS: OnceLock<PathBuf> = OnceLock::new();

fn target_dir() -> PathBuf {
    // The workspace's target dir, shared by every crate's tests whatever
    // CARGO_TARGET_DIR a developer uses, so the tree is built once.
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/testkit")
}

/// Returns the path of a busybox root filesystem: `/bin` with the busybox
/// applet links (`/sbin`, `/usr/bin`, `/usr/sbin` point there), `/etc/passwd`,
/// `/etc/group`, and empty `/proc`, `/dev`, `/sys`, `/tmp`, `/root`.
///
/// Built from Debian's `busybox-static` (installed by `scripts/setup.sh`) into
/// `target/testkit/rootfs` on first use; concurrent builders race safely by
/// building aside and renaming.
///
/// ```no_run
/// let root = palisade_testkit::busybox_rootfs();
/// assert!(root.join("bin/sh").exists());
/// ```
pub fn busybox_rootfs() -> &'static Path {
    ROOTFS.get_or_init(|| {
        let dest = target_dir().join("rootfs");
        if !dest.join(STAMP).exists() {
            build(&dest).unwrap_or_else(|e| panic!("building busybox rootfs: {e}"));
        }
        dest
    })
}

fn find_busybox() -> std::io::Result<PathBuf> {
    for p in ["/bin/busybox", "/usr/bin/busybox"] {
        let p = Path::new(p);
        if p.exists() && !has_interpreter(p)? {
            // Must be static: it runs in a tree with no libc.
            return Ok(p.to_path_buf());
        }
    }
    Err(std::io::Error::other(
        "no static busybox found: run scripts/setup.sh (installs busybox-static)",
    ))
}

/// Whether an ELF64 file asks for a dynamic loader (has a `PT_INTERP`).
fn has_interpreter(path: &Path) -> std::io::Result<bool> {
    let elf = std::fs::read(path)?;
    let u16_at = |o: usize| {
        elf.get(o..o + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]) as usize)
    };
    let (Some(phoff), Some(phentsize), Some(phnum)) = (
        elf.get(0x20..0x28)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap()) as usize),
        u16_at(0x36),
        u16_at(0x38),
    ) else {
        return Ok(true);
    };
    const PT_INTERP: u32 = 3;
    Ok((0..phnum).any(|i| {
        let o = phoff + i * phentsize;
        elf.get(o..o + 4)
            .map(|b| u32::from_le_bytes(b.try_into().unwrap()))
            == Some(PT_INTERP)
    }))
}

fn build(dest: &Path) -> std::io::Result<()> {
    let busybox = find_busybox()?;
    let parent = dest.parent().expect("has parent");
    std::fs::create_dir_all(parent)?;
    let tmp = parent.join(format!("rootfs.tmp.{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    for d in [
        "bin", "etc", "proc", "dev", "sys", "tmp", "root", "usr", "var", "run", "home",
    ] {
        std::fs::create_dir_all(tmp.join(d))?;
    }
    std::fs::set_permissions(tmp.join("tmp"), std::fs::Permissions::from_mode(0o1777))?;
    std::fs::copy(&busybox, tmp.join("bin/busybox"))?;
    std::fs::set_permissions(
        tmp.join("bin/busybox"),
        std::fs::Permissions::from_mode(0o755),
    )?;
    let list = Command::new(&busybox).arg("--list").output()?;
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        let applet = applet.trim();
        if applet.is_empty() || applet == "busybox" || applet.contains('/') {
            continue;
        }
        symlink("busybox", tmp.join("bin").join(applet))?;
    }
    symlink("bin", tmp.join("sbin"))?;
    symlink("../bin", tmp.join("usr/bin"))?;
    symlink("../bin", tmp.join("usr/sbin"))?;
    std::fs::write(
        tmp.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
    )?;
    std::fs::write(
        tmp.join("etc/group"),
        "root:x:0:\nuser:x:1000:\nnogroup:x:65534:\n",
    )?;
    std::fs::write(tmp.join("etc/hostname"), "palisade\n")?;
    std::fs::write(tmp.join(STAMP), "")?;
    match std::fs::rename(&tmp, dest) {
        Ok(()) => Ok(()),
        Err(_) if dest.join(STAMP).exists() => {
            // Another process won the race; use its tree.
            let _ = std::fs::remove_dir_all(&tmp);
            Ok(())
        }
        Err(_) => {
            // A stale tree without the stamp: replace it.
            std::fs::remove_dir_all(dest)?;
            std::fs::rename(&tmp, dest)
        }
    }
}
