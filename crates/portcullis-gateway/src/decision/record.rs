//! What a decision leaves behind, as the proxy leaves it for a request: the metrics,
//! the access-log line (`[log] access`, with the verified identity) and one trace
//! event (debug when allowed, info when refused).

use std::net::IpAddr;
use std::time::Instant;

use http::{Request, Response};

use crate::Body;
use crate::access_log::IdentitySlot;
use crate::metrics::Reason;
use crate::proxy::{AccessKept, GatewayState, record_answer};

/// The front door a decision came through, for the logs.
#[derive(Debug, Clone, Copy)]
pub(crate) enum FrontDoor {
    Http,
    ExtAuthzGrpc,
}

impl FrontDoor {
    fn label(self) -> &'static str {
        match self {
            FrontDoor::Http => "http",
            FrontDoor::ExtAuthzGrpc => "ext_authz_grpc",
        }
    }
}

/// One decision being recorded: started when it arrives, given the original once it
/// is rebuilt, finished with the answer.
#[derive(Debug)]
pub(crate) struct DecisionRecord {
    start: Instant,
    door: FrontDoor,
    /// What the access log reads of the original (its method and path, never the
    /// query) and where the layers leave the identity; only with the access log on.
    access: Option<AccessKept>,
}

impl DecisionRecord {
    pub(crate) fn start(door: FrontDoor) -> DecisionRecord {
        DecisionRecord {
            start: Instant::now(),
            door,
            access: None,
        }
    }

    /// Notes the original `request`, before it is decided.
    pub(crate) fn original<B>(&mut self, shared: &GatewayState, request: &mut Request<B>) {
        if shared.core.config.access_log {
            let slot = IdentitySlot::default();
            request.extensions_mut().insert(slot.clone());
            self.access = Some((
                request.method().clone(),
                request.uri().path().to_owned(),
                slot,
            ));
        }
    }

    /// Records the decision `response` on `route` for the caller at `client`, and says
    /// why it was what it was.
    pub(crate) fn finish(
        self,
        shared: &GatewayState,
        route: Option<usize>,
        client: IpAddr,
        response: &Response<Body>,
    ) -> Reason {
        // A decision starts no trace: the proxy in front owns the request's.
        let (reason, route_name, elapsed_us) = record_answer(
            shared,
            route,
            self.start,
            response,
            self.access.as_ref(),
            client,
            "",
        );
        let status = response.status().as_u16();
        let front_door = self.door.label();
        if reason.decision() == "allow" {
            tracing::debug!(
                route = route_name,
                decision = "allow",
                reason = reason.label(),
                front_door,
                status,
                elapsed_us,
                "decision"
            );
        } else {
            tracing::info!(
                route = route_name,
                decision = reason.decision(),
                reason = reason.label(),
                front_door,
                status,
                elapsed_us,
                "decision refused"
            );
        }
        reason
    }
}
