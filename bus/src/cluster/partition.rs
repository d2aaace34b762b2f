//! Where a topic lives on a Redis Cluster. Each topic belongs to one of a fixed number
//! of partitions (by a stable hash of its name), and the partition is the hash tag of
//! its channel's name: `{prefix}:{p}:{topic}`, e.g. `chat:{17}:chat:0190…`. All the
//! channels of a partition share one slot, so a receiver subscribes them with one
//! connection per node and resubscribes them slot by slot, and a node's failure
//! touches only its partitions.
//!
//! The mapping must never change by accident: publishers and subscribers that mapped
//! differently would not meet. `the_mapping_is_pinned` fails if it does.

use chat_types::Topic;

/// Partitions when nothing else is asked for (Centrifugo's choice too: enough to spread
/// over a few dozen masters, few enough that resubscribing after a failover is quick).
pub const DEFAULT_PARTITIONS: u16 = 128;
/// Redis Cluster's number of hash slots.
const SLOTS: u16 = 16_384;

/// The partition of `topic`: FNV-1a (64 bits) of its name, modulo `partitions`.
pub fn partition(topic: &Topic, partitions: u16) -> u16 {
    let hash = topic
        .to_string()
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
        });
    (hash % u64::from(partitions.max(1))) as u16
}

/// The channel `topic` is published on.
pub fn channel(prefix: &str, topic: &Topic, partitions: u16) -> String {
    format!("{prefix}:{{{}}}:{topic}", partition(topic, partitions))
}

/// Reads a channel name back; `None` if it is not one of ours.
pub fn topic_of(prefix: &str, channel: &str) -> Option<Topic> {
    let rest = channel.strip_prefix(prefix)?.strip_prefix(":{")?;
    let (partition, name) = rest.split_once("}:")?;
    partition.parse::<u16>().ok()?;
    Topic::from_name(name)
}

/// The hash slot of a key or channel, as Redis computes it: CRC16 (XMODEM) of its hash
/// tag (what is between the first `{` and the next `}`, if not empty) or of all of it,
/// modulo 16,384.
pub fn slot(key: &str) -> u16 {
    let bytes = key.as_bytes();
    let tagged = bytes.iter().position(|b| *b == b'{').and_then(|open| {
        let close = bytes[open + 1..].iter().position(|b| *b == b'}')?;
        (close > 0).then(|| &bytes[open + 1..open + 1 + close])
    });
    crc16_xmodem(tagged.unwrap_or(bytes)) % SLOTS
}

fn crc16_xmodem(bytes: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for byte in bytes {
        crc ^= u16::from(*byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::*;
    use chat_types::{ChatId, UserId};
    use uuid::Uuid;

    #[test]
    fn slots_are_redis_own() {
        // From Redis's CLUSTER KEYSLOT.
        assert_eq!(slot("123456789"), 12_739);
        assert_eq!(slot("foo"), 12_182);
        assert_eq!(slot("bar"), 5_061);
        assert_eq!(slot("{user1000}.following"), slot("{user1000}.followers"));
        assert_eq!(
            slot("foo{}{bar}"),
            slot("foo{}{bar}"),
            "an empty tag is no tag"
        );
        assert_ne!(slot("foo{}{bar}"), slot("bar"));
    }

    /// Changing these numbers splits publishers from subscribers of a running system:
    /// only ever do it on purpose, with every instance restarted together.
    #[test]
    fn the_mapping_is_pinned() {
        let chat = Topic::Chat(ChatId(Uuid::from_u128(
            0x0190_0000_0000_7000_8000_0000_0000_0001,
        )));
        let user = Topic::User(UserId(Uuid::from_u128(42)));
        let pinned = [
            (
                chat.clone(),
                128,
                "chat:{109}:chat:01900000-0000-7000-8000-000000000001",
            ),
            (
                user.clone(),
                128,
                "chat:{105}:user:00000000-0000-0000-0000-00000000002a",
            ),
            (Topic::Sessions, 128, "chat:{44}:sessions"),
            (Topic::Presence, 128, "chat:{36}:presence"),
            (
                chat.clone(),
                16,
                "chat:{13}:chat:01900000-0000-7000-8000-000000000001",
            ),
        ];
        for (topic, partitions, expected) in pinned {
            assert_eq!(channel("chat", &topic, partitions), expected);
        }
    }

    #[test]
    fn channels_read_back_and_spread_over_partitions() {
        let mut used = std::collections::HashSet::new();
        for n in 0..2_000u128 {
            let topic = Topic::Chat(ChatId(Uuid::from_u128(n)));
            let channel = channel("p", &topic, DEFAULT_PARTITIONS);
            assert_eq!(topic_of("p", &channel), Some(topic));
            used.insert(slot(&channel));
        }
        assert_eq!(
            used.len(),
            usize::from(DEFAULT_PARTITIONS),
            "every partition used"
        );
        assert_eq!(topic_of("p", "q:{1}:sessions"), None);
        assert_eq!(topic_of("p", "p:{x}:sessions"), None);
        assert_eq!(topic_of("p", "p:{3}:sessions"), Some(Topic::Sessions));
    }
}
