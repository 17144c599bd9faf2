//! The local Iceberg REST catalog stand-in (scripts/iceberg_rest_catalog.py: pyiceberg's
//! SqlCatalog behind the REST routes), one server per fixture on a free port of 127.0.0.1,
//! killed (by its PID) and its directory removed on drop. Needs `$KINESINK_MOTO_PYTHON` (the
//! moto venv of `scripts/local-aws`, which has pyiceberg).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// A running REST catalog server.
pub(crate) struct RestCatalogServer {
    /// Its base URL, `http://127.0.0.1:<port>`.
    pub(crate) uri: String,
    /// Its warehouse (`s3://...` or `file:///...`).
    pub(crate) warehouse: String,
    /// Holds the catalog database (and a `file://` warehouse); removed on drop.
    pub(crate) dir: tempfile::TempDir,
    child: Child,
}

impl RestCatalogServer {
    /// Starts a server whose warehouse is `warehouse` (`None`: `file://<dir>/warehouse`),
    /// its SqlCatalog given `properties` (S3 endpoint and credentials), with the server
    /// arguments `extra` (`--token`, `--credential`).
    pub(crate) fn start(
        warehouse: Option<&str>,
        properties: &[(&str, &str)],
        extra: &[&str],
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let warehouse = warehouse.map_or_else(
            || {
                let path = dir.path().join("warehouse");
                std::fs::create_dir(&path).unwrap();
                format!("file://{}", path.display())
            },
            str::to_owned,
        );
        let python = std::env::var("KINESINK_MOTO_PYTHON").expect(
            "KINESINK_MOTO_PYTHON (pyiceberg's venv): run `eval \"$(scripts/local-aws env)\"`",
        );
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/iceberg_rest_catalog.py");
        let mut command = Command::new(python);
        command
            .arg(script)
            .arg("--db")
            .arg(dir.path().join("catalog.db"))
            .args(["--warehouse", &warehouse])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (key, value) in properties {
            command.arg("--property").arg(format!("{key}={value}"));
        }
        let mut child = command.spawn().expect("start the REST catalog stand-in");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let Some(uri) = line.trim().strip_prefix("listening on ") else {
            let _ = child.kill();
            panic!("the REST catalog stand-in did not start: {line:?}");
        };
        Self {
            uri: uri.to_owned(),
            warehouse,
            dir,
            child,
        }
    }

    /// A server whose warehouse is `s3://<bucket>/warehouse` in moto's S3
    /// (`AWS_ENDPOINT_URL_S3`), with `extra` server arguments.
    pub(crate) fn start_on_moto_s3(bucket: &str, extra: &[&str]) -> Self {
        let endpoint = std::env::var("AWS_ENDPOINT_URL_S3")
            .expect("AWS_ENDPOINT_URL_S3: run `eval \"$(scripts/local-aws env)\"`");
        let region = std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".to_owned());
        Self::start(
            Some(&format!("s3://{bucket}/warehouse")),
            &[
                ("s3.endpoint", &endpoint),
                ("s3.access-key-id", "test"),
                ("s3.secret-access-key", "test"),
                ("s3.region", &region),
            ],
            extra,
        )
    }
}

impl Drop for RestCatalogServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
