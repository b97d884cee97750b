//! Channels: the headers of an MDS channel (the MDS calls themselves go
//! through `mds_conn`) and a pool of channels to chunk servers, all built
//! by `cairn_common::net` (mutual TLS with this host's client certificate,
//! keepalive PINGs and socket timeouts that notice a vanished host in
//! seconds).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use cairn_common::{
    net,
    persist::{PERSIST_HEADER, PERSIST_OS},
    tls::NodeTls,
    ClusterError, Persist,
};
use cairn_proto::chunk_service_client::ChunkServiceClient;
use tonic::{
    metadata::MetadataValue,
    service::{interceptor::InterceptedService, Interceptor},
    transport::Channel,
    Request, Status,
};

/// A channel to the MDS, with the persistence asked for.
pub(crate) type MdsChannel = InterceptedService<Channel, MdsHeaders>;
pub(crate) type ChunkRpc = ChunkServiceClient<Channel>;

/// For a client that asked for [`Persist::Os`], adds the `cairn-persist`
/// header to every MDS call.
#[derive(Clone)]
pub(crate) struct MdsHeaders {
    persist: Persist,
}

impl MdsHeaders {
    pub(crate) fn new(persist: Persist) -> MdsHeaders {
        MdsHeaders { persist }
    }
}

impl Interceptor for MdsHeaders {
    fn call(&mut self, mut req: Request<()>) -> Result<Request<()>, Status> {
        if self.persist == Persist::Os {
            req.metadata_mut()
                .insert(PERSIST_HEADER, MetadataValue::from_static(PERSIST_OS));
        }
        Ok(req)
    }
}

/// A lazily connecting channel to a Cairn node (see `cairn_common::net`).
pub(crate) fn channel(addr: &str, tls: &NodeTls) -> Result<Channel, ClusterError> {
    net::channel(addr, tls).map_err(|e| ClusterError::Invalid(e.to_string()))
}

pub(crate) use cairn_common::errno::is_transport_failure;

/// Channels to chunk servers, one per address, made on first use.
pub(crate) struct CsPool {
    tls: NodeTls,
    channels: Mutex<HashMap<String, ChunkRpc>>,
}

impl CsPool {
    pub(crate) fn new(tls: NodeTls) -> Arc<CsPool> {
        Arc::new(CsPool {
            tls,
            channels: Mutex::new(HashMap::new()),
        })
    }

    pub(crate) fn get(&self, addr: &str) -> Result<ChunkRpc, ClusterError> {
        let mut map = self
            .channels
            .lock()
            .map_err(|_| ClusterError::Io("chunk server pool lock poisoned".into()))?;
        if let Some(rpc) = map.get(addr) {
            return Ok(rpc.clone());
        }
        let rpc = ChunkServiceClient::new(channel(addr, &self.tls)?)
            .max_decoding_message_size(net::CS_MAX_MESSAGE)
            .max_encoding_message_size(net::CS_MAX_MESSAGE);
        map.insert(addr.to_string(), rpc.clone());
        Ok(rpc)
    }
}
