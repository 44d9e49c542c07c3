//! palisade facade.
