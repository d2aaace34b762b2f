//! The receiver service.
