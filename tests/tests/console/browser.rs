//! A real browser for the console tests: Debian's chromedriver on a port the OS picked (killed
//! when dropped, pass or fail) driving headless chromium through fantoccini.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};

/// The chromedriver process; killed on drop.
pub struct Driver {
    child: Child,
    pub port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The driver leads its own process group, with the browsers it started: end them all,
        // so a failed test (which never closed its session) leaves no chromium behind.
        if let Some(pid) = rustix::process::Pid::from_raw(self.child.id() as i32) {
            let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// True when Debian's chromium and chromedriver are installed (tests/run.sh installs them).
pub fn available() -> bool {
    std::path::Path::new("/usr/bin/chromedriver").exists()
        && std::path::Path::new("/usr/bin/chromium").exists()
}

impl Driver {
    pub fn start() -> Self {
        assert!(
            available(),
            "the console tests need a browser: apt-get install --no-install-recommends chromium chromium-driver fonts-wqy-microhei (tests/run.sh does)"
        );
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map(|address| address.port())
            .expect("a free port");
        let child = Command::new("/usr/bin/chromedriver")
            .arg(format!("--port={port}"))
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let driver = Self { child, port };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(SocketAddr::from(([127, 0, 0, 1], port))).is_err() {
            assert!(
                Instant::now() < deadline,
                "chromedriver did not listen within 20 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        driver
    }

    /// A new headless chromium session.
    pub async fn browser(&self) -> Client {
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": "/usr/bin/chromium",
                "args": ["--headless", "--no-sandbox", "--disable-gpu",
                         "--disable-background-networking", "--disable-breakpad",
                         "--disable-crash-reporter", "--window-size=1280,900",
                         "--lang=zh-CN", "--accept-lang=zh-CN,zh"],
                "prefs": {"intl.accept_languages": "zh-CN,zh"},
            }),
        );
        // The HTTPS test's certificate is the node's own, issued for its county name.
        capabilities.insert("acceptInsecureCerts".into(), serde_json::Value::Bool(true));
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        ClientBuilder::new(connector)
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{}", self.port))
            .await
            .expect("a chromium session")
    }
}

/// The element with this CSS selector, waiting up to 10 s for it (a page may still be
/// loading after a click).
pub async fn wait_for(client: &Client, css: &str) -> fantoccini::elements::Element {
    client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|error| panic!("no {css} on the page within 10 s: {error}"))
}

/// The text of the element with this CSS selector (waiting for it).
pub async fn text(client: &Client, css: &str) -> String {
    wait_for(client, css)
        .await
        .text()
        .await
        .expect("element text")
}

/// True when an element with this CSS selector is on the page.
pub async fn has(client: &Client, css: &str) -> bool {
    !client
        .find_all(Locator::Css(css))
        .await
        .expect("find")
        .is_empty()
}

/// Types into a field (after clearing it).
pub async fn fill(client: &Client, css: &str, value: &str) {
    let field = wait_for(client, css).await;
    field.clear().await.expect("clear");
    field.send_keys(value).await.expect("type");
}

pub async fn click(client: &Client, css: &str) {
    wait_for(client, css).await.click().await.expect("click");
}

/// Signs in at a console as `name`.
pub async fn sign_in(client: &Client, console: SocketAddr, name: &str, password: &str) {
    sign_in_at(client, &format!("http://{console}"), name, password).await;
}

/// Signs in at a console's base URL (`http://…` or `https://…`).
pub async fn sign_in_at(client: &Client, base: &str, name: &str, password: &str) {
    client
        .goto(&format!("{base}/sign-in"))
        .await
        .expect("the sign-in page");
    fill(client, "#name", name).await;
    fill(client, "#password", password).await;
    click(client, "#sign-in").await;
    // Signed in (the operator's name in the header), or refused (the message).
    wait_for(client, "#operator, #sign-in-error").await;
}

/// Saves a screenshot of the page as `NAME.png` under the test's scratch directory
/// (`target/tmp/screenshots`), and under `docs/screenshots/` — the README's pictures — when
/// `MPX_UPDATE_SCREENSHOTS=1`, so an ordinary test run leaves the work tree as it was.
pub async fn screenshot(client: &Client, name: &str) {
    let png = client.screenshot().await.expect("a screenshot");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "{name}: a real picture of the page ({} bytes)",
        png.len()
    );
    let mut dirs = vec![std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots")];
    if std::env::var_os("MPX_UPDATE_SCREENSHOTS").is_some_and(|v| v == "1") {
        dirs.push(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .parent()
                .expect("the workspace")
                .join("docs/screenshots"),
        );
    }
    for dir in dirs {
        std::fs::create_dir_all(&dir).expect("the screenshot directory");
        std::fs::write(dir.join(format!("{name}.png")), &png).expect("write the screenshot");
    }
}

/// The page's path (and query), to see where a redirect went.
pub async fn path(client: &Client) -> String {
    let url = client.current_url().await.expect("the URL");
    match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_string(),
    }
}

/// Puts a cookie into the browser as a page script would (WebDriver's add-cookie refuses
/// loopback addresses); the page must be of the console the cookie is for.
pub async fn plant_cookie(client: &Client, name: &str, value: &str) {
    client
        .execute(
            "document.cookie = arguments[0] + '=' + arguments[1] + '; path=/';",
            vec![name.into(), value.into()],
        )
        .await
        .expect("set the cookie");
}

/// Everything the page says.
pub async fn body_text(client: &Client) -> String {
    text(client, "body").await
}
