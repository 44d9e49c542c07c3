//! The typed filter: a default action and rules of syscall → action.

use crate::action::Action;
use crate::arch::Arch;
use crate::error::{Error, Result};
use crate::install::InstallFlags;

/// How a system-call argument is compared with a value
/// (`SCMP_CMP_*` in OCI profiles and libseccomp).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CmpOp {
    /// `arg == value`
    Eq,
    /// `arg != value`
    Ne,
    /// `arg < value` (unsigned)
    Lt,
    /// `arg <= value` (unsigned)
    Le,
    /// `arg > value` (unsigned)
    Gt,
    /// `arg >= value` (unsigned)
    Ge,
    /// `arg & mask == value`
    MaskedEq(u64),
}

impl CmpOp {
    /// The OCI name (`SCMP_CMP_EQ`, ...).
    pub const fn oci_name(self) -> &'static str {
        match self {
            CmpOp::Eq => "SCMP_CMP_EQ",
            CmpOp::Ne => "SCMP_CMP_NE",
            CmpOp::Lt => "SCMP_CMP_LT",
            CmpOp::Le => "SCMP_CMP_LE",
            CmpOp::Gt => "SCMP_CMP_GT",
            CmpOp::Ge => "SCMP_CMP_GE",
            CmpOp::MaskedEq(_) => "SCMP_CMP_MASKED_EQ",
        }
    }
}

/// How many bits of the argument take part in a comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Width {
    /// All 64 bits of `seccomp_data.args[i]` (OCI profiles' meaning).
    #[default]
    Qword,
    /// The low 32 bits only, for `int` arguments whose upper half the
    /// kernel ignores (and a caller may leave as garbage or sign-extend).
    /// Expressible for [`CmpOp::Eq`] and [`CmpOp::MaskedEq`] only (compiled
    /// as a masked compare with `0xffff_ffff`); other operators are refused
    /// by [`Filter::compile`](crate::Filter::compile).
    Dword,
}

/// A condition on one argument of the system call; a rule's conditions
/// must all hold (AND).
///
/// ```
/// use palisade_seccomp::{CmpOp, Condition};
/// // socket(domain != AF_VSOCK, ...)
/// let c = Condition::new(0, CmpOp::Ne, 40);
/// assert_eq!(c.index, 0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Condition {
    /// Argument index, 0..=5.
    pub index: u8,
    /// The comparison.
    pub op: CmpOp,
    /// The value compared with (the datum after masking for `MaskedEq`).
    pub value: u64,
    /// 64- or 32-bit comparison.
    pub width: Width,
}

impl Condition {
    /// A 64-bit comparison of argument `index`.
    pub const fn new(index: u8, op: CmpOp, value: u64) -> Condition {
        Condition {
            index,
            op,
            value,
            width: Width::Qword,
        }
    }

    /// A comparison of the low 32 bits of argument `index`.
    pub const fn new32(index: u8, op: CmpOp, value: u32) -> Condition {
        Condition {
            index,
            op,
            value: value as u64,
            width: Width::Dword,
        }
    }
}

/// One rule: when `syscall` is called (and every condition holds), take
/// `action`.
///
/// ```
/// use palisade_seccomp::{Action, CmpOp, Rule};
/// let r = Rule::new("personality", Action::Allow).arg(0, CmpOp::Eq, 0);
/// let maybe = Rule::new("futex_waitv", Action::Allow).optional();
/// assert!(maybe.optional);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// The system call's name, resolved per architecture by libseccomp
    /// (`chown32` exists on x86 only, `arch_prctl` on x86_64 only, ...).
    pub syscall: String,
    /// What to do.
    pub action: Action,
    /// Conditions on the arguments, all of which must hold.
    pub conditions: Vec<Condition>,
    /// When true, a name no architecture knows is skipped (reported by
    /// [`CompiledFilter::skipped`](crate::CompiledFilter::skipped)) instead
    /// of failing the compile. OCI profiles' names are optional, as in runc.
    pub optional: bool,
}

impl Rule {
    /// An unconditional, required rule.
    pub fn new(syscall: impl Into<String>, action: Action) -> Rule {
        Rule {
            syscall: syscall.into(),
            action,
            conditions: Vec::new(),
            optional: false,
        }
    }

    /// Adds a 64-bit condition on argument `index`.
    pub fn arg(mut self, index: u8, op: CmpOp, value: u64) -> Rule {
        self.conditions.push(Condition::new(index, op, value));
        self
    }

    /// Adds a condition.
    pub fn condition(mut self, c: Condition) -> Rule {
        self.conditions.push(c);
        self
    }

    /// Marks the rule optional: unknown names are skipped.
    pub fn optional(mut self) -> Rule {
        self.optional = true;
        self
    }
}

/// A seccomp filter before compilation: a default action, the ABIs it
/// covers and its rules.
///
/// ```
/// use palisade_seccomp::{Action, Filter, Rule};
/// let filter = Filter::new(Action::Allow)
///     .rule(Rule::new("getcwd", Action::Errno(libc::EACCES as u16)));
/// let compiled = filter.compile()?;
/// assert!(compiled.len() > 3);
/// # Ok::<(), palisade_seccomp::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    /// What happens to a system call no rule matches.
    pub default_action: Action,
    /// The ABIs the rules apply to; system calls from any other ABI get
    /// `bad_arch_action`. Starts as `[Arch::native()]`.
    pub architectures: Vec<Arch>,
    /// What happens to a system call from an ABI not in `architectures`.
    /// Default [`Action::KillProcess`] (libseccomp's own default kills only
    /// the thread, leaving a half-dead process).
    pub bad_arch_action: Action,
    /// The rules, in order.
    pub rules: Vec<Rule>,
    /// When true (the default) and the default action denies, system calls
    /// numbered above the highest one the rules name (per ABI) get `ENOSYS`
    /// instead of the default action: they are newer than the profile, and
    /// `ENOSYS` makes libc fall back to an older call, where `EPERM` would
    /// make it fail. runc and Docker do the same.
    pub enosys_for_newer: bool,
    /// Flags the profile asks for at install time (OCI `flags`).
    pub flags: InstallFlags,
    /// When true (the default), libseccomp dispatches on the system-call
    /// number with a binary tree (`SCMP_FLTATR_CTL_OPTIMIZE` = 2); when
    /// false, with its default chain ordered by rule priority (level 1).
    /// Kept for comparison (the benchmark `seccomp`).
    pub binary_tree: bool,
}

impl Filter {
    /// A filter with no rules for the native ABI.
    pub fn new(default_action: Action) -> Filter {
        Filter {
            default_action,
            architectures: vec![Arch::native()],
            bad_arch_action: Action::KillProcess,
            rules: Vec::new(),
            enosys_for_newer: true,
            flags: InstallFlags::empty(),
            binary_tree: true,
        }
    }

    /// Adds a rule.
    pub fn rule(mut self, rule: Rule) -> Filter {
        self.rules.push(rule);
        self
    }

    /// Allows each named system call unconditionally (required names).
    pub fn allow(mut self, names: &[&str]) -> Filter {
        self.rules
            .extend(names.iter().map(|n| Rule::new(*n, Action::Allow)));
        self
    }

    /// Replaces the architecture list.
    pub fn architectures(mut self, arches: &[Arch]) -> Filter {
        self.architectures = arches.to_vec();
        self
    }

    /// Checks everything that can be checked without libseccomp; errors
    /// name the rule (`rule i (name)`).
    pub(crate) fn validate(&self) -> Result<()> {
        self.default_action.check("defaultAction")?;
        self.bad_arch_action.check("bad-arch action")?;
        if self.bad_arch_action == Action::Notify {
            return Err(Error::invalid(
                "bad-arch action",
                "SCMP_ACT_NOTIFY cannot be the bad-architecture action",
            ));
        }
        if self.default_action == Action::Notify {
            // libseccomp refuses it (seccomp_init fails): every call,
            // including the supervisor's own, would wait for a supervisor.
            return Err(Error::invalid(
                "defaultAction",
                "SCMP_ACT_NOTIFY cannot be the default action",
            ));
        }
        if self.architectures.is_empty() {
            return Err(Error::invalid("architectures", "no architecture"));
        }
        for (i, r) in self.rules.iter().enumerate() {
            let entry = || format!("rule {i} ({})", r.syscall);
            r.action.check(&entry())?;
            if r.syscall.is_empty() {
                return Err(Error::invalid(entry(), "empty syscall name"));
            }
            for c in &r.conditions {
                if c.index > 5 {
                    return Err(Error::invalid(
                        entry(),
                        format!("argument index {} is above 5", c.index),
                    ));
                }
                if c.width == Width::Dword {
                    if !matches!(c.op, CmpOp::Eq | CmpOp::MaskedEq(_)) {
                        return Err(Error::invalid(
                            entry(),
                            format!(
                                "32-bit {} cannot be expressed (only EQ and MASKED_EQ)",
                                c.op.oci_name()
                            ),
                        ));
                    }
                    if c.value > u32::MAX as u64 {
                        return Err(Error::invalid(
                            entry(),
                            format!("32-bit value {:#x} does not fit 32 bits", c.value),
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}
