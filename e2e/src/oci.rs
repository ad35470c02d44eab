//! OCI image archives as `make images` writes them (an OCI layout in a tar), unpacked the way a
//! container runtime would: the index's one manifest, its config, and its layers applied in order
//! to an empty root filesystem. Uses the system's `tar`, which keeps owners and modes as root.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

pub struct UnpackedImage {
    /// The names the index gives the image (the OCI ref and containerd's annotations).
    pub names: Vec<String>,
    /// The image configuration: `config.User`, `config.Entrypoint`, `config.Labels`, ...
    pub config: Value,
    /// The manifest's annotations.
    pub annotations: Value,
    pub rootfs: PathBuf,
}

/// Runs `tar` with `args`, failing the test with its error output if it fails.
pub fn tar(args: &[&str]) {
    let out = Command::new("tar")
        .args(args)
        .output()
        .expect("tar is on the PATH");
    assert!(
        out.status.success(),
        "tar {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn json(path: &Path) -> Value {
    let text = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn blob(layout: &Path, descriptor: &Value) -> PathBuf {
    let digest = descriptor["digest"].as_str().expect("descriptor digest");
    let (algorithm, hex) = digest.split_once(':').expect("algorithm:hex digest");
    layout.join("blobs").join(algorithm).join(hex)
}

/// Unpacks `archive` under `dir` (which must not exist yet).
pub fn unpack(archive: &Path, dir: &Path) -> UnpackedImage {
    let layout = dir.join("layout");
    let rootfs = dir.join("rootfs");
    std::fs::create_dir_all(&layout).expect("layout dir");
    std::fs::create_dir_all(&rootfs).expect("rootfs dir");
    tar(&[
        "-xf",
        archive.to_str().expect("utf-8 path"),
        "-C",
        layout.to_str().expect("utf-8 path"),
    ]);
    assert_eq!(
        json(&layout.join("oci-layout"))["imageLayoutVersion"],
        "1.0.0",
        "{} is an OCI layout",
        archive.display()
    );
    let index = json(&layout.join("index.json"));
    let manifests = index["manifests"].as_array().expect("index manifests");
    assert_eq!(manifests.len(), 1, "one image per archive: {index}");
    let names = manifests[0]["annotations"]
        .as_object()
        .map(|a| {
            a.values()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let manifest = json(&blob(&layout, &manifests[0]));
    let config = json(&blob(&layout, &manifest["config"]));
    for layer in manifest["layers"].as_array().expect("manifest layers") {
        let media = layer["mediaType"].as_str().expect("layer media type");
        let compression = if media.ends_with("+gzip") { "-z" } else { "" };
        let path = blob(&layout, layer);
        let mut args = vec!["-x", "--same-owner", "-p"];
        if !compression.is_empty() {
            args.push(compression);
        }
        args.extend([
            "-f",
            path.to_str().expect("utf-8 path"),
            "-C",
            rootfs.to_str().expect("utf-8 path"),
        ]);
        tar(&args);
    }
    UnpackedImage {
        names,
        config,
        annotations: manifest["annotations"].clone(),
        rootfs,
    }
}
