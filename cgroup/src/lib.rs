//! palisade-cgroup — placeholder, see README.
