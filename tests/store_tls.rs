//! TLS to PostgreSQL, on a server of the test's own with a certificate
//! from a CA the test makes (openssl): `sslmode=verify-full` with the CA
//! given as `sslrootcert` connects, over TLS; the wrong CA is refused with
//! an error naming the server's `host:port` and the certificate problem;
//! `verify-ca` accepts a certificate for another name that `verify-full`
//! refuses; `require` takes any certificate; `disable` stays in clear. The
//! same server still takes clients without TLS.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use arsgate::store::tls::TlsSettings;
use arsgate::store::{PostgresStore, StoreError};
use common::private_pg::PrivatePg;
use common::store::TestDb;

/// A CA and a server certificate it signed (for `localhost` and
/// `127.0.0.1`), and a second CA that signed nothing.
struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn make() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        for ca in ["ca", "other-ca"] {
            let config = format!(
                "[req]\ndistinguished_name = dn\nx509_extensions = ca\nprompt = no\n\
                 [dn]\nCN = arsgate test {ca}\n\
                 [ca]\nbasicConstraints = critical,CA:TRUE\n\
                 keyUsage = critical,keyCertSign,cRLSign\nsubjectKeyIdentifier = hash\n"
            );
            std::fs::write(dir.path().join(format!("{ca}.cnf")), config).unwrap();
        }
        std::fs::write(
            dir.path().join("server.ext"),
            "subjectAltName = DNS:localhost, IP:127.0.0.1\nbasicConstraints = CA:FALSE\n\
             keyUsage = critical,digitalSignature\nextendedKeyUsage = serverAuth\n",
        )
        .unwrap();
        let key = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        for ca in ["ca", "other-ca"] {
            openssl(
                dir.path(),
                &[
                    &[
                        "req",
                        "-x509",
                        "-config",
                        &format!("{ca}.cnf"),
                        "-days",
                        "2",
                    ][..],
                    &key,
                    &[
                        "-keyout",
                        &format!("{ca}.key"),
                        "-out",
                        &format!("{ca}.crt"),
                    ],
                ]
                .concat(),
            );
        }
        openssl(
            dir.path(),
            &[
                &["req", "-new", "-subj", "/CN=localhost"][..],
                &key,
                &["-keyout", "server.key", "-out", "server.csr"],
            ]
            .concat(),
        );
        openssl(
            dir.path(),
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-set_serial",
                "2",
                "-days",
                "2",
                "-extfile",
                "server.ext",
                "-out",
                "server.crt",
            ],
        );
        Pki { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path(name)).unwrap()
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl runs");
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Whether the connection `url` makes (with arsgate's TLS settings) is
/// encrypted, as the server sees it.
async fn encrypted(url: &str) -> bool {
    let (rest, tls) = TlsSettings::split(url).unwrap();
    let mut config: tokio_postgres::Config = rest.parse().unwrap();
    config.ssl_mode(tls.postgres_mode());
    let (client, connection) = config.connect(tls.connector().unwrap()).await.unwrap();
    tokio::spawn(connection);
    client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .unwrap()
        .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_modes_check_what_libpq_checks() {
    let pki = Pki::make();
    let (cert, key) = (pki.read("server.crt"), pki.read("server.key"));
    let pg = tokio::task::spawn_blocking(move || PrivatePg::start_with_tls(&cert, &key))
        .await
        .unwrap();
    // Made over a connection without TLS: the server still takes those.
    let db = TestDb::postgres_on(&pg.server_url()).await;
    let url = db.url();
    let endpoint = url
        .trim_start_matches("postgres://postgres@")
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let ca = pki.path("ca.crt").display().to_string();
    let other_ca = pki.path("other-ca.crt").display().to_string();

    let full = format!("{url}?sslmode=verify-full&sslrootcert={ca}");
    let store = PostgresStore::connect(&full, 2)
        .await
        .expect("verify-full with the CA");
    drop(store);
    assert!(encrypted(&full).await);
    let by_name = full.replace("127.0.0.1", "localhost");
    assert!(encrypted(&by_name).await, "the certificate's DNS name");

    let refused = PostgresStore::connect(
        &format!("{url}?sslmode=verify-full&sslrootcert={other_ca}"),
        2,
    )
    .await
    .err();
    match refused {
        Some(StoreError::Database(why)) => assert!(
            why.contains(&format!("postgres at {endpoint}")) && why.contains("UnknownIssuer"),
            "{why}"
        ),
        other => panic!("the wrong CA was not refused as such: {other:?}"),
    }

    // The host name TLS checks is `host`; `hostaddr` is where it connects.
    let other_name = format!(
        "{}?hostaddr=127.0.0.1&sslrootcert={ca}",
        url.replacen("@127.0.0.1:", "@db.example:", 1)
    );
    match PostgresStore::connect(&format!("{other_name}&sslmode=verify-full"), 2)
        .await
        .err()
    {
        Some(StoreError::Database(why)) => assert!(
            why.contains("db.example:") && why.contains("not valid for name"),
            "{why}"
        ),
        other => panic!("a certificate for another name passed verify-full: {other:?}"),
    }
    assert!(encrypted(&format!("{other_name}&sslmode=verify-ca")).await);

    assert!(
        encrypted(&format!("{url}?sslmode=require")).await,
        "any certificate"
    );
    assert!(!encrypted(&format!("{url}?sslmode=disable")).await);
    let required = PostgresStore::connect(&format!("{url}?sslmode=require"), 2).await;
    assert!(required.is_ok(), "{:?}", required.err());
}
