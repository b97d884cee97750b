//! Which names the filesystem shows, accepts and invents.
//!
//! The namespace holds every S3 key; the filesystem view is a projection of
//! it. A name that cannot be a POSIX file name (empty, `.`, `..`, holding a
//! `/` or a NUL, longer than 255 bytes) stays usable through S3 and is left
//! out of directory listings. Names at the top level are buckets and follow
//! S3's bucket naming rules.

use std::sync::atomic::{AtomicU64, Ordering};

use cairn_common::ClusterError;

use crate::error::{Error, Result};

/// Longest name of a directory entry (NAME_MAX).
pub const NAME_MAX: usize = 255;

/// Prefix of the hidden names that keep an unlinked, still open file alive
/// until its last close (as NFS clients do with `.nfsXXXX`).
pub const UNLINKED_PREFIX: &[u8] = b".cairn-unlinked.";

/// Whether `name` can appear in a directory listing.
pub fn posix_visible(name: &[u8]) -> bool {
    !name.is_empty()
        && name != b"."
        && name != b".."
        && name.len() <= NAME_MAX
        && !name.contains(&b'/')
        && !name.contains(&0)
        && !name.starts_with(UNLINKED_PREFIX)
}

/// Checks a name given for a new entry.
pub fn check_new_name(name: &[u8]) -> Result<()> {
    if name.len() > NAME_MAX {
        return Err(ClusterError::NameTooLong(String::from_utf8_lossy(name).into_owned()).into());
    }
    if name.is_empty() || name == b"." || name == b".." || name.contains(&b'/') || name.contains(&0)
    {
        return Err(ClusterError::Invalid(format!(
            "`{}` is not a valid file name",
            String::from_utf8_lossy(name)
        ))
        .into());
    }
    Ok(())
}

/// The bucket a top-level directory name stands for: S3's rules (3 to 63
/// characters, lower-case letters, digits, `-` and `.`, starting and ending
/// with a letter or digit).
pub fn bucket_name(name: &[u8]) -> Result<&str> {
    let bad = || {
        Error::from(ClusterError::Invalid(format!(
            "`{}` is not a valid bucket name: use 3 to 63 lower-case letters, digits, `-` and `.`",
            String::from_utf8_lossy(name)
        )))
    };
    let text = std::str::from_utf8(name).map_err(|_| bad())?;
    let ok_char = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    let valid = (3..=63).contains(&text.len())
        && text.bytes().all(|c| ok_char(c) || c == b'-' || c == b'.')
        && text.bytes().next().is_some_and(ok_char)
        && text.bytes().last().is_some_and(ok_char)
        && !text.contains("..");
    if valid {
        Ok(text)
    } else {
        Err(bad())
    }
}

static UNLINKED_SEQ: AtomicU64 = AtomicU64::new(0);

/// A fresh hidden name for an unlinked, open file `ino`.
pub fn unlinked_name(ino: u64) -> Vec<u8> {
    let seq = UNLINKED_SEQ.fetch_add(1, Ordering::Relaxed);
    let stamp = cairn_common::time::now_ns() as u64;
    let mut name = UNLINKED_PREFIX.to_vec();
    name.extend_from_slice(format!("{ino:x}.{stamp:x}{seq:x}").as_bytes());
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visible_names() {
        assert!(posix_visible(b"a.txt"));
        assert!(posix_visible(&[b'x'; 255]));
        assert!(!posix_visible(&[b'x'; 256]));
        assert!(!posix_visible(b""));
        assert!(!posix_visible(b"."));
        assert!(!posix_visible(b".."));
        assert!(!posix_visible(b"a/b"));
        assert!(!posix_visible(b"a\0b"));
        assert!(!posix_visible(&unlinked_name(5)));
    }

    #[test]
    fn new_names_carry_their_errno() {
        assert!(check_new_name(b"ok").is_ok());
        assert_eq!(
            check_new_name(&[b'x'; 256]).unwrap_err().errno(),
            libc::ENAMETOOLONG
        );
        assert_eq!(check_new_name(b"a/b").unwrap_err().errno(), libc::EINVAL);
    }

    #[test]
    fn bucket_names_follow_s3() {
        assert_eq!(bucket_name(b"photos-2024").unwrap(), "photos-2024");
        assert!(bucket_name(b"ab").is_err());
        assert!(bucket_name(b"Upper").is_err());
        assert!(bucket_name(b"-dash").is_err());
        assert!(bucket_name(b"a..b").is_err());
        assert_eq!(bucket_name(b"a_b").unwrap_err().errno(), libc::EINVAL);
    }

    #[test]
    fn unlinked_names_are_unique() {
        assert_ne!(unlinked_name(1), unlinked_name(1));
        assert!(unlinked_name(1).starts_with(UNLINKED_PREFIX));
        assert!(unlinked_name(u64::MAX).len() <= NAME_MAX);
    }
}
