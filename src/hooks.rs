//! Hooks at the OCI runtime spec's lifecycle points: commands (path,
//! args, env, timeout; the container's state as JSON on stdin) and, for
//! library users, closures run in the parent.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// When a hook runs (runtime spec, "Lifecycle" and "POSIX-platform Hooks").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HookPoint {
    /// Deprecated by the spec; runs with `CreateRuntime`, before it.
    Prestart,
    /// On the host, once the container's namespaces and mounts exist,
    /// before `pivot_root`.
    CreateRuntime,
    /// In the container's mount namespace (host root still visible),
    /// before `pivot_root`.
    CreateContainer,
    /// Inside the container (all its namespaces and root), just before
    /// the program is released.
    StartContainer,
    /// On the host, once the program has started.
    Poststart,
    /// On the host, once the container has stopped and been cleaned up.
    Poststop,
}

impl HookPoint {
    /// Whether a failure aborts the container (the spec's `prestart`,
    /// `createRuntime`, `createContainer`, `startContainer`) or is only
    /// reported (`poststart`, `poststop`).
    pub fn aborts(self) -> bool {
        !matches!(self, HookPoint::Poststart | HookPoint::Poststop)
    }
}

/// A hook command: `path` run with `args` (the first is argv\[0\], as in
/// the spec; empty means `path`) and exactly `env`, the container's state
/// JSON on its stdin, killed after `timeout`.
///
/// ```
/// use std::time::Duration;
/// let hook = palisade::Hook::new("/usr/bin/logger")
///     .args(["logger", "-t", "palisade", "container created"])
///     .timeout(Duration::from_secs(5));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hook {
    /// Absolute path of the program (on the host; inside the container for
    /// `StartContainer`).
    pub path: PathBuf,
    /// argv, from argv\[0\].
    pub args: Vec<String>,
    /// `KEY=value` entries, exactly.
    pub env: Vec<String>,
    /// Killed (SIGKILL) and failed after this long.
    pub timeout: Option<Duration>,
}

impl Hook {
    /// A hook running `path`.
    pub fn new(path: impl Into<PathBuf>) -> Hook {
        Hook {
            path: path.into(),
            args: Vec::new(),
            env: Vec::new(),
            timeout: None,
        }
    }

    /// argv, starting with argv\[0\].
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args = args.into_iter().map(Into::into).collect();
        self
    }

    /// One `KEY=value` environment entry.
    pub fn env(mut self, entry: &str) -> Self {
        self.env.push(entry.to_owned());
        self
    }

    /// Time limit.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Runs it with `state` on stdin; `pre_exec` runs in the forked child
    /// before `execve` (entering the container's namespaces).
    pub(crate) fn run(&self, state: &str, pre_exec: Option<PreExec>) -> Result<(), String> {
        let mut cmd = Command::new(&self.path);
        if let Some(argv0) = self.args.first() {
            cmd.arg0(argv0);
            cmd.args(&self.args[1..]);
        }
        cmd.env_clear();
        for e in &self.env {
            if let Some((k, v)) = e.split_once('=') {
                cmd.env(k, v);
            }
        }
        cmd.stdin(Stdio::piped());
        if let Some(f) = pre_exec {
            // SAFETY: the closure only makes raw system calls (setns,
            // chdir) between fork and exec.
            unsafe { cmd.pre_exec(f) };
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("{}: {e}", self.path.display()))?;
        if let Some(mut stdin) = child.stdin.take() {
            // A hook that does not read its stdin must not fail us.
            let _ = stdin.write_all(state.as_bytes());
        }
        let started = Instant::now();
        loop {
            match child.try_wait() {
                Ok(Some(status)) if status.success() => return Ok(()),
                Ok(Some(status)) => {
                    return Err(format!("{} exited with {status}", self.path.display()));
                }
                Ok(None) => {}
                Err(e) => return Err(format!("{}: wait: {e}", self.path.display())),
            }
            if self.timeout.is_some_and(|t| started.elapsed() >= t) {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{} timed out after {:?}",
                    self.path.display(),
                    self.timeout.unwrap_or_default()
                ));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

/// Runs in a hook's forked process before `execve` (entering the
/// container's namespaces).
pub(crate) type PreExec = Box<dyn FnMut() -> std::io::Result<()> + Send + Sync>;

/// A closure hook: gets the state JSON; an `Err` is the hook failing.
pub type HookFn = Arc<dyn Fn(&str) -> Result<(), String> + Send + Sync>;

/// A hook of either kind.
#[derive(Clone)]
pub(crate) enum AnyHook {
    Command(Hook),
    Fn(HookFn),
}

impl std::fmt::Debug for AnyHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AnyHook::Command(h) => h.fmt(f),
            AnyHook::Fn(_) => f.write_str("HookFn"),
        }
    }
}

/// The state JSON of the runtime spec ("State"), written by hand: the
/// facade does not require serde.
pub(crate) fn state_json(id: &str, status: &str, pid: i32, bundle: &str) -> String {
    let esc = |s: &str| {
        let mut out = String::with_capacity(s.len());
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                c => out.push(c),
            }
        }
        out
    };
    format!(
        "{{\"ociVersion\":\"1.2.0\",\"id\":\"{}\",\"status\":\"{}\",\"pid\":{pid},\"bundle\":\"{}\"}}",
        esc(id),
        status,
        esc(bundle)
    )
}

/// Runs every hook of `point` in order. Returns the failures as text; an
/// aborting point stops at its first failure.
pub(crate) fn run_point(
    hooks: &[(HookPoint, AnyHook)],
    point: HookPoint,
    state: &str,
    enter: Option<&dyn Fn() -> PreExec>,
) -> Vec<String> {
    let mut failures = Vec::new();
    for (p, hook) in hooks {
        if *p != point {
            continue;
        }
        let result = match hook {
            AnyHook::Command(h) => h.run(state, enter.map(|f| f())),
            AnyHook::Fn(f) => f(state),
        };
        if let Err(e) = result {
            failures.push(format!("{point:?} hook: {e}"));
            if point.aborts() {
                break;
            }
        }
    }
    failures
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_json_escapes() {
        assert_eq!(
            state_json("a\"b", "creating", 7, "/x\\y"),
            r#"{"ociVersion":"1.2.0","id":"a\"b","status":"creating","pid":7,"bundle":"/x\\y"}"#
        );
    }

    #[test]
    fn a_failing_command_and_a_timeout_are_reported() {
        let ok = Hook::new("/bin/sh").args(["sh", "-c", "read x; test -n \"$x\""]);
        assert_eq!(ok.run("{}\n", None), Ok(()));
        let fail = Hook::new("/bin/sh").args(["sh", "-c", "exit 3"]);
        assert!(fail.run("", None).unwrap_err().contains("exit status: 3"));
        let slow = Hook::new("/bin/sleep")
            .args(["sleep", "5"])
            .timeout(Duration::from_millis(50));
        assert!(slow.run("", None).unwrap_err().contains("timed out"));
    }
}
