//! Runs a command inside a detached container, or removes it.
//!
//! ```text
//! state=$(cargo run --example run -- -d -- /bin/sleep 600)
//! cargo run --example exec -- "$state" /bin/ps      # STATE: JSON or a file holding it
//! cargo run --example exec -- --status "$state"
//! cargo run --example exec -- --delete "$state"     # kill everything, remove cgroup/network
//! ```
//!
//! Exit code: the command's (128+signal if killed); 125 for errors.

use std::process::ExitCode;

use palisade::{Attached, ContainerState, Exec};

fn state(arg: &str) -> Result<ContainerState, String> {
    let text = if arg.trim_start().starts_with('{') {
        arg.to_owned()
    } else {
        std::fs::read_to_string(arg).map_err(|e| format!("{arg}: {e}"))?
    };
    serde_json::from_str(&text).map_err(|e| format!("container state: {e}"))
}

fn run() -> Result<u8, String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: exec STATE CMD [ARGS...] | exec --status STATE | exec --delete STATE";
    match args.first().map(String::as_str) {
        Some("--delete") => {
            let c =
                Attached::attach(state(args.get(1).ok_or(usage)?)?).map_err(|e| e.to_string())?;
            c.cleanup().map_err(|e| e.to_string())?;
            Ok(0)
        }
        Some("--status") => {
            let c =
                Attached::attach(state(args.get(1).ok_or(usage)?)?).map_err(|e| e.to_string())?;
            println!("{:?}", c.status());
            Ok(0)
        }
        Some(s) => {
            let program = args.get(1).ok_or(usage)?;
            let c = Attached::attach(state(s)?).map_err(|e| e.to_string())?;
            let mut child = c
                .exec(Exec::new(program.clone()).args(args[2..].iter().cloned()))
                .map_err(|e| e.to_string())?;
            let status = child.wait().map_err(|e| e.to_string())?;
            Ok(status.shell_code() as u8)
        }
        None => Err(usage.to_owned()),
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("exec: {e}");
            ExitCode::from(125)
        }
    }
}
