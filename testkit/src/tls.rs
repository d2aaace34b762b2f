//! A certificate authority of the test's own, made with the `openssl` command: a CA
//! and a server certificate it signed for `localhost` and `127.0.0.1`, as PEM files in
//! a folder removed when it is dropped.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::in_ci;

/// The test CA and the server's certificate and key.
pub struct TestCa {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    dir: tempfile::TempDir,
}

impl TestCa {
    /// Makes a CA and a server certificate; `None` (with a note) without `openssl`,
    /// outside CI.
    pub fn new() -> Option<Self> {
        if Command::new("openssl").arg("version").output().is_err() {
            if in_ci() {
                panic!("openssl is required when CI=true");
            }
            eprintln!("note: no openssl command; skipping this test");
            return None;
        }
        let dir = tempfile::tempdir().expect("a folder for the certificates");
        let at = |name: &str| dir.path().join(name);
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        openssl(
            dir.path(),
            &[
                &["req", "-x509"],
                &ec[..],
                &[
                    "-keyout",
                    "ca.key",
                    "-out",
                    "ca.pem",
                    "-days",
                    "2",
                    "-subj",
                    "/CN=chat test CA",
                ],
            ],
        );
        openssl(
            dir.path(),
            &[
                &["req"],
                &ec[..],
                &[
                    "-keyout",
                    "server.key",
                    "-out",
                    "server.csr",
                    "-subj",
                    "/CN=localhost",
                ],
            ],
        );
        std::fs::write(
            at("names.ext"),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
        )
        .expect("write the extensions");
        openssl(
            dir.path(),
            &[&[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "server.pem",
                "-days",
                "2",
                "-extfile",
                "names.ext",
            ]],
        );
        Some(Self {
            ca: at("ca.pem"),
            cert: at("server.pem"),
            key: at("server.key"),
            dir,
        })
    }

    /// The CA's certificate, as bytes.
    pub fn ca_pem(&self) -> Vec<u8> {
        std::fs::read(&self.ca).expect("read the CA")
    }

    /// The folder holding the files.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

fn openssl(dir: &Path, args: &[&[&str]]) {
    let out = Command::new("openssl")
        .args(args.iter().flat_map(|a| a.iter()))
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "openssl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
