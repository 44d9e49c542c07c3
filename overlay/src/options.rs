//! OverlayFS options and the escaping of paths for each interface.

/// `redirect_dir=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum RedirectDir {
    /// Create and follow redirects.
    On,
    /// Follow but do not create.
    Follow,
    /// Neither.
    Off,
    /// Do not follow; error on one.
    NoFollow,
}

/// `xino=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Xino {
    /// Always.
    On,
    /// Never.
    Off,
    /// When the layers allow it.
    Auto,
}

/// `uuid=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Uuid {
    /// Use the upper fs uuid.
    On,
    /// Null uuid.
    Off,
    /// Null, and no index for nfs_export.
    Null,
    /// Generated and stored.
    Auto,
}

/// OverlayFS options; `None` leaves the kernel's default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Options {
    /// `redirect_dir=`
    pub redirect_dir: Option<RedirectDir>,
    /// `index=on|off`
    pub index: Option<bool>,
    /// `metacopy=on|off`
    pub metacopy: Option<bool>,
    /// `xino=`
    pub xino: Option<Xino>,
    /// `volatile` (no syncs; the upper is unusable after a crash)
    pub volatile: bool,
    /// `userxattr` (user.overlay.* xattrs, for unprivileged mounts)
    pub userxattr: bool,
    /// `nfs_export=on|off`
    pub nfs_export: Option<bool>,
    /// `uuid=`
    pub uuid: Option<Uuid>,
    /// `default_permissions`
    pub default_permissions: bool,
}

impl Options {
    /// `(key, value)` pairs; value `None` for flags.
    pub(crate) fn pairs(&self) -> Vec<(&'static str, Option<&'static str>)> {
        let on = |b: bool| if b { "on" } else { "off" };
        let mut v = Vec::new();
        if let Some(r) = self.redirect_dir {
            v.push((
                "redirect_dir",
                Some(match r {
                    RedirectDir::On => "on",
                    RedirectDir::Follow => "follow",
                    RedirectDir::Off => "off",
                    RedirectDir::NoFollow => "nofollow",
                }),
            ));
        }
        if let Some(i) = self.index {
            v.push(("index", Some(on(i))));
        }
        if let Some(m) = self.metacopy {
            v.push(("metacopy", Some(on(m))));
        }
        if let Some(x) = self.xino {
            v.push((
                "xino",
                Some(match x {
                    Xino::On => "on",
                    Xino::Off => "off",
                    Xino::Auto => "auto",
                }),
            ));
        }
        if self.volatile {
            v.push(("volatile", None));
        }
        if self.userxattr {
            v.push(("userxattr", None));
        }
        if let Some(n) = self.nfs_export {
            v.push(("nfs_export", Some(on(n))));
        }
        if let Some(u) = self.uuid {
            v.push((
                "uuid",
                Some(match u {
                    Uuid::On => "on",
                    Uuid::Off => "off",
                    Uuid::Null => "null",
                    Uuid::Auto => "auto",
                }),
            ));
        }
        if self.default_permissions {
            v.push(("default_permissions", None));
        }
        v
    }
}

/// Escapes a path for an overlay option value given to mount(2): `\`, `:`
/// and `,` get a backslash (the kernel splits layers on `:` and options on
/// `,`, honouring the backslash, and drops it from every `upperdir`,
/// `workdir` and `lowerdir` value).
///
/// ```
/// assert_eq!(palisade_overlay::escape_path("/a:b,c\\d"), "/a\\:b\\,c\\\\d");
/// ```
pub fn escape_path(path: &str) -> String {
    let escaped = escape_bytes(path.as_bytes(), MOUNT_DATA_SPECIALS);
    String::from_utf8(escaped).expect("only ASCII backslashes were added")
}

/// The bytes mount(2)'s overlay option string treats specially.
pub(crate) const MOUNT_DATA_SPECIALS: &[u8] = b"\\:,";
/// The bytes special in a `lowerdir=` value given to `fsconfig` (one
/// value, so `,` is plain).
pub(crate) const LOWERDIR_SPECIALS: &[u8] = b"\\:";
/// The bytes special in an `upperdir=`/`workdir=` value given to
/// `fsconfig`: the kernel unescapes it (`ovl_unescape`) but splits nothing.
pub(crate) const UPPER_SPECIALS: &[u8] = b"\\";

/// Puts a backslash before every byte of `path` found in `specials`; any
/// other byte (space, newline, `=`, non-UTF-8) passes as it is.
pub(crate) fn escape_bytes(path: &[u8], specials: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(path.len() + 4);
    for &b in path {
        if specials.contains(&b) {
            out.push(b'\\');
        }
        out.push(b);
    }
    out
}

/// The inverse of [`escape_path`], as the kernel reads a layer list: splits
/// on unescaped `:` and drops the escaping backslashes.
///
/// ```
/// let layers = palisade_overlay::split_escaped("/a\\:b:/c");
/// assert_eq!(layers, ["/a:b", "/c"]);
/// ```
pub fn split_escaped(list: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut chars = list.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    out.last_mut().expect("never empty").push(n);
                }
            }
            ':' => out.push(String::new()),
            c => out.last_mut().expect("never empty").push(c),
        }
    }
    out
}
