//! A Redis Cluster of 3 primaries and 3 replicas on loopback ports, made with `redis-cli
//! --cluster create`, every node killed by pid when the cluster drops.

use std::{collections::HashMap, process::Command, time::Duration};

use super::{Node, NodeOptions};
use crate::helpers::eventually_within;

/// Six cluster nodes: after `start`, three primaries with a replica each.
pub struct Cluster {
    pub nodes: Vec<Node>,
}

impl Cluster {
    /// Starts six nodes, joins them with `redis-cli --cluster create … --cluster-replicas 1`
    /// and waits until every node reports `cluster_state:ok`.
    pub async fn start() -> Self {
        let opts = NodeOptions {
            cluster: true,
            ..NodeOptions::default()
        };
        let mut nodes = Vec::new();
        for _ in 0..6 {
            nodes.push(Node::start(&opts).await);
        }
        let addrs: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let out = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addrs)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .output()
            .expect("redis-cli must be installed (apt-get install redis-tools)");
        assert!(
            out.status.success(),
            "redis-cli --cluster create failed:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
        let cluster = Self { nodes };
        cluster.wait_ok().await;
        // WAIT needs each primary's replica in sync before the first write.
        for port in cluster.primaries().await {
            cluster.node(port).wait_replicas_online(1).await;
        }
        cluster
    }

    /// `host:port` of every node, for `NOTIFY_REDIS_CLUSTER`.
    pub fn seeds(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect()
    }

    /// Waits until every node still running says `cluster_state:ok` and agrees on the slots.
    pub async fn wait_ok(&self) {
        let limit = Duration::from_secs(30);
        eventually_within(limit, "the cluster never became ok", || async {
            for node in self.nodes.iter().filter(|n| n.running()) {
                let info: String = redis::cmd("CLUSTER")
                    .arg("INFO")
                    .query_async(&mut node.connection().await)
                    .await
                    .ok()?;
                if !info.contains("cluster_state:ok") || !info.contains("cluster_slots_ok:16384") {
                    return None;
                }
            }
            Some(())
        })
        .await;
    }

    /// The node at `port`.
    pub fn node(&self, port: u16) -> &Node {
        self.nodes
            .iter()
            .find(|n| n.port == port)
            .expect("a node of this cluster")
    }

    /// The node at `port`, to kill it.
    pub fn node_mut(&mut self, port: u16) -> &mut Node {
        self.nodes
            .iter_mut()
            .find(|n| n.port == port)
            .expect("a node of this cluster")
    }

    /// `CLUSTER NODES` as seen by a running node: id → (port, flags, slots text).
    async fn table(&self) -> HashMap<String, (u16, String, String)> {
        let node = self.nodes.iter().find(|n| n.running()).expect("a node up");
        let text: String = redis::cmd("CLUSTER")
            .arg("NODES")
            .query_async(&mut node.connection().await)
            .await
            .expect("cluster nodes");
        text.lines()
            .filter_map(|line| {
                let f: Vec<&str> = line.split(' ').collect();
                let port = f.get(1)?.split(['@', ':']).nth(1)?.parse().ok()?;
                Some((
                    f[0].to_owned(),
                    (port, f[2].to_owned(), f.get(8..).unwrap_or(&[]).join(" ")),
                ))
            })
            .collect()
    }

    /// Ports of the current primaries (nodes whose `ROLE` says master and that own slots).
    pub async fn primaries(&self) -> Vec<u16> {
        let table = self.table().await;
        let mut ports = Vec::new();
        for node in self.nodes.iter().filter(|n| n.running()) {
            let role: Vec<redis::Value> = redis::cmd("ROLE")
                .query_async(&mut node.connection().await)
                .await
                .expect("role");
            let is_master =
                matches!(role.first(), Some(redis::Value::BulkString(r)) if r == b"master");
            let has_slots = table
                .values()
                .any(|(port, _, slots)| *port == node.port && !slots.is_empty());
            if is_master && has_slots {
                ports.push(node.port);
            }
        }
        ports.sort_unstable();
        ports
    }

    /// Adds a node as one more replica of the primary at `primary` (`redis-cli --cluster
    /// add-node --cluster-slave`), and waits until it is in sync: after a failover of that
    /// primary, the promoted replica still has a replica for `WAIT 1`.
    pub async fn add_replica(&mut self, primary: u16) {
        let node = Node::start(&NodeOptions {
            cluster: true,
            ..NodeOptions::default()
        })
        .await;
        let id = self.id_of(primary).await;
        let out = Command::new("redis-cli")
            .args(["--cluster", "add-node"])
            .arg(format!("127.0.0.1:{}", node.port))
            .arg(format!("127.0.0.1:{primary}"))
            .args(["--cluster-slave", "--cluster-master-id", &id])
            .output()
            .expect("redis-cli");
        assert!(
            out.status.success(),
            "redis-cli --cluster add-node failed:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
        self.nodes.push(node);
        self.node(primary).wait_replicas_online(2).await;
        self.wait_ok().await;
    }

    /// The port of the primary that owns `slot` now.
    pub async fn owner_of(&self, slot: u16) -> u16 {
        let node = self.nodes.iter().find(|n| n.running()).expect("a node up");
        let shards: Vec<(u16, u16, Vec<redis::Value>)> = {
            let raw: Vec<Vec<redis::Value>> = redis::cmd("CLUSTER")
                .arg("SLOTS")
                .query_async(&mut node.connection().await)
                .await
                .expect("cluster slots");
            raw.into_iter()
                .map(|mut r| {
                    let from = redis::from_redis_value(r.remove(0)).expect("slot");
                    let to = redis::from_redis_value(r.remove(0)).expect("slot");
                    (from, to, r)
                })
                .collect()
        };
        for (from, to, mut nodes) in shards {
            if (from..=to).contains(&slot) {
                let primary: Vec<redis::Value> =
                    redis::from_redis_value(nodes.remove(0)).expect("primary");
                return redis::from_redis_value(primary[1].clone()).expect("port");
            }
        }
        panic!("slot {slot} has no owner");
    }

    /// The node id of the node at `port`.
    async fn id_of(&self, port: u16) -> String {
        let id: String = redis::cmd("CLUSTER")
            .arg("MYID")
            .query_async(&mut self.node(port).connection().await)
            .await
            .expect("cluster myid");
        id
    }

    /// The slot of `key`.
    pub async fn slot_of(&self, key: &str) -> u16 {
        redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(key)
            .query_async(&mut self.nodes[0].connection().await)
            .await
            .expect("cluster keyslot")
    }

    /// Moves `slot` from its owner to the primary at `to`, the way `redis-cli --cluster
    /// reshard` does: `SETSLOT IMPORTING/MIGRATING`, `MIGRATE` its keys in small batches
    /// (`pause` between them, so traffic meets the slot half moved), then `SETSLOT NODE`.
    pub async fn migrate_slot(&self, slot: u16, to: u16, pause: Duration) {
        let from = self.owner_of(slot).await;
        assert_ne!(from, to, "the slot is already there");
        let (from_id, to_id) = (self.id_of(from).await, self.id_of(to).await);
        let mut src = self.node(from).connection().await;
        let mut dst = self.node(to).connection().await;
        let setslot = |state: &str, id: &str| {
            let mut cmd = redis::cmd("CLUSTER");
            cmd.arg("SETSLOT").arg(slot).arg(state).arg(id);
            cmd
        };
        let _: () = setslot("IMPORTING", &from_id)
            .query_async(&mut dst)
            .await
            .expect("importing");
        let _: () = setslot("MIGRATING", &to_id)
            .query_async(&mut src)
            .await
            .expect("migrating");
        loop {
            let keys: Vec<String> = redis::cmd("CLUSTER")
                .arg("GETKEYSINSLOT")
                .arg(slot)
                .arg(5)
                .query_async(&mut src)
                .await
                .expect("getkeysinslot");
            if keys.is_empty() {
                break;
            }
            let _: redis::Value = redis::cmd("MIGRATE")
                .arg("127.0.0.1")
                .arg(to)
                .arg("")
                .arg(0)
                .arg(5_000)
                .arg("KEYS")
                .arg(&keys)
                .query_async(&mut src)
                .await
                .expect("migrate");
            tokio::time::sleep(pause).await;
        }
        for node in self.nodes.iter().filter(|n| n.running()) {
            let _: Result<(), _> = setslot("NODE", &to_id)
                .query_async(&mut node.connection().await)
                .await;
        }
        assert_eq!(self.owner_of(slot).await, to, "the slot moved");
    }

    /// Keys on the node at `port` matching `pattern` (SCAN).
    pub async fn keys_on(&self, port: u16, pattern: &str) -> Vec<String> {
        let mut conn = self.node(port).connection().await;
        let mut cursor = 0u64;
        let mut keys = Vec::new();
        loop {
            let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(pattern)
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut conn)
                .await
                .expect("scan");
            keys.extend(batch);
            if next == 0 {
                return keys;
            }
            cursor = next;
        }
    }
}
