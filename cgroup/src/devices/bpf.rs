//! The cgroup2 form of a device policy: a `BPF_PROG_TYPE_CGROUP_DEVICE`
//! program the kernel runs on every device open and `mknod` of a task in
//! the group, emitted here instruction by instruction (as runc, crun and
//! youki do), and the four `bpf(2)` commands that load, attach, query and
//! detach it. The kernel ABI used: `include/uapi/linux/bpf.h`
//! (`struct bpf_insn`, `struct bpf_cgroup_dev_ctx`, `union bpf_attr`). The
//! program returns 1 to allow and 0 to deny; a denied `open` or `mknod`
//! fails with `EPERM`.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;

use super::DeviceRule;
use super::policy::Policy;
use crate::{Error, Result};

/// One eBPF instruction, laid out as the kernel's `struct bpf_insn`:
/// opcode, destination register in the low nibble and source register in
/// the high nibble of `regs`, a jump offset and an immediate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct BpfInsn {
    /// Opcode (class | operation | source).
    pub code: u8,
    /// `dst | src << 4`.
    pub regs: u8,
    /// Jump offset in instructions, relative to the next one.
    pub off: i16,
    /// Immediate operand.
    pub imm: i32,
}

// Opcodes (class | op | source) from include/uapi/linux/bpf{,_common}.h.
const LDX_MEM_W: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W
const ALU32_AND_K: u8 = 0x54; // BPF_ALU | BPF_AND | BPF_K
const ALU32_RSH_K: u8 = 0x74; // BPF_ALU | BPF_RSH | BPF_K
const ALU32_MOV_K: u8 = 0xb4; // BPF_ALU | BPF_MOV | BPF_K
const ALU32_MOV_X: u8 = 0xbc; // BPF_ALU | BPF_MOV | BPF_X
const JMP_JNE_K: u8 = 0x55; // BPF_JMP | BPF_JNE | BPF_K
const JMP_JNE_X: u8 = 0x5d; // BPF_JMP | BPF_JNE | BPF_X
const JMP_JEQ_K: u8 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const JMP_EXIT: u8 = 0x95; // BPF_JMP | BPF_EXIT

// `struct bpf_cgroup_dev_ctx` values.
const DEVCG_DEV_BLOCK: i32 = 1;
const DEVCG_DEV_CHAR: i32 = 2;

// Registers.
const R0: u8 = 0;
const R1: u8 = 1;
const R2: u8 = 2;
const R3: u8 = 3;
const R4: u8 = 4;
const R5: u8 = 5;

const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> BpfInsn {
    BpfInsn {
        code,
        regs: dst | (src << 4),
        off,
        imm,
    }
}

/// Name given to every program palisade loads (`bpftool prog` shows it);
/// how `delete` and updates recognise their own programs.
pub const PROGRAM_NAME: &str = "palisade_dev";

/// A device policy compiled to a `BPF_PROG_TYPE_CGROUP_DEVICE` program.
///
/// The rule list is first collapsed into a default plus exceptions (see
/// the [`devices`](crate::devices) module), so the program is one block per
/// exception, in a fixed order, then the default:
///
/// ```text
/// prologue   r2 = type, r3 = access, r4 = major, r5 = minor (from ctx)
/// exception  if type/access/major/minor match: return !default
/// ...
/// epilogue   return default
/// ```
///
/// ```
/// use palisade_cgroup::{DeviceProgram, DeviceRule};
/// let p = DeviceProgram::build(&DeviceRule::docker_default())?;
/// assert!(!p.default_allow());
/// assert_eq!(p.instructions().last().unwrap().code, 0x95); // exit
/// # Ok::<(), palisade_cgroup::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceProgram {
    insns: Vec<BpfInsn>,
    default_allow: bool,
}

impl DeviceProgram {
    /// Compiles an ordered rule list (OCI `linux.resources.devices`
    /// semantics). Errors: [`Error::InvalidValue`] for a bad rule or an
    /// order the kernel's device list cannot express; nothing is loaded.
    pub fn build(rules: &[DeviceRule]) -> Result<DeviceProgram> {
        Ok(DeviceProgram::from_policy(&Policy::from_rules(rules)?))
    }

    pub(crate) fn from_policy(policy: &Policy) -> DeviceProgram {
        let default = i32::from(policy.default_allow);
        let mut p = Vec::with_capacity(8 + policy.exceptions.len() * 8);
        // Prologue. R1 points at `struct bpf_cgroup_dev_ctx { u32
        // access_type; u32 major; u32 minor; }`; access_type holds the
        // device type (BPF_DEVCG_DEV_*) in its low 16 bits and the
        // requested access (BPF_DEVCG_ACC_*, the bits of DeviceAccess) in
        // its high 16 bits. R1 is free for scratch afterwards.
        p.extend([
            insn(LDX_MEM_W, R2, R1, 0, 0),
            insn(ALU32_AND_K, R2, 0, 0, 0xffff),
            insn(LDX_MEM_W, R3, R1, 0, 0),
            insn(ALU32_RSH_K, R3, 0, 0, 16),
            insn(LDX_MEM_W, R4, R1, 4, 0),
            insn(LDX_MEM_W, R5, R1, 8, 0),
        ]);
        for (key, access) in &policy.exceptions {
            let check_access = *access != super::DeviceAccess::all();
            // The block's length, so each test can jump to the next block.
            let len = 1
                + if check_access { 3 } else { 0 }
                + usize::from(key.major.is_some())
                + usize::from(key.minor.is_some())
                + 2;
            let start = p.len();
            let skip = |p: &Vec<BpfInsn>| (start + len - p.len() - 1) as i16;
            // Type: block or char (exceptions never have type `a`).
            let kind = match key.kind {
                super::DeviceType::Block => DEVCG_DEV_BLOCK,
                _ => DEVCG_DEV_CHAR,
            };
            p.push(insn(JMP_JNE_K, R2, 0, skip(&p), kind));
            // Access. Against a deny-all default the exception allows only
            // when it grants every requested bit (r3 & access == r3), the
            // v1 kernel's match_exception(); against an allow-all default
            // it denies when it shares any bit (r3 & access != 0),
            // match_exception_partial(). A full `rwm` always matches.
            if check_access {
                p.push(insn(ALU32_MOV_X, R1, R3, 0, 0));
                p.push(insn(ALU32_AND_K, R1, 0, 0, i32::from(access.bits())));
                match policy.default_allow {
                    false => p.push(insn(JMP_JNE_X, R1, R3, skip(&p), 0)),
                    true => p.push(insn(JMP_JEQ_K, R1, 0, skip(&p), 0)),
                }
            }
            // Major and minor, unless wildcards (both fit an i32 immediate:
            // at most 12 and 20 bits).
            if let Some(major) = key.major {
                p.push(insn(JMP_JNE_K, R4, 0, skip(&p), major as i32));
            }
            if let Some(minor) = key.minor {
                p.push(insn(JMP_JNE_K, R5, 0, skip(&p), minor as i32));
            }
            // Matched: the exception's verdict, the opposite of the default.
            p.push(insn(ALU32_MOV_K, R0, 0, 0, 1 - default));
            p.push(insn(JMP_EXIT, 0, 0, 0, 0));
            debug_assert_eq!(p.len(), start + len);
        }
        // Epilogue: no exception matched, the default verdict.
        p.push(insn(ALU32_MOV_K, R0, 0, 0, default));
        p.push(insn(JMP_EXIT, 0, 0, 0, 0));
        DeviceProgram {
            insns: p,
            default_allow: policy.default_allow,
        }
    }

    /// The instructions, as the kernel reads them.
    pub fn instructions(&self) -> &[BpfInsn] {
        &self.insns
    }

    /// The verdict when no exception matches.
    pub fn default_allow(&self) -> bool {
        self.default_allow
    }

    /// Loads the program (`BPF_PROG_LOAD`, type
    /// `BPF_PROG_TYPE_CGROUP_DEVICE`, license `Apache`, named
    /// [`PROGRAM_NAME`]) and returns its close-on-exec fd. A program the
    /// verifier refuses is [`Error::BpfVerifier`] with the verifier's log;
    /// a missing capability (`CAP_BPF`/`CAP_SYS_ADMIN`) is [`Error::Bpf`]
    /// with `EPERM`.
    pub fn load(&self) -> Result<OwnedFd> {
        load(&self.insns)
    }
}

// bpf(2) commands, program type, attach type and flags (uapi/linux/bpf.h).
const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_DETACH: libc::c_long = 9;
const BPF_PROG_GET_FD_BY_ID: libc::c_long = 13;
const BPF_OBJ_GET_INFO_BY_FD: libc::c_long = 15;
const BPF_PROG_QUERY: libc::c_long = 16;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;

/// The `BPF_PROG_LOAD` member of `union bpf_attr` (up to
/// `expected_attach_type`; the kernel zero-fills the rest).
#[repr(C)]
#[derive(Default)]
struct LoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

/// The `BPF_PROG_ATTACH` / `BPF_PROG_DETACH` member.
#[repr(C)]
#[derive(Default)]
struct AttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
}

/// The `BPF_PROG_QUERY` member.
#[repr(C)]
#[derive(Default)]
struct QueryAttr {
    target_fd: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64,
    prog_cnt: u32,
    _pad: u32,
}

/// The `BPF_PROG_GET_FD_BY_ID` member.
#[repr(C)]
#[derive(Default)]
struct GetFdAttr {
    prog_id: u32,
    next_id: u32,
    open_flags: u32,
}

/// The `BPF_OBJ_GET_INFO_BY_FD` member.
#[repr(C)]
#[derive(Default)]
struct InfoAttr {
    bpf_fd: u32,
    info_len: u32,
    info: u64,
}

fn sys_bpf<T>(cmd: libc::c_long, attr: &mut T) -> std::result::Result<libc::c_long, Errno> {
    // SAFETY: `attr` is a repr(C) prefix of `union bpf_attr` for `cmd`,
    // valid for reads and writes of its size; pointers inside it point at
    // live buffers of the lengths given.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T as *mut libc::c_void,
            std::mem::size_of::<T>() as libc::c_uint,
        )
    };
    if r < 0 { Err(Errno::last()) } else { Ok(r) }
}

fn bpf_err(op: &'static str, target: impl Into<String>, errno: Errno) -> Error {
    Error::Bpf {
        op,
        target: target.into(),
        errno,
    }
}

fn load(insns: &[BpfInsn]) -> Result<OwnedFd> {
    let license = c"Apache";
    let mut name = [0u8; 16];
    name[..PROGRAM_NAME.len()].copy_from_slice(PROGRAM_NAME.as_bytes());
    let mut attr = LoadAttr {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: insns.len() as u32,
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        prog_name: name,
        ..LoadAttr::default()
    };
    let errno = match sys_bpf(BPF_PROG_LOAD, &mut attr) {
        // SAFETY: a new fd the kernel opened with O_CLOEXEC.
        Ok(fd) => return Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) }),
        Err(e) => e,
    };
    // The verifier refuses with EACCES or EINVAL: load again with a log
    // (skipped on the first try, it costs time) to say why.
    if !matches!(errno, Errno::EACCES | Errno::EINVAL) {
        return Err(bpf_err("BPF_PROG_LOAD", "device program", errno));
    }
    let mut log = vec![0u8; 1 << 20];
    attr.log_level = 1;
    attr.log_size = log.len() as u32;
    attr.log_buf = log.as_mut_ptr() as u64;
    if let Ok(fd) = sys_bpf(BPF_PROG_LOAD, &mut attr) {
        // Accepted on the second try after all (should not happen): use it.
        // SAFETY: as above.
        return Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) });
    }
    let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
    Err(Error::BpfVerifier {
        errno,
        insns: insns.len(),
        log: String::from_utf8_lossy(&log[..end]).trim_end().to_owned(),
    })
}

/// Ids of the device programs attached directly to the cgroup2 directory
/// `dir` (`BPF_PROG_QUERY`, not the inherited ones).
pub(crate) fn query(dir: BorrowedFd<'_>, path: &Path) -> Result<Vec<u32>> {
    let mut ids = vec![0u32; 16];
    loop {
        let mut attr = QueryAttr {
            target_fd: dir.as_raw_fd() as u32,
            attach_type: BPF_CGROUP_DEVICE,
            prog_ids: ids.as_mut_ptr() as u64,
            prog_cnt: ids.len() as u32,
            ..QueryAttr::default()
        };
        match sys_bpf(BPF_PROG_QUERY, &mut attr) {
            Ok(_) => {
                ids.truncate(attr.prog_cnt as usize);
                return Ok(ids);
            }
            // More programs than room: the kernel said how many.
            Err(Errno::ENOSPC) if (attr.prog_cnt as usize) > ids.len() => {
                ids = vec![0; attr.prog_cnt as usize];
            }
            Err(e) => return Err(bpf_err("BPF_PROG_QUERY", path.display().to_string(), e)),
        }
    }
}

/// An fd of program `id`, or `None` when it is gone.
fn fd_by_id(id: u32) -> Result<Option<OwnedFd>> {
    let mut attr = GetFdAttr {
        prog_id: id,
        ..GetFdAttr::default()
    };
    match sys_bpf(BPF_PROG_GET_FD_BY_ID, &mut attr) {
        // SAFETY: a new fd the kernel opened with O_CLOEXEC.
        Ok(fd) => Ok(Some(unsafe { OwnedFd::from_raw_fd(fd as i32) })),
        Err(Errno::ENOENT) => Ok(None),
        Err(e) => Err(bpf_err("BPF_PROG_GET_FD_BY_ID", format!("program {id}"), e)),
    }
}

/// Does program `id` still exist? (Leak checks: a detached program whose
/// last fd closed is freed.)
///
/// ```no_run
/// assert!(!palisade_cgroup::devices::program_exists(u32::MAX)?);
/// # Ok::<(), palisade_cgroup::Error>(())
/// ```
pub fn program_exists(id: u32) -> Result<bool> {
    Ok(fd_by_id(id)?.is_some())
}

/// The name the program was loaded with (`bpf_prog_info.name`).
fn name_of(prog: BorrowedFd<'_>, id: u32) -> Result<String> {
    // `struct bpf_prog_info` up to `name` (offset 64, 16 bytes); the kernel
    // fills what fits in `info_len`.
    let mut info = [0u8; 80];
    let mut attr = InfoAttr {
        bpf_fd: prog.as_raw_fd() as u32,
        info_len: info.len() as u32,
        info: info.as_mut_ptr() as u64,
    };
    sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &mut attr)
        .map_err(|e| bpf_err("BPF_OBJ_GET_INFO_BY_FD", format!("program {id}"), e))?;
    let name = &info[64..80];
    let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
    Ok(String::from_utf8_lossy(&name[..end]).into_owned())
}

/// The fds of the programs attached to `dir` that palisade loaded (by
/// name), skipping any that vanished meanwhile.
fn ours(dir: BorrowedFd<'_>, path: &Path) -> Result<Vec<OwnedFd>> {
    let mut fds = Vec::new();
    for id in query(dir, path)? {
        if let Some(fd) = fd_by_id(id)? {
            if name_of(fd.as_fd(), id)? == PROGRAM_NAME {
                fds.push(fd);
            }
        }
    }
    Ok(fds)
}

fn attach_cmd(
    cmd: libc::c_long,
    op: &'static str,
    dir: BorrowedFd<'_>,
    path: &Path,
    prog: BorrowedFd<'_>,
    flags: u32,
) -> Result<()> {
    let mut attr = AttachAttr {
        target_fd: dir.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: flags,
        ..AttachAttr::default()
    };
    sys_bpf(cmd, &mut attr)
        .map(drop)
        .map_err(|e| bpf_err(op, path.display().to_string(), e))
}

/// Puts `program` in force on the cgroup2 directory `dir`: load it, attach
/// it with `BPF_F_ALLOW_MULTI`, then detach the palisade programs attached
/// before. While both are attached the kernel runs both and an access
/// needs both to allow it, so an update never allows more than the old or
/// the new policy. The attachment holds the program; no fd is kept.
pub(crate) fn replace(dir: BorrowedFd<'_>, path: &Path, program: &DeviceProgram) -> Result<()> {
    let old = ours(dir, path)?;
    let prog = program.load()?;
    attach_cmd(
        BPF_PROG_ATTACH,
        "BPF_PROG_ATTACH",
        dir,
        path,
        prog.as_fd(),
        BPF_F_ALLOW_MULTI,
    )?;
    for fd in &old {
        detach(dir, path, fd.as_fd())?;
    }
    Ok(())
}

fn detach(dir: BorrowedFd<'_>, path: &Path, prog: BorrowedFd<'_>) -> Result<()> {
    match attach_cmd(BPF_PROG_DETACH, "BPF_PROG_DETACH", dir, path, prog, 0) {
        // Detached by someone else in between.
        Err(Error::Bpf {
            errno: Errno::ENOENT,
            ..
        }) => Ok(()),
        other => other,
    }
}

/// Detaches every palisade device program from `dir`; returns how many.
pub(crate) fn detach_ours(dir: BorrowedFd<'_>, path: &Path) -> Result<usize> {
    let fds = ours(dir, path)?;
    for fd in &fds {
        detach(dir, path, fd.as_fd())?;
    }
    Ok(fds.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DeviceRule;

    #[test]
    fn jumps_land_on_the_next_block() {
        let mut rules = DeviceRule::docker_default();
        rules.push(DeviceRule::parse(false, "c 1:3 w").unwrap());
        let p = DeviceProgram::build(&rules).unwrap();
        let insns = p.instructions();
        // Every jump lands inside the program, on a block start (a JNE of
        // the type register) or on the epilogue.
        for (i, ins) in insns.iter().enumerate() {
            if matches!(ins.code, JMP_JNE_K | JMP_JNE_X | JMP_JEQ_K) {
                let to = i as i64 + 1 + i64::from(ins.off);
                assert!(to > i as i64 && (to as usize) < insns.len(), "insn {i}");
                let target = insns[to as usize];
                let block_start = target.code == JMP_JNE_K && target.regs == R2;
                let epilogue = to as usize == insns.len() - 2;
                assert!(block_start || epilogue, "insn {i} jumps to {to}");
            }
        }
        assert_eq!(insns[insns.len() - 2], insn(ALU32_MOV_K, R0, 0, 0, 0));
    }

    /// The verifier refuses a program without `exit`: the typed error
    /// carries its log. (Root: loading needs CAP_BPF or CAP_SYS_ADMIN.)
    #[test]
    fn a_refused_program_carries_the_verifier_log() {
        let Some(_root) = palisade_testkit::require_root("loads a BPF program") else {
            return;
        };
        let bad = [insn(ALU32_MOV_K, R0, 0, 0, 1)];
        match load(&bad) {
            Err(Error::BpfVerifier { errno, insns, log }) => {
                assert_eq!(insns, 1);
                assert!(matches!(errno, Errno::EINVAL | Errno::EACCES), "{errno}");
                assert!(!log.is_empty(), "empty verifier log");
                let msg = Error::BpfVerifier { errno, insns, log }.to_string();
                assert!(msg.contains("verifier"), "{msg}");
            }
            other => panic!("expected a verifier refusal, got {other:?}"),
        }
        // The same loader accepts what the encoder builds.
        DeviceProgram::build(&DeviceRule::docker_default())
            .unwrap()
            .load()
            .unwrap();
    }
}
