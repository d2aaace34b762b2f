//! The user service.
