//! The upstream model server: its URL, the one HTTP client (http and https, webpki roots,
//! pooled connections), and what of a request's and an answer's headers crosses the gateway.

use std::sync::OnceLock;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper::Request;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// An agent's `gateway.upstream`, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct Upstream {
    /// As written in reev.yml (`http://127.0.0.1:8080/v1`).
    pub url: String,
    /// `host:port`, for messages.
    pub address: String,
    scheme: String,
    authority: String,
    /// The URL's path without a trailing `/` (`/v1`).
    base: String,
}

impl Upstream {
    /// An http or https URL with a host; its path is the API's base (`.../v1`).
    pub fn parse(url: &str) -> Result<Upstream, String> {
        let uri: hyper::Uri = url
            .parse()
            .map_err(|e| format!("`{url}` is not a URL: {e}"))?;
        let scheme = uri.scheme_str().unwrap_or_default().to_ascii_lowercase();
        let default_port = match scheme.as_str() {
            "http" => 80,
            "https" => 443,
            _ => return Err(format!("`{url}` must start with http:// or https://")),
        };
        let authority = uri
            .authority()
            .filter(|a| !a.host().is_empty())
            .ok_or_else(|| format!("`{url}` names no host"))?;
        if authority.as_str().contains('@') {
            return Err(format!(
                "`{url}`: put credentials in api_key_env, not in the URL"
            ));
        }
        if uri.query().is_some() {
            return Err(format!(
                "`{url}`: a query string is not allowed in the upstream"
            ));
        }
        Ok(Upstream {
            url: url.to_string(),
            address: format!(
                "{}:{}",
                authority.host(),
                authority.port_u16().unwrap_or(default_port)
            ),
            scheme,
            authority: authority.as_str().to_string(),
            base: uri.path().trim_end_matches('/').to_string(),
        })
    }

    /// The request to send upstream for the agent's `path` (`/v1/chat/completions?...`):
    /// the agent's headers less credentials and hop-by-hop ones, plus the key.
    pub fn request(
        &self,
        parts: &hyper::http::request::Parts,
        path: &str,
        body: Bytes,
        key: Option<&str>,
    ) -> Result<Request<Full<Bytes>>, String> {
        let below = path.strip_prefix("/v1").unwrap_or(path);
        let uri = format!("{}://{}{}{below}", self.scheme, self.authority, self.base);
        let mut req = Request::builder()
            .method(parts.method.clone())
            .uri(uri.as_str())
            .body(Full::new(body))
            .map_err(|e| format!("cannot forward to {uri}: {e}"))?;
        let headers = req.headers_mut();
        for (name, value) in &parts.headers {
            if forwarded(name) {
                headers.append(name.clone(), value.clone());
            }
        }
        if let Some(key) = key {
            let mut v = HeaderValue::from_str(&format!("Bearer {key}")).map_err(|_| {
                "the api_key_env variable holds characters no header may carry".to_string()
            })?;
            v.set_sensitive(true);
            headers.insert(hyper::header::AUTHORIZATION, v);
        }
        Ok(req)
    }
}

/// Whether a request header of the agent's goes upstream: not its credentials (reev adds the
/// key), not hop-by-hop headers, not `Host` (the client sets the upstream's) and not
/// `Accept-Encoding` (answers are recorded as text, so they must come uncompressed).
fn forwarded(name: &HeaderName) -> bool {
    let n = name.as_str();
    let credential = n.contains("auth")
        || n.contains("key")
        || n.contains("token")
        || n.contains("secret")
        || n.contains("cookie")
        || n.contains("session");
    !credential
        && !matches!(
            n,
            "host"
                | "connection"
                | "keep-alive"
                | "proxy-connection"
                | "te"
                | "trailer"
                | "transfer-encoding"
                | "upgrade"
                | "accept-encoding"
                | "content-length"
        )
}

/// The upstream's answer headers as the agent gets them: hop-by-hop ones and cookies removed
/// (the body is passed through as it comes, so `Content-Length` stays true).
pub fn answer_headers(headers: &mut HeaderMap) {
    for h in [
        "connection",
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
        "upgrade",
        "trailer",
        "set-cookie",
    ] {
        headers.remove(h);
    }
}

type HttpsClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// The gateway's one client (connections to an upstream are kept and reused).
pub fn client() -> &'static HttpsClient {
    static CLIENT: OnceLock<HttpsClient> = OnceLock::new();
    CLIENT.get_or_init(|| {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_webpki_roots()
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        Client::builder(TokioExecutor::new()).build(https)
    })
}

/// The innermost cause of a client error (`Connection refused (os error 111)`), which is
/// what a user can act on.
pub fn cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut inner: &dyn std::error::Error = e;
    while let Some(next) = inner.source() {
        inner = next;
    }
    inner.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_http_and_https_and_refuses_the_rest() {
        let u = Upstream::parse("http://127.0.0.1:8080/v1/").expect("http");
        assert_eq!(
            (u.address.as_str(), u.base.as_str()),
            ("127.0.0.1:8080", "/v1")
        );
        let u = Upstream::parse("https://api.openai.com/v1").expect("https");
        assert_eq!(u.address, "api.openai.com:443");
        assert!(Upstream::parse("ftp://x/v1").is_err());
        assert!(Upstream::parse("http://user:pw@x/v1").is_err());
        assert!(Upstream::parse("127.0.0.1:8080").is_err());
    }

    #[test]
    fn credentials_and_hop_by_hop_headers_stay_behind() {
        for h in [
            "authorization",
            "api-key",
            "x-api-key",
            "cookie",
            "connection",
            "host",
        ] {
            assert!(!forwarded(&HeaderName::from_static(h)), "{h}");
        }
        for h in ["content-type", "accept", "openai-beta", "user-agent"] {
            assert!(forwarded(&HeaderName::from_static(h)), "{h}");
        }
    }
}
