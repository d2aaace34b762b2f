//! Fault tests on a real deployment: the `chat` binary as separate OS processes (one
//! user, two sender and two receiver instances) over a fresh PostgreSQL database and
//! Redis, with messages flowing while something breaks:
//!
//! - [`redis_outage`]: Redis is killed and started again;
//! - [`receiver_crash`]: a receiver is killed with SIGKILL; its clients move to the other;
//! - [`sender_crash`]: a sender is killed mid-stream; clients retry on the other;
//! - [`postgres_outage`]: PostgreSQL is unreachable for a while (through a proxy);
//! - [`redis_cluster`]: on a Redis Cluster, a master fails over, or the chat's slot
//!   moves to another master.
//! - [`hosts`]: on the multi-host topology, a receiver's, a sender's or a Redis
//!   master's host cut off the network, the chat's slot moved to a master on another
//!   host, the PostgreSQL replica lagging.
//!
//! Alongside the messages the newest one is edited again and again, so the chat's log
//! grows during the fault too. Each test checks that every subscriber ends with every
//! message once and in order, that the chat holds exactly the messages sent, and (the
//! history check) that each subscriber's `chatEvents` are exactly the chat's log as the
//! database holds it: nothing missing, doubled or out of order. The tests take turns (each runs
//! five processes and a stream of traffic; together they would starve a small
//! machine), and each is bounded in time. Outside CI they are skipped with a note when
//! PostgreSQL or Redis is not there.

mod support;

mod hosts;
mod postgres_outage;
mod receiver_crash;
mod redis_cluster;
mod redis_outage;
mod sender_crash;
