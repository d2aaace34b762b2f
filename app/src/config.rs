//! Which instances exist, which ones this browser talks to, and their addresses.

use serde::{Deserialize, Serialize};

// The services and their instances are defined once, in chat-types.
pub use chat_types::instances::{Instances, Service};

/// The cookie (and local storage key) that remembers the choice, so server rendering
/// reads from the same receiver as the page.
pub const CHOICE_COOKIE: &str = "chat_instances";

/// The cookie with the browser's offset from UTC, in minutes east, so server rendering
/// shows times as the browser does.
pub const TZ_COOKIE: &str = "chat_tz";

/// The instance of each service this browser talks to (indices into [`Instances`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Choice {
    pub user: usize,
    pub sender: usize,
    pub receiver: usize,
}

impl Choice {
    pub fn get(&self, service: Service) -> usize {
        match service {
            Service::User => self.user,
            Service::Sender => self.sender,
            Service::Receiver => self.receiver,
        }
    }

    pub fn with(mut self, service: Service, index: usize) -> Self {
        match service {
            Service::User => self.user = index,
            Service::Sender => self.sender = index,
            Service::Receiver => self.receiver = index,
        }
        self
    }

    /// `u.s.r`, one-based: `1.2.2`.
    pub fn encode(&self) -> String {
        format!(
            "{}.{}.{}",
            self.user + 1,
            self.sender + 1,
            self.receiver + 1
        )
    }

    /// Reads [`Choice::encode`]; out-of-range or malformed parts fall back to the first
    /// instance.
    pub fn decode(text: &str, instances: &Instances) -> Self {
        let mut parts = text.trim().split('.').map(|p| p.parse::<usize>().ok());
        let mut pick = |service: Service| {
            parts
                .next()
                .flatten()
                .filter(|n| (1..=instances.ports(service).len()).contains(n))
                .map_or(0, |n| n - 1)
        };
        Self {
            user: pick(Service::User),
            sender: pick(Service::Sender),
            receiver: pick(Service::Receiver),
        }
    }

    /// The choice in a `Cookie` header, if any.
    pub fn from_cookie_header(header: &str, instances: &Instances) -> Option<Self> {
        cookie_value(header, CHOICE_COOKIE).map(|v| Self::decode(v, instances))
    }
}

/// The value of cookie `name` in a `Cookie` header (or `document.cookie`).
pub fn cookie_value<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_round_trip_and_bad_ones_fall_back() {
        let instances = Instances::default();
        let choice = Choice {
            user: 1,
            sender: 0,
            receiver: 1,
        };
        assert_eq!(Choice::decode(&choice.encode(), &instances), choice);
        assert_eq!(Choice::decode("9.x", &instances), Choice::default());
        assert_eq!(
            Choice::from_cookie_header("a=b; chat_instances=2.2.1", &instances),
            Some(Choice {
                user: 1,
                sender: 1,
                receiver: 0
            })
        );
    }
}
