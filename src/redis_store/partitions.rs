//! Partitions of the log: one hash tag each, chosen so that their slots are evenly spaced over
//! the cluster's 16384, and the user → partition map (FNV-1a 64 of the user id, modulo the
//! count). Without a cluster there is one partition whose tag is `0`, the tag every key had
//! before partitions existed, so a standalone or Sentinel deployment's keys are unchanged.

/// Slots of a Redis Cluster.
const SLOTS: u32 = 16_384;

/// The partitions' hash tags, in partition order.
#[derive(Debug, Clone)]
pub struct Partitions {
    tags: Vec<String>,
}

/// CRC16/XMODEM, the checksum Redis Cluster maps keys to slots with.
fn crc16(bytes: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &b in bytes {
        crc ^= u16::from(b) << 8;
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

/// The slot of a key whose hash tag is `tag`.
pub fn slot_of_tag(tag: &str) -> u16 {
    crc16(tag.as_bytes()) % SLOTS as u16
}

impl Partitions {
    /// One partition with the tag `0` (no cluster).
    pub fn single() -> Self {
        Self {
            tags: vec!["0".to_owned()],
        }
    }

    /// `count` partitions, partition `p`'s tag being the first `p<k>` whose slot lies in
    /// `[p·16384/count, (p+1)·16384/count)`.
    pub fn spread(count: u16) -> Self {
        let count = u32::from(count.max(1));
        let tags = (0..count)
            .map(|p| {
                let (lo, hi) = (p * SLOTS / count, (p + 1) * SLOTS / count);
                (0u64..)
                    .map(|k| format!("p{k}"))
                    .find(|tag| (lo..hi).contains(&u32::from(slot_of_tag(tag))))
                    .unwrap_or_default()
            })
            .collect();
        Self { tags }
    }

    /// How many partitions there are.
    pub fn len(&self) -> usize {
        self.tags.len()
    }

    /// Never true: there is at least one partition.
    pub fn is_empty(&self) -> bool {
        self.tags.is_empty()
    }

    /// Partition `p`'s hash tag (without braces).
    pub fn tag(&self, p: usize) -> &str {
        &self.tags[p]
    }

    /// The cluster slot of partition `p`'s keys.
    pub fn slot(&self, p: usize) -> u16 {
        slot_of_tag(&self.tags[p])
    }

    /// The partition a user's history and memberships live in.
    pub fn of_user(&self, user: &str) -> usize {
        if self.tags.len() == 1 {
            return 0;
        }
        (fnv1a64(user.as_bytes()) % self.tags.len() as u64) as usize
    }
}

/// FNV-1a, 64 bits: fixed forever, unlike std's hasher, so every relay maps users alike.
fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc16_matches_redis_cluster_slots() {
        // Values from the Redis Cluster specification and `CLUSTER KEYSLOT`.
        assert_eq!(crc16(b"123456789"), 0x31C3);
        assert_eq!(slot_of_tag("foo"), 12182);
        assert_eq!(slot_of_tag("0"), 13907);
    }

    #[test]
    fn partition_tags_land_in_evenly_spaced_slot_ranges() {
        let parts = Partitions::spread(16);
        assert_eq!(parts.len(), 16);
        for p in 0..16 {
            let slot = u32::from(slot_of_tag(parts.tag(p)));
            assert!((p as u32 * 1024..(p as u32 + 1) * 1024).contains(&slot));
        }
    }

    #[test]
    fn users_spread_over_partitions_and_stay_put() {
        let parts = Partitions::spread(4);
        let mut seen = [0; 4];
        for i in 0..400 {
            let user = format!("user-{i}");
            let p = parts.of_user(&user);
            assert_eq!(p, parts.of_user(&user));
            seen[p] += 1;
        }
        assert!(seen.iter().all(|&n| n > 50), "{seen:?}");
        assert_eq!(Partitions::single().of_user("anyone"), 0);
    }

    #[test]
    fn fnv1a64_is_the_standard_function() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
