//! PostgreSQL for tests: `MPX_TEST_POSTGRES_URL` when set (a role that may `CREATE DATABASE`);
//! otherwise a throwaway server started once per test binary from the installed binaries (initdb
//! in a temporary directory, a free loopback port, fsync off), stopped and removed by a watchdog
//! when the test process exits. Each caller gets a database of its own.
//!
//! Where neither is possible, [`database`] returns `None` and says why; callers skip.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use sqlx::Connection;

static SERVER: OnceLock<Result<String, String>> = OnceLock::new();

fn find_bin_dir() -> Option<PathBuf> {
    if let Ok(output) = Command::new("sh")
        .args(["-c", "command -v initdb"])
        .output()
        && output.status.success()
    {
        let path = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
        let resolved = std::fs::canonicalize(&path).unwrap_or(path);
        return resolved.parent().map(Path::to_path_buf);
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .map(|entry| entry.path().join("bin"))
        .filter(|bin| bin.join("initdb").exists())
        .collect();
    versions.sort();
    versions.pop()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Runs a PostgreSQL tool, as the `postgres` user when we are root (initdb refuses root).
fn pg_command(bin: &Path, tool: &str, as_postgres: bool) -> Command {
    if as_postgres {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(bin.join(tool));
        command
    } else {
        Command::new(bin.join(tool))
    }
}

fn start_server() -> Result<String, String> {
    if let Ok(url) = std::env::var("MPX_TEST_POSTGRES_URL")
        && !url.trim().is_empty()
    {
        return Ok(url.trim().to_string());
    }
    let bin = find_bin_dir().ok_or(
        "no PostgreSQL binaries (initdb) are installed and MPX_TEST_POSTGRES_URL is not set",
    )?;
    let as_postgres = is_root();
    let dir = tempfile::Builder::new()
        .prefix("mpx-pg-")
        .tempdir()
        .map_err(|e| e.to_string())?
        .keep();
    let data = dir.join("data");
    if as_postgres {
        let status = Command::new("chown")
            .args(["-R", "postgres:"])
            .arg(&dir)
            .status()
            .map_err(|e| e.to_string())?;
        if !status.success() {
            return Err("cannot hand the temporary directory to the postgres user".into());
        }
    }
    let output = pg_command(&bin, "initdb", as_postgres)
        .arg("-D")
        .arg(&data)
        .args([
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
            "--locale=C",
        ])
        .output()
        .map_err(|e| format!("initdb: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "initdb failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    let options = format!(
        "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300",
        dir.display()
    );
    let output = pg_command(&bin, "pg_ctl", as_postgres)
        .arg("-D")
        .arg(&data)
        .args(["-o", &options, "-l"])
        .arg(dir.join("postgres.log"))
        .args(["-w", "-t", "60", "start"])
        .output()
        .map_err(|e| format!("pg_ctl: {e}"))?;
    if !output.status.success() {
        let log = std::fs::read_to_string(dir.join("postgres.log")).unwrap_or_default();
        return Err(format!(
            "pg_ctl start failed: {}\n{log}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    // Stop and remove the server when this test process ends, however it ends.
    let runuser = if as_postgres {
        "runuser -u postgres -- "
    } else {
        ""
    };
    let watchdog = format!(
        "while kill -0 {parent} 2>/dev/null; do sleep 1; done; {runuser}'{pg_ctl}' -D '{data}' -m immediate stop >/dev/null 2>&1; rm -rf '{dir}'",
        parent = std::process::id(),
        pg_ctl = bin.join("pg_ctl").display(),
        data = data.display(),
        dir = dir.display(),
    );
    Command::new("sh")
        .args(["-c", &watchdog])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| format!("watchdog: {e}"))?;
    Ok(format!("postgres://postgres@127.0.0.1:{port}/postgres"))
}

/// The server's admin URL, or why there is none.
pub fn server() -> Result<&'static str, &'static str> {
    match SERVER.get_or_init(start_server) {
        Ok(url) => Ok(url.as_str()),
        Err(reason) => Err(reason.as_str()),
    }
}

/// A fresh, empty database for one test, or `None` (with the reason printed) when PostgreSQL is
/// not available here.
pub async fn database(label: &str) -> Option<String> {
    let admin = match tokio::task::spawn_blocking(server).await.expect("join") {
        Ok(url) => url,
        Err(reason) => {
            eprintln!("PostgreSQL tests skipped: {reason}");
            return None;
        }
    };
    let name = format!("mpx_{}_{}", label, uuid::Uuid::now_v7().simple());
    let mut connection = sqlx::PgConnection::connect(admin)
        .await
        .unwrap_or_else(|error| {
            panic!("cannot connect to the test PostgreSQL at {admin}: {error}")
        });
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut connection)
        .await
        .expect("CREATE DATABASE");
    let _ = connection.close().await;
    let base = admin
        .rsplit_once('/')
        .map(|(base, _)| base)
        .unwrap_or(admin);
    Some(format!("{base}/{name}"))
}
