//! Raft messages between MDS over gRPC (the `MdsRaft` service), both ends.
//!
//! openraft's messages travel postcard-encoded in a `RaftBytes` envelope;
//! the answer carries the callee's `Result`, so a refusal by the remote
//! raft reaches the local one as a remote error, and a transport failure as
//! "unreachable". Every connection is mutual TLS with this MDS's node
//! certificate; the callee serves raft messages to MDS nodes only.

use std::time::Duration;

use cairn_common::{
    node_cert::Role,
    pki::Authority,
    tls::{peer::check_peer, NodeTls},
};
use cairn_proto as pb;
use cairn_proto::mds_raft_client::MdsRaftClient;
use openraft::{
    error::{InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable},
    network::{RPCOption, RaftNetwork, RaftNetworkFactory},
    raft::{
        AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest,
        InstallSnapshotResponse, VoteRequest, VoteResponse,
    },
    AnyError, BasicNode,
};
use serde::{de::DeserializeOwned, Serialize};
use tonic::{transport::Channel, Request, Response, Status};

use super::{NodeId, Raft, TypeConfig};

type Client = MdsRaftClient<Channel>;

fn any(e: impl std::fmt::Display) -> AnyError {
    AnyError::error(e.to_string())
}

/// Makes one connection per peer.
pub struct Network {
    tls: NodeTls,
}

impl Network {
    pub fn new(tls: NodeTls) -> Network {
        Network { tls }
    }
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = Peer;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> Peer {
        let client = cairn_common::net::endpoint(&node.addr)
            .map(|e| {
                // A peer that does not answer is tried again at the next
                // heartbeat: a short connect keeps elections moving.
                let e = e.connect_timeout(Duration::from_secs(1));
                MdsRaftClient::new(cairn_common::net::lazy(&e, &self.tls))
                    .max_decoding_message_size(cairn_common::net::MDS_MAX_MESSAGE)
                    .max_encoding_message_size(cairn_common::net::MDS_MAX_MESSAGE)
            })
            .map_err(|e| format!("bad MDS address `{}`: {e}", node.addr));
        Peer { target, client }
    }
}

/// The connection to one peer MDS.
pub struct Peer {
    target: NodeId,
    client: Result<Client, String>,
}

impl Peer {
    async fn call<Req, Resp, E>(
        &mut self,
        req: &Req,
        timeout: Duration,
        which: Which,
    ) -> Result<Resp, RPCError<NodeId, BasicNode, E>>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: DeserializeOwned + std::error::Error,
    {
        let client = match &self.client {
            Ok(c) => c.clone(),
            Err(e) => return Err(RPCError::Unreachable(Unreachable::new(&any(e)))),
        };
        let data = postcard::to_allocvec(req)
            .map_err(|e| RPCError::Network(NetworkError::new(&any(e))))?;
        let mut client = client;
        let mut request = Request::new(pb::RaftBytes { data });
        request.set_timeout(timeout);
        let reply = match which {
            Which::Append => client.append_entries(request).await,
            Which::Vote => client.vote(request).await,
            Which::Snapshot => client.install_snapshot(request).await,
        }
        .map_err(|s| RPCError::Unreachable(Unreachable::new(&any(s.message()))))?;
        let result: Result<Resp, E> = postcard::from_bytes(&reply.into_inner().data)
            .map_err(|e| RPCError::Network(NetworkError::new(&any(e))))?;
        result.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

#[derive(Clone, Copy)]
enum Which {
    Append,
    Vote,
    Snapshot,
}

impl RaftNetwork<TypeConfig> for Peer {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        self.call(&rpc, option.hard_ttl(), Which::Append).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, BasicNode, RaftError<NodeId, InstallSnapshotError>>,
    > {
        self.call(&rpc, option.hard_ttl(), Which::Snapshot).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        self.call(&rpc, option.hard_ttl(), Which::Vote).await
    }
}

fn decode<T: DeserializeOwned>(request: Request<pb::RaftBytes>) -> Result<T, Status> {
    postcard::from_bytes(&request.into_inner().data)
        .map_err(|e| Status::invalid_argument(format!("undecodable raft message: {e}")))
}

fn encode<T: Serialize>(value: &T) -> Result<Response<pb::RaftBytes>, Status> {
    postcard::to_allocvec(value)
        .map(|data| Response::new(pb::RaftBytes { data }))
        .map_err(|e| Status::internal(format!("unencodable raft message: {e}")))
}

/// The receiving end: hands messages to the local raft node. Group changes
/// (`AddMds`, `RemoveMds`) are in [`super::membership`].
#[derive(Clone)]
pub struct RaftService {
    pub(crate) raft: Raft,
    pub(crate) members: super::membership::Members,
    pub(crate) tls: NodeTls,
    /// The MDS's directory, where the cluster CA is.
    pub(crate) dir: std::path::PathBuf,
}

impl RaftService {
    /// Raft messages and membership changes come from MDS nodes only: a
    /// chunk server or a client with a valid certificate must not vote,
    /// append, or add an MDS (whose answer carries the CA's key).
    fn check_mds_peer<T>(&self, request: &Request<T>) -> Result<(), Status> {
        check_peer(&self.tls, request, &[Role::Mds]).map(|_| ())
    }
}

#[tonic::async_trait]
impl pb::mds_raft_server::MdsRaft for RaftService {
    async fn append_entries(
        &self,
        request: Request<pb::RaftBytes>,
    ) -> Result<Response<pb::RaftBytes>, Status> {
        self.check_mds_peer(&request)?;
        let rpc: AppendEntriesRequest<TypeConfig> = decode(request)?;
        encode(&self.raft.append_entries(rpc).await)
    }

    async fn vote(
        &self,
        request: Request<pb::RaftBytes>,
    ) -> Result<Response<pb::RaftBytes>, Status> {
        self.check_mds_peer(&request)?;
        let rpc: VoteRequest<NodeId> = decode(request)?;
        encode(&self.raft.vote(rpc).await)
    }

    async fn install_snapshot(
        &self,
        request: Request<pb::RaftBytes>,
    ) -> Result<Response<pb::RaftBytes>, Status> {
        self.check_mds_peer(&request)?;
        let rpc: InstallSnapshotRequest<TypeConfig> = decode(request)?;
        encode(&self.raft.install_snapshot(rpc).await)
    }

    async fn add_mds(
        &self,
        request: Request<pb::AddMdsRequest>,
    ) -> Result<Response<pb::AddMdsReply>, Status> {
        // The reply holds the CA's key: only a host with an MDS
        // certificate (`auth-node --role mds`) may ask.
        self.check_mds_peer(&request)?;
        let addr = request.into_inner().addr;
        // The new MDS signs node certificates too: it gets the CA.
        let ca = Authority::load(&self.dir)
            .map_err(|e| Status::failed_precondition(format!("this MDS's CA: {e}")))?;
        let mut reply = self.members.add(&addr).await?;
        reply.ca_pem = ca.cert_pem().to_string();
        reply.ca_key_pem = ca.key_pem();
        Ok(Response::new(reply))
    }

    async fn remove_mds(
        &self,
        request: Request<pb::RemoveMdsRequest>,
    ) -> Result<Response<pb::Empty>, Status> {
        self.check_mds_peer(&request)?;
        self.members.remove(request.into_inner().node_id).await?;
        Ok(Response::new(pb::Empty {}))
    }
}
