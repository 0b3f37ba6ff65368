//! What both binaries' command lines share when they call their own running server: finding its
//! operator API (a flag, else the address the running server recorded, else the config), the
//! bearer token on every call, a failed call explained, and aligned tables on the terminal. Not
//! here: the commands themselves (each binary's `cli` module).

use std::net::SocketAddr;
use std::path::Path;

use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use unicode_width::UnicodeWidthStr;

use crate::text::terminal_safe;

/// Puts `authorization: Bearer TOKEN` on every call.
#[derive(Clone)]
pub struct BearerAuth(MetadataValue<Ascii>);

impl std::fmt::Debug for BearerAuth {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("BearerAuth(…)")
    }
}

impl BearerAuth {
    /// The header for `token` (surrounding white space, as a token file ends, is dropped).
    pub fn new(token: &str) -> Result<Self, String> {
        format!("Bearer {}", token.trim())
            .parse()
            .map(Self)
            .map_err(|_| "the operator token has characters that cannot go in a header".into())
    }
}

impl tonic::service::Interceptor for BearerAuth {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        request
            .metadata_mut()
            .insert("authorization", self.0.clone());
        Ok(request)
    }
}

/// A channel to a server's operator API that carries the operator's token.
pub type OperatorChannel = InterceptedService<Channel, BearerAuth>;

/// Where a command finds its running server and its token.
#[derive(Debug)]
pub struct OperatorTarget<'a> {
    /// `--server`, when given: it wins.
    pub server: Option<&'a str>,
    /// `--token`, when given; else the token file is read.
    pub token: Option<&'a str>,
    /// The operator address in the config.
    pub configured: SocketAddr,
    /// The file a running `serve` writes its bound addresses to (`serve.json`).
    pub serve_state: &'a Path,
    /// The operator token file of the data directory.
    pub token_file: &'a Path,
    /// How the operator starts the server, for messages: `exchange-node serve`.
    pub serve_command: &'a str,
}

impl OperatorTarget<'_> {
    /// The operator API's URL: `--server`, else the address the running server recorded (it
    /// wins over the config, which may ask for port 0), else the config's; an unspecified IP
    /// becomes 127.0.0.1.
    pub fn server_url(&self) -> Result<String, String> {
        if let Some(server) = self.server {
            return Ok(server.to_string());
        }
        let mut address = self.configured;
        if address.port() == 0 || self.serve_state.exists() {
            address = self.bound_operator_address()?;
        }
        if address.ip().is_unspecified() {
            address.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        Ok(format!("http://{address}"))
    }

    fn bound_operator_address(&self) -> Result<SocketAddr, String> {
        let path = self.serve_state.display();
        let text = std::fs::read_to_string(self.serve_state).map_err(|_| {
            format!(
                "the config asks for operator port 0 and {path} is missing: is `{}` running? (or pass --server)",
                self.serve_command
            )
        })?;
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|_| format!("{path} is not JSON"))?;
        value["operator"]
            .as_str()
            .and_then(|address| address.parse().ok())
            .ok_or_else(|| format!("{path} has no operator address"))
    }

    /// The token: `--token`, else the token file's contents.
    pub fn token(&self) -> Result<String, String> {
        match self.token {
            Some(token) => Ok(token.trim().to_string()),
            None => std::fs::read_to_string(self.token_file)
                .map(|text| text.trim().to_string())
                .map_err(|error| {
                    format!(
                        "reading {}: {error} (pass --token, or run this where the data directory is)",
                        self.token_file.display()
                    )
                }),
        }
    }

    /// Connects to the operator API (5 s to connect) with the token on every call.
    pub async fn connect(&self) -> Result<(OperatorChannel, String), String> {
        let server = self.server_url()?;
        let auth = BearerAuth::new(&self.token()?)?;
        let channel = tonic::transport::Endpoint::from_shared(server.clone())
            .map_err(|_| format!("--server {server:?}: expected http://HOST:PORT"))?
            .connect_timeout(std::time::Duration::from_secs(5))
            .connect()
            .await
            .map_err(|_| {
                format!(
                    "cannot reach the operator API at {server}: is `{}` running? (or pass --server)",
                    self.serve_command
                )
            })?;
        Ok((InterceptedService::new(channel, auth), server))
    }
}

/// A failed call as a message that says what to check.
pub fn explain(status: &tonic::Status) -> String {
    let hint = match status.code() {
        tonic::Code::Unauthenticated => {
            " (check --token / MPX_TOKEN, or the data directory's operator.token)"
        }
        tonic::Code::Unavailable => {
            " (the server may be stopping or its database unavailable; retry)"
        }
        _ => "",
    };
    format!("{}{hint}", status.message())
}

/// Prints an aligned table; widths count CJK characters as two columns. Cells hold stored
/// text, some of it from peers: one line each, escaped for the terminal.
pub fn print_table(headers: &[&str], rows: Vec<Vec<String>>) {
    print!("{}", table_text(headers, rows));
}

/// The text [`print_table`] prints.
pub fn table_text(headers: &[&str], rows: Vec<Vec<String>>) -> String {
    if rows.is_empty() {
        return "(none)\n".into();
    }
    let rows: Vec<Vec<String>> = rows
        .into_iter()
        .map(|row| {
            row.into_iter()
                .map(|cell| terminal_safe(&cell).replace('\n', "⏎").replace('\t', " "))
                .collect()
        })
        .collect();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.width()).collect();
    for row in &rows {
        for (index, cell) in row.iter().enumerate() {
            if let Some(width) = widths.get_mut(index) {
                *width = (*width).max(cell.width());
            }
        }
    }
    let mut text = String::new();
    let mut line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (index, cell) in cells.iter().enumerate() {
            out.push_str(cell);
            if index + 1 < cells.len() {
                let width = widths.get(index).copied().unwrap_or(0);
                out.push_str(&" ".repeat(width.saturating_sub(cell.width()) + 2));
            }
        }
        text.push_str(out.trim_end());
        text.push('\n');
    };
    line(headers.to_vec());
    for row in &rows {
        line(row.iter().map(String::as_str).collect());
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_aligns_chinese_as_two_columns_and_escapes_what_it_prints() {
        let text = table_text(
            &["NAME", "COUNTY"],
            vec![
                vec!["张三".into(), "621202".into()],
                vec!["李四".into(), "x\u{1b}[2J".into()],
            ],
        );
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "NAME  COUNTY");
        assert_eq!(lines[1], "张三  621202");
        assert!(!text.contains('\u{1b}'), "{text:?}");
        assert_eq!(table_text(&["A"], Vec::new()), "(none)\n");
    }

    #[test]
    fn the_recorded_address_wins_and_a_missing_one_says_what_to_do() {
        let dir = std::env::temp_dir().join(format!("mpx-operator-client-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let state = dir.join("serve.json");
        let token_file = dir.join("operator.token");
        let target = OperatorTarget {
            server: None,
            token: None,
            configured: "0.0.0.0:0".parse().expect("address"),
            serve_state: &state,
            token_file: &token_file,
            serve_command: "registry serve",
        };
        let missing = target.server_url().expect_err("no serve.json");
        assert!(missing.contains("`registry serve`"), "{missing}");
        std::fs::write(&state, r#"{"operator": "0.0.0.0:7080"}"#).expect("write");
        assert_eq!(target.server_url().as_deref(), Ok("http://127.0.0.1:7080"));
        assert!(
            target
                .token()
                .expect_err("no token file")
                .contains("--token")
        );
        std::fs::write(&token_file, "mpxop_abc\n").expect("write");
        assert_eq!(target.token().as_deref(), Ok("mpxop_abc"));
        std::fs::remove_dir_all(&dir).expect("clean up");
    }
}
