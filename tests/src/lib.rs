//! Test harness: starts real `registry` and `exchange-node` processes, each with its own data
//! directory, on loopback ports the OS picks, with real TLS from a CA made per test. Readiness is
//! a health check, never a fixed sleep. `MPX_KEEP_TEST_DIR=1` keeps the files (and logs) of every
//! run; a failing test keeps them anyway and prints where.
//!
//! The binaries must be built first (`cargo build --workspace --bins`); the README's test command
//! does that.
#![allow(clippy::unwrap_used)]

pub mod cases;
pub mod http;
pub mod postgres;
pub mod sheets;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use mpx_proto::runtime::TlsMaterial;
use mpx_proto::v1::cases_client::CasesClient;
use mpx_proto::v1::exchange_client::ExchangeClient;
use mpx_proto::v1::records_client::RecordsClient;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

/// Path of a workspace binary next to the test executable (`target/debug/NAME`).
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    // Test binaries live in target/PROFILE/deps, tools (mpx-bench) in target/PROFILE.
    let beside = exe.parent().expect("target directory");
    let dir = if beside.join(name).exists() {
        beside
    } else {
        beside.parent().expect("target directory")
    };
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --workspace --bins` before the end-to-end tests",
        path.display()
    );
    path
}

/// A command for a workspace binary with no `MPX_*` variables from the caller's environment.
pub fn command(name: &str) -> Command {
    let mut command = Command::new(binary(name));
    for (key, _) in std::env::vars() {
        if key.starts_with("MPX_") {
            command.env_remove(key);
        }
    }
    command.env("RUST_LOG", "info,h2=warn,tower=warn,hyper=warn");
    command
}

/// Runs a one-shot command and returns its output, failing with its stderr if it failed.
pub fn run_ok(mut command: Command) -> String {
    let output = command.output().expect("spawn");
    assert!(
        output.status.success(),
        "{:?} failed: {}\n{}",
        command,
        String::from_utf8_lossy(&output.stderr),
        String::from_utf8_lossy(&output.stdout)
    );
    String::from_utf8_lossy(&output.stdout).to_string()
}

/// Runs a one-shot command and returns its whole output.
pub fn run(mut command: Command) -> Output {
    command.output().expect("spawn")
}

/// Polls `condition` every 25 ms until it holds or `timeout` passes (then panics with `what`).
pub async fn wait_until<F, Fut>(timeout: Duration, what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    let mut ticker = tokio::time::interval(Duration::from_millis(25));
    loop {
        ticker.tick().await;
        if condition().await {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
    }
}

/// A synthetic, valid 18-character resident ID (never a real person's): address code of
/// `county`, a birth date from `seq`, and the right check character.
pub fn resident_id(county: &str, seq: u32) -> String {
    let year = 1950 + (seq % 50);
    let month = 1 + (seq / 50) % 12;
    let day = 1 + (seq / 600) % 28;
    let first17 = format!("{county}{year:04}{month:02}{day:02}{:03}", seq % 1000);
    let check = mpx_proto::resident_id::check_character(first17.as_bytes());
    format!("{first17}{check}")
}

/// A server process, stopped (SIGKILL) when dropped.
pub struct ServerProcess {
    pub name: String,
    child: Child,
    pub log: PathBuf,
}

impl ServerProcess {
    /// The process id (for memory figures).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn spawn(name: &str, mut command: Command, log: &Path) -> Self {
        // Logs hold masked IDs and names: private, like every file the servers write.
        let file = std::os::unix::fs::OpenOptionsExt::mode(
            std::fs::OpenOptions::new().create(true).append(true),
            0o600,
        )
        .open(log)
        .expect("log file");
        // A group of its own, so stopping it reaches every process it started: under faketime
        // the server is faketime's child, and stopping faketime alone left it running.
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        command
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log file"))
            .stderr(file);
        let child = command.spawn().expect("spawn server");
        Self {
            name: name.to_string(),
            child,
            log: log.to_path_buf(),
        }
    }

    /// SIGTERM to the process group, then SIGKILL to whatever of it is left after 10 s.
    pub fn stop(&mut self) {
        self.signal_group("-TERM");
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                // The direct child is gone (under faketime, faketime waited for the server and
                // cleaned up); anything the group still holds gets a moment, then SIGKILL.
                let grace = Instant::now() + Duration::from_secs(2);
                while self.group_alive() && Instant::now() < grace {
                    std::thread::park_timeout(Duration::from_millis(20));
                }
                if self.group_alive() {
                    self.signal_group("-KILL");
                }
                self.remove_faketime_leftovers();
                return;
            }
            std::thread::yield_now();
            std::thread::park_timeout(Duration::from_millis(20));
        }
        self.kill();
    }

    /// True while any process of the group lives.
    fn group_alive(&self) -> bool {
        Command::new("kill")
            .args(["-0", "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    }

    /// faketime keeps a semaphore and a shared-memory file named by its pid and removes them
    /// when it exits normally; killed, it leaves them, and a later faketime that gets the same
    /// pid fails to start ("sem_open: File exists").
    fn remove_faketime_leftovers(&self) {
        let pid = self.child.id();
        let _ = std::fs::remove_file(format!("/dev/shm/sem.faketime_sem_{pid}"));
        let _ = std::fs::remove_file(format!("/dev/shm/faketime_shm_{pid}"));
    }

    /// SIGKILL to the whole process group, as a crash would (after SIGCONT, in case it was
    /// paused).
    pub fn kill(&mut self) {
        self.signal_group("-CONT");
        self.signal_group("-KILL");
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.remove_faketime_leftovers();
    }

    /// SIGSTOP: the process keeps its sockets (the kernel still accepts connections) but
    /// answers nothing, as a hung server would. [`ServerProcess::kill`] (and drop) resume it
    /// first.
    pub fn pause(&mut self) {
        self.signal_group("-STOP");
    }

    /// SIGCONT after [`ServerProcess::pause`].
    pub fn resume(&mut self) {
        self.signal_group("-CONT");
    }

    /// Sends a signal to every process of the group (the server and anything it started).
    pub fn signal_group(&self, signal: &str) {
        let _ = Command::new("kill")
            .args([signal, "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
    }

    /// True while the process runs.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Bearer-token header for operator calls.
#[derive(Clone)]
pub struct Bearer(tonic::metadata::MetadataValue<tonic::metadata::Ascii>);

impl tonic::service::Interceptor for Bearer {
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

impl Bearer {
    /// The `authorization` header for `token`.
    pub fn new(token: &str) -> Self {
        Bearer(format!("Bearer {token}").parse().unwrap())
    }
}

pub type Operator = InterceptedService<Channel, Bearer>;

/// Addresses a server wrote to its ready file.
fn read_ready(path: &Path) -> Option<(SocketAddr, SocketAddr)> {
    let text = std::fs::read_to_string(path).ok()?;
    let value: serde_json::Value = serde_json::from_str(&text).ok()?;
    Some((
        value["peer"].as_str()?.parse().ok()?,
        value["operator"].as_str()?.parse().ok()?,
    ))
}

fn read_metrics_address(path: &Path) -> Option<SocketAddr> {
    read_address(path, "metrics")
}

/// One address (`"metrics"`, `"console"`) of a ready file.
fn read_address(path: &Path, listener: &str) -> Option<SocketAddr> {
    let value: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    value[listener].as_str()?.parse().ok()
}

async fn wait_for_ready(path: &Path, process: &mut ServerProcess) -> (SocketAddr, SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut ticker = tokio::time::interval(Duration::from_millis(20));
    loop {
        ticker.tick().await;
        if let Some(addresses) = read_ready(path) {
            return addresses;
        }
        assert!(
            process.is_running(),
            "{} exited during start; log:\n{}",
            process.name,
            std::fs::read_to_string(&process.log).unwrap_or_default()
        );
        assert!(
            Instant::now() < deadline,
            "{} did not bind within 30 s",
            process.name
        );
    }
}

/// Waits until the plaintext listener at `address` answers SERVING to a health check.
pub async fn wait_healthy(address: SocketAddr, process: &mut ServerProcess) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut ticker = tokio::time::interval(Duration::from_millis(20));
    loop {
        ticker.tick().await;
        if let Ok(channel) = Endpoint::from_shared(format!("http://{address}"))
            .unwrap()
            .connect()
            .await
        {
            let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
            let request = tonic_health::pb::HealthCheckRequest {
                service: String::new(),
            };
            if let Ok(response) = health.check(request).await
                && response.into_inner().status
                    == tonic_health::pb::health_check_response::ServingStatus::Serving as i32
            {
                return;
            }
        }
        assert!(
            process.is_running(),
            "{} exited; log:\n{}",
            process.name,
            std::fs::read_to_string(&process.log).unwrap_or_default()
        );
        assert!(
            Instant::now() < deadline,
            "{} not healthy within 30 s",
            process.name
        );
    }
}

/// Which databases a test province runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Registry and nodes on SQLite files.
    Sqlite,
    /// The registry on PostgreSQL, nodes on SQLite (the usual production shape).
    RegistryOnPostgres,
    /// Everything on PostgreSQL.
    AllOnPostgres,
}

/// Where each process keeps its data.
#[derive(Debug, Clone, Default)]
pub struct ProvinceOptions {
    /// Registry database URL (default: SQLite in its data directory).
    pub registry_database: Option<String>,
    /// Node database URLs by county (default: SQLite in each data directory).
    pub node_databases: BTreeMap<String, String>,
    /// Extra `MPX_*` settings for the registry (e.g. a short alert scan interval).
    pub registry_env: Vec<(String, String)>,
}

/// One county node of a test province.
pub struct Node {
    pub county: String,
    pub data_dir: PathBuf,
    pub process: Option<ServerProcess>,
    pub peer: Option<SocketAddr>,
    pub operator: Option<SocketAddr>,
    pub token: String,
    database_url: Option<String>,
    /// Overrides the node's `registry_url` (e.g. several replicas).
    pub registry_url: Option<String>,
    /// The Prometheus listener, while serving.
    pub metrics: Option<SocketAddr>,
    /// The web console, while serving.
    pub console: Option<SocketAddr>,
    /// Run `serve` under faketime with this offset (e.g. `+40d`): the node lives in the future.
    pub clock_offset: Option<String>,
}

impl Node {
    /// The node's TLS files (for acting as this county in peer-level tests).
    pub fn tls(&self) -> TlsMaterial {
        TlsMaterial::load(
            &self.data_dir.join("tls/node.crt"),
            &self.data_dir.join("tls/node.key"),
            &self.data_dir.join("tls/ca.crt"),
        )
        .unwrap()
    }

    async fn operator_channel(&self) -> Channel {
        let address = self.operator.expect("node is not serving");
        Endpoint::from_shared(format!("http://{address}"))
            .unwrap()
            .connect()
            .await
            .unwrap()
    }

    fn bearer(&self) -> Bearer {
        Bearer(format!("Bearer {}", self.token).parse().unwrap())
    }

    pub async fn records(&self) -> RecordsClient<Operator> {
        RecordsClient::new(InterceptedService::new(
            self.operator_channel().await,
            self.bearer(),
        ))
    }

    /// The node's database URL when it is not the default SQLite file in its data directory.
    pub fn database_url(&self) -> Option<String> {
        self.database_url.clone()
    }

    pub async fn alerts(&self) -> mpx_proto::v1::alerts_client::AlertsClient<Operator> {
        mpx_proto::v1::alerts_client::AlertsClient::new(InterceptedService::new(
            self.operator_channel().await,
            self.bearer(),
        ))
    }

    pub async fn cases(&self) -> CasesClient<Operator> {
        CasesClient::new(InterceptedService::new(
            self.operator_channel().await,
            self.bearer(),
        ))
    }

    /// `GET /metrics` from the serving node (plain HTTP/1.1 on loopback).
    pub fn scrape_metrics(&self) -> String {
        use std::io::{Read, Write};
        let address = self.metrics.expect("node is serving with metrics");
        let mut stream = std::net::TcpStream::connect(address).unwrap();
        stream
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        response
    }

    /// Runs an `exchange-node` command for this node and returns its standard output.
    pub fn cli_output(&self, args: &[&str]) -> String {
        let mut command = self.cli();
        command.args(args);
        String::from_utf8_lossy(&run(command).stdout).to_string()
    }

    /// Adds a console operator (`operator add --role`) with this password.
    pub fn add_console_operator(&self, name: &str, role: &str, password: &str) {
        let file = self.data_dir.join(format!("password-{role}"));
        std::fs::write(&file, format!("{password}\n")).unwrap();
        let mut add = self.cli();
        add.args([
            "operator",
            "add",
            "--name",
            name,
            "--role",
            role,
            "--password-file",
        ])
        .arg(&file);
        run_ok(add);
        std::fs::remove_file(&file).unwrap();
    }

    /// An `exchange-node` command for this node's data directory.
    pub fn cli(&self) -> Command {
        let mut command = command("exchange-node");
        command.arg("--data-dir").arg(&self.data_dir);
        if let Some(url) = &self.database_url {
            command.env("MPX_DATABASE_URL", url);
        }
        if let Some(url) = &self.registry_url {
            command.env("MPX_REGISTRY_URL", url);
        }
        command
    }

    /// The `serve` command: under faketime when the node has a clock offset.
    fn serve_command(&self) -> Command {
        let command = self.cli();
        let Some(offset) = &self.clock_offset else {
            return command;
        };
        let available = Command::new("sh")
            .args(["-c", "command -v faketime"])
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            available,
            "this test runs a node in the future with faketime: apt-get install faketime (tests/run.sh does)"
        );
        let mut wrapped = Command::new("faketime");
        wrapped
            .args(["-f", offset])
            .arg(command.get_program())
            .args(command.get_args());
        for (key, value) in command.get_envs() {
            match value {
                Some(value) => wrapped.env(key, value),
                None => wrapped.env_remove(key),
            };
        }
        // Timers and timeouts keep real time; only the wall clock moves.
        wrapped.env("FAKETIME_DONT_FAKE_MONOTONIC", "1");
        wrapped
    }
}

/// A registry and its county nodes, all real processes.
pub struct Province {
    pub dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
    pub registry_dir: PathBuf,
    pub registry: Option<ServerProcess>,
    pub registry_peer: SocketAddr,
    pub registry_operator: SocketAddr,
    /// The province console of the first registry process, while serving.
    pub registry_console: Option<SocketAddr>,
    /// A second registry process on the same database, when started.
    pub registry_replica: Option<ServerProcess>,
    /// That replica's operator listener.
    pub registry_replica_operator: Option<SocketAddr>,
    pub nodes: BTreeMap<String, Node>,
    options: ProvinceOptions,
}

impl Province {
    /// A province on `backend`, or `None` (the reason printed) when that needs PostgreSQL and
    /// none is available here.
    pub async fn start_on(backend: Backend, counties: &[&str]) -> Option<Self> {
        Self::start_on_with_registry_env(backend, counties, &[]).await
    }

    /// [`Province::start_on`] with extra `MPX_*` settings for the registry.
    pub async fn start_on_with_registry_env(
        backend: Backend,
        counties: &[&str],
        registry_env: &[(&str, &str)],
    ) -> Option<Self> {
        let mut options = ProvinceOptions {
            registry_env: registry_env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Default::default()
        };
        if backend != Backend::Sqlite {
            options.registry_database = Some(postgres::database("registry").await?);
        }
        if backend == Backend::AllOnPostgres {
            for county in counties {
                options.node_databases.insert(
                    county.to_string(),
                    postgres::database(&format!("node{county}")).await?,
                );
            }
        }
        Some(Self::start_with(counties, options).await)
    }

    /// Sets the database of a county enrolled later (e.g. with [`Province::enroll`]).
    pub async fn use_backend_for(&mut self, backend: Backend, county: &str) -> Option<()> {
        if backend == Backend::AllOnPostgres {
            let url = postgres::database(&format!("node{county}")).await?;
            self.options.node_databases.insert(county.to_string(), url);
        }
        Some(())
    }

    /// A registry and one serving node per county, all on SQLite.
    pub async fn start(counties: &[&str]) -> Self {
        Self::start_with(counties, ProvinceOptions::default()).await
    }

    pub async fn start_with(counties: &[&str], options: ProvinceOptions) -> Self {
        let temp = tempfile::Builder::new()
            .prefix("mpx-e2e-")
            .tempdir()
            .unwrap();
        let keep = std::env::var("MPX_KEEP_TEST_DIR").is_ok_and(|v| v == "1");
        let dir = temp.path().to_path_buf();
        let temp = if keep {
            eprintln!("keeping test files in {}", dir.display());
            let _ = temp.keep();
            None
        } else {
            Some(temp)
        };
        let registry_dir = dir.join("registry");
        let mut init = command("registry");
        init.arg("--data-dir")
            .arg(&registry_dir)
            .args(["ca", "init", "--province", "62"]);
        if let Some(url) = &options.registry_database {
            init.env("MPX_DATABASE_URL", url);
        }
        run_ok(init);
        let mut province = Self {
            dir,
            _temp: temp,
            registry_dir,
            registry: None,
            registry_peer: SocketAddr::from(([127, 0, 0, 1], 0)),
            registry_operator: SocketAddr::from(([127, 0, 0, 1], 0)),
            registry_console: None,
            registry_replica: None,
            registry_replica_operator: None,
            nodes: BTreeMap::new(),
            options,
        };
        province.start_registry().await;
        for county in counties {
            province.enroll(county);
            province.start_node(county).await;
        }
        province
    }

    /// Adds a province console operator (`registry operator add --role`) with this password.
    pub fn add_registry_console_operator(&self, name: &str, role: &str, password: &str) {
        let file = self.registry_dir.join(format!("password-{role}"));
        std::fs::write(&file, format!("{password}\n")).unwrap();
        let mut add = self.registry_cli();
        add.args(["operator", "add", "--name", name, "--role", role])
            .arg("--password-file")
            .arg(&file);
        run_ok(add);
        std::fs::remove_file(&file).unwrap();
    }

    /// A `registry` command for this province's data directory.
    pub fn registry_cli(&self) -> Command {
        let mut command = command("registry");
        command.arg("--data-dir").arg(&self.registry_dir);
        if let Some(url) = &self.options.registry_database {
            command.env("MPX_DATABASE_URL", url);
        }
        for (key, value) in &self.options.registry_env {
            command.env(key, value);
        }
        command
    }

    /// A client of the registry's `mpx.v1.Compliance` on its peer listener, as `county` (its
    /// real certificate): what that county's node would send.
    pub async fn registry_compliance_as(
        &self,
        county: &str,
    ) -> mpx_proto::v1::compliance_client::ComplianceClient<Channel> {
        let tls = self.node(county).tls();
        let channel = Endpoint::from_shared(format!("https://{}", self.registry_peer))
            .unwrap()
            .tls_config(tls.client_config(mpx_proto::identity::REGISTRY_DNS_NAME))
            .unwrap()
            .connect()
            .await
            .unwrap();
        mpx_proto::v1::compliance_client::ComplianceClient::new(channel)
    }

    /// A client of the registry's `mpx.v1.Compliance` on its operator listener (the registry's
    /// operator token).
    pub async fn registry_compliance(
        &self,
    ) -> mpx_proto::v1::compliance_client::ComplianceClient<InterceptedService<Channel, Bearer>>
    {
        let (channel, bearer) = self.registry_operator_channel().await;
        mpx_proto::v1::compliance_client::ComplianceClient::with_interceptor(channel, bearer)
    }

    /// A channel to the registry's operator listener, and its bearer token.
    pub async fn registry_operator_channel(&self) -> (Channel, Bearer) {
        self.registry_operator_channel_at(self.registry_operator)
            .await
    }

    async fn registry_operator_channel_at(&self, operator: SocketAddr) -> (Channel, Bearer) {
        let token = std::fs::read_to_string(self.registry_dir.join("operator.token")).unwrap();
        let channel = Endpoint::from_shared(format!("http://{operator}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        (channel, Bearer::new(token.trim()))
    }

    /// A client of the registry's `mpx.v1.Queries` on its operator listener (the registry's
    /// operator token): what a provincial supervisor's tools use.
    pub async fn registry_queries(
        &self,
    ) -> mpx_proto::v1::queries_client::QueriesClient<InterceptedService<Channel, Bearer>> {
        let (channel, bearer) = self.registry_operator_channel().await;
        mpx_proto::v1::queries_client::QueriesClient::with_interceptor(channel, bearer)
    }

    /// [`Province::registry_queries`] on another registry process's operator listener (e.g. a
    /// replica's, [`Province::registry_replica_operator`]).
    pub async fn registry_queries_at(
        &self,
        operator: SocketAddr,
    ) -> mpx_proto::v1::queries_client::QueriesClient<InterceptedService<Channel, Bearer>> {
        let (channel, bearer) = self.registry_operator_channel_at(operator).await;
        mpx_proto::v1::queries_client::QueriesClient::with_interceptor(channel, bearer)
    }

    /// The registry's database URL when it is not the default SQLite file.
    pub fn registry_database_url(&self) -> Option<String> {
        self.options.registry_database.clone()
    }

    pub async fn start_registry(&mut self) {
        self.start_registry_on("127.0.0.1:0".parse().unwrap()).await;
    }

    /// Starts the first registry process again after [`Province::kill_registry`], on the peer
    /// port it had, so that the nodes' `registry_url` finds it again.
    pub async fn restart_registry(&mut self) {
        assert!(self.registry.is_none(), "the registry is still running");
        self.start_registry_on(self.registry_peer).await;
    }

    async fn start_registry_on(&mut self, peer_listen: SocketAddr) {
        let ready = self.registry_dir.join("ready.json");
        let _ = std::fs::remove_file(&ready);
        let mut serve = self.registry_cli();
        serve
            .args(["serve", "--peer-listen", &peer_listen.to_string()])
            .args(["--operator-listen", "127.0.0.1:0"])
            .args(["--console-listen", "127.0.0.1:0", "--ready-file"])
            .arg(&ready);
        let mut process = ServerProcess::spawn("registry", serve, &self.dir.join("registry.log"));
        let (peer, operator) = wait_for_ready(&ready, &mut process).await;
        wait_healthy(operator, &mut process).await;
        self.registry_peer = peer;
        self.registry_operator = operator;
        self.registry_console = read_address(&ready, "console");
        self.registry = Some(process);
    }

    /// Enrols a county (its key, certificate and config) without starting it.
    pub fn enroll(&mut self, county: &str) -> &Node {
        let registry = format!("https://{}", self.registry_peer);
        let (init, data_dir, database_url) = self.init_command(county, &registry);
        run_ok(init);
        self.finish_enrolment(county, data_dir, database_url)
    }

    /// Enrols a county with `exchange-node init --registry REGISTRY` (e.g. several replicas,
    /// some of them dead) and returns what `init` printed; the node is added to the province
    /// when it succeeded.
    pub fn enroll_through(&mut self, county: &str, registry: &str) -> Output {
        let (init, data_dir, database_url) = self.init_command(county, registry);
        let output = run(init);
        if output.status.success() {
            self.finish_enrolment(county, data_dir, database_url);
        }
        output
    }

    /// `exchange-node init` for `county` with a fresh token, and where its data will be.
    fn init_command(&self, county: &str, registry: &str) -> (Command, PathBuf, Option<String>) {
        let mut enroll = self.registry_cli();
        enroll.args(["enroll", "--county", county]);
        let token = run_ok(enroll).trim().to_string();
        let data_dir = self.dir.join(format!("node-{county}"));
        let database_url = self.options.node_databases.get(county).cloned();
        let mut init = command("exchange-node");
        init.arg("--data-dir")
            .arg(&data_dir)
            .args(["init", "--county", county, "--token", &token]);
        init.arg("--registry").arg(registry);
        init.arg("--ca-cert")
            .arg(self.registry_dir.join("ca/ca.crt"));
        init.args([
            "--peer-listen",
            "127.0.0.1:0",
            "--operator-listen",
            "127.0.0.1:0",
        ]);
        if let Some(url) = &database_url {
            init.env("MPX_DATABASE_URL", url);
        }
        (init, data_dir, database_url)
    }

    fn finish_enrolment(
        &mut self,
        county: &str,
        data_dir: PathBuf,
        database_url: Option<String>,
    ) -> &Node {
        // Test timings: revocations within a second, retries capped at one second.
        let config_path = data_dir.join("node.toml");
        let config = std::fs::read_to_string(&config_path)
            .unwrap()
            .replace(
                "directory_refresh_seconds = 30",
                "directory_refresh_seconds = 1",
            )
            .replace("retry_initial_ms = 500", "retry_initial_ms = 100")
            .replace("retry_max_ms = 60000", "retry_max_ms = 1000")
            .replace("interval_seconds = 60", "interval_seconds = 1")
            .replace("index_report_seconds = 10", "index_report_seconds = 1")
            .replace(
                "undelivered_after_seconds = 3600",
                "undelivered_after_seconds = 2",
            );
        std::fs::write(&config_path, config).unwrap();
        let token = std::fs::read_to_string(data_dir.join("operator.token"))
            .unwrap()
            .trim()
            .to_string();
        self.nodes.insert(
            county.to_string(),
            Node {
                county: county.to_string(),
                data_dir,
                process: None,
                peer: None,
                operator: None,
                token,
                database_url,
                registry_url: None,
                metrics: None,
                console: None,
                clock_offset: None,
            },
        );
        &self.nodes[county]
    }

    /// Enrols a county the air-gapped way: the node writes a CSR, the registry signs it offline,
    /// the node installs the certificate.
    pub fn enroll_offline(&mut self, county: &str) -> &Node {
        let data_dir = self.dir.join(format!("node-{county}"));
        let database_url = self.options.node_databases.get(county).cloned();
        let csr = self.dir.join(format!("{county}.csr"));
        let certificate = self.dir.join(format!("{county}.crt"));
        let init = |extra: &[&std::ffi::OsStr]| {
            let mut init = command("exchange-node");
            init.arg("--data-dir")
                .arg(&data_dir)
                .args(["init", "--county", county]);
            init.arg("--ca-cert")
                .arg(self.registry_dir.join("ca/ca.crt"));
            init.arg("--registry")
                .arg(format!("https://{}", self.registry_peer));
            init.args([
                "--peer-listen",
                "127.0.0.1:0",
                "--operator-listen",
                "127.0.0.1:0",
            ]);
            init.args(extra);
            if let Some(url) = &database_url {
                init.env("MPX_DATABASE_URL", url);
            }
            init
        };
        run_ok(init(&["--offline-csr".as_ref(), csr.as_os_str()]));
        let mut issue = self.registry_cli();
        issue
            .args(["ca", "issue", "--county", county, "--csr"])
            .arg(&csr)
            .arg("--out")
            .arg(&certificate);
        run_ok(issue);
        run_ok(init(&["--certificate".as_ref(), certificate.as_os_str()]));
        self.finish_enrolment(county, data_dir, database_url)
    }

    /// Starts (or restarts) a node and waits until it is healthy and published in the directory.
    pub async fn start_node(&mut self, county: &str) {
        let node = self.nodes.get_mut(county).expect("enrolled");
        let ready = node.data_dir.join("ready.json");
        let _ = std::fs::remove_file(&ready);
        let mut serve = node.serve_command();
        serve
            .arg("serve")
            .args(["--metrics-listen", "127.0.0.1:0"])
            .args(["--console-listen", "127.0.0.1:0"])
            .arg("--ready-file")
            .arg(&ready);
        let log = node.data_dir.join("node.log");
        let mut process = ServerProcess::spawn(&format!("node {county}"), serve, &log);
        let (peer, operator) = wait_for_ready(&ready, &mut process).await;
        wait_healthy(operator, &mut process).await;
        node.peer = Some(peer);
        node.operator = Some(operator);
        node.metrics = read_metrics_address(&ready);
        node.console = read_address(&ready, "console");
        node.process = Some(process);
        let endpoint = format!("https://{peer}");
        let registry = self.registry_cli();
        wait_until(
            Duration::from_secs(30),
            "the endpoint to be published",
            || {
                let endpoint = endpoint.clone();
                let mut list = clone_command(&registry);
                async move {
                    list.args(["nodes", "--json"]);
                    String::from_utf8_lossy(&run(list).stdout).contains(&endpoint)
                }
            },
        )
        .await;
    }

    /// Starts a second registry on the same database with the same CA and registry key (copied
    /// as an operator would), and returns its peer address.
    pub async fn start_registry_replica(&mut self) -> SocketAddr {
        let replica_dir = self.dir.join("registry-replica");
        for sub in ["ca", "tls"] {
            std::fs::create_dir_all(replica_dir.join(sub)).unwrap();
            for entry in std::fs::read_dir(self.registry_dir.join(sub)).unwrap() {
                let entry = entry.unwrap();
                std::fs::copy(entry.path(), replica_dir.join(sub).join(entry.file_name())).unwrap();
            }
        }
        let config = std::fs::read_to_string(self.registry_dir.join("registry.toml")).unwrap();
        let config = config.replace(
            &self.registry_dir.display().to_string(),
            &replica_dir.display().to_string(),
        );
        std::fs::write(replica_dir.join("registry.toml"), config).unwrap();
        let ready = replica_dir.join("ready.json");
        let mut serve = command("registry");
        serve.arg("--data-dir").arg(&replica_dir);
        if let Some(url) = &self.options.registry_database {
            serve.env("MPX_DATABASE_URL", url);
        }
        serve
            .args([
                "serve",
                "--peer-listen",
                "127.0.0.1:0",
                "--operator-listen",
                "127.0.0.1:0",
                "--console-listen",
                "127.0.0.1:0",
                "--ready-file",
            ])
            .arg(&ready);
        let mut process = ServerProcess::spawn(
            "registry replica",
            serve,
            &self.dir.join("registry-replica.log"),
        );
        let (peer, operator) = wait_for_ready(&ready, &mut process).await;
        wait_healthy(operator, &mut process).await;
        self.registry_replica = Some(process);
        self.registry_replica_operator = Some(operator);
        peer
    }

    /// SIGKILL the first registry process.
    pub fn kill_registry(&mut self) {
        if let Some(mut process) = self.registry.take() {
            process.kill();
        }
    }

    /// SIGTERM and wait.
    pub fn stop_node(&mut self, county: &str) {
        let node = self.nodes.get_mut(county).expect("enrolled");
        if let Some(mut process) = node.process.take() {
            process.stop();
        }
        node.operator = None;
        node.peer = None;
    }

    /// SIGKILL, as a crash.
    pub fn kill_node(&mut self, county: &str) {
        let node = self.nodes.get_mut(county).expect("enrolled");
        if let Some(mut process) = node.process.take() {
            process.kill();
        }
        node.operator = None;
        node.peer = None;
    }

    pub fn node(&self, county: &str) -> &Node {
        &self.nodes[county]
    }

    /// A client that acts as `as_county` (its real certificate) towards `target`'s peer listener.
    pub async fn peer_client(
        &self,
        as_county: &str,
        target: &str,
    ) -> Result<ExchangeClient<Channel>, String> {
        Ok(ExchangeClient::new(
            self.peer_channel(as_county, target).await?,
        ))
    }

    /// A channel to the registry's peer listener with `as_county`'s certificate.
    pub async fn registry_peer_channel(&self, as_county: &str) -> Result<Channel, String> {
        let tls = self.node(as_county).tls();
        Endpoint::from_shared(format!("https://{}", self.registry_peer))
            .unwrap()
            .tls_config(tls.client_config(mpx_proto::identity::REGISTRY_DNS_NAME))
            .map_err(|e| e.to_string())?
            .connect()
            .await
            .map_err(|e| format!("{e:?}"))
    }

    /// A channel to `target`'s peer listener with `as_county`'s certificate.
    pub async fn peer_channel(&self, as_county: &str, target: &str) -> Result<Channel, String> {
        let tls = self.node(as_county).tls();
        let address = self.node(target).peer.expect("target serving");
        let server_name = mpx_proto::identity::county_dns_name(
            &mpx_proto::division::CountyCode::parse(target).unwrap(),
        );
        let channel = Endpoint::from_shared(format!("https://{address}"))
            .unwrap()
            .tls_config(tls.client_config(&server_name))
            .map_err(|e| e.to_string())?
            .connect()
            .await
            .map_err(|e| format!("{e:?}"))?;
        Ok(channel)
    }
}

impl Drop for Province {
    fn drop(&mut self) {
        if std::thread::panicking()
            && let Some(temp) = self._temp.take()
        {
            let path = temp.keep();
            eprintln!("test failed: files and logs kept in {}", path.display());
        }
    }
}

fn clone_command(command: &Command) -> Command {
    let mut copy = Command::new(command.get_program());
    copy.args(command.get_args());
    for (key, value) in command.get_envs() {
        match value {
            Some(value) => copy.env(key, value),
            None => copy.env_remove(key),
        };
    }
    copy
}

/// Generates, for each named `async fn NAME(database_url: &str)`, one test on SQLite (a fresh
/// file) and one on PostgreSQL (a fresh database; skipped, with the reason printed, where no
/// PostgreSQL is available), so the two backends run the same behaviour suite.
#[macro_export]
macro_rules! on_both_backends {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $test() {
                    let dir = tempfile::tempdir().unwrap();
                    let url = format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display());
                    super::$test(&url).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $test() {
                    let Some(url) = $crate::postgres::database(stringify!($test)).await else { return };
                    super::$test(&url).await;
                }
            )*
        }
    };
}

/// Generates, for each named `async fn NAME(backend: Backend)`, three end-to-end tests: all on
/// SQLite, the registry on PostgreSQL, all on PostgreSQL.
#[macro_export]
macro_rules! on_every_backend {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $( #[tokio::test] async fn $test() { super::$test($crate::Backend::Sqlite).await } )*
        }
        mod registry_on_postgres {
            $( #[tokio::test] async fn $test() { super::$test($crate::Backend::RegistryOnPostgres).await } )*
        }
        mod all_on_postgres {
            $( #[tokio::test] async fn $test() { super::$test($crate::Backend::AllOnPostgres).await } )*
        }
    };
}

/// How long end-to-end waits allow.
pub const WAIT: Duration = Duration::from_secs(30);

/// The case's state at `county`, or None while that node does not have it yet.
pub async fn case_state(
    province: &Province,
    county: &str,
    case_id: &str,
) -> Option<mpx_proto::v1::CaseState> {
    let result = province
        .node(county)
        .cases()
        .await
        .get_case(mpx_proto::v1::GetCaseRequest {
            case_id: case_id.to_string(),
        })
        .await;
    match result {
        Ok(response) => Some(response.into_inner().case.unwrap().state()),
        Err(status) if status.code() == tonic::Code::NotFound => None,
        Err(status) => panic!("get_case at {county}: {status:?}"),
    }
}

/// Waits until the case is in `state` at `county`.
pub async fn wait_for_state(
    province: &Province,
    county: &str,
    case_id: &str,
    state: mpx_proto::v1::CaseState,
) {
    wait_until(
        WAIT,
        &format!("case {case_id} at {county} to be {state:?}"),
        || async { case_state(province, county, case_id).await == Some(state) },
    )
    .await;
}

/// A process's resident memory now and at its peak (`VmRSS`, `VmHWM`), in bytes.
pub fn memory_of(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        Some(line.split_whitespace().nth(1)?.parse::<u64>().ok()? * 1024)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}
