//! `[routes.cors]`: a route's CORS policy as the `tower-http` layer that answers it,
//! built when the file is read so a combination browsers refuse (credentials with any
//! origin) is refused here, at its key path, never by a panic in the layer.

use std::sync::Arc;

use http::{HeaderName, HeaderValue, Method, header};
use tower_http::cors::{AllowMethods, AllowOrigin, CorsLayer};

use super::ConfigFileError;
use super::error::KeyPath;
use super::file::CorsSection;
use super::value::CorsOrigin;

/// The layer for one route's `cors` table. `route_methods` are the route's `methods`
/// (`None`: any); `dpop` whether `[dpop]` is configured, which adds its headers to the
/// defaults.
pub(super) fn layer(
    section: CorsSection,
    at: &KeyPath,
    route_methods: Option<&[Method]>,
    dpop: bool,
) -> Result<CorsLayer, ConfigFileError> {
    let at = at.key("cors");
    let any_origin = section.allow_origins.0.contains(&CorsOrigin::Any);
    if any_origin && section.allow_origins.0.len() > 1 {
        return Err(at
            .key("allow_origins")
            .error("\"*\" allows every origin: list it alone"));
    }
    if any_origin && section.allow_credentials {
        return Err(at.key("allow_credentials").error(
            "browsers refuse credentials with `Access-Control-Allow-Origin: *`: list the \
             origins that may send credentials",
        ));
    }
    // `*` is the wildcard in these lists as in the origins (and `tower-http` panics on
    // it beside credentials).
    if section.allow_credentials {
        for (key, headers) in [
            ("allow_headers", &section.allow_headers),
            ("expose_headers", &section.expose_headers),
        ] {
            let wildcard = (headers.iter().flatten()).position(|header| header.0 == "*");
            if let Some(i) = wildcard {
                return Err(at.key(key).index(i).error(
                    "browsers refuse credentials with `*` (every header): list the headers",
                ));
            }
        }
    }
    let origin = if any_origin {
        AllowOrigin::any()
    } else {
        // One shared list, so cloning the layer per request does not copy it.
        let origins: Arc<[HeaderValue]> = section
            .allow_origins
            .0
            .into_iter()
            .filter_map(|origin| match origin {
                CorsOrigin::Exact(value) => Some(value),
                CorsOrigin::Any => None,
            })
            .collect();
        AllowOrigin::predicate(move |origin, _| origins.contains(origin))
    };
    let methods = match (section.allow_methods, route_methods) {
        (Some(methods), route) => {
            let methods: Vec<Method> = methods.0.into_iter().map(|m| m.0).collect();
            if let Some(route) = route
                && let Some(i) = methods.iter().position(|m| !route.contains(m))
            {
                return Err(at
                    .key("allow_methods")
                    .index(i)
                    .error(format!("{} is not among the route's methods", methods[i])));
            }
            AllowMethods::list(methods)
        }
        (None, Some(route)) => AllowMethods::list(route.iter().cloned()),
        // A route for any method allows the method asked for.
        (None, None) => AllowMethods::mirror_request(),
    };
    let names = |headers: Option<Vec<super::value::RequestHeader>>, defaults: &[HeaderName]| {
        headers.map_or_else(
            || defaults.to_vec(),
            |headers| headers.into_iter().map(|h| h.0).collect(),
        )
    };
    let dpop_request = [HeaderName::from_static("dpop")];
    let dpop_response = [HeaderName::from_static("dpop-nonce")];
    let allow_headers: Vec<HeaderName> = [header::AUTHORIZATION, header::CONTENT_TYPE]
        .into_iter()
        .chain(dpop_request.into_iter().filter(|_| dpop))
        .collect();
    // The challenge is what a browser application reads to know why it was refused.
    let expose_headers: Vec<HeaderName> = [header::WWW_AUTHENTICATE]
        .into_iter()
        .chain(dpop_response.into_iter().filter(|_| dpop))
        .collect();
    let mut layer = CorsLayer::new()
        .allow_origin(origin)
        .allow_methods(methods)
        .allow_headers(names(section.allow_headers, &allow_headers))
        .expose_headers(names(section.expose_headers, &expose_headers))
        .allow_credentials(section.allow_credentials);
    if let Some(max_age) = section.max_age {
        layer = layer.max_age(max_age.0);
    }
    Ok(layer)
}
