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

impl TestPki {
    /// Makes a CA named `ca_name` and a server certificate in `dir`.
    pub fn make(dir: &Path, ca_name: &str) -> TestPki {
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        let subject = format!("/CN={ca_name}");
        let mut ca_args = vec!["req", "-x509", "-days", "2", "-subj", &subject];
        ca_args.extend(ec);
        ca_args.extend(["-keyout", "ca.key", "-out", "ca.pem"]);
        openssl(dir, &ca_args);
        let mut csr_args = vec!["req", "-subj", "/CN=127.0.0.1"];
        csr_args.extend(ec);
        csr_args.extend(["-keyout", "server.key", "-out", "server.csr"]);
        openssl(dir, &csr_args);
        std::fs::write(
            dir.join("server.ext"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-days",
                "2",
                "-in",
                "server.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-extfile",
                "server.ext",
                "-out",
                "server.pem",
            ],
        );
        TestPki {
            ca: dir.join("ca.pem"),
            cert: dir.join("server.pem"),
            key: dir.join("server.key"),
        }
    }

    /// A client certificate for the DNS name `name`, signed by the CA;
    /// returns its certificate and key files.
    pub fn client(&self, name: &str) -> (PathBuf, PathBuf) {
        let dir = self.ca.parent().unwrap();
        let (cert, key) = (format!("{name}.pem"), format!("{name}.key"));
        let csr = format!("{name}.csr");
        let ext = format!("{name}.ext");
        let subject = format!("/CN={name}");
        openssl(
            dir,
            &[
                "req",
                "-subj",
                &subject,
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
        std::fs::write(
            dir.join(&ext),
            format!("subjectAltName=DNS:{name}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n"),
        )
        .unwrap();
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
                &ext,
                "-out",
                &cert,
            ],
        );
        (dir.join(cert), dir.join(key))
    }
}
