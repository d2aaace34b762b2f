//! Which master owns which hash slots, as `CLUSTER SHARDS` says: read at start, after a
//! node is lost, when a channel is moved away (an unsolicited `sunsubscribe`, a
//! `MOVED`), and now and then (a failover does not always say so to subscribers).

use std::collections::BTreeMap;

use redis::Value;

/// A master's address, `host:port`.
pub(crate) type Node = String;

/// The owner of every slot the cluster serves.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct SlotMap {
    /// Slot ranges by their first slot: (last slot, owner).
    ranges: BTreeMap<u16, (u16, Node)>,
}

impl SlotMap {
    /// The master serving `slot`, if one does.
    pub(crate) fn owner(&self, slot: u16) -> Option<&Node> {
        let (_, (last, node)) = self.ranges.range(..=slot).next_back()?;
        (slot <= *last).then_some(node)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Reads a `CLUSTER SHARDS` answer (RESP3 maps, or RESP2's flat key-value arrays):
    /// each shard's slot ranges and its master that is online.
    pub(crate) fn from_shards(value: Value) -> Option<Self> {
        let Value::Array(shards) = value else {
            return None;
        };
        let mut ranges = BTreeMap::new();
        for shard in shards {
            let fields = pairs(shard)?;
            let slots = fields.iter().find(|(k, _)| k == "slots").map(|(_, v)| v)?;
            let nodes = fields.iter().find(|(k, _)| k == "nodes").map(|(_, v)| v)?;
            let Some(master) = online_master(nodes) else {
                continue;
            };
            let Value::Array(bounds) = slots else {
                return None;
            };
            let bounds: Vec<u16> = bounds.iter().filter_map(integer).collect();
            for range in bounds.chunks_exact(2) {
                ranges.insert(range[0], (range[1], master.clone()));
            }
        }
        Some(Self { ranges })
    }
}

/// The online master among a shard's nodes: `endpoint` (or `ip`) and `port`.
fn online_master(nodes: &Value) -> Option<Node> {
    let Value::Array(nodes) = nodes else {
        return None;
    };
    nodes.iter().find_map(|node| {
        let fields = pairs(node.clone())?;
        let text = |name: &str| {
            fields
                .iter()
                .find(|(k, _)| k == name)
                .and_then(|(_, v)| redis::from_redis_value::<String>(v.clone()).ok())
        };
        if text("role")? != "master" || text("health")? != "online" {
            return None;
        }
        let host = text("endpoint")
            .filter(|e| !e.is_empty() && e != "?")
            .or_else(|| text("ip"))?;
        let port = fields
            .iter()
            .find(|(k, _)| k == "port" || k == "tls-port")
            .and_then(|(_, v)| integer(v))?;
        Some(format!("{host}:{port}"))
    })
}

/// A map's (or a flat key-value array's) entries, keys as text.
fn pairs(value: Value) -> Option<Vec<(String, Value)>> {
    let entries: Vec<(Value, Value)> = match value {
        Value::Map(entries) => entries,
        Value::Array(flat) => {
            let mut flat = flat.into_iter();
            let mut entries = Vec::new();
            while let (Some(k), Some(v)) = (flat.next(), flat.next()) {
                entries.push((k, v));
            }
            entries
        }
        _ => return None,
    };
    entries
        .into_iter()
        .map(|(k, v)| Some((redis::from_redis_value::<String>(k).ok()?, v)))
        .collect()
}

fn integer(value: &Value) -> Option<u16> {
    redis::from_redis_value::<i64>(value.clone())
        .ok()
        .and_then(|n| u16::try_from(n).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    fn node(endpoint: &str, port: i64, role: &str, health: &str) -> Value {
        Value::Map(vec![
            (text("id"), text("abc")),
            (text("port"), Value::Int(port)),
            (text("ip"), text("10.0.0.9")),
            (text("endpoint"), text(endpoint)),
            (text("role"), text(role)),
            (text("health"), text(health)),
        ])
    }

    #[test]
    fn a_shards_answer_gives_each_slot_its_online_master() {
        let shards = Value::Array(vec![
            Value::Map(vec![
                (
                    text("slots"),
                    Value::Array(vec![Value::Int(0), Value::Int(5460)]),
                ),
                (
                    text("nodes"),
                    Value::Array(vec![
                        node("10.0.0.1", 7001, "master", "online"),
                        node("10.0.0.4", 7004, "replica", "online"),
                    ]),
                ),
            ]),
            Value::Map(vec![
                (
                    text("slots"),
                    Value::Array(vec![
                        Value::Int(5461),
                        Value::Int(10922),
                        Value::Int(16000),
                        Value::Int(16383),
                    ]),
                ),
                (
                    text("nodes"),
                    Value::Array(vec![
                        node("10.0.0.2", 7002, "master", "failed"),
                        node("10.0.0.5", 7005, "master", "online"),
                    ]),
                ),
            ]),
        ]);
        let map = SlotMap::from_shards(shards).unwrap();
        assert_eq!(map.owner(0).unwrap(), "10.0.0.1:7001");
        assert_eq!(map.owner(5460).unwrap(), "10.0.0.1:7001");
        assert_eq!(map.owner(5461).unwrap(), "10.0.0.5:7005");
        assert_eq!(map.owner(16383).unwrap(), "10.0.0.5:7005");
        assert_eq!(map.owner(12000), None, "a slot nobody serves");
    }
}
