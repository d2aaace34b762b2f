//! Hostile input against all three services over real HTTP and WebSocket: random
//! GraphQL documents, variables, bodies, content types and socket messages, signed in
//! and not. Whatever arrives, a service answers with a client error that carries a
//! code from the list in DESIGN.md (never `INTERNAL_SERVER_ERROR`), never a 5xx, never
//! panics, and keeps serving afterwards.
//!
//! Each fuzz test is bounded (a few hundred cases); `PROPTEST_CASES` raises or lowers
//! the count for a longer or shorter run. For debugging: `FUZZ_LOG=<file>` writes each
//! HTTP case there before sending it (a case that aborts the process cannot be shrunk,
//! but the file holds it), `FUZZ_DEBUG=1` tallies answers by error message as well as
//! code, and `HOSTILE_LOG=<filter>` shows the services' logs.

mod generators;
mod harness;
mod http_fuzz;
mod slow_clients;
mod ws_fuzz;
