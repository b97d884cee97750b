//! What every operator surface (`cairn stat`, `cairn top`, the MDS status
//! page) says about the cluster, worded once so that they never disagree.

/// The cluster's one-word status: `failure` when chunks are lost or
/// blocked (no placement can restore them), `healthy` when every chunk
/// has its wanted replicas and nothing is copied, `degraded` otherwise.
/// `count` gives the number of chunks in a state.
pub fn cluster_status(count: impl Fn(&str) -> u64, healthy: bool) -> &'static str {
    if count("lost") > 0 || count("blocked") > 0 {
        "failure"
    } else if healthy {
        "healthy"
    } else {
        "degraded"
    }
}

/// "12 healthy, 3 degraded": the non-zero chunk counts by state, in the
/// order of the state names; empty when there are none.
pub fn chunk_states<'a>(states: impl IntoIterator<Item = (&'a String, &'a u64)>) -> String {
    let mut states: Vec<(&String, &u64)> = states.into_iter().filter(|(_, n)| **n > 0).collect();
    states.sort();
    states
        .iter()
        .map(|(s, n)| format!("{n} {s}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(feature = "rpc")]
pub use cairn_proto::CsStatus;

/// A chunk server's state in one word, as every surface prints it.
#[cfg(feature = "rpc")]
pub fn cs_status_name(status: CsStatus) -> &'static str {
    match status {
        CsStatus::Active => "active",
        CsStatus::Offline => "offline",
        CsStatus::Lost => "lost",
        CsStatus::Draining => "draining",
        CsStatus::Unspecified => "unknown",
    }
}

/// Every state a chunk server can be reported in, in the order surfaces
/// list them.
#[cfg(feature = "rpc")]
pub const CS_STATUSES: [CsStatus; 4] = [
    CsStatus::Active,
    CsStatus::Offline,
    CsStatus::Lost,
    CsStatus::Draining,
];

/// Raw free space that counts towards what can still be written, and the
/// raw capacity it comes from: only chunk servers in state `active` (not
/// offline, lost or draining) take new chunks; a server's free space is
/// capped by its capacity less what it holds. `cairn_client::Space`
/// divides both by the replica count: the allocatable space of `df`,
/// `cairn stat`, `cairn top` and the status page.
#[cfg(feature = "rpc")]
pub fn raw_space(servers: impl IntoIterator<Item = (CsStatus, u64, u64, u64)>) -> (u64, u64) {
    let (mut total, mut free) = (0u64, 0u64);
    for (state, capacity, used, disk_free) in servers {
        if state != CsStatus::Active {
            continue;
        }
        total = total.saturating_add(capacity);
        let room = if capacity > 0 {
            disk_free.min(capacity.saturating_sub(used))
        } else {
            disk_free
        };
        free = free.saturating_add(room);
    }
    (total, free)
}

/// An uptime as `h:mm:ss`, or `NdMh` past a day.
pub fn uptime(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if h >= 24 {
        format!("{}d{}h", h / 24, h % 24)
    } else {
        format!("{h}:{m:02}:{s:02}")
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn status_words() {
        let states: HashMap<String, u64> =
            [("healthy".to_string(), 5), ("blocked".to_string(), 1)].into();
        let count = |s: &str| states.get(s).copied().unwrap_or(0);
        assert_eq!(cluster_status(count, false), "failure");
        assert_eq!(cluster_status(|_| 0, true), "healthy");
        assert_eq!(cluster_status(|_| 0, false), "degraded");
        assert_eq!(chunk_states(&states), "1 blocked, 5 healthy");
        assert_eq!(chunk_states(&HashMap::new()), "");
        assert_eq!(uptime(3725), "1:02:05");
        assert_eq!(uptime(90_000), "1d1h");
    }
}
