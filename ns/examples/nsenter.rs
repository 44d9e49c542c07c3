//! Runs a command inside the namespaces of a process, like util-linux
//! `nsenter`: all requested kinds are joined at once through the target's
//! pidfd (one atomic `setns`).
//!
//! `cargo run -p palisade-ns --example nsenter -- -t PID [--net] [--uts]
//!  [--ipc] [--mount] [--pid] [--cgroup] [--user] [--time] [--all] -- CMD [ARGS...]`

use std::os::unix::process::CommandExt;
use std::process::{Command, ExitCode};

use palisade_ns::{NsKind, NsKinds, PidFd, join};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut target = None;
    let mut kinds = NsKinds::empty();
    let mut command = Vec::new();
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "-t" | "--target" => {
                i += 1;
                target = args.get(i).and_then(|p| p.parse::<i32>().ok());
            }
            "--all" | "-a" => kinds = NsKinds::all(),
            "--mount" | "-m" => kinds |= NsKinds::MNT,
            "--" => {
                command = args[i + 1..].to_vec();
                break;
            }
            flag => match flag.trim_start_matches('-').parse::<NsKind>() {
                Ok(kind) => kinds |= kind.into(),
                Err(_) => {
                    eprintln!("nsenter: unknown option {flag}");
                    return ExitCode::from(2);
                }
            },
        }
        i += 1;
    }
    let (Some(pid), false) = (target, command.is_empty()) else {
        eprintln!(
            "usage: nsenter -t PID [--net|--uts|--ipc|--mount|--pid|--cgroup|--user|--time|--all] -- CMD [ARGS...]"
        );
        return ExitCode::from(2);
    };
    let pidfd = match PidFd::open(pid) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("nsenter: {e}");
            return ExitCode::from(1);
        }
    };
    // The process is single-threaded here, so mount and user joins work.
    if let Err(e) = join(&pidfd, kinds) {
        eprintln!("nsenter: {e}");
        return ExitCode::from(1);
    }
    let mut cmd = Command::new(&command[0]);
    cmd.args(&command[1..]);
    if kinds.contains(NsKinds::PID) {
        // A pid namespace applies to children: fork the command, wait for it.
        return match cmd.status() {
            Ok(s) => ExitCode::from(s.code().unwrap_or(1) as u8),
            Err(e) => {
                eprintln!("nsenter: {e}");
                ExitCode::from(127)
            }
        };
    }
    let err = cmd.exec();
    eprintln!("nsenter: {}: {err}", command[0]);
    ExitCode::from(127)
}
