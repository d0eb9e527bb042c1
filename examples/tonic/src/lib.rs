//! The greeter of the tonic example, as a library so its tests exercise the very service
//! the example runs: a gRPC service behind Portcullis, the server that puts the layers in
//! front of it, and a client.
//!
//! The service is written by hand (prost messages and tonic's generic server and
//! client, what `tonic-prost-build` would generate), so the example builds without
//! `protoc`.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::uri::PathAndQuery;
use portcullis::grpc::RequestExt;
use portcullis::{AuthenticationLayer, ConfigError, ScopeRequirement, Verifier};
use tonic::Status;
use tonic::transport::{Channel, Server};
use tonic_prost::ProstCodec;
use tower_layer::Layer;

/// The issuer the example's tokens come from.
pub const ISSUER: &str = "https://issuer.local";
/// The audience the example's service accepts.
pub const AUDIENCE: &str = "https://grpc.local";
/// The one method.
pub const SAY_HELLO: &str = "/demo.Greeter/SayHello";

/// `message HelloRequest { string name = 1; }`
#[derive(Clone, PartialEq, prost::Message)]
pub struct HelloRequest {
    /// Who to greet.
    #[prost(string, tag = "1")]
    pub name: String,
}

/// `message HelloReply { string message = 1; }`
#[derive(Clone, PartialEq, prost::Message)]
pub struct HelloReply {
    /// The greeting.
    #[prost(string, tag = "1")]
    pub message: String,
}

/// `service Greeter { rpc SayHello(HelloRequest) returns (HelloReply); }`
#[derive(Clone, Debug)]
pub struct Greeter;

impl tonic::server::NamedService for Greeter {
    const NAME: &'static str = "demo.Greeter";
}

/// The handler: reads the verified claims from the request's extensions.
#[derive(Clone, Copy)]
struct SayHello;

impl tower_service::Service<tonic::Request<HelloRequest>> for SayHello {
    type Response = tonic::Response<HelloReply>;
    type Error = Status;
    type Future = std::future::Ready<Result<Self::Response, Status>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Status>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: tonic::Request<HelloRequest>) -> Self::Future {
        let subject = request
            .claims()
            .and_then(|claims| claims.subject())
            .unwrap_or("?")
            .to_owned();
        let message = format!("hello {}, you are {subject}", request.get_ref().name);
        std::future::ready(Ok(tonic::Response::new(HelloReply { message })))
    }
}

impl tower_service::Service<http::Request<tonic::body::Body>> for Greeter {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        Box::pin(async move {
            if request.uri().path() == SAY_HELLO {
                let codec = ProstCodec::<HelloReply, HelloRequest>::default();
                Ok(tonic::server::Grpc::new(codec)
                    .unary(SayHello, request)
                    .await)
            } else {
                Ok(Status::unimplemented("no such method").into_http())
            }
        })
    }
}

/// Calls `SayHello` on the server at `addr`, with `token` as a bearer token if given.
///
/// # Errors
/// The gRPC status the call ended with (UNAUTHENTICATED, PERMISSION_DENIED, ...).
pub async fn say_hello(addr: SocketAddr, token: Option<&str>) -> Result<String, Status> {
    let channel = Channel::from_shared(format!("http://{addr}"))
        .map_err(|e| Status::invalid_argument(e.to_string()))?
        .connect()
        .await
        .map_err(|e| Status::unavailable(e.to_string()))?;
    let mut client = tonic::client::Grpc::new(channel);
    client
        .ready()
        .await
        .map_err(|e| Status::unavailable(e.to_string()))?;
    let mut request = tonic::Request::new(HelloRequest {
        name: "example".into(),
    });
    if let Some(token) = token {
        let value = format!("Bearer {token}")
            .parse()
            .map_err(|_| Status::invalid_argument("a token a header cannot carry"))?;
        request.metadata_mut().insert("authorization", value);
    }
    let codec = ProstCodec::<HelloRequest, HelloReply>::default();
    let reply = client
        .unary(request, PathAndQuery::from_static(SAY_HELLO), codec)
        .await?;
    Ok(reply.into_inner().message)
}

/// Serves the greeter on `listener` behind Portcullis: every call needs a token that
/// `verifier` accepts (realm `greeter`), and `SayHello` needs the scope `greet`.
///
/// # Errors
/// A layer configuration the library refuses.
pub fn serve<V: Verifier + Clone>(
    listener: tokio::net::TcpListener,
    verifier: V,
) -> Result<impl Future<Output = Result<(), tonic::transport::Error>>, ConfigError> {
    let authn = AuthenticationLayer::builder(verifier)
        .realm("greeter")
        .build()?;
    let greet = authn.require(ScopeRequirement::all_of(["greet"])?);
    Ok(Server::builder()
        .layer(authn)
        .add_service(greet.layer(Greeter))
        .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)))
}
