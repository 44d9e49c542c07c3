//! The D-Bus side of the systemd driver (feature `systemd`): one transient
//! scope unit per group, through `org.freedesktop.systemd1.Manager`.

use std::path::Path;
use std::sync::{Mutex, mpsc};
use std::time::Duration;

use zbus::blocking::{Connection, Proxy};
use zbus::zvariant::{OwnedObjectPath, Value};

use super::props::PropertyValue;
use crate::{Error, Result};

const DEST: &str = "org.freedesktop.systemd1";
const PATH: &str = "/org/freedesktop/systemd1";
const MANAGER: &str = "org.freedesktop.systemd1.Manager";
/// How long a start or stop job may take. systemd runs scope jobs at once;
/// a stop of a group that still has processes waits for them to die.
const JOB_TIMEOUT: Duration = Duration::from_secs(30);

/// A transient scope unit started by this process.
pub(crate) struct Scope {
    conn: Connection,
    unit: String,
    user: bool,
}

impl std::fmt::Debug for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scope")
            .field("unit", &self.unit)
            .field("user", &self.user)
            .finish()
    }
}

/// systemd is running when `/run/systemd/system` exists (`sd_booted(3)`);
/// then the system bus as root, the user bus (`$DBUS_SESSION_BUS_ADDRESS`,
/// else `$XDG_RUNTIME_DIR/bus`: the user manager) otherwise.
pub(crate) fn connect() -> Result<(Connection, bool)> {
    if !Path::new("/run/systemd/system").exists() {
        return Err(Error::SystemdUnavailable {
            reason: "systemd is not running as PID 1 (/run/systemd/system does not exist)".into(),
        });
    }
    // SAFETY: geteuid(2) cannot fail and touches no memory.
    let user = unsafe { libc::geteuid() } != 0;
    // One connection per bus for the process: the D-Bus handshake
    // (socket, auth, Hello) costs more than a scope's job round trip.
    static SYSTEM: Mutex<Option<Connection>> = Mutex::new(None);
    static SESSION: Mutex<Option<Connection>> = Mutex::new(None);
    let mut cached = if user { &SESSION } else { &SYSTEM }
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(conn) = cached.as_ref() {
        return Ok((conn.clone(), user));
    }
    let conn = if user {
        Connection::session()
    } else {
        Connection::system()
    };
    let conn = conn.map_err(|e| Error::SystemdUnavailable {
        reason: format!(
            "cannot connect to the {} bus: {e}",
            if user { "user (session)" } else { "system" }
        ),
    })?;
    *cached = Some(conn.clone());
    Ok((conn, user))
}

fn dbus_err(call: &'static str, unit: &str, e: zbus::Error) -> Error {
    let error = match &e {
        zbus::Error::MethodError(name, msg, _) => {
            format!("{name}: {}", msg.as_deref().unwrap_or(""))
        }
        e => e.to_string(),
    };
    Error::Systemd {
        call,
        unit: unit.to_owned(),
        error,
    }
}

fn is_error(e: &zbus::Error, name: &str) -> bool {
    matches!(e, zbus::Error::MethodError(n, _, _) if n.as_str() == name)
}

fn value(v: &PropertyValue) -> Value<'static> {
    match v {
        PropertyValue::U64(v) => Value::U64(*v),
        PropertyValue::Bool(b) => Value::Bool(*b),
        PropertyValue::Str(s) => Value::from(s.clone()),
        PropertyValue::Bitmask(m) => Value::from(m.clone()),
        PropertyValue::Pids(p) => Value::from(p.clone()),
        PropertyValue::DeviceAllow(d) => Value::from(d.clone()),
    }
}

fn values(props: &[(&'static str, PropertyValue)]) -> Vec<(&'static str, Value<'static>)> {
    props.iter().map(|(n, v)| (*n, value(v))).collect()
}

impl Scope {
    fn manager(&self) -> Result<Proxy<'static>> {
        manager(&self.conn, &self.unit)
    }

    /// `StartTransientUnit(unit, "replace", props, [])`, then waits for the
    /// job. A failed leftover of the same name is reset once
    /// (`ResetFailedUnit`) and the start retried.
    pub(crate) fn start(
        conn: Connection,
        user: bool,
        unit: String,
        props: &[(&'static str, PropertyValue)],
    ) -> Result<Scope> {
        let scope = Scope { conn, unit, user };
        let props = values(props);
        let aux: Vec<(&str, Vec<(&str, Value<'_>)>)> = Vec::new();
        let m = scope.manager()?;
        let mut retried = false;
        loop {
            let signals = subscribe(&m, &scope.unit)?;
            match m.call::<_, _, OwnedObjectPath>(
                "StartTransientUnit",
                &(scope.unit.as_str(), "replace", &props, &aux),
            ) {
                Ok(job) => {
                    let result = wait_job(signals, job, &scope.unit)?;
                    if result != "done" {
                        return Err(Error::Systemd {
                            call: "StartTransientUnit",
                            unit: scope.unit.clone(),
                            error: format!("the start job finished with result {result:?}"),
                        });
                    }
                    return Ok(scope);
                }
                Err(e) if !retried && is_error(&e, "org.freedesktop.systemd1.UnitExists") => {
                    retried = true;
                    let _ = m.call::<_, _, ()>("ResetFailedUnit", &(scope.unit.as_str(),));
                }
                Err(e) => return Err(dbus_err("StartTransientUnit", &scope.unit, e)),
            }
        }
    }

    /// The unit's name.
    pub(crate) fn unit(&self) -> &str {
        &self.unit
    }

    /// The unit's `ControlGroup` property: its directory relative to the
    /// cgroup root, `/system.slice/palisade-abc.scope`.
    pub(crate) fn control_group(&self) -> Result<String> {
        let m = self.manager()?;
        let path: OwnedObjectPath = m
            .call("GetUnit", &(self.unit.as_str(),))
            .map_err(|e| dbus_err("GetUnit", &self.unit, e))?;
        let unit = Proxy::new(
            &self.conn,
            DEST,
            path.into_inner(),
            "org.freedesktop.systemd1.Scope",
        )
        .map_err(|e| dbus_err("Get ControlGroup", &self.unit, e))?;
        unit.get_property::<String>("ControlGroup")
            .map_err(|e| dbus_err("Get ControlGroup", &self.unit, e))
    }

    /// `SetUnitProperties(unit, runtime = true, props)`.
    pub(crate) fn set_properties(&self, props: &[(&'static str, PropertyValue)]) -> Result<()> {
        if props.is_empty() {
            return Ok(());
        }
        self.manager()?
            .call::<_, _, ()>(
                "SetUnitProperties",
                &(self.unit.as_str(), true, values(props)),
            )
            .map_err(|e| dbus_err("SetUnitProperties", &self.unit, e))
    }

    /// `StopUnit(unit, "replace")` and waits for the job; a unit systemd
    /// already collected (an emptied scope stops by itself) is no error.
    /// A failed unit is reset so that its name is free again.
    pub(crate) fn stop(&self) -> Result<()> {
        let m = self.manager()?;
        let signals = subscribe(&m, &self.unit)?;
        match m.call::<_, _, OwnedObjectPath>("StopUnit", &(self.unit.as_str(), "replace")) {
            Ok(job) => {
                let result = wait_job(signals, job, &self.unit)?;
                if result != "done" {
                    return Err(Error::Systemd {
                        call: "StopUnit",
                        unit: self.unit.clone(),
                        error: format!("the stop job finished with result {result:?}"),
                    });
                }
            }
            Err(e) if is_error(&e, "org.freedesktop.systemd1.NoSuchUnit") => {}
            Err(e) => return Err(dbus_err("StopUnit", &self.unit, e)),
        }
        let _ = m.call::<_, _, ()>("ResetFailedUnit", &(self.unit.as_str(),));
        Ok(())
    }
}

fn manager(conn: &Connection, unit: &str) -> Result<Proxy<'static>> {
    Proxy::new(conn, DEST, PATH, MANAGER).map_err(|e| dbus_err("connect to the manager", unit, e))
}

/// Matches `JobRemoved` before the call that makes the job (so its end
/// cannot be missed), and asks systemd to emit signals (`Subscribe`; an
/// "already subscribed" error is fine).
fn subscribe(
    m: &Proxy<'static>,
    unit: &str,
) -> Result<zbus::blocking::proxy::SignalIterator<'static>> {
    let signals = m
        .receive_signal("JobRemoved")
        .map_err(|e| dbus_err("AddMatch JobRemoved", unit, e))?;
    let _ = m.call::<_, _, ()>("Subscribe", &());
    Ok(signals)
}

/// Waits for `JobRemoved(id, job, unit, result)` of `job`; returns its
/// result (`done`, `failed`, `canceled`, `timeout`, `dependency`,
/// `skipped`). The wait runs on a helper thread so that it can time out.
fn wait_job(
    signals: zbus::blocking::proxy::SignalIterator<'static>,
    job: OwnedObjectPath,
    unit: &str,
) -> Result<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for msg in signals {
            if let Ok((_, path, _, result)) = msg
                .body()
                .deserialize::<(u32, OwnedObjectPath, String, String)>()
            {
                if path == job {
                    let _ = tx.send(result);
                    return;
                }
            }
        }
    });
    rx.recv_timeout(JOB_TIMEOUT).map_err(|_| Error::Timeout {
        what: "the systemd job",
        path: unit.into(),
        millis: JOB_TIMEOUT.as_millis() as u64,
    })
}

/// One row of `ListUnitsByPatterns`: name, description, load state,
/// active state, sub state, following, object path, job id, job type,
/// job path.
type UnitRow = (
    String,
    String,
    String,
    String,
    String,
    String,
    OwnedObjectPath,
    u32,
    String,
    OwnedObjectPath,
);

/// See [`super::cleanup_stale`]; `prefix` is already checked.
pub(crate) fn cleanup_stale(prefix: &str) -> Result<Vec<super::StaleScope>> {
    let (conn, user) = connect()?;
    let pattern = format!("{prefix}-*.scope");
    let m = manager(&conn, &pattern)?;
    let states: Vec<&str> = Vec::new();
    let rows: Vec<UnitRow> = m
        .call("ListUnitsByPatterns", &(states, vec![pattern.as_str()]))
        .map_err(|e| dbus_err("ListUnitsByPatterns", &pattern, e))?;
    let mut removed = Vec::new();
    for (unit, _, _, active, sub, ..) in rows {
        if active == "inactive" {
            continue; // not running, not failed: systemd collects it
        }
        if active != "failed" {
            // (cgroup path, pid, command line) of every process left.
            let procs: Vec<(String, u32, String)> =
                match m.call("GetUnitProcesses", &(unit.as_str(),)) {
                    Ok(p) => p,
                    Err(e) if is_error(&e, "org.freedesktop.systemd1.NoSuchUnit") => continue,
                    Err(e) => return Err(dbus_err("GetUnitProcesses", &unit, e)),
                };
            if !procs.is_empty() {
                continue; // live: may be another caller's container
            }
        }
        let scope = Scope {
            conn: conn.clone(),
            unit,
            user,
        };
        if active != "failed" {
            scope.stop()?;
        } else {
            let _ = m.call::<_, _, ()>("ResetFailedUnit", &(scope.unit.as_str(),));
        }
        removed.push(super::StaleScope {
            unit: scope.unit,
            state: format!("{active}/{sub}"),
        });
    }
    Ok(removed)
}
