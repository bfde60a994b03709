//! The device layer: the amdxdna uAPI and the machine probe that doctor uses.

pub mod probe;
pub mod uapi;
