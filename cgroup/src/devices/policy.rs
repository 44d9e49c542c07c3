//! An ordered rule list collapsed into the policy the kernel keeps: a
//! default (allow or deny every device) plus exceptions, the model of the
//! v1 `devices` controller (`dev_cgroup->behavior` + `exceptions`) and of
//! runc's device emulator. The same policy is written to v1 files and
//! compiled into the cgroup2 BPF program, so both enforce one meaning.

use std::collections::BTreeMap;

use super::{DeviceAccess, DeviceRule, DeviceType};
use crate::{Error, Result};

/// The most exceptions a policy may hold: each is one v1 write and up to
/// eight BPF instructions (4096 × 8 stays far below the verifier's limit).
pub(crate) const MAX_EXCEPTIONS: usize = 4096;

/// Which devices an exception covers: a block or char type (never `a`,
/// which is split into both) and a major/minor, `None` = any.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Key {
    pub kind: DeviceType,
    pub major: Option<u32>,
    pub minor: Option<u32>,
}

impl Key {
    /// Does `self` cover every device `other` covers?
    fn covers(&self, other: &Key) -> bool {
        self.kind == other.kind
            && (self.major.is_none() || self.major == other.major)
            && (self.minor.is_none() || self.minor == other.minor)
    }

    fn rule(&self, allow: bool, access: DeviceAccess) -> DeviceRule {
        DeviceRule {
            allow,
            kind: self.kind,
            major: self.major,
            minor: self.minor,
            access,
        }
    }
}

/// Default behaviour plus exceptions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Policy {
    /// `true`: every device is allowed except the exceptions (the kernel's
    /// "blacklist" mode); `false`: every device is denied except them.
    pub default_allow: bool,
    /// Accesses that go against the default, per device key.
    pub exceptions: BTreeMap<Key, DeviceAccess>,
}

impl Policy {
    /// Nothing allowed: where a rule list starts (runc's emulator does the
    /// same), so a list without a leading `a *:* rwm` still denies by default.
    pub fn deny_all() -> Policy {
        Policy {
            default_allow: false,
            exceptions: BTreeMap::new(),
        }
    }

    /// Applies `rules` in order to a deny-all start. Every rule is validated;
    /// an order the v1 exception list cannot express is refused.
    pub fn from_rules(rules: &[DeviceRule]) -> Result<Policy> {
        let mut p = Policy::deny_all();
        for rule in rules {
            rule.validate()?;
            p.apply(rule)?;
        }
        if p.exceptions.len() > MAX_EXCEPTIONS {
            return Err(Error::InvalidValue {
                field: "device rules",
                value: format!("{} distinct devices", p.exceptions.len()),
                reason: "at most 4096 distinct type/major/minor entries",
            });
        }
        Ok(p)
    }

    /// The policy a v1 `devices.list` shows. A group that allows by default
    /// lists only `a *:* rwm` (its deny exceptions are not shown).
    pub fn from_list(rules: &[DeviceRule]) -> Result<Policy> {
        let mut p = Policy::deny_all();
        for rule in rules {
            p.apply(rule)?;
        }
        Ok(p)
    }

    /// Later rules override earlier ones: `a *:* rwm` resets the default;
    /// a rule with the default's sense removes accesses from the exceptions
    /// it covers; a rule against the default adds an exception.
    pub fn apply(&mut self, rule: &DeviceRule) -> Result<()> {
        if rule.is_reset() {
            self.default_allow = rule.allow;
            self.exceptions.clear();
            return Ok(());
        }
        let kinds: &[DeviceType] = match rule.kind {
            DeviceType::All => &[DeviceType::Block, DeviceType::Char],
            DeviceType::Block => &[DeviceType::Block],
            DeviceType::Char => &[DeviceType::Char],
        };
        for &kind in kinds {
            let key = Key {
                kind,
                major: rule.major,
                minor: rule.minor,
            };
            if rule.allow == self.default_allow {
                self.remove(key, rule)?;
            } else {
                *self.exceptions.entry(key).or_insert(DeviceAccess::empty()) |= rule.access;
            }
        }
        Ok(())
    }

    /// Takes `rule.access` away from every exception `key` covers. An
    /// exception strictly wider than `key` that shares an access cannot be
    /// split (the v1 kernel silently ignores such a write; there are 2^32
    /// numbers to list instead): a typed refusal, as runc gives.
    fn remove(&mut self, key: Key, rule: &DeviceRule) -> Result<()> {
        let wider = self
            .exceptions
            .iter()
            .any(|(k, a)| *k != key && k.covers(&key) && a.intersects(rule.access));
        if wider {
            return Err(Error::InvalidValue {
                field: "device rules",
                value: format!("{} {rule}", if rule.allow { "allow" } else { "deny" }),
                reason: "cannot carve an exception out of an earlier wildcard rule (the \
                         kernel's device list cannot express it); deny everything first, \
                         then allow what is needed",
            });
        }
        self.exceptions.retain(|k, a| {
            if key.covers(k) {
                *a -= rule.access;
            }
            !a.is_empty()
        });
        Ok(())
    }

    /// The verdict of the v1 kernel (`devcgroup_legacy_check_permission`)
    /// for one request: against a deny-all default, one exception must
    /// cover the device and every requested access; against an allow-all
    /// default, no exception covering the device may share an access.
    pub fn allows(&self, kind: DeviceType, major: u32, minor: u32, access: DeviceAccess) -> bool {
        let device = Key {
            kind,
            major: Some(major),
            minor: Some(minor),
        };
        let mut covering = self.exceptions.iter().filter(|(k, _)| k.covers(&device));
        if self.default_allow {
            !covering.any(|(_, a)| a.intersects(access))
        } else {
            covering.any(|(_, a)| a.contains(access))
        }
    }

    /// The `devices.allow` (allow) / `devices.deny` writes that turn the v1
    /// group from `self` into `target`. When both deny by default, only
    /// differences are written, removals first: the group never allows
    /// more than `self` or `target` does, and a device both allow stays
    /// allowed throughout. When `self` allows by default (its deny
    /// exceptions are unknown) or the defaults differ, the first write is
    /// the `a` reset — `deny` first when the target denies by default, so
    /// a fresh group goes from allow-all straight to deny-all.
    pub fn transition(&self, target: &Policy) -> Vec<DeviceRule> {
        let mut writes = Vec::new();
        let empty = BTreeMap::new();
        let mut old = &self.exceptions;
        if self.default_allow || self.default_allow != target.default_allow {
            writes.push(DeviceRule {
                allow: target.default_allow,
                ..DeviceRule::allow_all()
            });
            old = &empty;
        }
        for (key, had) in old {
            let kept = target
                .exceptions
                .get(key)
                .copied()
                .unwrap_or(DeviceAccess::empty());
            let dropped = *had - kept;
            if !dropped.is_empty() {
                writes.push(key.rule(target.default_allow, dropped));
            }
        }
        for (key, want) in &target.exceptions {
            let had = old.get(key).copied().unwrap_or(DeviceAccess::empty());
            let gained = *want - had;
            if !gained.is_empty() {
                writes.push(key.rule(!target.default_allow, gained));
            }
        }
        writes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(lines: &[&str]) -> Vec<DeviceRule> {
        lines
            .iter()
            .map(|l| {
                let (verb, text) = l.split_once(' ').unwrap();
                DeviceRule::parse(verb == "allow", text).unwrap()
            })
            .collect()
    }

    fn text(writes: &[DeviceRule]) -> Vec<String> {
        writes
            .iter()
            .map(|r| format!("{} {r}", if r.allow { "allow" } else { "deny" }))
            .collect()
    }

    #[test]
    fn later_rules_override_earlier_ones() {
        let p = Policy::from_rules(&rules(&[
            "deny a *:* rwm",
            "allow c 1:3 rwm",
            "allow c 1:5 r",
            "deny c 1:3 w",
            "allow c 1:5 w",
            "deny c 1:* rwm",
            "allow c 1:9 r",
        ]))
        .unwrap();
        assert!(!p.default_allow);
        let got: Vec<String> = p
            .exceptions
            .iter()
            .map(|(k, a)| k.rule(true, *a).to_string())
            .collect();
        // The wildcard deny took 1:3 and 1:5 away again.
        assert_eq!(got, ["c 1:9 r"]);
    }

    #[test]
    fn type_a_with_numbers_is_both_types() {
        let p = Policy::from_rules(&rules(&["allow a 7:* rw"])).unwrap();
        assert_eq!(p.exceptions.len(), 2);
        let p = Policy::from_rules(&rules(&["allow a *:* rwm", "deny a *:* m"])).unwrap();
        assert!(p.default_allow);
        assert_eq!(p.exceptions.len(), 2);
    }

    #[test]
    fn carving_a_wildcard_is_refused() {
        let err = Policy::from_rules(&rules(&["allow c *:* m", "deny c 1:3 m"])).unwrap_err();
        assert!(
            matches!(err, Error::InvalidValue { field: "device rules", ref value, .. }
                if value == "deny c 1:3 m"),
            "{err}"
        );
        // Disjoint accesses are fine: the docker list plus a deny of rw.
        let mut list = DeviceRule::docker_default();
        list.extend(rules(&["deny c 1:3 rw"]));
        let p = Policy::from_rules(&list).unwrap();
        let null = Key {
            kind: DeviceType::Char,
            major: Some(1),
            minor: Some(3),
        };
        assert_eq!(p.exceptions[&null], DeviceAccess::MKNOD);
        // Allow-by-default: carving a wildcard deny is refused too.
        assert!(
            Policy::from_rules(&rules(&[
                "allow a *:* rwm",
                "deny b 8:* rw",
                "allow b 8:0 r"
            ]))
            .is_err()
        );
    }

    #[test]
    fn too_many_exceptions_are_refused() {
        let many: Vec<DeviceRule> = (0..=MAX_EXCEPTIONS as u32)
            .map(|i| DeviceRule::parse(true, &format!("c {}:{} r", i / 1000, i % 1000)).unwrap())
            .collect();
        assert!(Policy::from_rules(&many).is_err());
        assert!(Policy::from_rules(&many[..MAX_EXCEPTIONS]).is_ok());
    }

    #[test]
    fn fresh_group_goes_to_deny_all_first() {
        let fresh = Policy::from_list(&rules(&["allow a *:* rwm"])).unwrap();
        let target = Policy::from_rules(&DeviceRule::docker_default()).unwrap();
        let writes = fresh.transition(&target);
        assert_eq!(text(&writes[..1]), ["deny a *:* rwm"]);
        assert!(writes[1..].iter().all(|w| w.allow));
        assert_eq!(writes.len(), 1 + 12);
    }

    #[test]
    fn whitelist_update_writes_only_the_difference_removals_first() {
        let mut old = DeviceRule::docker_default();
        old.extend(rules(&["allow c 1:11 rw"]));
        let mut new = DeviceRule::docker_default();
        new.extend(rules(&["allow c 10:229 rw", "deny c 1:9 w"]));
        let from = Policy::from_rules(&old).unwrap();
        let to = Policy::from_rules(&new).unwrap();
        assert_eq!(
            text(&from.transition(&to)),
            ["deny c 1:9 w", "deny c 1:11 rw", "allow c 10:229 rw"]
        );
        assert!(to.transition(&to).is_empty());
    }

    #[test]
    fn to_allow_by_default_resets_then_denies() {
        let from = Policy::from_rules(&DeviceRule::docker_default()).unwrap();
        let to = Policy::from_rules(&rules(&["allow a *:* rwm", "deny b 8:0 rw"])).unwrap();
        assert_eq!(
            text(&from.transition(&to)),
            ["allow a *:* rwm", "deny b 8:0 rw"]
        );
    }
}
