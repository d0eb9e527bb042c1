//! A real tonic 0.14 server on 127.0.0.1:0 behind `Server::builder().layer(..)`, called
//! by a real tonic client: trailers-only UNAUTHENTICATED / PERMISSION_DENIED /
//! UNAVAILABLE, and claims read by the handler through `tonic::Request::extensions()`.
//!
//! Messages and service are hand-written (prost derive, tonic's generic server and
//! client), so no `protoc` is needed at build time.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use common::*;
use http::uri::PathAndQuery;
use portcullis::grpc::RequestExt;
use portcullis::{AuthenticationLayer, Verifier};
use tonic::transport::{Channel, Server};
use tonic::{Code, Status};
use tonic_prost::ProstCodec;
use tower::Layer;

#[derive(Clone, PartialEq, prost::Message)]
struct HelloRequest {
    #[prost(string, tag = "1")]
    name: String,
}

#[derive(Clone, PartialEq, prost::Message)]
struct HelloReply {
    #[prost(string, tag = "1")]
    message: String,
}

const SAY_HELLO: &str = "/demo.Greeter/SayHello";

/// What codegen would write for `service Greeter { rpc SayHello(..) returns (..); }`.
#[derive(Clone, Debug)]
struct Greeter;

impl tonic::server::NamedService for Greeter {
    const NAME: &'static str = "demo.Greeter";
}

#[derive(Clone, Copy)]
struct SayHello;

impl tower::Service<tonic::Request<HelloRequest>> for SayHello {
    type Response = tonic::Response<HelloReply>;
    type Error = Status;
    type Future = std::future::Ready<Result<Self::Response, Status>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Status>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: tonic::Request<HelloRequest>) -> Self::Future {
        let subject = request
            .claims()
            .and_then(|c| c.subject().map(str::to_owned))
            .unwrap_or_default();
        let message = format!("hello {}, from {subject}", request.get_ref().name);
        std::future::ready(Ok(tonic::Response::new(HelloReply { message })))
    }
}

impl tower::Service<http::Request<tonic::body::Body>> for Greeter {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        Box::pin(async move {
            if request.uri().path() == SAY_HELLO {
                let mut grpc =
                    tonic::server::Grpc::new(ProstCodec::<HelloReply, HelloRequest>::default());
                Ok(grpc.unary(SayHello, request).await)
            } else {
                Ok(Status::unimplemented("").into_http())
            }
        })
    }
}

async fn serve<V: Verifier + Clone>(verifier: V) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let authn = AuthenticationLayer::builder(verifier)
        .realm("grpc")
        .build()
        .unwrap();
    let greet = authn.require(portcullis::ScopeRequirement::all_of(["greet"]).unwrap());
    tokio::spawn(async move {
        Server::builder()
            .layer(authn)
            .add_service(greet.layer(Greeter))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener))
            .await
            .unwrap();
    });
    addr
}

async fn say_hello(addr: SocketAddr, token: Option<&str>) -> Result<String, Status> {
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = tonic::client::Grpc::new(channel);
    client.ready().await.unwrap();
    let mut request = tonic::Request::new(HelloRequest {
        name: "grpc".into(),
    });
    if let Some(token) = token {
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
    }
    let codec = ProstCodec::<HelloRequest, HelloReply>::default();
    let response = client
        .unary(request, PathAndQuery::from_static(SAY_HELLO), codec)
        .await?;
    Ok(response.into_inner().message)
}

fn challenge(status: &Status) -> &str {
    status
        .metadata()
        .get("www-authenticate")
        .expect("www-authenticate metadata")
        .to_str()
        .unwrap()
}

#[tokio::test]
async fn grpc_statuses() {
    let addr = serve(verifier()).await;

    let ok = say_hello(addr, Some(&token("greet"))).await.unwrap();
    assert_eq!(ok, "hello grpc, from test-subject");

    let missing = say_hello(addr, None).await.unwrap_err();
    assert_eq!(missing.code(), Code::Unauthenticated);
    assert_eq!(challenge(&missing), r#"Bearer realm="grpc""#);

    let expired = key()
        .token()
        .standard_claims(ISSUER, AUDIENCE, NOW - 1000)
        .claim("scope", "greet")
        .sign();
    let bad = say_hello(addr, Some(&expired)).await.unwrap_err();
    assert_eq!(bad.code(), Code::Unauthenticated);
    assert_eq!(bad.message(), "token expired");
    assert!(
        challenge(&bad).contains(r#"error="invalid_token", error_description="token expired""#)
    );

    let denied = say_hello(addr, Some(&token("read"))).await.unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    assert!(challenge(&denied).contains(r#"error="insufficient_scope""#));
    assert!(challenge(&denied).contains(r#"scope="greet""#));
}

#[tokio::test]
async fn grpc_unavailable() {
    let addr = serve(Down).await;
    let status = say_hello(addr, Some(&token("greet"))).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(status.message(), "issuer unreachable");
}
