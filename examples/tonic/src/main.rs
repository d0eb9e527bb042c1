//! A gRPC service behind Portcullis, and a client showing OK, UNAUTHENTICATED and
//! PERMISSION_DENIED.
//!
//! `cargo run -p example-tonic`. The service is written by hand (prost messages and
//! tonic's generic server and client, what `tonic-prost-build` would generate), so the
//! example builds without `protoc`.
#![allow(clippy::print_stdout, reason = "an example talks to its user")]

use std::convert::Infallible;
use std::error::Error;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{SystemTime, UNIX_EPOCH};

use http::uri::PathAndQuery;
use portcullis::grpc::RequestExt;
use portcullis::{AuthenticationLayer, JwtVerifier, KeySet, ScopeRequirement, Validation};
use portcullis_testkit::{SigningAlgorithm, SigningKey, jwks};
use tonic::Status;
use tonic::transport::{Channel, Server};
use tonic_prost::ProstCodec;
use tower_layer::Layer;

const ISSUER: &str = "https://issuer.local";
const AUDIENCE: &str = "https://grpc.local";
const SAY_HELLO: &str = "/demo.Greeter/SayHello";

/// `message HelloRequest { string name = 1; }`
#[derive(Clone, PartialEq, prost::Message)]
struct HelloRequest {
    #[prost(string, tag = "1")]
    name: String,
}

/// `message HelloReply { string message = 1; }`
#[derive(Clone, PartialEq, prost::Message)]
struct HelloReply {
    #[prost(string, tag = "1")]
    message: String,
}

/// `service Greeter { rpc SayHello(HelloRequest) returns (HelloReply); }`
#[derive(Clone, Debug)]
struct Greeter;

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

async fn say_hello(addr: SocketAddr, token: Option<&str>) -> Result<String, Box<dyn Error>> {
    let channel = Channel::from_shared(format!("http://{addr}"))?
        .connect()
        .await?;
    let mut client = tonic::client::Grpc::new(channel);
    client.ready().await?;
    let mut request = tonic::Request::new(HelloRequest {
        name: "example".into(),
    });
    if let Some(token) = token {
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse()?);
    }
    let codec = ProstCodec::<HelloRequest, HelloReply>::default();
    match client
        .unary(request, PathAndQuery::from_static(SAY_HELLO), codec)
        .await
    {
        Ok(reply) => Ok(format!("OK: {}", reply.into_inner().message)),
        Err(status) => Ok(format!(
            "{:?}: {:?} (www-authenticate: {:?})",
            status.code(),
            status.message(),
            status.metadata().get("www-authenticate"),
        )),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    // The embedded issuer: a fresh key and its JWK Set (a remote key set in production).
    let key = SigningKey::generate(SigningAlgorithm::ES256);
    let keys = KeySet::from_jwks(&serde_json::to_vec(&jwks([&key]))?)?;
    let validation = Validation::builder()
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .build()?;
    let authn = AuthenticationLayer::builder(JwtVerifier::with_static_keys(validation, keys))
        .realm("greeter")
        .build()?;
    let greet = authn.require(ScopeRequirement::all_of(["greet"])?);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(
        Server::builder()
            .layer(authn)
            .add_service(greet.layer(Greeter))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    println!("gRPC server on {addr}\n");

    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let mint = |scope: &str| {
        key.token()
            .standard_claims(ISSUER, AUDIENCE, now)
            .claim("scope", scope)
            .sign()
    };
    println!(
        "token with `greet`:  {}",
        say_hello(addr, Some(&mint("greet"))).await?
    );
    println!("no token:            {}", say_hello(addr, None).await?);
    println!(
        "token with `read`:   {}",
        say_hello(addr, Some(&mint("read"))).await?
    );
    println!(
        "forged token:        {}",
        say_hello(addr, Some("e30.e30.c2ln")).await?
    );
    Ok(())
}
