//! The messaging backend end to end: two instances of each service over one database
//! and bus, real HTTP and WebSocket clients, on both backends.

mod support;

mod authorization;
mod bad_input;
mod conversation;
mod csrf;
mod delivery;
mod files;
mod flow;
mod hardening;
mod limits;
mod mentions;
mod operations;
mod outage;
mod presence;
mod replicas;
mod requests;
mod search;
mod sessions;
mod timeline;
mod uploads;
