//! The OCI images `make images` builds (`WIBER_IMAGES_DIR`, set by `make test`), checked the way a
//! cluster would use them: unpacked layer by layer, their binaries run from the image's own root
//! filesystem (chroot, as the image's user), the API and consumer carrying a message from Kafka to
//! the store, and each archive loaded by podman under the name the charts and the operator expect.

use std::path::{Path, PathBuf};
use std::process::Command;

use wiber_e2e::oci::{UnpackedImage, tar, unpack};
use wiber_e2e::stack::{Binaries, Wiber, message_id};
use wiber_e2e::{repo, required_env, unique_name};
use wiber_operator::crd::DEFAULT_IMAGE;

use crate::STORED_WITHIN;

const VERSION: &str = env!("CARGO_PKG_VERSION");

/// (image repository, binaries it must hold, its entrypoint)
pub(crate) fn images() -> [(String, &'static [&'static str], &'static str); 2] {
    [
        (
            DEFAULT_IMAGE.to_owned(),
            &["wiber-api", "wiber-consumer"],
            "wiber-api",
        ),
        (
            format!("{DEFAULT_IMAGE}-operator"),
            &["wiber-operator"],
            "wiber-operator",
        ),
    ]
}

pub(crate) fn archive(repository: &str) -> PathBuf {
    let name = repository.rsplit('/').next().expect("repository name");
    let path =
        PathBuf::from(required_env("WIBER_IMAGES_DIR")).join(format!("{name}-{VERSION}.oci.tar"));
    assert!(
        path.exists(),
        "{} is missing: `make images` writes it",
        path.display()
    );
    path
}

/// A scratch directory under target/, removed when dropped (its files are root's, from the layers).
pub(crate) struct Scratch(pub(crate) PathBuf);

impl Scratch {
    pub(crate) fn new() -> Self {
        let dir = repo().join("target/e2e-images").join(unique_name("image"));
        Self(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub(crate) fn unpacked(repository: &str, scratch: &Scratch) -> UnpackedImage {
    assert!(
        is_root(),
        "the image tests enter the images with chroot, which needs root (CI runs as root)"
    );
    unpack(&archive(repository), &scratch.0)
}

fn is_root() -> bool {
    let out = Command::new("id").arg("-u").output().expect("id -u");
    String::from_utf8_lossy(&out.stdout).trim() == "0"
}

fn chroot(rootfs: &Path, user: &str, args: &[&str]) -> std::process::Output {
    Command::new("chroot")
        .arg(format!("--userspec={user}"))
        .arg(rootfs)
        .args(args)
        .output()
        .expect("chroot")
}

#[test]
fn each_image_is_named_labelled_and_runs_its_binaries_as_a_non_root_user() {
    for (repository, binaries, entrypoint) in images() {
        let scratch = Scratch::new();
        let image = unpacked(&repository, &scratch);
        let reference = format!("{repository}:{VERSION}");
        assert!(
            !image.names.is_empty() && image.names.iter().all(|n| *n == reference),
            "{reference}: the index names it {:?}",
            image.names
        );
        let config = &image.config["config"];
        assert_eq!(
            config["User"], "65532:65532",
            "{reference} runs as non-root"
        );
        assert_eq!(
            config["Entrypoint"][0],
            format!("/usr/local/bin/{entrypoint}"),
            "{reference}"
        );
        for (key, expected) in [
            ("org.opencontainers.image.version", VERSION),
            ("org.opencontainers.image.licenses", "Apache-2.0"),
            (
                "org.opencontainers.image.source",
                "https://github.com/wiber-io/wiber",
            ),
        ] {
            assert_eq!(config["Labels"][key], expected, "{reference} label {key}");
            assert_eq!(
                image.annotations[key], expected,
                "{reference} annotation {key}"
            );
        }
        assert_eq!(image.config["os"], "linux");
        let env: Vec<&str> = config["Env"]
            .as_array()
            .expect("image env")
            .iter()
            .filter_map(|v| v.as_str())
            .collect();
        assert!(
            env.contains(&"PATH=/usr/local/bin"),
            "{reference}: the operator runs the binaries by name: {env:?}"
        );

        let user = config["User"].as_str().expect("user");
        for binary in binaries {
            let inside = format!("/usr/local/bin/{binary}");
            let out = chroot(&image.rootfs, user, &[&inside, "--version"]);
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success(),
                "{reference}: {binary} --version failed in the image's root filesystem: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(stdout.trim(), format!("{binary} {VERSION}"), "{reference}");
        }
        // Nothing but what the binaries need: no shell to exec into, the licence and the list of
        // the Debian libraries carried.
        assert!(
            !image.rootfs.join("bin/sh").exists(),
            "{reference} has a shell"
        );
        let libraries = std::fs::read_to_string(image.rootfs.join("usr/share/doc/wiber/libraries"))
            .expect("the image lists its libraries");
        assert!(libraries.contains("libc6 "), "{reference}: {libraries}");
        let license = std::fs::read_to_string(image.rootfs.join("usr/share/doc/wiber/LICENSE"))
            .expect("the image carries the licence");
        assert!(license.contains("Apache License"), "{reference}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_and_consumer_from_the_image_carry_a_message_to_the_store() {
    let scratch = Scratch::new();
    let image = unpacked(DEFAULT_IMAGE, &scratch);
    let binaries = Binaries::Image {
        rootfs: image.rootfs.clone(),
        user: image.config["config"]["User"]
            .as_str()
            .expect("user")
            .to_owned(),
    };
    // Both wait for their readiness endpoints, served from inside the image.
    let wiber = Wiber::start_from(binaries).await;
    let consumer = wiber.consumer().await;
    let sent = wiber.send("alice", "bob", "from the image").await;
    let ids = [message_id(&sent)].into_iter().collect();
    wiber.assert_stored_exactly_once(&ids, STORED_WITHIN).await;
    assert!(
        consumer
            .metric(&wiber.http, "wiber_consumer_messages_stored_total")
            .await
            >= 1.0
    );
}

#[test]
fn podman_loads_each_archive_under_the_name_the_charts_use() {
    // podman refuses a run root longer than 50 characters.
    let scratch = Scratch(std::env::temp_dir().join(&unique_name("podman")[..19]));
    let storage = scratch.0.join("storage");
    let run = scratch.0.join("run");
    for (repository, _, _) in images() {
        let out = Command::new(required_env("WIBER_PODMAN_BIN"))
            .arg("--root")
            .arg(&storage)
            .arg("--runroot")
            .arg(&run)
            .args(["--storage-driver", "vfs", "load", "--input"])
            .arg(archive(&repository))
            .output()
            .expect("podman");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "podman load {repository}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.contains(&format!("Loaded image: {repository}:{VERSION}")),
            "{stdout}"
        );
    }
}

/// compose.yaml cannot run here (no container runtime); it must at least name these images and
/// only variables the binaries document.
#[test]
fn the_compose_file_runs_these_images_with_documented_variables() {
    let compose: serde_json::Value =
        yaml_serde::from_str(&std::fs::read_to_string(repo().join("compose.yaml")).unwrap())
            .expect("compose.yaml is YAML");
    let documented =
        std::fs::read_to_string(repo().join("docs/reference/configuration.md")).unwrap();
    for (service, binary) in [("api", "wiber-api"), ("consumer", "wiber-consumer")] {
        let s = &compose["services"][service];
        assert_eq!(
            s["image"],
            format!("{DEFAULT_IMAGE}:{VERSION}"),
            "{service}"
        );
        assert_eq!(
            s["command"][0],
            format!("/usr/local/bin/{binary}"),
            "{service}"
        );
        for key in s["environment"].as_object().expect("environment").keys() {
            assert!(
                documented.contains(&format!("`{key}`")),
                "{service}: {key} is not a variable docs/reference/configuration.md documents"
            );
        }
    }
}

/// The kubectl plugin's archive for this machine's architecture.
pub(crate) fn plugin_archive() -> PathBuf {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    let name = format!("kubectl-wiber-{VERSION}-linux-{arch}.tar.gz");
    let path = PathBuf::from(required_env("WIBER_IMAGES_DIR")).join(&name);
    assert!(path.exists(), "{name} is missing: `make images` writes it");
    path
}

#[test]
fn the_plugin_archive_beside_the_images_holds_a_kubectl_wiber_that_runs() {
    let path = plugin_archive();
    let scratch = Scratch::new();
    std::fs::create_dir_all(&scratch.0).expect("a scratch directory");
    tar(&[
        "-xzf",
        path.to_str().expect("a UTF-8 path"),
        "-C",
        scratch.0.to_str().expect("a UTF-8 path"),
    ]);
    assert!(
        scratch.0.join("LICENSE").exists(),
        "the licence travels with it"
    );
    let version = Command::new(scratch.0.join("kubectl-wiber"))
        .arg("--version")
        .output()
        .expect("the plugin runs");
    assert_eq!(
        String::from_utf8_lossy(&version.stdout),
        format!("kubectl wiber {VERSION}\n")
    );
}
