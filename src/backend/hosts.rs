//! Which Ollama host an agent talks to: the one place that decides it (a host pool will choose
//! here too).

use super::normalize_host;

/// Where Ollama listens when neither the profile nor `OLLAMA_HOST` says otherwise.
pub const DEFAULT_OLLAMA_HOST: &str = "http://localhost:11434";

/// Ollama's port, for a host given without one and without a scheme (as Ollama's client does).
pub const DEFAULT_OLLAMA_PORT: u16 = 11434;

/// An agent's Ollama host, normalised: its profile's `base_url`, else `$OLLAMA_HOST`
/// (`ollama_host`), else [`DEFAULT_OLLAMA_HOST`].
pub fn ollama_host(base_url: Option<&str>, ollama_host: Option<&str>) -> String {
    normalize_host(base_url.or(ollama_host).unwrap_or(DEFAULT_OLLAMA_HOST))
}

/// An `openai-compatible` agent's endpoint: its `base_url`, else the OpenAI-compatible API of
/// the run's Ollama host (`ollama_host`, already decided by [`ollama_host`]).
pub fn openai_base_url(base_url: Option<&str>, ollama_host: &str) -> String {
    base_url
        .map(str::to_string)
        .unwrap_or_else(|| format!("{ollama_host}/v1"))
}

/// Where llm-orc 0.25 expects llama.cpp's server when neither a profile nor
/// `LLAMA_SERVER_URL` says.
pub const DEFAULT_LLAMA_SERVER_URL: &str = "http://127.0.0.1:8080/v1";

/// A `llama-server` agent's endpoint, as llm-orc 0.25 decides it: its `base_url`, else
/// `$LLAMA_SERVER_URL` (`env_url`), else [`DEFAULT_LLAMA_SERVER_URL`]. Never Ollama's host.
pub fn llama_server_url(base_url: Option<&str>, env_url: Option<&str>) -> String {
    base_url
        .or(env_url)
        .unwrap_or(DEFAULT_LLAMA_SERVER_URL)
        .trim_end_matches('/')
        .to_string()
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
        assert_eq!(
            ollama_host(None, None),
            format!("http://localhost:{DEFAULT_OLLAMA_PORT}")
        );
    }

    #[test]
    fn llama_server_defaults_to_its_own_port_not_ollamas() {
        assert_eq!(
            llama_server_url(Some("http://gpu:9000/v1"), Some("http://env:1/v1")),
            "http://gpu:9000/v1"
        );
        assert_eq!(
            llama_server_url(None, Some("http://env:1/v1/")),
            "http://env:1/v1"
        );
        assert_eq!(llama_server_url(None, None), "http://127.0.0.1:8080/v1");
    }

    #[test]
    fn openai_compatible_defaults_to_ollamas_v1_api() {
        assert_eq!(
            openai_base_url(Some("http://gpu:8080/v1"), DEFAULT_OLLAMA_HOST),
            "http://gpu:8080/v1"
        );
        assert_eq!(
            openai_base_url(None, "http://other:11434"),
            "http://other:11434/v1"
        );
    }
}
