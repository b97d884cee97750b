//! Channels from this chunk server to others (chain hops, copies), one
//! HTTP/2 connection per address shared by every call, in mutual TLS with
//! this server's node certificate.

use std::{collections::HashMap, sync::Mutex};

use cairn_common::{net, tls::NodeTls};
use cairn_proto::chunk_service_client::ChunkServiceClient;
use tonic::transport::Channel;

use cairn_common::net::CS_MAX_MESSAGE as MAX_MESSAGE;

pub type ChunkClient = ChunkServiceClient<Channel>;

/// The connections to other chunk servers, by address.
pub struct Peers {
    tls: NodeTls,
    channels: Mutex<HashMap<String, Channel>>,
}

impl Peers {
    pub fn new(tls: NodeTls) -> Peers {
        Peers {
            tls,
            channels: Mutex::new(HashMap::new()),
        }
    }

    /// A client of the chunk server at `addr`; Err names a bad address.
    pub fn client(&self, addr: &str) -> Result<ChunkClient, String> {
        let channel = {
            let mut channels = self.channels.lock().unwrap_or_else(|p| p.into_inner());
            match channels.get(addr) {
                Some(c) => c.clone(),
                None => {
                    let c = net::channel(addr, &self.tls).map_err(|e| e.to_string())?;
                    channels.insert(addr.to_string(), c.clone());
                    c
                }
            }
        };
        Ok(ChunkServiceClient::new(channel)
            .max_decoding_message_size(MAX_MESSAGE)
            .max_encoding_message_size(MAX_MESSAGE))
    }
}
