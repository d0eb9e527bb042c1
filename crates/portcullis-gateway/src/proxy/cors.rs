//! What the gateway itself must know of CORS, beside the `tower-http` layer that
//! answers it: which requests are preflights (routed by the method they ask about).

use http::{Method, Request, header};

/// The method a CORS preflight asks about: an `OPTIONS` with `Origin` and
/// `Access-Control-Request-Method` (Fetch standard, "CORS-preflight request").
pub(super) fn preflight_method<B>(request: &Request<B>) -> Option<Method> {
    if request.method() != Method::OPTIONS || !request.headers().contains_key(header::ORIGIN) {
        return None;
    }
    let asked = request
        .headers()
        .get(header::ACCESS_CONTROL_REQUEST_METHOD)?;
    Method::from_bytes(asked.as_bytes()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_preflight_names_a_method_and_an_origin() {
        let request = |method: &str, headers: &[(&str, &str)]| {
            let mut request = Request::builder().method(method).uri("/");
            for (name, value) in headers {
                request = request.header(*name, *value);
            }
            request.body(()).unwrap()
        };
        let origin = ("origin", "https://app.example.com");
        let asked = ("access-control-request-method", "PUT");
        assert_eq!(
            preflight_method(&request("OPTIONS", &[origin, asked])),
            Some(Method::PUT)
        );
        assert_eq!(preflight_method(&request("OPTIONS", &[asked])), None);
        assert_eq!(preflight_method(&request("OPTIONS", &[origin])), None);
        assert_eq!(preflight_method(&request("GET", &[origin, asked])), None);
        let bad = ("access-control-request-method", "P UT");
        assert_eq!(preflight_method(&request("OPTIONS", &[origin, bad])), None);
    }
}
