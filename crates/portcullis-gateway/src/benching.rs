//! Not public API: the decision front doors called in-process, for the decision
//! latency benchmark (`benches/decision.rs`). May change in any release.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;

use crate::proxy::GatewayState;
use crate::{Body, Gateway};

/// A bound gateway's decision front doors, called without a connection: what the
/// server spends on a decision, from the request as hyper hands it over to the
/// response it writes.
#[derive(Debug, Clone)]
pub struct Decisions {
    state: Arc<GatewayState>,
    peer: SocketAddr,
}

impl Decisions {
    /// The front doors of `gateway` (bound, not necessarily serving), as if every
    /// request came from `127.0.0.1`.
    pub fn of(gateway: &Gateway) -> Decisions {
        Decisions {
            state: gateway.state(),
            peer: SocketAddr::from(([127, 0, 0, 1], 40000)),
        }
    }

    /// One request to the HTTP decision endpoint (`[decision] listen`).
    pub async fn http(&self, request: Request<Full<Bytes>>) -> Response<Body> {
        match crate::decision::http_endpoint::handle(self.state.clone(), request, self.peer).await {
            Ok(response) => response,
            Err(never) => match never {},
        }
    }

    /// One gRPC request (a framed `CheckRequest`) to the ext_authz service
    /// (`[decision] grpc_listen`): decoded, decided and encoded as on the listener.
    pub async fn grpc(&self, request: Request<Full<Bytes>>) -> Response<Body> {
        match crate::decision::ext_authz::handle(self.state.clone(), request, self.peer).await {
            Ok(response) => response,
            Err(never) => match never {},
        }
    }
}
