//! A plain HTTP/1.1 client over a socket, for the console from outside a browser (benchmarks,
//! scripts): no client library between the measurement and the server.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

/// One response: status, raw headers, body.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub head: String,
    pub body: String,
}

/// One request on a fresh connection (`Connection: close`).
pub fn request(
    server: SocketAddr,
    method: &str,
    target: &str,
    cookies: &str,
    form: &str,
) -> std::io::Result<Reply> {
    let mut stream = TcpStream::connect(server)?;
    let head = format!(
        "{method} {target} HTTP/1.1\r\nHost: {server}\r\nConnection: close\r\nAccept-Language: zh-CN\r\nCookie: {cookies}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
        form.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(form.as_bytes())?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let response = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("no status line in {head:?}")))?;
    Ok(Reply {
        status,
        head: head.to_string(),
        body: body.to_string(),
    })
}

/// The value of a `Set-Cookie` named `name`.
pub fn set_cookie(head: &str, name: &str) -> Option<String> {
    head.lines()
        .filter_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case("set-cookie").then(|| value.trim())
        })
        .find_map(|cookie| cookie.strip_prefix(&format!("{name}=")))
        .and_then(|rest| rest.split(';').next())
        .map(str::to_string)
}

/// The first hidden `csrf` field of a page.
pub fn csrf_field(body: &str) -> Option<String> {
    let marker = "name=\"csrf\" value=\"";
    let start = body.find(marker)? + marker.len();
    let end = body[start..].find('"')? + start;
    Some(body[start..end].to_string())
}

fn form_encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (byte as char).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

/// Signs in to the console of `county` at `server` and returns the session cookie
/// (`mpx_session_COUNTY=…`) to send with later requests.
pub fn sign_in(
    server: SocketAddr,
    county: &str,
    name: &str,
    password: &str,
) -> std::io::Result<String> {
    let form = request(server, "GET", "/sign-in", "", "")?;
    let cookie_name = format!("mpx_sign_in_{county}");
    let pre = set_cookie(&form.head, &cookie_name)
        .ok_or_else(|| std::io::Error::other("no sign-in cookie"))?;
    let token = csrf_field(&form.body).ok_or_else(|| std::io::Error::other("no csrf field"))?;
    let reply = request(
        server,
        "POST",
        "/sign-in",
        &format!("{cookie_name}={pre}"),
        &format!(
            "name={}&password={}&csrf={token}",
            form_encode(name),
            form_encode(password)
        ),
    )?;
    let session_name = format!("mpx_session_{county}");
    set_cookie(&reply.head, &session_name)
        .map(|session| format!("{session_name}={session}"))
        .ok_or_else(|| {
            std::io::Error::other(format!(
                "sign-in refused ({}): {}",
                reply.status, reply.body
            ))
        })
}
