//! palisade-caps — placeholder, see README.
