//! chat-bench: drives a running deployment through its public API only (HTTP and
//! graphql-ws), as real clients do, and measures it.
//!
//! - `fanout`: messages at a set rate into many chats with subscribers spread over the
//!   receivers; send-to-receipt latency for every delivery, losses and duplicates.
//! - `writes`: createMessage in a closed loop at a set concurrency.
//! - `idle`: many subscribed connections to one receiver; its memory per connection.
//! - `ramp`: fan-out at rising rates until delivery p99 passes a bound; the knee.
//! - `soak`: a steady rate for long (default 30 minutes), watching server processes'
//!   memory, open files, threads and tokio tasks for leaks; passes or fails.
//!
//! Every run is bounded in time and count, and refuses targets off this machine.

pub mod client;
pub mod histogram;
pub mod modes;
pub mod procfs;
pub mod report;
pub mod setup;
