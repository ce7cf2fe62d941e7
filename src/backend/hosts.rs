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
