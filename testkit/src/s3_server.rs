//! A local S3-compatible server of the test's own: moto's `moto_server`, a Python
//! implementation of the S3 API (`pip install 'moto[server]'`; `.ci/run` installs it).
//! It is an implementation of S3 independent of the client we use, so the two agree on
//! the protocol, not on shared code.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use chat_store::S3Blobs;

use crate::{in_ci, unique};

/// The command that runs the server: `$TEST_S3_SERVER`, else `moto_server` on the PATH.
fn command() -> String {
    std::env::var("TEST_S3_SERVER").unwrap_or_else(|_| "moto_server".into())
}

/// A running `moto_server` with one bucket; killed when dropped.
pub struct S3Server {
    pub endpoint: String,
    pub bucket: String,
    child: Child,
}

impl S3Server {
    /// Starts the server on a port of its choosing and makes a bucket; `None` (with a
    /// note) when it is not installed, outside CI.
    pub async fn start() -> Option<Self> {
        let spawned = Command::new(command())
            .args(["-H", "127.0.0.1", "-p", "0"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(e) if !in_ci() => {
                eprintln!(
                    "note: cannot run {} ({e}); skipping this test (pip install 'moto[server]', \
                     or set TEST_S3_SERVER)",
                    command()
                );
                return None;
            }
            Err(e) => panic!("{} (moto) is required when CI=true: {e}", command()),
        };
        let stderr = child.stderr.take().expect("piped stderr");
        // It says where it listens ("Running on http://127.0.0.1:PORT"), then goes on
        // logging each request, which must still be read so that it never blocks.
        let (found, address) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let mut found = Some(found);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(at) = line.find("http://127.0.0.1:")
                    && let Some(found) = found.take()
                {
                    let _ = found.send(line[at..].trim().to_owned());
                }
            }
        });
        let endpoint = tokio::time::timeout(Duration::from_secs(60), address)
            .await
            .expect("moto_server said where it listens within a minute")
            .expect("moto_server exited before it listened");
        let bucket = unique("chat-test-");
        let created = reqwest::Client::new()
            .put(format!("{endpoint}/{bucket}"))
            .send()
            .await
            .expect("create a bucket");
        assert!(created.status().is_success(), "create bucket: {created:?}");
        Some(Self {
            endpoint,
            bucket,
            child,
        })
    }

    /// The bucket under `prefix`, through the client the services use.
    pub fn blobs(&self, prefix: &str) -> S3Blobs {
        self.blobs_in(&self.bucket, prefix)
    }

    /// `bucket` (which may not exist) under `prefix` on this server.
    pub fn blobs_in(&self, bucket: &str, prefix: &str) -> S3Blobs {
        S3Blobs::new(
            &format!("s3://{bucket}/{prefix}"),
            [
                ("aws_endpoint", self.endpoint.as_str()),
                ("aws_allow_http", "true"),
                ("aws_region", "us-east-1"),
                ("aws_access_key_id", "test"),
                ("aws_secret_access_key", "test"),
            ],
        )
        .expect("an S3 client")
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
