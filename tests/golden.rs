//! Golden files made by the reference implementations (fixtures/make_fixtures.py): every case's
//! command must reproduce its file. .npy: same dtype, shape, order and data bytes as
//! numpy.save; .safetensors: the very same bytes as safetensors' save_file.

use std::path::Path;

use assert_cmd::Command;
use ndarray_npy::npy::header::Header;
use serde_json::Value;

fn npy_parts(bytes: &[u8]) -> (String, Vec<u8>) {
    let mut reader = bytes;
    let header = Header::from_reader(&mut reader).expect("an .npy header");
    (header.to_string(), reader.to_vec())
}

#[test]
fn every_golden_file_is_reproduced() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("cases.json")).unwrap()).unwrap();
    let cases = manifest["cases"].as_array().unwrap();
    assert!(
        cases.len() > 100,
        "the manifest lists {} cases",
        cases.len()
    );
    let dir = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for case in cases {
        let file = case["file"].as_str().unwrap();
        let args: Vec<&str> = case["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        let out = dir.path().join(file);
        Command::cargo_bin("dirac-init")
            .unwrap()
            .args(&args)
            .arg("-o")
            .arg(&out)
            .assert()
            .success()
            .stdout("")
            .stderr("");
        let ours = std::fs::read(&out).unwrap();
        let golden = std::fs::read(root.join(file)).unwrap();
        let same = match case["format"].as_str().unwrap() {
            "npy" => npy_parts(&ours) == npy_parts(&golden),
            _ => ours == golden,
        };
        if !same {
            failures.push(format!("{file}: dirac-init {}", args.join(" ")));
        }
    }
    assert!(
        failures.is_empty(),
        "differ from the reference:\n{}",
        failures.join("\n")
    );
}
