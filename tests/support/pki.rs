//! A throwaway certificate authority for the TLS tests, made with the
//! `openssl` command: a CA, and a certificate for 127.0.0.1 it signed.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The files of a test PKI.
pub struct TestPki {
    /// The CA's certificate (PEM), what phones trust.
    pub ca: PathBuf,
    /// The switch's certificate for 127.0.0.1 (PEM).
    pub cert: PathBuf,
    /// Its private key (PEM).
    pub key: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A key and a certificate for `subject`, signed by the CA in `dir`
/// (`ca.pem`, `ca.key`), with the extensions in `ext`; written as
/// `STEM.pem` and `STEM.key`.
fn issue(dir: &Path, stem: &str, subject: &str, ext: &str) -> (PathBuf, PathBuf) {
    let (cert, key) = (format!("{stem}.pem"), format!("{stem}.key"));
    let (csr, ext_file) = (format!("{stem}.csr"), format!("{stem}.ext"));
    openssl(
        dir,
        &[
            "req",
            "-subj",
            subject,
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &csr,
        ],
    );
    std::fs::write(dir.join(&ext_file), ext).unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-days",
            "2",
            "-in",
            &csr,
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-extfile",
            &ext_file,
            "-out",
            &cert,
        ],
    );
    (dir.join(cert), dir.join(key))
}

impl TestPki {
    /// Makes a CA named `ca_name` and a server certificate in `dir`.
    pub fn make(dir: &Path, ca_name: &str) -> TestPki {
        let subject = format!("/CN={ca_name}");
        openssl(
            dir,
            &[
                "req",
                "-x509",
                "-days",
                "2",
                "-subj",
                &subject,
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
            ],
        );
        let (cert, key) = issue(
            dir,
            "server",
            "/CN=127.0.0.1",
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
        );
        TestPki {
            ca: dir.join("ca.pem"),
            cert,
            key,
        }
    }

    /// A client certificate for the DNS name `name`, signed by the CA;
    /// returns its certificate and key files.
    pub fn client(&self, name: &str) -> (PathBuf, PathBuf) {
        issue(
            self.ca.parent().unwrap(),
            name,
            &format!("/CN={name}"),
            &format!("subjectAltName=DNS:{name}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n"),
        )
    }
}
