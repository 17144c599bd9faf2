//! A TCP relay in front of moto that holds back the first Glue `UpdateTable` request while
//! something else happens: the window between iceberg-rust's Glue catalog loading the table in
//! `update_table` (its `GetTable`, which gives the `VersionId` it sends) and the `UpdateTable`
//! itself, which only the `VersionId` check closes.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::future::BoxFuture;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What runs before the first `UpdateTable` request is passed on.
type Hook = Arc<dyn Fn() -> BoxFuture<'static, ()> + Send + Sync>;

/// The header value the AWS SDK sends with every Glue `UpdateTable` request.
const UPDATE_TABLE_TARGET: &[u8] = b"AWSGlue.UpdateTable";

/// Relays every connection to `upstream` (`host:port`) byte for byte, except that the bytes of
/// the first `UpdateTable` request are held until `hook` has finished. Returns the relay's
/// `http://127.0.0.1:<port>`; it serves until the test's runtime ends.
pub(crate) async fn start(
    upstream: String,
    hook: impl Fn() -> BoxFuture<'static, ()> + Send + Sync + 'static,
) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let hook: Hook = Arc::new(hook);
    let fired = Arc::new(AtomicBool::new(false));
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let (upstream, hook, fired) = (upstream.clone(), Arc::clone(&hook), Arc::clone(&fired));
            tokio::spawn(async move {
                if let Ok(server) = TcpStream::connect(&upstream).await {
                    relay(client, server, hook, fired).await;
                }
            });
        }
    });
    url
}

/// Copies `client` to `server` (holding the first `UpdateTable`) and `server` to `client`
/// until either side closes.
async fn relay(client: TcpStream, server: TcpStream, hook: Hook, fired: Arc<AtomicBool>) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let requests = async move {
        let mut buffer = vec![0u8; 64 * 1024];
        // The end of the previous read, so a target split across two reads is still seen.
        let mut tail: Vec<u8> = Vec::new();
        loop {
            let n = match client_read.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let mut seen = std::mem::take(&mut tail);
            seen.extend_from_slice(&buffer[..n]);
            if seen
                .windows(UPDATE_TABLE_TARGET.len())
                .any(|w| w == UPDATE_TABLE_TARGET)
                && !fired.swap(true, Ordering::SeqCst)
            {
                hook().await;
            }
            tail = seen[seen.len().saturating_sub(UPDATE_TABLE_TARGET.len())..].to_vec();
            if server_write.write_all(&buffer[..n]).await.is_err() {
                break;
            }
        }
        let _ = server_write.shutdown().await;
    };
    let answers = async move {
        let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
        let _ = client_write.shutdown().await;
    };
    tokio::join!(requests, answers);
}
