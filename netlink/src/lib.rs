//! palisade-netlink — placeholder, see README.
