//! Replica counts as an operator writes them: `normal[:minimum]`, as
//! Virtuozzo Storage's `replicas=3:2` (Ceph: `size=3, min_size=2`).
//!
//! `normal` is how many copies of each chunk the cluster keeps, on as many
//! distinct hosts. `minimum` is the fewest a write may go on with while
//! hosts are missing: a chunk placed or written on fewer than `normal` is
//! born degraded and the healer brings it to `normal` once hosts return.
//! Below `minimum` a write fails. A stored minimum of 0 means "the default
//! for this normal count" ([`default_minimum`]), so that changing `normal`
//! alone keeps a sensible minimum.

use std::fmt;

/// The default minimum: a majority of `normal` (Ceph's `min_size` rule:
/// 3 -> 2, 2 -> 1, 5 -> 3, 1 -> 1). A write acknowledged on a majority
/// survives the loss of any one host in a three-copy cluster, which is
/// what the normal count of 3 is chosen for.
pub fn default_minimum(normal: u32) -> u32 {
    normal - normal / 2
}

/// The minimum in force for a stored `(normal, minimum)` pair: the stored
/// one when set, else the default; never above `normal`, never below 1
/// while `normal` is at least 1.
pub fn minimum(normal: u32, stored_minimum: u32) -> u32 {
    let min = if stored_minimum == 0 {
        default_minimum(normal)
    } else {
        stored_minimum
    };
    min.min(normal).max(normal.min(1))
}

/// A parsed `normal[:minimum]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplicaSpec {
    pub normal: u32,
    /// `None`: the default for `normal`.
    pub minimum: Option<u32>,
}

impl ReplicaSpec {
    /// The minimum in force.
    pub fn effective_minimum(&self) -> u32 {
        minimum(self.normal, self.minimum.unwrap_or(0))
    }
}

impl fmt::Display for ReplicaSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.normal, self.effective_minimum())
    }
}

impl std::str::FromStr for ReplicaSpec {
    type Err = String;

    /// `3` or `3:2`; the minimum must be between 1 and the normal count.
    fn from_str(s: &str) -> Result<ReplicaSpec, String> {
        let number = |part: &str, what: &str| {
            part.trim().parse::<u32>().map_err(|_| {
                format!("`{s}`: the {what} replica count must be a whole number (e.g. 3 or 3:2)")
            })
        };
        let (normal, minimum) = match s.split_once(':') {
            Some((n, m)) => (number(n, "normal")?, Some(number(m, "minimum")?)),
            None => (number(s, "normal")?, None),
        };
        if normal == 0 {
            return Err(format!("`{s}`: a chunk needs at least one replica"));
        }
        if let Some(m) = minimum {
            if m == 0 || m > normal {
                return Err(format!(
                    "`{s}`: the minimum must be between 1 and the normal count {normal}"
                ));
            }
        }
        Ok(ReplicaSpec { normal, minimum })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_minimum_is_a_majority() {
        let got: Vec<u32> = (1..=6).map(default_minimum).collect();
        assert_eq!(got, vec![1, 1, 2, 2, 3, 3]);
        assert_eq!(minimum(3, 0), 2);
        assert_eq!(minimum(3, 3), 3);
        assert_eq!(minimum(3, 1), 1);
        // A stored minimum above a lowered normal count is capped.
        assert_eq!(minimum(2, 3), 2);
        assert_eq!(minimum(0, 0), 0);
    }

    #[test]
    fn specs_parse_and_print() {
        let spec: ReplicaSpec = "3:2".parse().unwrap();
        assert_eq!(
            spec,
            ReplicaSpec {
                normal: 3,
                minimum: Some(2)
            }
        );
        let spec: ReplicaSpec = "5".parse().unwrap();
        assert_eq!(spec.minimum, None);
        assert_eq!(spec.to_string(), "5:3");
        for bad in ["0", "3:0", "3:4", "x", "3:", ":2", "3:2:1", "-1"] {
            let err = bad.parse::<ReplicaSpec>().unwrap_err();
            assert!(err.starts_with(&format!("`{bad}`")), "{bad}: {err}");
        }
    }
}
