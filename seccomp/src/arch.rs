//! Architectures (ABIs) a filter applies to.

use crate::error::{Error, Result};
use libseccomp::ScmpArch;

macro_rules! arches {
    ($( $(#[$doc:meta])* $v:ident = $oci:literal, $scmp:ident, $audit:expr, $go:literal; )*) => {
        /// A system-call ABI, as the kernel's seccomp sees it in
        /// `seccomp_data.arch` (the `AUDIT_ARCH_*` value) and as the OCI
        /// runtime spec names it (`SCMP_ARCH_*`).
        ///
        /// One machine may run several ABIs: an x86_64 kernel also takes
        /// i386 (`int 0x80`) and x32 system calls, so a filter lists every
        /// ABI it means to handle; the others get the filter's bad-arch
        /// action.
        ///
        /// ```
        /// use palisade_seccomp::Arch;
        /// assert_eq!(Arch::from_oci("SCMP_ARCH_X86_64").unwrap(), Arch::X86_64);
        /// assert_eq!(Arch::X86.oci_name(), "SCMP_ARCH_X86");
        /// ```
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[allow(non_camel_case_types)]
        #[non_exhaustive]
        pub enum Arch { $( $(#[$doc])* $v, )* }

        impl Arch {
            /// Every architecture this crate knows.
            pub const ALL: &'static [Arch] = &[$(Arch::$v),*];

            /// The OCI / libseccomp name, e.g. `SCMP_ARCH_X86_64`.
            pub const fn oci_name(self) -> &'static str {
                match self { $(Arch::$v => $oci,)* }
            }

            pub(crate) fn scmp(self) -> ScmpArch {
                match self { $(Arch::$v => ScmpArch::$scmp,)* }
            }

            /// The kernel's `AUDIT_ARCH_*` value for this ABI
            /// (`seccomp_data.arch`). x32 shares x86_64's value; its system
            /// call numbers carry bit 30 (`__X32_SYSCALL_BIT`).
            pub const fn audit_arch(self) -> u32 {
                match self { $(Arch::$v => $audit,)* }
            }

            /// Go's `GOARCH` name, as Docker profiles' `includes.arches`
            /// and `excludes.arches` use it (`amd64`, `arm64`, ...).
            pub const fn go_name(self) -> &'static str {
                match self { $(Arch::$v => $go,)* }
            }
        }
    };
}

arches! {
    /// 64-bit x86 (`AUDIT_ARCH_X86_64`).
    X86_64 = "SCMP_ARCH_X86_64", X8664, 0xC000_003E, "amd64";
    /// 32-bit x86, i386 (`AUDIT_ARCH_I386`), reached on x86_64 by `int 0x80`.
    X86 = "SCMP_ARCH_X86", X86, 0x4000_0003, "386";
    /// x32: 32-bit pointers on the x86_64 ABI (system call numbers | 1 << 30).
    X32 = "SCMP_ARCH_X32", X32, 0xC000_003E, "x32";
    /// 64-bit ARM (`AUDIT_ARCH_AARCH64`).
    Aarch64 = "SCMP_ARCH_AARCH64", Aarch64, 0xC000_00B7, "arm64";
    /// 32-bit ARM EABI (`AUDIT_ARCH_ARM`).
    Arm = "SCMP_ARCH_ARM", Arm, 0x4000_0028, "arm";
    /// 64-bit RISC-V (`AUDIT_ARCH_RISCV64`).
    Riscv64 = "SCMP_ARCH_RISCV64", Riscv64, 0xC000_00F3, "riscv64";
    /// 64-bit little-endian PowerPC (`AUDIT_ARCH_PPC64LE`).
    Ppc64Le = "SCMP_ARCH_PPC64LE", Ppc64Le, 0xC000_0015, "ppc64le";
    /// 64-bit big-endian PowerPC (`AUDIT_ARCH_PPC64`).
    Ppc64 = "SCMP_ARCH_PPC64", Ppc64, 0x8000_0015, "ppc64";
    /// 32-bit PowerPC (`AUDIT_ARCH_PPC`).
    Ppc = "SCMP_ARCH_PPC", Ppc, 0x0000_0014, "ppc";
    /// 64-bit s390 (`AUDIT_ARCH_S390X`).
    S390X = "SCMP_ARCH_S390X", S390X, 0x8000_0016, "s390x";
    /// 31-bit s390 (`AUDIT_ARCH_S390`).
    S390 = "SCMP_ARCH_S390", S390, 0x0000_0016, "s390";
    /// 32-bit big-endian MIPS o32 (`AUDIT_ARCH_MIPS`).
    Mips = "SCMP_ARCH_MIPS", Mips, 0x0000_0008, "mips";
    /// 32-bit little-endian MIPS o32 (`AUDIT_ARCH_MIPSEL`).
    Mipsel = "SCMP_ARCH_MIPSEL", Mipsel, 0x4000_0008, "mipsle";
    /// 64-bit big-endian MIPS n64 (`AUDIT_ARCH_MIPS64`).
    Mips64 = "SCMP_ARCH_MIPS64", Mips64, 0x8000_0008, "mips64";
    /// 64-bit little-endian MIPS n64 (`AUDIT_ARCH_MIPSEL64`).
    Mipsel64 = "SCMP_ARCH_MIPSEL64", Mipsel64, 0xC000_0008, "mips64le";
    /// Big-endian MIPS n32 (`AUDIT_ARCH_MIPS64N32`).
    Mips64N32 = "SCMP_ARCH_MIPS64N32", Mips64N32, 0xA000_0008, "mips64n32";
    /// Little-endian MIPS n32 (`AUDIT_ARCH_MIPSEL64N32`).
    Mipsel64N32 = "SCMP_ARCH_MIPSEL64N32", Mipsel64N32, 0xE000_0008, "mips64len32";
    /// 64-bit LoongArch (`AUDIT_ARCH_LOONGARCH64`).
    Loongarch64 = "SCMP_ARCH_LOONGARCH64", Loongarch64, 0xC000_0102, "loong64";
}

impl Arch {
    /// The ABI this program was compiled for (the kernel's native one for
    /// the usual 64-bit builds).
    pub const fn native() -> Arch {
        #[cfg(target_arch = "x86_64")]
        {
            Arch::X86_64
        }
        #[cfg(target_arch = "x86")]
        {
            Arch::X86
        }
        #[cfg(target_arch = "aarch64")]
        {
            Arch::Aarch64
        }
        #[cfg(target_arch = "arm")]
        {
            Arch::Arm
        }
        #[cfg(target_arch = "riscv64")]
        {
            Arch::Riscv64
        }
        #[cfg(all(target_arch = "powerpc64", target_endian = "little"))]
        {
            Arch::Ppc64Le
        }
        #[cfg(all(target_arch = "powerpc64", target_endian = "big"))]
        {
            Arch::Ppc64
        }
        #[cfg(target_arch = "s390x")]
        {
            Arch::S390X
        }
        #[cfg(target_arch = "loongarch64")]
        {
            Arch::Loongarch64
        }
    }

    /// Parses an OCI name (`SCMP_ARCH_X86_64`).
    ///
    /// # Errors
    /// [`Error::UnknownArch`] naming the string.
    pub fn from_oci(name: &str) -> Result<Arch> {
        Arch::ALL
            .iter()
            .copied()
            .find(|a| a.oci_name() == name)
            .ok_or_else(|| Error::UnknownArch(name.to_owned()))
    }
}

impl std::fmt::Display for Arch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.oci_name())
    }
}
