//! The measurement modes.

pub mod fanout;
pub mod idle;
pub mod soak;
pub mod writes;
