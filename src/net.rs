//! The host side of a container's network.

use palisade_ns::PidFd;

use crate::config::Veth;
use crate::{SpawnError, Step};

/// Checks a veth description before anything is created.
pub(crate) fn validate(v: &Veth) -> Result<(), SpawnError> {
    for name in [&v.host, &v.peer] {
        if name.is_empty()
            || name.len() > 15
            || name.contains(['/', ' ', '\0', ':'])
            || name == "."
            || name == ".."
        {
            return Err(SpawnError::invalid(format!(
                "interface name {name:?} must be 1..=15 bytes without '/', ':', spaces"
            )));
        }
    }
    Ok(())
}

/// What the pipeline created in the host's network namespace.
#[derive(Debug)]
pub(crate) struct HostNetwork {
    host: String,
}

impl HostNetwork {
    pub(crate) fn wire(v: &Veth, _child: &PidFd) -> Result<HostNetwork, SpawnError> {
        Err(SpawnError::new(
            Step::Network,
            None,
            format!("veth {} not available yet", v.host),
        ))
    }

    pub(crate) fn host_name(&self) -> &str {
        &self.host
    }

    pub(crate) fn remove(self) -> Result<(), SpawnError> {
        Ok(())
    }
}
