//! The three services and the instances the launcher runs, defined once for the
//! launcher, the web tier and the browser's instance picker.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One of the three services.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Service {
    /// Accounts and sessions.
    User,
    /// Every write to chats and messages.
    Sender,
    /// Every read and live subscription.
    Receiver,
}

impl Service {
    pub const ALL: [Service; 3] = [Service::User, Service::Sender, Service::Receiver];

    /// As on the command line and in logs: `user`.
    pub fn name(self) -> &'static str {
        match self {
            Service::User => "user",
            Service::Sender => "sender",
            Service::Receiver => "receiver",
        }
    }

    /// As people read it: `User`.
    pub fn label(self) -> &'static str {
        match self {
            Service::User => "User",
            Service::Sender => "Sender",
            Service::Receiver => "Receiver",
        }
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Service {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Service::ALL
            .into_iter()
            .find(|service| service.name() == s)
            .ok_or_else(|| format!("expected user, sender or receiver, not {s:?}"))
    }
}

/// Every instance `chat up` runs, with its port.
pub const INSTANCES: [(Service, u16); 6] = [
    (Service::User, 4001),
    (Service::Sender, 4002),
    (Service::User, 4003),
    (Service::Sender, 4004),
    (Service::Receiver, 4005),
    (Service::Receiver, 4006),
];

/// The port of `service`'s first instance (a service binary's default).
pub const fn first_port(service: Service) -> u16 {
    let mut i = 0;
    while i < INSTANCES.len() {
        if INSTANCES[i].0 as u8 == service as u8 {
            return INSTANCES[i].1;
        }
        i += 1;
    }
    panic!("every service has an instance")
}

/// `http://127.0.0.1:<port>` for each of `service`'s instances (what tools on this
/// machine talk to by default).
pub fn local_urls(service: Service) -> Vec<String> {
    INSTANCES
        .iter()
        .filter(|(s, _)| *s == service)
        .map(|(_, port)| format!("http://127.0.0.1:{port}"))
        .collect()
}

/// The ports of each service's instances, in order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instances {
    pub user: Vec<u16>,
    pub sender: Vec<u16>,
    pub receiver: Vec<u16>,
}

impl Default for Instances {
    /// The instances of [`INSTANCES`].
    fn default() -> Self {
        let ports = |wanted: Service| {
            INSTANCES
                .iter()
                .filter(|(service, _)| *service == wanted)
                .map(|(_, port)| *port)
                .collect()
        };
        Self {
            user: ports(Service::User),
            sender: ports(Service::Sender),
            receiver: ports(Service::Receiver),
        }
    }
}

impl Instances {
    pub fn ports(&self, service: Service) -> &[u16] {
        match service {
            Service::User => &self.user,
            Service::Sender => &self.sender,
            Service::Receiver => &self.receiver,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_instances_are_two_of_each_and_names_read_back() {
        let instances = Instances::default();
        assert_eq!(instances.user, [4001, 4003]);
        assert_eq!(instances.sender, [4002, 4004]);
        assert_eq!(instances.receiver, [4005, 4006]);
        for service in Service::ALL {
            assert_eq!(service.name().parse::<Service>(), Ok(service));
        }
        assert!("web".parse::<Service>().is_err());
    }
}
