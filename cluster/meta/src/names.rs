//! What a name may be, shared by the commands and the queries: the rule
//! for a directory entry's name, and how a name of raw bytes is shown in
//! an error.

use cairn_common::ClusterError;

/// A name a directory entry may have: 1..=255 bytes, no `/` or NUL, not `.`
/// or `..`.
pub fn check_name(name: &[u8]) -> Result<(), ClusterError> {
    if name.len() > 255 {
        return Err(ClusterError::NameTooLong(format!(
            "{}... ({} bytes; 255 at most)",
            String::from_utf8_lossy(&name[..32]),
            name.len()
        )));
    }
    if !is_posix_name(name) {
        return Err(ClusterError::Invalid(format!(
            "`{}` is not a valid name",
            String::from_utf8_lossy(name)
        )));
    }
    Ok(())
}

/// Whether `name` may be a directory entry's name (see [`check_name`]).
pub fn is_posix_name(name: &[u8]) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name != b"."
        && name != b".."
        && !name.contains(&b'/')
        && !name.contains(&0)
}

/// A name as an error message shows it (lossy UTF-8).
pub fn display(name: &[u8]) -> String {
    String::from_utf8_lossy(name).into_owned()
}
