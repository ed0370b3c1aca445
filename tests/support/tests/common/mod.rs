//! What the fake's own tests share: an HTTP client to ask it with.

/// A client that goes straight to the fake (no proxy from the environment).
pub fn client() -> reqwest::Client {
    // Built with fetch-assets in one workspace, reqwest has rustls without a
    // provider: the tests give it the one fetch-assets uses.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("an HTTP client")
}
