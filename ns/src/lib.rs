//! palisade-ns — placeholder, see README.
