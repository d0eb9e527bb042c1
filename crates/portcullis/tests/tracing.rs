//! The per-request span: issuer, subject, client id, decision and reason are recorded;
//! the token never is. A minimal subscriber records every field value it is given.
#![allow(clippy::unwrap_used)]

mod common;

use std::convert::Infallible;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use common::*;
use http::{Request, Response, header};
use portcullis::AuthenticationLayer;
use tower::{Layer, ServiceExt, service_fn};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

#[derive(Clone, Default)]
struct Recorder {
    fields: Arc<Mutex<Vec<(String, String)>>>,
    next_id: Arc<AtomicU64>,
}

struct Visitor<'a>(&'a Mutex<Vec<(String, String)>>);

impl Visit for Visitor<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .lock()
            .unwrap()
            .push((field.name().to_owned(), format!("{value:?}")));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0
            .lock()
            .unwrap()
            .push((field.name().to_owned(), value.to_owned()));
    }
}

impl Subscriber for Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        span.record(&mut Visitor(&self.fields));
        Id::from_u64(self.next_id.fetch_add(1, Ordering::SeqCst) + 1)
    }
    fn record(&self, _: &Id, values: &Record<'_>) {
        values.record(&mut Visitor(&self.fields));
    }
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        event.record(&mut Visitor(&self.fields));
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

impl Recorder {
    fn get(&self, name: &str) -> Vec<String> {
        let fields = self.fields.lock().unwrap();
        fields
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .collect()
    }

    fn contains(&self, needle: &str) -> bool {
        self.fields
            .lock()
            .unwrap()
            .iter()
            .any(|(_, v)| v.contains(needle))
    }
}

async fn call(recorder: &Recorder, token: &str) -> u16 {
    let service =
        AuthenticationLayer::new(verifier()).layer(service_fn(|_: Request<String>| async {
            Ok::<_, Infallible>(Response::new(String::new()))
        }));
    let request = Request::builder()
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(String::new())
        .unwrap();
    let _guard = tracing::subscriber::set_default(recorder.clone());
    service.oneshot(request).await.unwrap().status().as_u16()
}

#[tokio::test(flavor = "current_thread")]
async fn span_records_who_and_why_but_never_the_token() {
    let allowed = Recorder::default();
    let token = token("read");
    assert_eq!(call(&allowed, &token).await, 200);
    assert_eq!(allowed.get("issuer"), [ISSUER]);
    assert_eq!(allowed.get("subject"), ["test-subject"]);
    assert_eq!(allowed.get("client_id"), ["test-client"]);
    assert_eq!(allowed.get("decision"), ["allow"]);
    // No part of the token (header, payload or signature) was recorded anywhere.
    for part in token.split('.') {
        assert!(!allowed.contains(&part[..16]));
    }

    let denied = Recorder::default();
    let expired = key()
        .token()
        .standard_claims(ISSUER, AUDIENCE, NOW - 1000)
        .sign();
    assert_eq!(call(&denied, &expired).await, 401);
    assert_eq!(denied.get("decision"), ["deny"]);
    assert_eq!(denied.get("reason")[0], "token expired");
    for part in expired.split('.') {
        assert!(!denied.contains(&part[..16]));
    }
}
