//! What a scanner reads in the artefacts `make images` builds: beside each archive an SPDX SBOM
//! (syft) that names the Rust crates of its binaries at the versions Cargo.lock pins (readable only
//! because the binaries are built with `cargo auditable`) and, for the images, the Debian packages
//! their libraries come from at the versions the image records, for the Debian release its
//! /etc/os-release names; and in each image the dpkg status paragraphs scanners look for.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::Value;
use wiber_e2e::repo;

use crate::images::{Scratch, archive, images, plugin_archive, unpacked};

/// Crates each artefact's binaries must be found to contain (a handful the SBOM cannot miss).
const WIBER_CRATES: &[&str] = &[
    "tokio",
    "axum",
    "rdkafka",
    "mongodb",
    "wiber-api",
    "wiber-consumer",
];
const OPERATOR_CRATES: &[&str] = &["tokio", "kube-runtime", "rdkafka", "wiber-operator"];
const PLUGIN_CRATES: &[&str] = &["clap", "kube-client", "kubectl-wiber"];

/// Every (name, version) Cargo.lock pins.
fn locked() -> BTreeSet<(String, String)> {
    let text = std::fs::read_to_string(repo().join("Cargo.lock")).expect("Cargo.lock");
    let mut out = BTreeSet::new();
    let mut name = None;
    for line in text.lines() {
        if let Some(n) = line.strip_prefix("name = ") {
            name = Some(n.trim_matches('"').to_owned());
        } else if let (Some(v), Some(n)) = (line.strip_prefix("version = "), name.take()) {
            out.insert((n, v.trim_matches('"').to_owned()));
        }
    }
    out
}

/// A package URL's type, name, version (percent-decoded) and qualifiers.
fn purl(locator: &str) -> Option<(String, String, String, BTreeMap<String, String>)> {
    let rest = locator.strip_prefix("pkg:")?;
    let (path, qualifiers) = rest.split_once('?').unwrap_or((rest, ""));
    let (path, version) = path.split_once('@')?;
    let kind = path.split('/').next()?.to_owned();
    let name = path.rsplit('/').next()?.to_owned();
    let qualifiers = qualifiers
        .split('&')
        .filter_map(|q| q.split_once('='))
        .map(|(k, v)| (k.to_owned(), decode(v)))
        .collect();
    Some((kind, name, decode(version), qualifiers))
}

fn decode(text: &str) -> String {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match (bytes[i], text.get(i + 1..i + 3)) {
            (b'%', Some(hex)) if u8::from_str_radix(hex, 16).is_ok() => {
                out.push(u8::from_str_radix(hex, 16).expect("hex"));
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).expect("UTF-8")
}

/// The package URLs of the SPDX document beside `archive`.
fn sbom_purls(archive: &Path) -> Vec<(String, String, String, BTreeMap<String, String>)> {
    let path = archive.with_file_name(format!(
        "{}.spdx.json",
        archive.file_name().expect("a file name").to_string_lossy()
    ));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}: `make images` writes it", path.display()));
    let document: Value = serde_json::from_str(&text).expect("SPDX JSON");
    assert!(
        document["spdxVersion"]
            .as_str()
            .is_some_and(|v| v.starts_with("SPDX-2.")),
        "{} is not an SPDX 2 document",
        path.display()
    );
    document["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .flat_map(|p| p["externalRefs"].as_array().cloned().unwrap_or_default())
        .filter(|r| r["referenceType"] == "purl")
        .filter_map(|r| purl(r["referenceLocator"].as_str()?))
        .collect()
}

/// Checks the crates of an SBOM against Cargo.lock and returns how many it names.
fn check_crates(what: &str, archive: &Path, expected: &[&str]) -> usize {
    let locked = locked();
    let crates: BTreeSet<(String, String)> = sbom_purls(archive)
        .into_iter()
        .filter(|(kind, ..)| kind == "cargo")
        .map(|(_, name, version, _)| (name, version))
        .collect();
    let unlocked: Vec<_> = crates.difference(&locked).collect();
    assert!(
        unlocked.is_empty(),
        "{what}: crates not at Cargo.lock's versions: {unlocked:?}"
    );
    for name in expected {
        assert!(
            crates.iter().any(|(n, _)| n == name),
            "{what}: the SBOM does not name {name} (are the binaries built with cargo auditable?)"
        );
    }
    crates.len()
}

#[test]
fn each_image_has_an_sbom_naming_its_crates_and_debian_packages_at_their_versions() {
    for (repository, _, _) in images() {
        let archive = archive(&repository);
        let expected = if repository.ends_with("-operator") {
            OPERATOR_CRATES
        } else {
            WIBER_CRATES
        };
        let crates = check_crates(&repository, &archive, expected);
        assert!(
            crates >= 100,
            "{repository}: only {crates} crates in its SBOM"
        );

        // The Debian packages the image records carrying, each with its status paragraph, in the
        // SBOM at that version and for the release /etc/os-release names.
        let scratch = Scratch::new();
        let image = unpacked(&repository, &scratch);
        let os_release =
            std::fs::read_to_string(image.rootfs.join("etc/os-release")).expect("os-release");
        let release = os_release
            .lines()
            .find_map(|l| l.strip_prefix("VERSION_ID="))
            .expect("VERSION_ID")
            .trim_matches('"')
            .to_owned();
        assert!(
            os_release.contains("\nID=debian\n"),
            "{repository}: {os_release}"
        );
        let libraries = std::fs::read_to_string(image.rootfs.join("usr/share/doc/wiber/libraries"))
            .expect("the image lists its libraries");
        let packages: BTreeSet<(String, String)> = libraries
            .lines()
            .filter_map(|l| {
                let mut words = l.split_whitespace();
                Some((words.next()?.to_owned(), words.next()?.to_owned()))
            })
            .collect();
        assert!(
            packages.iter().any(|(p, _)| p == "libc6"),
            "{repository}: {libraries}"
        );
        assert!(
            packages.iter().any(|(p, _)| p.starts_with("libssl")),
            "{repository}: {libraries}"
        );
        let debs: Vec<(String, String, BTreeMap<String, String>)> = sbom_purls(&archive)
            .into_iter()
            .filter(|(kind, ..)| kind == "deb")
            .map(|(_, name, version, q)| (name, version, q))
            .collect();
        for (package, version) in &packages {
            let status =
                std::fs::read_to_string(image.rootfs.join("var/lib/dpkg/status.d").join(package))
                    .unwrap_or_else(|e| panic!("{repository}: no dpkg status for {package}: {e}"));
            assert!(
                status.contains(&format!("Package: {package}\n"))
                    && status.contains(&format!("\nVersion: {version}\n")),
                "{repository}: status of {package} {version}: {status}"
            );
            assert!(
                debs.iter().any(|(n, v, q)| n == package
                    && v == version
                    && q.get("distro") == Some(&format!("debian-{release}"))),
                "{repository}: the SBOM lacks deb {package} {version} of debian-{release}: {debs:?}"
            );
        }
    }
}

#[test]
fn the_plugin_archive_has_an_sbom_naming_its_crates() {
    let crates = check_crates("kubectl-wiber", &plugin_archive(), PLUGIN_CRATES);
    assert!(
        crates >= 100,
        "kubectl-wiber: only {crates} crates in its SBOM"
    );
}

#[test]
fn a_package_url_reads_with_its_version_decoded() {
    let (kind, name, version, q) =
        purl("pkg:deb/debian/libssl3@3.0.17-1~deb12u2?arch=amd64&distro=debian-12")
            .expect("a purl");
    assert_eq!(
        (kind.as_str(), name.as_str(), version.as_str()),
        ("deb", "libssl3", "3.0.17-1~deb12u2")
    );
    assert_eq!(q["distro"], "debian-12");
    assert_eq!(
        purl("pkg:cargo/wiber-api@0.1.0%2Bx").expect("a purl").2,
        "0.1.0+x"
    );
}
