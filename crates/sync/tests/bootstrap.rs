//! Regenerates the gRPC code from `proto/` and fails if it differs from what is checked in
//! (`src/gen/`), so ordinary builds never need `protoc` and a contract change is a reviewed
//! diff. Needs `protoc` (Debian: protobuf-compiler); skips loudly without it, except under
//! `CI=true`.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::path::Path;

#[test]
fn generated_code_matches_the_proto() {
    if std::process::Command::new("protoc")
        .arg("--version")
        .output()
        .is_err()
    {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("protoc is required under CI=true (apt-get install protobuf-compiler)");
        }
        eprintln!(
            "\n*** SKIPPING: protoc not found; install protobuf-compiler to check src/gen ***\n"
        );
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = tempfile::tempdir().unwrap();
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .out_dir(out.path())
        .compile_protos(
            &[root.join("proto/gantry/sync/v1/sync.proto")],
            &[root.join("proto")],
        )
        .unwrap();
    let generated = std::fs::read_to_string(out.path().join("gantry.sync.v1.rs")).unwrap();
    let checked_in_path = root.join("src/gen/gantry.sync.v1.rs");
    let checked_in = std::fs::read_to_string(&checked_in_path).unwrap_or_default();
    if generated != checked_in {
        if std::env::var("GANTRY_UPDATE_GENERATED").is_ok() {
            std::fs::write(&checked_in_path, &generated).unwrap();
        } else {
            panic!(
                "src/gen/gantry.sync.v1.rs is stale; rerun with GANTRY_UPDATE_GENERATED=1 and commit the diff"
            );
        }
    }
}
