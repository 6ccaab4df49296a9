//! `ca/rds-ca-bundle.pem`, which aurora-query trusts on AWS (shipped as a
//! Lambda layer at `/opt/rds-ca-bundle.pem`), parses as a trust store and
//! holds the current RDS root CAs of the regions and the roots RDS Proxy
//! certificates chain to.

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

const BUNDLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../ca/rds-ca-bundle.pem");

fn subjects() -> Vec<Vec<u8>> {
    CertificateDer::pem_file_iter(BUNDLE)
        .expect("bundle readable")
        .map(|cert| {
            let cert = cert.expect("valid PEM");
            let anchor = webpki::anchor_from_trusted_cert(&cert).expect("a usable trust anchor");
            anchor.subject.as_ref().to_vec()
        })
        .collect()
}

fn holds(subjects: &[Vec<u8>], common_name: &str) -> bool {
    // Names are stored as raw UTF-8 or PrintableString bytes in the DER.
    subjects.iter().any(|s| {
        s.windows(common_name.len())
            .any(|w| w == common_name.as_bytes())
    })
}

#[test]
fn the_bundle_is_a_trust_store_the_functions_accept() {
    tenant_access::db::tls_config(BUNDLE.as_ref()).expect("aurora-query can load it");
    assert!(subjects().len() >= 80, "{} certificates", subjects().len());
}

#[test]
fn the_bundle_holds_the_current_rds_and_rds_proxy_roots() {
    let subjects = subjects();
    for region in [
        "us-east-1",
        "us-east-2",
        "us-west-2",
        "eu-west-1",
        "eu-central-1",
        "ap-southeast-2",
        "ap-northeast-1",
        "sa-east-1",
    ] {
        for kind in ["RSA2048 G1", "RSA4096 G1", "ECC384 G1"] {
            let name = format!("Amazon RDS {region} Root CA {kind}");
            assert!(holds(&subjects, &name), "missing {name}");
        }
    }
    for n in 1..=4 {
        let name = format!("Amazon Root CA {n}");
        assert!(holds(&subjects, &name), "missing {name} (RDS Proxy)");
    }
    // The 2019 roots expired in 2024 and are left out.
    assert!(!holds(&subjects, "Amazon RDS Root 2019 CA"));
}
