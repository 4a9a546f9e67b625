//! HTTP for confined sources (HTTP files, S3 endpoints): every request's host is checked
//! against the owner's [`Reach`] before it is sent, every DNS answer when it arrives, and a
//! redirect is followed only to the same origin, so no request leaves for an address that was
//! not granted. No proxy is used: the address checked is the address connected to.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use object_store::client::{
    HttpClient, HttpConnector, HttpError, HttpErrorKind, HttpRequest, HttpResponse, HttpService,
};
use object_store::{ClientConfigKey, ClientOptions};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::Reach;

/// Redirects followed within one origin, at most.
const MAX_REDIRECTS: usize = 5;

/// Makes the HTTP clients of one confined source.
#[derive(Debug)]
pub struct ConfinedConnector {
    reach: Arc<Reach>,
    connect_timeout: Duration,
    timeout: Duration,
}

impl ConfinedConnector {
    pub fn new(reach: Arc<Reach>, connect_timeout: Duration, timeout: Duration) -> Self {
        Self {
            reach,
            connect_timeout,
            timeout,
        }
    }
}

impl HttpConnector for ConfinedConnector {
    fn connect(&self, options: &ClientOptions) -> object_store::Result<HttpClient> {
        let allow_http = options
            .get_config_value(&ClientConfigKey::AllowHttp)
            .is_some_and(|v| v == "true");
        let client = reqwest::Client::builder()
            .no_proxy()
            .dns_resolver(Arc::new(CheckedResolver {
                reach: self.reach.clone(),
            }))
            .redirect(reqwest::redirect::Policy::custom(same_origin))
            .connect_timeout(self.connect_timeout)
            .timeout(self.timeout)
            .https_only(!allow_http)
            // object sizes come from Content-Length, which compression would change
            .no_gzip()
            .no_brotli()
            .no_zstd()
            .no_deflate()
            .build()
            .map_err(|e| object_store::Error::Generic {
                store: "HTTP",
                source: Box::new(e),
            })?;
        Ok(HttpClient::new(ConfinedService {
            client,
            reach: self.reach.clone(),
        }))
    }
}

fn same_origin(attempt: reqwest::redirect::Attempt<'_>) -> reqwest::redirect::Action {
    let first = attempt.previous().first().map(|u| u.origin());
    if attempt.previous().len() > MAX_REDIRECTS {
        attempt.stop()
    } else if first.as_ref() == Some(&attempt.url().origin()) {
        attempt.follow()
    } else {
        attempt.stop()
    }
}

#[derive(Debug)]
struct ConfinedService {
    client: reqwest::Client,
    reach: Arc<Reach>,
}

#[async_trait]
impl HttpService for ConfinedService {
    async fn call(&self, request: HttpRequest) -> Result<HttpResponse, HttpError> {
        let uri = request.uri();
        let host = uri.host().unwrap_or_default().to_owned();
        let port = uri
            .port_u16()
            .unwrap_or(if uri.scheme_str() == Some("https") {
                443
            } else {
                80
            });
        self.reach
            .host(&host, port)
            .map_err(|e| HttpError::new(HttpErrorKind::Unknown, e))?;
        HttpService::call(&self.client, request).await
    }
}

/// Resolves a name and keeps only the addresses the reach allows for it.
#[derive(Debug)]
struct CheckedResolver {
    reach: Arc<Reach>,
}

impl Resolve for CheckedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let reach = self.reach.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found = tokio::net::lookup_host((host.as_str(), 0)).await?;
            let allowed: Vec<SocketAddr> = found
                .filter(|a| reach.allows_address(Some(&host), a.ip(), None))
                .collect();
            if allowed.is_empty() {
                return Err(Box::new(reach.refused(format!("the host {host}")))
                    as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

/// A POST the server sends on its own behalf (a webhook's delivery): to `url`, held to `reach`
/// when it is given (checked before connecting, and at every DNS answer), with no proxy and no
/// redirect followed. Answers the response's status.
pub async fn post(
    reach: Option<Arc<Reach>>,
    url: &url::Url,
    headers: &[(&str, String)],
    body: Vec<u8>,
    timeout: Duration,
) -> Result<u16, String> {
    let host = url.host_str().ok_or("the URL has no host")?.to_owned();
    let port = url.port_or_known_default().ok_or("the URL has no port")?;
    let mut builder = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(timeout)
        .timeout(timeout);
    if let Some(reach) = &reach {
        reach.host(&host, port).map_err(|e| e.to_string())?;
        builder = builder.dns_resolver(Arc::new(CheckedResolver {
            reach: reach.clone(),
        }));
    }
    let client = builder.build().map_err(|e| e.to_string())?;
    let mut request = client
        .post(url.clone())
        .header("content-type", "application/json");
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let response = request.body(body).send().await.map_err(|e| {
        if e.is_timeout() {
            format!(
                "{host}:{port} did not answer within {} s",
                timeout.as_secs()
            )
        } else if e.is_connect() {
            format!("{host}:{port} could not be reached")
        } else {
            format!("sending to {host}:{port} failed")
        }
    })?;
    Ok(response.status().as_u16())
}
