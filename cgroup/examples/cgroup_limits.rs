//! Runs a workload under memory/pids/cpu limits and prints live stats and
//! the OOM kill as it happens. Needs root.
//!
//! `cargo run -p palisade-cgroup --example cgroup_limits -- [--memory MiB] [--cmd 'shell command']`
//! (default workload: a shell that grows its memory until the limit bites).

use std::process::Command;
use std::time::{Duration, Instant};

use palisade_cgroup::{Cgroup, Resources};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |flag: &str| args.windows(2).find(|w| w[0] == flag).map(|w| w[1].clone());
    let memory_mib: u64 = value("--memory").and_then(|v| v.parse().ok()).unwrap_or(32);
    let script = value("--cmd").unwrap_or_else(|| "exec tail /dev/zero".to_owned());
    let resources = Resources::new()
        .memory_max(memory_mib << 20)
        .memory_swap(0)
        .pids_max(16)
        .cpus(0.5);
    let name = format!("palisade-example-{}", std::process::id());
    let cg = match Cgroup::create_for(&name, &resources)
        .and_then(|cg| cg.apply(&resources).map(|()| cg))
    {
        Ok(cg) => cg,
        Err(e) => {
            eprintln!("cgroup_limits: {e}");
            std::process::exit(1);
        }
    };
    println!(
        "cgroup {name}: memory {memory_mib} MiB, pids 16, 0.5 CPU ({:?})",
        cg.hierarchy().mode()
    );
    let mut child = Command::new("/bin/sh")
        .args(["-c", &format!("sleep 0.1; {script}")])
        .spawn()
        .expect("start workload");
    cg.add_process(child.id() as i32).expect("move workload");
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        let s = cg.stats().expect("stats");
        println!(
            "{:>5} ms  memory {:>6} KiB  pids {:?}  cpu {:?} µs",
            start.elapsed().as_millis(),
            s.memory_current.unwrap_or(0) / 1024,
            s.pids_current,
            s.cpu_usage_usec
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let events = cg.memory_events().expect("memory events");
    println!(
        "workload ended: {status}; OOM kills in the group: {}",
        events.oom_kill
    );
    cg.delete().expect("delete cgroup");
}
