//! Filter → BPF with libseccomp, plus the ENOSYS prologue.

use crate::action::Action;
use crate::arch::Arch;
use crate::error::{Error, Result};
use crate::filter::{CmpOp, Filter, Width};
use crate::install::{CompiledFilter, Insn};
use libseccomp::{ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall};
use std::io::{Read, Seek};
use std::os::fd::{FromRawFd, OwnedFd};

/// The kernel's `BPF_MAXINSNS`.
const BPF_MAXINSNS: usize = 4096;
/// `__X32_SYSCALL_BIT`: set in every x32 system call number.
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

impl Filter {
    /// Compiles the filter to a BPF program ready for
    /// [`CompiledFilter::install`], in the parent, before any fork.
    ///
    /// libseccomp builds the program (binary-tree dispatch,
    /// `SCMP_FLTATR_CTL_OPTIMIZE` = 2); when the default action denies and
    /// [`enosys_for_newer`](Filter::enosys_for_newer) is set, a prologue
    /// answers `ENOSYS` to system calls numbered above the highest one the
    /// rules name on each ABI (x32 calls go straight to the filter).
    ///
    /// Rules whose action is the default action are dropped, as runc does
    /// (libseccomp refuses them).
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the rule (argument index > 5, errno > 4094,
    /// 32-bit operator libseccomp cannot express, contradicting rules);
    /// [`Error::UnknownSyscall`] for a required name no ABI knows;
    /// [`Error::Libseccomp`] for other refusals; [`Error::TooLong`] past
    /// 4096 instructions.
    pub fn compile(&self) -> Result<CompiledFilter> {
        self.validate()?;
        let lib = |op: String| move |source| Error::Libseccomp { op, source };
        let mut ctx = ScmpFilterContext::new(self.default_action.scmp())
            .map_err(lib("seccomp_init".into()))?;
        // The context starts with the native ABI; keep exactly the listed ones.
        for a in &self.architectures {
            ctx.add_arch(a.scmp())
                .map_err(lib(format!("seccomp_arch_add({a})")))?;
        }
        if !self.architectures.contains(&Arch::native()) {
            ctx.remove_arch(Arch::native().scmp())
                .map_err(lib("seccomp_arch_remove(native)".into()))?;
        }
        ctx.set_act_badarch(self.bad_arch_action.scmp())
            .map_err(lib("SCMP_FLTATR_ACT_BADARCH".into()))?;
        // Binary tree over syscall numbers instead of a linear chain.
        ctx.set_ctl_optimize(if self.binary_tree { 2 } else { 1 })
            .map_err(lib("SCMP_FLTATR_CTL_OPTIMIZE".into()))?;

        let mut skipped = Vec::new();
        for (i, r) in self.rules.iter().enumerate() {
            let Ok(sys) = ScmpSyscall::from_name(&r.syscall) else {
                if r.optional {
                    skipped.push(r.syscall.clone());
                    continue;
                }
                return Err(Error::UnknownSyscall {
                    rule: i,
                    name: r.syscall.clone(),
                });
            };
            if r.action == self.default_action {
                continue;
            }
            let conds: Vec<ScmpArgCompare> = r
                .conditions
                .iter()
                .map(|c| {
                    let (op, datum) = match (c.width, c.op) {
                        (Width::Dword, CmpOp::Eq) => {
                            (ScmpCompareOp::MaskedEqual(0xffff_ffff), c.value)
                        }
                        (Width::Dword, CmpOp::MaskedEq(m)) => {
                            (ScmpCompareOp::MaskedEqual(m & 0xffff_ffff), c.value)
                        }
                        (_, CmpOp::Eq) => (ScmpCompareOp::Equal, c.value),
                        (_, CmpOp::Ne) => (ScmpCompareOp::NotEqual, c.value),
                        (_, CmpOp::Lt) => (ScmpCompareOp::Less, c.value),
                        (_, CmpOp::Le) => (ScmpCompareOp::LessOrEqual, c.value),
                        (_, CmpOp::Gt) => (ScmpCompareOp::Greater, c.value),
                        (_, CmpOp::Ge) => (ScmpCompareOp::GreaterEqual, c.value),
                        (_, CmpOp::MaskedEq(m)) => (ScmpCompareOp::MaskedEqual(m), c.value),
                    };
                    ScmpArgCompare::new(c.index.into(), op, datum)
                })
                .collect();
            ctx.add_rule_conditional(r.action.scmp(), sys, &conds)
                .map_err(|source| {
                    let reason = match source.errno() {
                        Some(libseccomp::error::SeccompErrno::EEXIST) => {
                            "contradicts an earlier rule for the same call and arguments".to_owned()
                        }
                        _ => format!("libseccomp refused it: {source}"),
                    };
                    Error::invalid(format!("rule {i} ({})", r.syscall), reason)
                })?;
        }

        let mut prog = export(&ctx)?;
        if self.enosys_for_newer && self.default_action.denies() {
            let stub = enosys_prologue(&self.newest_per_arch());
            prog.splice(0..0, stub);
        }
        if prog.len() > BPF_MAXINSNS {
            return Err(Error::TooLong(prog.len()));
        }
        Ok(CompiledFilter::new(
            prog,
            self.rules.iter().any(|r| r.action == Action::Notify)
                || self.default_action == Action::Notify,
            self.flags,
            skipped,
        ))
    }

    /// For each ABI (x32 left out): the highest system-call number the rules
    /// name. ABIs whose names resolve to nothing are left out too.
    fn newest_per_arch(&self) -> Vec<(u32, u32)> {
        let mut out: Vec<(u32, u32)> = Vec::new();
        for a in &self.architectures {
            if *a == Arch::X32 {
                continue;
            }
            let max = self
                .rules
                .iter()
                .filter_map(|r| ScmpSyscall::from_name_by_arch(&r.syscall, a.scmp()).ok())
                .map(i32::from)
                .filter(|&n| n >= 0)
                .max();
            if let Some(max) = max {
                if !out.iter().any(|(audit, _)| *audit == a.audit_arch()) {
                    out.push((a.audit_arch(), max as u32));
                }
            }
        }
        out
    }
}

// Classic BPF opcodes (linux/bpf_common.h).
const LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
const JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const JGT_K: u16 = 0x25; // BPF_JMP | BPF_JGT | BPF_K
const JSET_K: u16 = 0x45; // BPF_JMP | BPF_JSET | BPF_K
const JA: u16 = 0x05; // BPF_JMP | BPF_JA
const RET_K: u16 = 0x06; // BPF_RET | BPF_K
/// `offsetof(struct seccomp_data, arch)` and `nr`.
const OFF_ARCH: u32 = 4;
const OFF_NR: u32 = 0;

fn insn(code: u16, jt: u8, jf: u8, k: u32) -> Insn {
    Insn { code, jt, jf, k }
}

/// The prologue runc calls the "ENOSYS stub", written afresh: per ABI
///
/// ```text
///   ld  [arch]
///   jeq AUDIT_ARCH, 0, next      ; another ABI: try the next block
///   ld  [nr]
///   jset X32_BIT, filter, 0      ; (x86_64 only) x32 calls: to the filter
///   jgt MAX, 0, filter
///   ja  enosys
/// next:
///   ...
///   ja  filter
/// enosys:
///   ret ERRNO(ENOSYS)
/// filter:                        ; libseccomp's program, which reloads
/// ```
///
/// so that a call newer than the profile gets ENOSYS while everything else
/// is decided by the filter proper. Jumps to `enosys`/`filter` use `ja`
/// (32-bit offsets), so no block depends on the 8-bit conditional range.
fn enosys_prologue(newest: &[(u32, u32)]) -> Vec<Insn> {
    if newest.is_empty() {
        return Vec::new();
    }
    // Block layout is fixed, so offsets can be computed up front.
    let block_len = |audit: u32| {
        if audit == Arch::X86_64.audit_arch() {
            7
        } else {
            6
        }
    };
    let total: usize = newest.iter().map(|(a, _)| block_len(*a)).sum::<usize>() + 2;
    let enosys = total - 1; // index of `ret ERRNO(ENOSYS)`
    let filter = total; // first instruction of libseccomp's program
    let mut out = Vec::with_capacity(total);
    for &(audit, max) in newest {
        let start = out.len();
        let len = block_len(audit);
        out.push(insn(LD_W_ABS, 0, 0, OFF_ARCH));
        out.push(insn(JEQ_K, 0, (len - 2) as u8, audit));
        out.push(insn(LD_W_ABS, 0, 0, OFF_NR));
        if audit == Arch::X86_64.audit_arch() {
            // jt lands on the block's trailing `ja filter`.
            out.push(insn(JSET_K, 2, 0, X32_SYSCALL_BIT));
        }
        out.push(insn(JGT_K, 0, 1, max));
        let here = out.len();
        out.push(insn(JA, 0, 0, (enosys - here - 1) as u32));
        let here = out.len();
        out.push(insn(JA, 0, 0, (filter - here - 1) as u32));
        debug_assert_eq!(out.len() - start, len);
    }
    let here = out.len();
    out.push(insn(JA, 0, 0, (filter - here - 1) as u32));
    out.push(insn(RET_K, 0, 0, Action::Errno(libc::ENOSYS as u16).ret()));
    debug_assert_eq!(out.len(), total);
    out
}

/// libseccomp 2.5 exports to an fd only; a memfd keeps it in memory.
fn export(ctx: &ScmpFilterContext) -> Result<Vec<Insn>> {
    // SAFETY: memfd_create with a NUL-terminated name; the fd is owned below.
    let fd = unsafe { libc::memfd_create(c"palisade-seccomp".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(Error::sys("memfd_create", nix::errno::Errno::last()));
    }
    // SAFETY: fd was just returned by memfd_create and nothing else owns it.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    ctx.export_bpf(&fd).map_err(|source| Error::Libseccomp {
        op: "seccomp_export_bpf".into(),
        source,
    })?;
    let mut file = std::fs::File::from(fd);
    let mut bytes = Vec::new();
    file.rewind()
        .and_then(|_| file.read_to_end(&mut bytes))
        .map_err(|e| {
            Error::sys(
                "read(memfd)",
                nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(0)),
            )
        })?;
    Ok(bytes
        .chunks_exact(8)
        .map(|c| Insn {
            code: u16::from_ne_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect())
}
