//! Extended attributes: names in `user.` are stored with the inode (sizes
//! checked here); a name outside it is refused on set and absent on get.

use super::*;

impl<B: Backend> Fs<B> {
    /// getxattr of a name outside `user.*`, answered without waiting:
    /// no such attribute exists. (The kernel asks for
    /// `security.capability` before every write.)
    pub fn getxattr_outside_user(&self, name: &str) -> Option<Error> {
        (!name.starts_with(XATTR_USER)).then(|| Error::NoAttr(name.to_string()))
    }

    pub async fn getxattr(&self, ino: u64, name: &str) -> Result<Vec<u8>> {
        if let Some(refused) = self.getxattr_outside_user(name) {
            return Err(refused);
        }
        let node = self.getattr(ino).await?;
        node.xattrs
            .get(name)
            .cloned()
            .ok_or_else(|| Error::NoAttr(name.to_string()))
    }

    /// Names of the set attributes, each NUL-terminated.
    pub async fn listxattr(&self, ino: u64) -> Result<Vec<u8>> {
        let node = self.getattr(ino).await?;
        let mut out = Vec::new();
        for name in node.xattrs.keys() {
            out.extend_from_slice(name.as_bytes());
            out.push(0);
        }
        Ok(out)
    }

    pub async fn setxattr(&self, ino: u64, name: &str, value: &[u8], flags: i32) -> Result<()> {
        self.refuse_virtual(ino)?;
        if !name.starts_with(XATTR_USER) {
            return Err(Error::NotSupported(format!(
                "extended attribute `{name}`: only user.* attributes are kept"
            )));
        }
        if name.len() > NAME_MAX || name.len() == XATTR_USER.len() {
            return Err(Error::Range(format!("attribute name `{name}`")));
        }
        if value.len() > XATTR_VALUE_MAX {
            return Err(Error::TooBig(format!(
                "a value of {} bytes for `{name}` (at most {XATTR_VALUE_MAX})",
                value.len()
            )));
        }
        if flags & (XATTR_CREATE | XATTR_REPLACE) != 0 {
            let node = self.getattr(ino).await?;
            let exists = node.xattrs.contains_key(name);
            if flags & XATTR_CREATE != 0 && exists {
                return Err(ClusterError::Exists(name.to_string()).into());
            }
            if flags & XATTR_REPLACE != 0 && !exists {
                return Err(Error::NoAttr(name.to_string()));
            }
        }
        let attr = SetAttr {
            set_xattrs: vec![(name.to_string(), value.to_vec())],
            ..SetAttr::default()
        };
        let set = self.ask("setxattr", self.backend.setattr(ino, attr)).await;
        self.entries.forget_node(ino);
        set.map(|_| ())
    }

    pub async fn removexattr(&self, ino: u64, name: &str) -> Result<()> {
        self.refuse_virtual(ino)?;
        if !name.starts_with(XATTR_USER) {
            return Err(Error::NoAttr(name.to_string()));
        }
        let node = self.getattr(ino).await?;
        if !node.xattrs.contains_key(name) {
            return Err(Error::NoAttr(name.to_string()));
        }
        let attr = SetAttr {
            remove_xattrs: vec![name.to_string()],
            ..SetAttr::default()
        };
        let removed = self
            .ask("removexattr", self.backend.setattr(ino, attr))
            .await;
        self.entries.forget_node(ino);
        removed.map(|_| ())
    }
}
