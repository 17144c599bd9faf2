//! A throwaway PostgreSQL cluster for the SQL catalog's tests: `initdb` in a temporary
//! directory, a server on a free port of 127.0.0.1 (no Unix socket outside the directory,
//! fsync off), stopped (`pg_ctl stop -m immediate`, the cluster's own PID file) and removed on
//! drop. Needs Debian's `postgresql` package (`scripts/local-aws up` installs it as root);
//! PostgreSQL refuses to run as root, so as root the cluster runs as the `postgres` user.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A running cluster.
pub(crate) struct Postgres {
    /// `postgresql://kinesink@127.0.0.1:<port>/postgres` (trust authentication).
    pub(crate) uri: String,
    bin: PathBuf,
    dir: tempfile::TempDir,
}

/// The newest `/usr/lib/postgresql/<version>/bin` holding `initdb`.
fn server_binaries() -> PathBuf {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin).expect(
        "PostgreSQL's server binaries (/usr/lib/postgresql/*/bin/initdb): \
         Debian's postgresql package, which `scripts/local-aws up` installs as root",
    )
}

fn is_root() -> bool {
    let out = Command::new("id").arg("-u").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim() == "0"
}

/// `program` of `bin` with `args`, as the `postgres` user when this runs as root.
fn run(bin: &Path, program: &str, args: &[&str]) {
    let mut command = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin.join(program));
        c
    } else {
        Command::new(bin.join(program))
    };
    let out = command.args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{program} {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A free port of 127.0.0.1 (free when asked: the server binds it right after).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Postgres {
    /// Creates and starts a cluster (about 1–2 s).
    pub(crate) fn start() -> Self {
        let bin = server_binaries();
        let dir = tempfile::tempdir().unwrap();
        if is_root() {
            let status = Command::new("chown")
                .args(["postgres:"])
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(status.success(), "chown the cluster directory to postgres");
        }
        let path = |p: &str| dir.path().join(p).display().to_string();
        let data = path("data");
        run(
            &bin,
            "initdb",
            &[
                "-D",
                &data,
                "-A",
                "trust",
                "-U",
                "kinesink",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        let port = free_port();
        let options = format!(
            "-p {port} -c listen_addresses=127.0.0.1 -k {} -c fsync=off -c full_page_writes=off",
            dir.path().display()
        );
        run(
            &bin,
            "pg_ctl",
            &[
                "-D",
                &data,
                "-o",
                &options,
                "-l",
                &path("server.log"),
                "-w",
                "start",
            ],
        );
        Self {
            uri: format!("postgresql://kinesink@127.0.0.1:{port}/postgres"),
            bin,
            dir,
        }
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let data = self.dir.path().join("data").display().to_string();
        run(
            &self.bin,
            "pg_ctl",
            &["-D", &data, "-m", "immediate", "-w", "stop"],
        );
    }
}
