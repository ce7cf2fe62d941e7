//! MCP over stdin/stdout where every frame gets an answer. rmcp's own stdio transport drops a
//! line that is not JSON, is nested deeper than serde_json's 128 levels, or is over its 16 MiB
//! line limit, so a client waits forever for that id. Here each such line is answered with a
//! JSON-RPC parse error (-32700, id null); well-formed JSON of the wrong shape that carries an
//! id is answered with an invalid-request error (-32600) for that id. Notifications and stray
//! responses are never answered (JSON-RPC forbids it, and answering them invites error storms).
//!
//! Reading is bounded: a line is never held past [`MAX_FRAME_BYTES`]. Writing goes through one
//! task that owns stdout, so answers and rmcp's messages never interleave inside a line.

use std::collections::VecDeque;

use rmcp::RoleServer;
use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};
use rmcp::transport::Transport;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

/// The largest frame read (without its newline): 16 MiB, rmcp's own line limit.
pub const MAX_FRAME_BYTES: usize = 16 * 1024 * 1024;

/// What one line turns into.
#[derive(Debug)]
enum Frame {
    Message(Box<ClientJsonRpcMessage>),
    /// An error to send back (a whole JSON-RPC message, without the newline).
    Reply(Value),
    /// Nothing to do (blank line, notification or response of the wrong shape).
    Skip,
}

fn error_reply(id: Value, code: i64, message: String) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

/// A parse error (-32700): there is no id to answer, so it is null.
pub fn parse_error(why: &str) -> Value {
    error_reply(Value::Null, -32700, format!("Parse error: {why}"))
}

/// Why serde_json refused a frame, in words for the client.
fn syntax_reason(e: &serde_json::Error) -> String {
    if e.to_string().contains("recursion limit") {
        "the message is nested deeper than 128 levels".into()
    } else {
        format!("the message is not JSON ({e})")
    }
}

/// The error to answer a frame with when it cannot be served (over HTTP: the body of a 400).
pub fn refusal(frame: &[u8]) -> Option<Value> {
    match classify(frame) {
        Frame::Reply(v) => Some(v),
        Frame::Message(_) | Frame::Skip => None,
    }
}

/// Classifies one line (newline and a trailing `\r` already removed).
fn classify(line: &[u8]) -> Frame {
    let line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
    if line.iter().all(u8::is_ascii_whitespace) {
        return Frame::Skip;
    }
    let err = match serde_json::from_slice::<ClientJsonRpcMessage>(line) {
        Ok(m) => return Frame::Message(Box::new(m)),
        Err(e) => e,
    };
    use serde_json::error::Category;
    if matches!(err.classify(), Category::Syntax | Category::Eof) {
        return Frame::Reply(parse_error(&syntax_reason(&err)));
    }
    // Well-formed JSON that is not an MCP message.
    let Ok(v) = serde_json::from_slice::<Value>(line) else {
        return Frame::Reply(parse_error(&syntax_reason(&err)));
    };
    let Some(obj) = v.as_object() else {
        return Frame::Reply(error_reply(
            Value::Null,
            -32600,
            "Invalid request: a message is one JSON object (batches are not supported)".into(),
        ));
    };
    if !obj.contains_key("method") {
        // A response (it has a result or an error) is never answered; a frame with an id and
        // neither a method nor a result is a request missing its method: answer it.
        if obj.contains_key("result") || obj.contains_key("error") || !obj.contains_key("id") {
            tracing::debug!("ignoring a response the server cannot read: {err}");
            return Frame::Skip;
        }
        let id = obj
            .get("id")
            .filter(|id| id.is_string() || id.is_number())
            .cloned()
            .unwrap_or(Value::Null);
        return Frame::Reply(error_reply(
            id,
            -32600,
            "Invalid request: the message has an id but no method".into(),
        ));
    }
    match obj.get("id") {
        // A notification: JSON-RPC gives it no answer (unknown ones are ignored, as rmcp does).
        None => {
            tracing::debug!("ignoring a notification the server cannot read: {err}");
            Frame::Skip
        }
        Some(id) => {
            let id = if id.is_string() || id.is_number() {
                id.clone()
            } else {
                Value::Null
            };
            Frame::Reply(error_reply(id, -32600, format!("Invalid request: {err}")))
        }
    }
}

/// Outcome of reading towards the next line.
enum Read {
    Line,
    TooLong,
    Eof,
}

/// The server side of MCP over a reader and a writer (stdin and stdout in `orc mcp serve`).
pub struct FramedStdio<R> {
    read: BufReader<R>,
    line: Vec<u8>,
    /// Skipping the rest of a line that was too long.
    discarding: bool,
    eof: bool,
    /// Answers waiting for room in the output queue.
    pending: VecDeque<Vec<u8>>,
    out: Option<mpsc::Sender<Vec<u8>>>,
    writer: Option<tokio::task::JoinHandle<()>>,
}

impl<R: AsyncRead + Unpin + Send> FramedStdio<R> {
    pub fn new<W: AsyncWrite + Unpin + Send + 'static>(read: R, mut write: W) -> Self {
        let (tx, mut rx) = mpsc::channel::<Vec<u8>>(64);
        let writer = tokio::spawn(async move {
            while let Some(bytes) = rx.recv().await {
                if write.write_all(&bytes).await.is_err() || write.flush().await.is_err() {
                    break;
                }
            }
        });
        FramedStdio {
            read: BufReader::new(read),
            line: Vec::new(),
            discarding: false,
            eof: false,
            pending: VecDeque::new(),
            out: Some(tx),
            writer: Some(writer),
        }
    }

    /// Reads towards the end of the current line without holding more than MAX_FRAME_BYTES.
    /// Cancel safe: `fill_buf` takes nothing when dropped, and what was taken stays in `line`.
    async fn read_line(&mut self) -> std::io::Result<Read> {
        loop {
            let buf = self.read.fill_buf().await?;
            if buf.is_empty() {
                return Ok(Read::Eof);
            }
            let newline = buf.iter().position(|&b| b == b'\n');
            let take = newline.map_or(buf.len(), |i| i + 1);
            let mut outcome = None;
            if self.discarding {
                if newline.is_some() {
                    self.discarding = false;
                }
            } else if self.line.len() + take > MAX_FRAME_BYTES + 1 {
                // Over the limit (the +1 is the newline): drop what was gathered, skip the rest.
                self.line = Vec::new();
                self.discarding = newline.is_none();
                outcome = Some(Read::TooLong);
            } else {
                self.line.extend_from_slice(&buf[..take]);
                if newline.is_some() {
                    outcome = Some(Read::Line);
                }
            }
            self.read.consume(take);
            if let Some(o) = outcome {
                return Ok(o);
            }
        }
    }

    fn queue(&mut self, reply: &Value) {
        let mut bytes = reply.to_string().into_bytes();
        bytes.push(b'\n');
        self.pending.push_back(bytes);
    }

    /// Hands queued answers to the writer. Cancel safe: a reserved slot is filled at once.
    async fn flush_pending(&mut self) -> bool {
        let Some(tx) = self.out.clone() else {
            return false;
        };
        while !self.pending.is_empty() {
            let Ok(permit) = tx.reserve().await else {
                return false;
            };
            if let Some(bytes) = self.pending.pop_front() {
                permit.send(bytes);
            }
        }
        true
    }
}

impl<R: AsyncRead + Unpin + Send> Transport<RoleServer> for FramedStdio<R> {
    type Error = std::io::Error;

    fn send(
        &mut self,
        item: ServerJsonRpcMessage,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        let tx = self.out.clone();
        let bytes = serde_json::to_vec(&item).map(|mut b| {
            b.push(b'\n');
            b
        });
        async move {
            let bytes = bytes.map_err(std::io::Error::other)?;
            match tx {
                Some(tx) => tx.send(bytes).await.map_err(|_| {
                    std::io::Error::new(std::io::ErrorKind::BrokenPipe, "stdout is closed")
                }),
                None => Err(std::io::Error::new(
                    std::io::ErrorKind::NotConnected,
                    "the transport is closed",
                )),
            }
        }
    }

    async fn receive(&mut self) -> Option<ClientJsonRpcMessage> {
        loop {
            if !self.flush_pending().await {
                return None;
            }
            if self.eof {
                return None;
            }
            let read = match self.read_line().await {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!("cannot read the MCP client's input: {e}");
                    return None;
                }
            };
            let frame = match read {
                Read::TooLong => {
                    tracing::warn!("an MCP message over {MAX_FRAME_BYTES} bytes was refused");
                    Frame::Reply(parse_error(&format!(
                        "the message is over {} MiB",
                        MAX_FRAME_BYTES / (1024 * 1024)
                    )))
                }
                Read::Eof => {
                    // A last message without a newline still counts.
                    self.eof = true;
                    if self.line.is_empty() {
                        return None;
                    }
                    classify(&std::mem::take(&mut self.line))
                }
                Read::Line => {
                    let mut line = std::mem::take(&mut self.line);
                    line.pop();
                    if line.last() == Some(&b'\r') {
                        line.pop();
                    }
                    classify(&line)
                }
            };
            match frame {
                Frame::Message(m) => return Some(*m),
                Frame::Reply(v) => {
                    tracing::debug!("answering a malformed MCP frame: {}", v["error"]["message"]);
                    self.queue(&v);
                }
                Frame::Skip => {}
            }
        }
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        // Let the writer drain what is queued, then finish.
        let _ = self.flush_pending().await;
        self.out = None;
        if let Some(w) = self.writer.take() {
            let _ = w.await;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(line: &str) -> Value {
        match classify(line.as_bytes()) {
            Frame::Reply(v) => v,
            other => panic!("{line}: {other:?}"),
        }
    }

    #[test]
    fn malformed_frames_are_answered() {
        let v = reply("this is not json");
        assert_eq!(v["id"], Value::Null);
        assert_eq!(v["error"]["code"], -32700);
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        let v = reply(&deep);
        assert_eq!(v["error"]["code"], -32700);
        assert!(
            v["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("128"))
        );
        let v = reply(r#"{"jsonrpc": "2.0", "id": 5, "method": 7}"#);
        assert_eq!(
            (v["id"].clone(), v["error"]["code"].clone()),
            (json!(5), json!(-32600))
        );
        assert_eq!(reply("[1, 2]")["error"]["code"], -32600);
        // An id and no method (and no result: not a response) is a request to refuse.
        for (line, id) in [
            (r#"{"jsonrpc": "2.0", "id": 9}"#, json!(9)),
            (r#"{"jsonrpc": "2.0", "id": "x", "params": {}}"#, json!("x")),
        ] {
            let v = reply(line);
            assert_eq!(
                (v["id"].clone(), v["error"]["code"].clone()),
                (id, json!(-32600))
            );
        }
    }

    #[test]
    fn notifications_and_responses_are_never_answered() {
        for line in [
            "",
            "   ",
            r#"{"jsonrpc": "2.0", "method": 3}"#,
            r#"{"jsonrpc": "2.0", "id": 1, "error": "not an error object"}"#,
        ] {
            assert!(matches!(classify(line.as_bytes()), Frame::Skip), "{line}");
        }
        assert!(matches!(
            classify(br#"{"jsonrpc": "2.0", "id": 1, "method": "ping"}"#),
            Frame::Message(_)
        ));
    }
}
