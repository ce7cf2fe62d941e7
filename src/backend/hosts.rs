//! Which Ollama host an agent talks to: the one place that decides it (a host pool will choose
//! here too).

use super::normalize_host;

/// Where Ollama listens when neither the profile nor `OLLAMA_HOST` says otherwise.
pub const DEFAULT_OLLAMA_HOST: &str = "http://localhost:11434";

/// An agent's Ollama host, normalised: its profile's `base_url`, else `$OLLAMA_HOST`
/// (`ollama_host`), else [`DEFAULT_OLLAMA_HOST`].
pub fn ollama_host(base_url: Option<&str>, ollama_host: Option<&str>) -> String {
    normalize_host(base_url.or(ollama_host).unwrap_or(DEFAULT_OLLAMA_HOST))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_then_environment_then_default() {
        assert_eq!(
            ollama_host(Some("gpu:8080"), Some("other")),
            "http://gpu:8080"
        );
        assert_eq!(ollama_host(None, Some("other")), "http://other:11434");
        assert_eq!(ollama_host(None, None), DEFAULT_OLLAMA_HOST);
    }
}
