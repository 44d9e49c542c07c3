//! Runs a workload under memory/pids/cpu limits and prints live stats and
//! the OOM kill the moment `Cgroup::events` reports it. Needs root.
//!
//! `cargo run -p palisade-cgroup --example cgroup_limits -- [--memory MiB] [--cmd 'shell command']`
//! (default workload: a shell that grows its memory until the limit bites).

use std::process::Command;
use std::time::{Duration, Instant};

use palisade_cgroup::{Cgroup, Resources, Stats};

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
    let mut events = cg.events().expect("watch events");
    let mut before = cg.stats().expect("stats");
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        // Wake on an event at once; otherwise print a sample every 100 ms.
        if let Some(event) = events
            .next_timeout(Duration::from_millis(100))
            .expect("events")
        {
            println!("{:>5} ms  event: {event:?}", start.elapsed().as_millis());
            continue;
        }
        let s = cg.stats().expect("stats");
        let cpu = Stats::cpu_percent(&before, &s, Duration::from_millis(100)).unwrap_or(0.0);
        println!(
            "{:>5} ms  memory {:>6} KiB  pids {:?}  cpu {cpu:>5.1} %  throttled {:?}",
            start.elapsed().as_millis(),
            s.memory_current.unwrap_or(0) / 1024,
            s.pids_current,
            s.cpu_nr_throttled,
        );
        before = s;
    };
    while let Ok(Some(event)) = events.next_timeout(Duration::from_millis(200)) {
        println!("{:>5} ms  event: {event:?}", start.elapsed().as_millis());
    }
    let s = cg.stats().expect("stats");
    println!(
        "workload ended: {status}; OOM kills in the group: {}",
        s.oom_kills.unwrap_or(0)
    );
    cg.delete().expect("delete cgroup");
}
