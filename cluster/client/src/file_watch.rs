//! The mount's side of the MDS's `file_watch`: it follows the files other
//! mounts change, and holds the write leases of the files it writes.
//!
//! One task per client (started by [`Client::watch_files`]) long-polls
//! `Watch` from its cursor and turns each answer into [`FileEvent`]s for
//! the mount: a file another session changed, every file (the cursor was
//! lost: a new leader, or a mount too far behind), or a lease another mount
//! waits for. The same call renews the session's leases, gives back the
//! ones of closed files, and claims the held ones back from a new leader.
//! [`Client::catch_up_files`] asks the same feed from the same cursor
//! without waiting (a lock just taken) and sends its events the same way.
//!
//! Leases are cached: [`Client::write_lease`] costs a call only when this
//! client does not hold the file's lease (and none for a file it created:
//! the MDS leases a new file to its creator). The mount holds a file's
//! lease whenever it buffers writes of it (see the fs's `open_file`).

use std::{
    collections::HashSet,
    sync::{Mutex, MutexGuard, PoisonError, Weak},
    time::Duration,
};

use cairn_common::ClusterError;
use cairn_proto as pb;
use tokio::sync::mpsc;

use crate::{retry::Retry, Client, Inner};

/// The longest a writer waits for a lease another mount holds: its
/// holder sends what it buffered first, and a dead holder's lease runs
/// out after 10 s.
pub const LEASE_WAIT: Duration = Duration::from_secs(30);

/// After a failed watch call, the next one waits this long.
const RETRY_AFTER: Duration = Duration::from_millis(500);

/// What the mount hears from the watch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileEvent {
    /// Another mount (or S3) changed this file's content.
    Changed(u64),
    /// Any file may have changed.
    AllChanged,
    /// Another mount waits for this file's write lease: send what is
    /// buffered, then [`Client::drop_write_lease`] and
    /// [`Client::send_released`].
    GiveBack(u64),
}

/// This client's write leases.
#[derive(Debug, Default)]
pub(crate) struct Leases {
    state: Mutex<LeaseState>,
}

#[derive(Debug, Default)]
struct LeaseState {
    /// The epoch of the watch (0: not watching).
    epoch: u64,
    /// The feed's cursor, shared by the watch task and the catch-ups of
    /// [`Client::catch_up_files`]: it only grows within an epoch.
    since: u64,
    held: HashSet<u64>,
    /// Given back, to be said with the next watch call.
    released: Vec<u64>,
    /// Where the events go (None: not watching), and how many went.
    events: Option<mpsc::UnboundedSender<FileEvent>>,
    sent: u64,
}

impl LeaseState {
    /// Takes in a watch answer to a call made from epoch `asked`: moves the
    /// cursor (never back within an epoch) and sends the events. Sent
    /// under the lock, so an event the cursor moved past is in the channel
    /// before anyone reads the cursor or `sent` again. False when the
    /// mount stopped listening.
    fn absorb(&mut self, asked: u64, reply: &pb::WatchReply) -> bool {
        // A first answer only places the cursor; a later lost one means
        // changes were missed.
        let missed = reply.lost && asked != 0;
        if reply.epoch == self.epoch {
            self.since = self.since.max(reply.next);
        } else {
            self.epoch = reply.epoch;
            self.since = reply.next;
        }
        let mut events = Vec::new();
        if missed {
            events.push(FileEvent::AllChanged);
        }
        events.extend(reply.changed.iter().map(|ino| FileEvent::Changed(*ino)));
        for ino in &reply.taken {
            self.held.remove(ino);
        }
        for ino in &reply.revoke {
            if self.held.contains(ino) {
                events.push(FileEvent::GiveBack(*ino));
            } else {
                // Not ours (given back meanwhile): say so at once.
                self.released.push(*ino);
            }
        }
        let Some(tx) = &self.events else {
            return false;
        };
        for event in events {
            if tx.send(event).is_err() {
                self.events = None;
                return false;
            }
            self.sent += 1;
        }
        true
    }
}

impl Leases {
    fn state(&self) -> MutexGuard<'_, LeaseState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Client {
    /// The session this client names in the changes it commits.
    pub(crate) fn session(&self) -> String {
        self.inner.locks.id().to_owned()
    }

    /// Starts following the files other mounts change; one caller per
    /// client (the mount). The events end when the client is dropped.
    pub fn watch_files(&self) -> mpsc::UnboundedReceiver<FileEvent> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.inner.leases.state().events = Some(tx);
        tokio::spawn(follow(std::sync::Arc::downgrade(&self.inner)));
        rx
    }

    /// Catches up with the feed now, without waiting for a change (a lock
    /// was just taken): what other mounts committed up to now goes to the
    /// events of [`Client::watch_files`], as the watch's own answers do.
    /// Returns how many events were sent so far, this call's among them
    /// (None: not watching).
    pub async fn catch_up_files(&self) -> Result<Option<u64>, ClusterError> {
        loop {
            let req = {
                let st = self.inner.leases.state();
                if st.events.is_none() {
                    return Ok(None);
                }
                pb::WatchRequest {
                    session: self.session(),
                    epoch: st.epoch,
                    since: st.since,
                    held: st.held.iter().copied().collect(),
                    released: Vec::new(),
                    now: true,
                }
            };
            let asked = req.epoch;
            let reply = self
                .inner
                .mds
                .metadata(Retry::Idempotent, req, |mut m, r| async move {
                    m.watch(r).await
                })
                .await?;
            let sent = {
                let mut st = self.inner.leases.state();
                st.absorb(asked, &reply);
                st.sent
            };
            if !reply.more {
                return Ok(Some(sent));
            }
        }
    }

    /// Holds `ino`'s write lease, waiting while another mount gives it
    /// back. True when it was not held before this call: what the caller
    /// knows of the file may be older than the other writer's commits.
    pub async fn write_lease(&self, ino: u64) -> Result<bool, ClusterError> {
        if self.inner.leases.state().held.contains(&ino) {
            return Ok(false);
        }
        let session = self.session();
        let deadline = tokio::time::Instant::now() + LEASE_WAIT;
        loop {
            let reply = self.lease_call(&session, ino, false).await?;
            if reply.granted {
                let mut st = self.inner.leases.state();
                st.held.insert(ino);
                st.released.retain(|i| *i != ino);
                return Ok(true);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(ClusterError::Unavailable(format!(
                    "inode {ino} is being written by another mount, which did not give \
                     its write lease back in {} s",
                    LEASE_WAIT.as_secs()
                )));
            }
        }
    }

    /// Whether this client holds `ino`'s write lease (no call).
    pub fn holds_write_lease(&self, ino: u64) -> bool {
        self.inner.leases.state().held.contains(&ino)
    }

    /// Stops holding `ino`'s write lease at once; the MDS hears of it with
    /// [`Client::send_released`] or the next watch call.
    pub fn drop_write_lease(&self, ino: u64) {
        let mut st = self.inner.leases.state();
        if st.held.remove(&ino) {
            st.released.push(ino);
        }
    }

    /// Tells the MDS now of the leases dropped (another mount waits for
    /// one of them); what fails goes with the next watch call.
    pub async fn send_released(&self) {
        let released = std::mem::take(&mut self.inner.leases.state().released);
        let session = self.session();
        for ino in released {
            if let Err(e) = self.lease_call(&session, ino, true).await {
                tracing::debug!(ino, error = %e, "a write lease was not given back; it goes with the next watch");
                self.inner.leases.state().released.push(ino);
            }
        }
    }

    /// This client made file `ino`: the MDS leased it to its creator.
    pub(crate) fn leased_at_create(&self, ino: u64) {
        let mut st = self.inner.leases.state();
        // Only while watching: the MDS leases new files only to sessions
        // it has heard from.
        if st.epoch != 0 {
            st.held.insert(ino);
        }
    }

    async fn lease_call(
        &self,
        session: &str,
        ino: u64,
        release: bool,
    ) -> Result<pb::WriteLeaseReply, ClusterError> {
        let req = pb::WriteLeaseRequest {
            session: session.to_owned(),
            ino,
            release,
        };
        // Taking a lease held already, or giving back one not held, leaves
        // the same state.
        self.inner
            .mds
            .metadata(Retry::Idempotent, req, |mut m, r| async move {
                m.write_lease(r).await
            })
            .await
    }
}

/// The watch loop: polls until the client or the mount goes.
async fn follow(inner: Weak<Inner>) {
    loop {
        let Some(inner) = inner.upgrade() else {
            return;
        };
        let client = Client { inner };
        let req = {
            let mut st = client.inner.leases.state();
            pb::WatchRequest {
                session: client.session(),
                epoch: st.epoch,
                since: st.since,
                held: st.held.iter().copied().collect(),
                released: std::mem::take(&mut st.released),
                now: false,
            }
        };
        let (asked, released) = (req.epoch, req.released.clone());
        let answer = client
            .inner
            .mds
            .metadata(Retry::Idempotent, req, |mut m, r| async move {
                m.watch(r).await
            })
            .await;
        let reply = match answer {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(error = %e, "watch call failed; trying again");
                client.inner.leases.state().released.extend(released);
                drop(client);
                tokio::time::sleep(RETRY_AFTER).await;
                continue;
            }
        };
        if !client.inner.leases.state().absorb(asked, &reply) {
            return;
        }
    }
}
