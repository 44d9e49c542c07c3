//! palisade-overlay — placeholder, see README.
