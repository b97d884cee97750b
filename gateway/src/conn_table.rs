//! Open connections counted by client address, so that one address over
//! its limit is refused at accept while every other address is served.
//! IPv6 clients are counted by /64: one host usually holds a whole /64.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Where a client is counted: its IPv4 address, or the /64 of its IPv6
/// one (an IPv4-mapped IPv6 address counts as the IPv4 address).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientKey(IpAddr);

impl ClientKey {
    pub fn of(ip: IpAddr) -> ClientKey {
        match ip {
            IpAddr::V4(_) => ClientKey(ip),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => ClientKey(IpAddr::V4(v4)),
                None => {
                    let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                    ClientKey(IpAddr::V6(prefix.into()))
                }
            },
        }
    }
}

/// Open connections per client address.
#[derive(Debug)]
pub struct ConnTable {
    limit: usize,
    open: Mutex<HashMap<ClientKey, usize>>,
}

/// One counted connection; uncounted when dropped.
#[derive(Debug)]
pub struct ConnSlot {
    table: Arc<ConnTable>,
    key: ClientKey,
}

impl ConnTable {
    pub fn new(limit: usize) -> Arc<ConnTable> {
        Arc::new(ConnTable {
            limit,
            open: Mutex::new(HashMap::new()),
        })
    }

    /// Counts a new connection from `ip`, or None when that address holds
    /// its limit already. Entries go when their count drops to zero, so the
    /// table is as large as the number of addresses connected now.
    pub fn enter(self: &Arc<Self>, ip: IpAddr) -> Option<ConnSlot> {
        let key = ClientKey::of(ip);
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.entry(key).or_insert(0);
        if *count >= self.limit {
            return None;
        }
        *count += 1;
        Some(ConnSlot {
            table: self.clone(),
            key,
        })
    }

    /// Connections open now from `ip`'s address.
    pub fn open_from(&self, ip: IpAddr) -> usize {
        let open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        open.get(&ClientKey::of(ip)).copied().unwrap_or(0)
    }
}

impl Drop for ConnSlot {
    fn drop(&mut self) {
        let mut open = self.table.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = open.get_mut(&self.key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_over_its_limit_is_refused_and_others_are_not() {
        let table = ConnTable::new(2);
        let a: IpAddr = "127.0.0.2".parse().expect("ip");
        let b: IpAddr = "127.0.0.3".parse().expect("ip");
        let first = table.enter(a).expect("first from a");
        let _second = table.enter(a).expect("second from a");
        assert!(table.enter(a).is_none(), "a third from a is refused");
        assert!(table.enter(b).is_some(), "b is counted apart");
        drop(first);
        assert!(table.enter(a).is_some(), "a closed one: room again");
    }

    #[test]
    fn ipv6_addresses_of_one_64_share_a_count_and_the_table_empties() {
        let table = ConnTable::new(1);
        let a: IpAddr = "2001:db8::1".parse().expect("ip");
        let b: IpAddr = "2001:db8::ffff:2".parse().expect("ip");
        let other: IpAddr = "2001:db8:0:1::1".parse().expect("ip");
        let slot = table.enter(a).expect("first of the /64");
        assert!(table.enter(b).is_none(), "same /64");
        assert!(table.enter(other).is_some(), "another /64");
        drop(slot);
        assert_eq!(table.open_from(a), 0);
        assert!(table.open.lock().expect("lock").is_empty());
    }

    #[test]
    fn ipv4_mapped_addresses_count_as_ipv4() {
        let table = ConnTable::new(1);
        let _slot = table.enter("127.0.0.5".parse().expect("ip")).expect("v4");
        assert!(table
            .enter("::ffff:127.0.0.5".parse().expect("ip"))
            .is_none());
    }
}
