//! Service plumbing that the registry and the exchange node share: logging, shutdown signals,
//! layered configuration, TLS material, the caller's identity (peer certificate or operator
//! token), health and reflection, and private files.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize, de::DeserializeOwned};
use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};
use tonic::{Request, Status};

use crate::identity::{PeerIdentity, certificate_fingerprint};

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Installs the global tracing subscriber: `RUST_LOG` filter (default `info`), text or JSON lines
/// on stderr. Resident IDs are never passed to it unmasked (see [`crate::resident_id::mask`]).
pub fn init_tracing(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Runs a command's future on a new multi-threaded runtime; prints `error: …` (with its causes)
/// and returns a failure exit code when it fails. The body of both binaries' `main`.
pub fn block_on_command<E: std::fmt::Display>(
    command: impl std::future::Future<Output = Result<(), E>>,
) -> std::process::ExitCode {
    private_files_by_default();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(command);
    // Tasks still running are dropped; blocking threads get a moment, not forever.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Makes every file and directory this process creates private to its user (umask 077):
/// databases and their WAL, caches, keys, exports and reject files hold personal data or
/// secrets, whatever umask the operator's shell or service manager left.
pub fn private_files_by_default() {
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
}

/// Exits the process (status 2) `deadline` from now unless it has exited by then: the last
/// guarantee that a stop requested by SIGTERM ends, whatever a task or thread is blocked on.
/// A plain thread, so a stuck async runtime cannot hold it up.
pub fn exit_after(deadline: std::time::Duration) {
    let spawned = std::thread::Builder::new()
        .name("shutdown-deadline".into())
        .spawn(move || {
            std::thread::sleep(deadline);
            eprintln!(
                "error: still stopping {} s after the shutdown request; exiting now",
                deadline.as_secs()
            );
            std::process::exit(2);
        });
    if let Err(error) = spawned {
        tracing::warn!(%error, "cannot start the shutdown deadline thread");
    }
}

/// Resolves when the process gets SIGTERM or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = terminate.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Command-line values that override the config file and the environment: top-level key →
/// value, only the flags given. Errors in them are reported as "command-line flags".
#[derive(Debug, Default, Clone)]
pub struct Overrides(std::collections::BTreeMap<&'static str, String>);

impl Overrides {
    /// Sets `key` when the flag was given.
    pub fn set(mut self, key: &'static str, value: Option<impl std::fmt::Display>) -> Self {
        if let Some(value) = value {
            self.0.insert(key, value.to_string());
        }
        self
    }
}

impl figment::Provider for Overrides {
    fn metadata(&self) -> figment::Metadata {
        figment::Metadata::named("command-line flags")
    }

    fn data(
        &self,
    ) -> Result<figment::value::Map<figment::Profile, figment::value::Dict>, figment::Error> {
        figment::providers::Serialized::defaults(&self.0).data()
    }
}

/// `--dump-config`: prints the effective configuration as TOML.
pub fn dump_config<T: Serialize>(config: &T) -> Result<(), toml::ser::Error> {
    print!("{}", toml::to_string_pretty(config)?);
    Ok(())
}

/// Loads a typed configuration in layers: the type's defaults, then the TOML file (when given;
/// it must exist), then `MPX_<KEY>` environment variables for the listed top-level keys, then
/// `overrides` (command-line flags). Unknown keys in the file are errors when `T` denies unknown
/// fields.
pub fn load_config<T>(
    file: Option<&Path>,
    env_keys: &[&str],
    overrides: &Overrides,
) -> Result<T, ConfigError>
where
    T: DeserializeOwned + Serialize + Default,
{
    use figment::Figment;
    use figment::providers::{Env, Format, Serialized, Toml};
    let mut figment = Figment::from(Serialized::defaults(T::default()));
    if let Some(path) = file {
        if !path.exists() {
            return Err(ConfigError::MissingFile(path.to_path_buf()));
        }
        figment = figment.merge(Toml::file(path));
    }
    let keys: Vec<String> = env_keys.iter().map(|key| key.to_string()).collect();
    figment = figment
        .merge(Env::prefixed("MPX_").filter(move |key| keys.iter().any(|k| key == k.as_str())))
        .merge(overrides.clone());
    figment
        .extract()
        .map_err(|error| ConfigError::Invalid(error.to_string()))
}

/// A configuration that could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {0} does not exist (create it, or point --config at the right file)")]
    MissingFile(PathBuf),
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// The TLS material of one process: its certificate and key, and the provincial CA.
#[derive(Clone)]
pub struct TlsMaterial {
    pub certificate_pem: String,
    pub key_pem: String,
    pub ca_pem: String,
}

impl std::fmt::Debug for TlsMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsMaterial(..)")
    }
}

impl TlsMaterial {
    /// Reads the three PEM files; the error names the missing file.
    pub fn load(certificate: &Path, key: &Path, ca: &Path) -> std::io::Result<Self> {
        let read = |path: &Path| {
            std::fs::read_to_string(path).map_err(|error| {
                std::io::Error::new(
                    error.kind(),
                    format!("cannot read {}: {error}", path.display()),
                )
            })
        };
        Ok(Self {
            certificate_pem: read(certificate)?,
            key_pem: read(key)?,
            ca_pem: read(ca)?,
        })
    }

    /// Server TLS that requires (or, for enrolment, merely allows) a client certificate chained to
    /// the provincial CA.
    pub fn server_config(&self, client_certificate_required: bool) -> ServerTlsConfig {
        ServerTlsConfig::new()
            .identity(Identity::from_pem(&self.certificate_pem, &self.key_pem))
            .client_ca_root(Certificate::from_pem(&self.ca_pem))
            .client_auth_optional(!client_certificate_required)
            .timeout(std::time::Duration::from_secs(10))
    }

    /// Client TLS presenting this process's certificate and expecting `server_name`.
    pub fn client_config(&self, server_name: &str) -> ClientTlsConfig {
        ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&self.ca_pem))
            .identity(Identity::from_pem(&self.certificate_pem, &self.key_pem))
            .domain_name(server_name)
    }
}

/// The caller of a peer RPC, from its TLS client certificate.
#[derive(Debug, Clone)]
pub struct PeerCaller {
    pub identity: PeerIdentity,
    /// SHA-256 of the client certificate (matched against the directory's revocations).
    pub certificate_sha256: String,
}

/// Reads the caller's identity from the TLS client certificate of a request.
pub fn peer_caller<T>(request: &Request<T>) -> Result<PeerCaller, Status> {
    let certificates = request.peer_certs().ok_or_else(|| {
        Status::unauthenticated("a client certificate issued by the provincial CA is required")
    })?;
    let leaf = certificates
        .first()
        .ok_or_else(|| Status::unauthenticated("the client presented no certificate"))?;
    let identity = PeerIdentity::from_certificate_der(leaf.as_ref())
        .map_err(|error| Status::permission_denied(format!("client certificate: {error}")))?;
    Ok(PeerCaller {
        identity,
        certificate_sha256: certificate_fingerprint(leaf.as_ref()),
    })
}

/// A named operator, put into each authenticated operator request's extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator(pub String);

/// A request as `operator`, as the operator API's interceptor would pass it on: what a web
/// console sends when it calls a service in process for its signed-in operator.
pub fn as_operator<T>(operator: &str, message: T) -> Request<T> {
    let mut request = Request::new(message);
    request
        .extensions_mut()
        .insert(Operator(operator.to_string()));
    request
}

/// The operator tokens a listener accepts: SHA-256 of the token → operator name. Shared with a
/// refresher task that reloads it from the store, so a new token works without a restart.
#[derive(Debug, Clone, Default)]
pub struct OperatorTokens {
    by_hash: Arc<RwLock<HashMap<String, String>>>,
}

impl OperatorTokens {
    /// Replaces the accepted set.
    pub fn replace(&self, tokens: HashMap<String, String>) {
        if let Ok(mut guard) = self.by_hash.write() {
            *guard = tokens;
        }
    }

    /// The operator a bearer token belongs to.
    pub fn operator_for(&self, token: &str) -> Option<String> {
        let hash = hash_token(token);
        self.by_hash.read().ok()?.get(&hash).cloned()
    }

    /// A tonic interceptor: `authorization: Bearer <token>` → [`Operator`] extension, or
    /// `UNAUTHENTICATED`.
    pub fn interceptor(
        &self,
    ) -> impl FnMut(Request<()>) -> Result<Request<()>, Status> + Clone + use<> {
        let tokens = self.clone();
        move |mut request: Request<()>| {
            let header = request
                .metadata()
                .get("authorization")
                .and_then(|value| value.to_str().ok())
                .unwrap_or_default();
            let Some(token) = header.strip_prefix("Bearer ") else {
                return Err(Status::unauthenticated(
                    "missing operator token: send the header `authorization: Bearer <token>`",
                ));
            };
            match tokens.operator_for(token.trim()) {
                Some(name) => {
                    request.extensions_mut().insert(Operator(name));
                    Ok(request)
                }
                None => Err(Status::unauthenticated("the operator token is not valid")),
            }
        }
    }
}

/// The operator of an authenticated request (set by [`OperatorTokens::interceptor`]).
pub fn operator_of<T>(request: &Request<T>) -> Result<String, Status> {
    request
        .extensions()
        .get::<Operator>()
        .map(|operator| operator.0.clone())
        .ok_or_else(|| Status::unauthenticated("no operator identity on the request"))
}

/// SHA-256 hex of an operator token, as stored.
pub fn hash_token(token: &str) -> String {
    crate::sha256_hex(token.as_bytes())
}

/// A fresh random token (256 bits, hex) with a readable prefix, e.g. `mpxop_3f1c…`.
pub fn generate_token(prefix: &str) -> std::io::Result<String> {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 32];
    // SystemRandom only fails when the OS has no entropy source at all; a token of zeros would
    // then be everyone's, so there is no token.
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| {
            std::io::Error::other("the operating system gave no random bytes for a token")
        })?;
    Ok(format!("{prefix}_{}", crate::hex(&bytes)))
}

/// gRPC server reflection for one listener: it advertises exactly `services` (fully qualified,
/// e.g. `mpx.v1.Exchange`, from each server's `NamedService::NAME`) plus health and reflection,
/// so `grpcurl list` offers only what the listener answers.
pub fn reflection_service(
    services: &[&str],
) -> Result<
    tonic_reflection::server::v1::ServerReflectionServer<
        impl tonic_reflection::server::v1::ServerReflection,
    >,
    tonic_reflection::server::Error,
> {
    let mut builder = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(crate::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .with_service_name("grpc.health.v1.Health")
        .with_service_name("grpc.reflection.v1.ServerReflection");
    for service in services {
        builder = builder.with_service_name(*service);
    }
    builder.build_v1()
}

/// Writes a file readable by its owner only (0600), as private keys and tokens must be.
pub fn write_private_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    file.write_all(contents)?;
    file.sync_all()
}

/// Checks a peer endpoint: `https://HOST:PORT`, nothing else.
pub fn validate_endpoint(endpoint: &str) -> Result<(), String> {
    let uri: tonic::codegen::http::Uri = endpoint
        .parse()
        .map_err(|_| format!("expected https://HOST:PORT, got {endpoint:?}"))?;
    if uri.scheme_str() != Some("https") || uri.host().is_none() || uri.port_u16().is_none() {
        return Err(format!("expected https://HOST:PORT, got {endpoint:?}"));
    }
    if uri.path() != "/" && !uri.path().is_empty() {
        return Err(format!("expected no path after the port, got {endpoint:?}"));
    }
    Ok(())
}

/// Binds the listener `what` (peer, operator, metrics) on `address`; the error names it.
pub async fn bind_listener(
    address: &str,
    what: &str,
) -> Result<tokio::net::TcpListener, std::io::Error> {
    tokio::net::TcpListener::bind(address)
        .await
        .map_err(|error| {
            std::io::Error::new(
                error.kind(),
                format!("binding the {what} listener on {address}: {error}"),
            )
        })
}

/// Records the addresses `serve` bound (a JSON object: `{"peer": …, "operator": …}`) in the
/// data directory's `serve_state` file, where the command line finds them when the config asks
/// for port 0, and in `ready_file` when scripts or tests asked for one.
pub fn record_bound_addresses(
    bound: &serde_json::Value,
    serve_state: &Path,
    ready_file: Option<&Path>,
) -> Result<(), std::io::Error> {
    for path in std::iter::once(serve_state).chain(ready_file) {
        std::fs::write(path, bound.to_string()).map_err(|error| {
            std::io::Error::new(error.kind(), format!("writing {}: {error}", path.display()))
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_the_defaults_and_a_bad_one_is_named_as_a_flag() {
        #[derive(Debug, Serialize, Deserialize, PartialEq)]
        #[serde(deny_unknown_fields, default)]
        struct Settings {
            listen: std::net::SocketAddr,
            name: String,
        }
        impl Default for Settings {
            fn default() -> Self {
                Self {
                    listen: "127.0.0.1:7080".parse().expect("an address"),
                    name: "default".into(),
                }
            }
        }
        let given = Overrides::default()
            .set("listen", Some("0.0.0.0:9000"))
            .set("name", None::<&str>);
        let settings: Settings = load_config(None, &[], &given).expect("loads");
        assert_eq!(settings.listen.to_string(), "0.0.0.0:9000");
        assert_eq!(settings.name, "default");
        let bad = Overrides::default().set("listen", Some("notaport"));
        let error = load_config::<Settings>(None, &[], &bad).expect_err("a bad address");
        assert!(error.to_string().contains("command-line flags"), "{error}");
    }

    #[test]
    fn private_files_are_0600() {
        let dir = std::env::temp_dir().join(format!("mpx-runtime-test-{}", std::process::id()));
        let path = dir.join("secret.key");
        write_private_file(&path, b"secret").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn endpoints_must_be_https_host_port() {
        assert!(validate_endpoint("https://127.0.0.1:7443").is_ok());
        assert!(validate_endpoint("https://node.example:7443/").is_ok());
        for bad in [
            "http://127.0.0.1:7443",
            "https://127.0.0.1",
            "127.0.0.1:7443",
            "https://h:1/x",
            "",
        ] {
            assert!(validate_endpoint(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tokens_authenticate_by_hash() {
        let tokens = OperatorTokens::default();
        let token = generate_token("mpxop").unwrap();
        assert!(token.starts_with("mpxop_") && token.len() == 6 + 64);
        tokens.replace(HashMap::from([(
            hash_token(&token),
            "clerk-wang".to_string(),
        )]));
        assert_eq!(tokens.operator_for(&token).as_deref(), Some("clerk-wang"));
        assert_eq!(tokens.operator_for("mpxop_wrong"), None);

        let mut interceptor = tokens.interceptor();
        let mut request = Request::new(());
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
        let request = interceptor(request).unwrap();
        assert_eq!(operator_of(&request).unwrap(), "clerk-wang");
        let status = interceptor(Request::new(())).unwrap_err();
        assert_eq!(status.code(), tonic::Code::Unauthenticated);
    }
}
