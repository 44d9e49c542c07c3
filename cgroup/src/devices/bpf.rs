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

use super::policy::Policy;
use super::{DeviceAccess, DeviceRule};
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
const ALU32_XOR_K: u8 = 0xa4; // BPF_ALU | BPF_XOR | BPF_K
const ALU32_OR_X: u8 = 0x4c; // BPF_ALU | BPF_OR | BPF_X
const ALU32_ADD_K: u8 = 0x04; // BPF_ALU | BPF_ADD | BPF_K
const JMP_JNE_K: u8 = 0x55; // BPF_JMP | BPF_JNE | BPF_K
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
/// exception  r2 = (type ^ T) | (access outside A) | (major ^ M) | (minor ^ N)
///            if r2 == 0: return !default
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
        let mut p = Vec::with_capacity(2 + policy.exceptions.len() * 20);
        // R1 points at `struct bpf_cgroup_dev_ctx { u32 access_type; u32
        // major; u32 minor; }`: access_type holds the device type
        // (BPF_DEVCG_DEV_*) in its low 16 bits and the requested access
        // (BPF_DEVCG_ACC_*, the bits of DeviceAccess) in its high 16 bits.
        //
        // Each block computes, without branching, R2 = 0 if the request
        // matches its exception (each field XORed with the wanted value,
        // all ORed together) and takes one jump to the next block
        // otherwise. One jump per block means one path through the
        // program: the verifier checks it in linear time. (A compare-and-
        // jump per field gives paths that reach each block in different
        // states; verification grew with the square of the rule count —
        // 0.45 ms for docker_default's 12 blocks, 8 ms for 200.)
        for (key, access) in &policy.exceptions {
            let check_access = *access != DeviceAccess::all();
            let start = p.len();
            // Type: R2 = (access_type & 0xffff) ^ wanted type (block or
            // char; exceptions never have type `a`); R3 keeps access_type.
            let kind = match key.kind {
                super::DeviceType::Block => DEVCG_DEV_BLOCK,
                _ => DEVCG_DEV_CHAR,
            };
            p.push(insn(LDX_MEM_W, R2, R1, 0, 0));
            if check_access {
                p.push(insn(ALU32_MOV_X, R3, R2, 0, 0));
            }
            p.push(insn(ALU32_AND_K, R2, 0, 0, 0xffff));
            p.push(insn(ALU32_XOR_K, R2, 0, 0, kind));
            // Access (skipped for `rwm`, which always matches). Against a
            // deny-all default the exception allows only when it grants
            // every requested bit, the v1 kernel's match_exception():
            // R3 = requested & !granted. Against an allow-all default it
            // denies when it shares any bit, match_exception_partial():
            // R3 = ((requested & denied) + 7) >> 3 is 1 when they share a
            // bit (1..=7 + 7 = 8..=14) and 0 otherwise; ^ 1 makes 0 the
            // match.
            if check_access {
                let bits = i32::from(access.bits());
                p.push(insn(ALU32_RSH_K, R3, 0, 0, 16));
                if policy.default_allow {
                    p.push(insn(ALU32_AND_K, R3, 0, 0, bits));
                    p.push(insn(ALU32_ADD_K, R3, 0, 0, 7));
                    p.push(insn(ALU32_RSH_K, R3, 0, 0, 3));
                    p.push(insn(ALU32_XOR_K, R3, 0, 0, 1));
                } else {
                    p.push(insn(ALU32_AND_K, R3, 0, 0, !bits & 0xffff));
                }
                p.push(insn(ALU32_OR_X, R2, R3, 0, 0));
            }
            // Major and minor, unless wildcards: R2 |= field ^ wanted (both
            // fit an i32 immediate: at most 12 and 20 bits).
            for (field, offset, wanted) in [(R4, 4, key.major), (R5, 8, key.minor)] {
                if let Some(wanted) = wanted {
                    p.push(insn(LDX_MEM_W, field, R1, offset, 0));
                    p.push(insn(ALU32_XOR_K, field, 0, 0, wanted as i32));
                    p.push(insn(ALU32_OR_X, R2, field, 0, 0));
                }
            }
            // No match: on to the next block (past this jump and the two
            // verdict instructions).
            p.push(insn(JMP_JNE_K, R2, 0, 2, 0));
            // Matched: the exception's verdict, the opposite of the default.
            p.push(insn(ALU32_MOV_K, R0, 0, 0, 1 - default));
            p.push(insn(JMP_EXIT, 0, 0, 0, 0));
            debug_assert!(p.len() - start <= 20);
        }
        // No exception matched: the default verdict.
        p.push(insn(ALU32_MOV_K, R0, 0, 0, default));
        p.push(insn(JMP_EXIT, 0, 0, 0, 0));
        DeviceProgram {
            insns: p,
            default_allow: policy.default_allow,
        }
    }

    /// Runs the program on one request in user space — an interpreter of
    /// exactly the instructions [`build`](DeviceProgram::build) emits — and
    /// returns its verdict (`true` = allow). For tests and fuzzing: it lets
    /// the encoder be checked against the v1 controller's semantics
    /// ([`crate::devices::allows`]) without the kernel.
    ///
    /// ```
    /// use palisade_cgroup::{DeviceAccess, DeviceProgram, DeviceRule, DeviceType};
    /// let p = DeviceProgram::build(&DeviceRule::docker_default())?;
    /// assert!(p.run(DeviceType::Char, 1, 3, DeviceAccess::READ));
    /// assert!(!p.run(DeviceType::Block, 8, 0, DeviceAccess::READ));
    /// assert!(p.run(DeviceType::Block, 8, 0, DeviceAccess::MKNOD));
    /// # Ok::<(), palisade_cgroup::Error>(())
    /// ```
    pub fn run(
        &self,
        kind: super::DeviceType,
        major: u32,
        minor: u32,
        access: DeviceAccess,
    ) -> bool {
        let kind = match kind {
            super::DeviceType::Block => DEVCG_DEV_BLOCK as u32,
            super::DeviceType::Char => DEVCG_DEV_CHAR as u32,
            super::DeviceType::All => 0,
        };
        let ctx = [kind | (u32::from(access.bits()) << 16), major, minor];
        let mut r = [0u64; 11];
        let mut pc = 0usize;
        loop {
            let i = self.insns[pc];
            let (dst, src) = (usize::from(i.regs & 0xf), usize::from(i.regs >> 4));
            let imm = i.imm as u32;
            let alu = |v: u32| u64::from(v);
            pc += 1;
            match i.code {
                LDX_MEM_W => r[dst] = alu(ctx[(i.off / 4) as usize]),
                ALU32_AND_K => r[dst] = alu(r[dst] as u32 & imm),
                ALU32_XOR_K => r[dst] = alu(r[dst] as u32 ^ imm),
                ALU32_ADD_K => r[dst] = alu((r[dst] as u32).wrapping_add(imm)),
                ALU32_RSH_K => r[dst] = alu((r[dst] as u32) >> imm),
                ALU32_MOV_K => r[dst] = alu(imm),
                ALU32_MOV_X => r[dst] = alu(r[src] as u32),
                ALU32_OR_X => r[dst] = alu(r[dst] as u32 | r[src] as u32),
                JMP_JNE_K => {
                    if r[dst] != i64::from(i.imm) as u64 {
                        pc = (pc as isize + isize::from(i.off)) as usize;
                    }
                }
                JMP_EXIT => return r[0] == 1,
                other => unreachable!("opcode {other:#x} is never emitted"),
            }
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
        // Every jump lands inside the program, on a block start (the load
        // of the type) or on the epilogue.
        for (i, ins) in insns.iter().enumerate() {
            if ins.code == JMP_JNE_K {
                let to = i as i64 + 1 + i64::from(ins.off);
                assert!(to > i as i64 && (to as usize) < insns.len(), "insn {i}");
                let target = insns[to as usize];
                let block_start = target == insn(LDX_MEM_W, R2, R1, 0, 0);
                let epilogue = to as usize == insns.len() - 2;
                assert!(block_start || epilogue, "insn {i} jumps to {to}");
            }
        }
        assert_eq!(insns[insns.len() - 2], insn(ALU32_MOV_K, R0, 0, 0, 0));
    }

    /// The program's verdict equals the v1 controller's on random policies
    /// and requests (both default behaviours, wildcards, partial access).
    #[test]
    fn program_verdicts_match_the_v1_semantics() {
        use crate::{DeviceAccess, DeviceType};
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let kinds = [DeviceType::All, DeviceType::Block, DeviceType::Char];
        let (mut checked, mut lists) = (0, 0);
        while lists < 500 {
            let mut rules = Vec::new();
            if next(2) == 0 {
                rules.push(DeviceRule::allow_all());
            }
            for _ in 0..1 + next(12) {
                let number = |n: u64| (n < 3).then_some(n as u32);
                rules.push(DeviceRule {
                    allow: next(2) == 0,
                    kind: kinds[next(3) as usize],
                    major: number(next(4)),
                    minor: number(next(4)),
                    access: DeviceAccess::from_bits_truncate(1 + next(7) as u8),
                });
            }
            let Ok(policy) = Policy::from_rules(&rules) else {
                continue;
            };
            lists += 1;
            let program = DeviceProgram::from_policy(&policy);
            for kind in [DeviceType::Block, DeviceType::Char] {
                for major in 0..4 {
                    for minor in 0..4 {
                        for bits in 1..8 {
                            let access = DeviceAccess::from_bits_truncate(bits);
                            assert_eq!(
                                program.run(kind, major, minor, access),
                                policy.allows(kind, major, minor, access),
                                "{rules:?} on {kind:?} {major}:{minor} {access}"
                            );
                            checked += 1;
                        }
                    }
                }
            }
        }
        assert!(checked > 100_000);
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
