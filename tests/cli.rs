//! The command line: outputs, stdout, atomic files, and one clear line for every bad input.

use std::path::Path;

use assert_cmd::Command;
use predicates::prelude::*;

fn cmd() -> Command {
    Command::cargo_bin("dirac-init").unwrap()
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Runs `args` in an empty directory and checks: exit `code`, nothing on stdout, one line on
/// stderr that contains `needle`, and no file left behind.
fn refuses(args: &[&str], code: i32, needle: &str) {
    let dir = tempfile::tempdir().unwrap();
    let out = cmd().current_dir(dir.path()).args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
    assert!(out.stdout.is_empty(), "{args:?} wrote to stdout");
    assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
    assert!(
        stderr.contains(needle),
        "{args:?}: {stderr:?} does not name {needle:?}"
    );
    assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    assert!(
        files_in(dir.path()).is_empty(),
        "{args:?} left {:?}",
        files_in(dir.path())
    );
}

#[test]
fn bad_values_get_one_line_and_exit_2() {
    let cases: &[(&[&str], &str)] = &[
        (&["-o", "w.npy"], "no shape"),
        (&["64", "-o", "w.npy"], "at least 2"),
        (&["64", "0", "3", "-o", "w.npy"], "is 0"),
        (&["64", "-3", "-o", "w.npy"], "'-3'"),
        (&["64", "abc", "-o", "w.npy"], "'abc'"),
        (&["64x64x", "-o", "w.npy"], "'64x64x'"),
        (&["64xx3", "-o", "w.npy"], "'64xx3'"),
        (
            &["4294967296", "4294967296", "4", "-o", "w.npy"],
            "too large",
        ),
        (
            &["99999999999999999999", "2", "-o", "w.npy"],
            "'99999999999999999999'",
        ),
        (&["6", "4", "-g", "0", "-o", "w.npy"], "0 does not divide"),
        (
            &["6", "4", "-g", "4", "-o", "w.npy"],
            "4 does not divide the 6",
        ),
        (
            &[
                "3", "3", "4", "6", "--layout", "hwio", "-g", "4", "-o", "w.npy",
            ],
            "4 does not divide the 6",
        ),
        (&["6", "4", "-g", "x", "-o", "w.npy"], "'x'"),
        (&["6", "4", "-t", "f7", "-o", "w.npy"], "'f7'"),
        (&["6", "4", "-f", "png", "-o", "w.npy"], "'png'"),
        (&["6", "4", "--layout", "nchw", "-o", "w.npy"], "'nchw'"),
        (&["6", "4", "-o", "w.bin"], "w.bin"),
        (&["6", "4", "-o", "w"], "'w'"),
        (
            &["6", "4", "--metadata", "novalue", "-o", "w.safetensors"],
            "'novalue'",
        ),
        (
            &["6", "4", "--metadata", "=v", "-o", "w.safetensors"],
            "'=v'",
        ),
        (
            &["6", "4", "--metadata", "k=v", "-o", "w.npy"],
            "--metadata",
        ),
        (&["6", "4", "--gain", "nan", "-o", "w.npy"], "'nan'"),
        (&["6", "4", "--gain", "inf", "-o", "w.npy"], "'inf'"),
        (&["6", "4", "--gain", "abc", "-o", "w.npy"], "'abc'"),
        (
            &["6", "4", "--gain", "0.5", "-t", "i32", "-o", "w.npy"],
            "0.5",
        ),
        (
            &["6", "4", "--gain", "300", "-t", "u8", "-o", "w.npy"],
            "300",
        ),
        (
            &["6", "4", "--gain", "-1", "-t", "u16", "-o", "w.npy"],
            "-1",
        ),
        (
            &["6", "4", "--gain", "2", "-t", "bool", "-o", "w.npy"],
            "0 or 1",
        ),
        (
            &["6", "4", "--gain", "70000", "-t", "f16", "-o", "w.npy"],
            "70000",
        ),
        (
            &[
                "6",
                "4",
                "--gain",
                "500",
                "-t",
                "f8e4m3",
                "-o",
                "w.safetensors",
            ],
            "500",
        ),
        (
            &[
                "6",
                "4",
                "--gain",
                "1e-50",
                "-t",
                "bf16",
                "-o",
                "w.safetensors",
            ],
            "1e-50",
        ),
        (&["6", "4", "-t", "bf16", "-o", "w.npy"], "bf16"),
        (&["6", "4", "-t", "f8e5m2", "-o", "w.npy"], "f8e5m2"),
        (&["6", "4", "--bogus"], "--bogus"),
        (&["4", "4", "--name", "", "-o", "w.safetensors"], "empty"),
        (
            &["4", "4", "--name", "__metadata__", "-o", "w.safetensors"],
            "'__metadata__'",
        ),
        (
            &[&format!("{}2", "1x".repeat(64)), "-o", "w.npy"],
            "at most 64 dimensions",
        ),
    ];
    for (args, needle) in cases {
        refuses(args, 2, needle);
    }
}

#[test]
fn io_failures_exit_1() {
    refuses(
        &["6", "4", "-o", "missing/dir/w.npy"],
        1,
        "missing/dir/w.npy",
    );
    let out = cmd().args(["6", "4", "-o", "/dev/full"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("/dev/full"), "{stderr}");
    // .npz's errors name the output too
    let out = cmd()
        .args(["6", "4", "-f", "npz", "-o", "/dev/full"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("'/dev/full'"), "{stderr}");
    // stdout on a full device, too
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("dirac-init"))
        .args(["64", "64", "3", "3"])
        .stdout(full)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("stdout"));
}

#[test]
fn unwritable_directory_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    cmd()
        .arg("2")
        .arg("2")
        .arg("-o")
        .arg(file.join("w.npy"))
        .assert()
        .code(1)
        .stdout("");
}

#[test]
fn stdout_carries_the_same_bytes_as_a_file() {
    for format in ["npy", "safetensors", "npz"] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(format!("w.{format}"));
        cmd()
            .args(["32", "16", "3", "3", "-o"])
            .arg(&path)
            .assert()
            .success()
            .stdout("")
            .stderr("");
        let file = std::fs::read(&path).unwrap();
        let piped = cmd().args(["32x16x3x3", "-f", format]).output().unwrap();
        assert!(piped.status.success());
        assert!(piped.stderr.is_empty());
        assert_eq!(piped.stdout, file, "{format}");
        let dash = cmd()
            .args(["32,16,3,3", "-f", format, "-o", "-"])
            .output()
            .unwrap();
        assert_eq!(dash.stdout, file, "{format}");
    }
    // stdout defaults to npy
    let out = cmd().args(["2", "2"]).output().unwrap();
    assert!(out.stdout.starts_with(b"\x93NUMPY"));
}

#[test]
fn special_files_are_written_in_place() {
    use std::os::unix::fs::FileTypeExt;
    cmd()
        .args(["64", "64", "3", "3", "-o", "/dev/null"])
        .assert()
        .success();
    let null = std::fs::metadata("/dev/null").unwrap();
    assert!(
        null.file_type().is_char_device(),
        "/dev/null was not replaced"
    );

    // A FIFO gets the stream, as stdout does.
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read(fifo).unwrap())
    };
    cmd()
        .args(["8", "8", "3", "3", "-o"])
        .arg(&fifo)
        .assert()
        .success();
    let through_fifo = reader.join().unwrap();
    let stdout = cmd().args(["8", "8", "3", "3"]).output().unwrap().stdout;
    assert_eq!(through_fifo, stdout);
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
}

#[test]
fn a_failed_run_leaves_an_existing_file_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.npy");
    std::fs::write(&path, b"precious").unwrap();
    cmd()
        .args(["6", "4", "-g", "4", "-o"])
        .arg(&path)
        .assert()
        .code(2);
    cmd()
        .args(["6", "4", "-t", "bf16", "-o"])
        .arg(&path)
        .assert()
        .code(2);
    assert_eq!(std::fs::read(&path).unwrap(), b"precious");
    cmd().args(["6", "4", "-o"]).arg(&path).assert().success();
    let replaced = std::fs::read(&path).unwrap();
    assert!(replaced.starts_with(b"\x93NUMPY"));
    assert_eq!(
        files_in(dir.path()),
        ["w.npy"],
        "no temporary file is left behind"
    );
}

#[test]
fn output_is_deterministic() {
    let run = || {
        cmd()
            .args(["8", "8", "3", "3", "-f", "safetensors"])
            .args([
                "--metadata",
                "b=2",
                "--metadata",
                "a=1",
                "--metadata",
                "c=3",
                "--metadata",
                "format=pt",
            ])
            .output()
            .unwrap()
            .stdout
    };
    let first = run();
    for _ in 0..5 {
        assert_eq!(run(), first);
    }
    assert!(
        String::from_utf8_lossy(&first)
            .contains(r#"{"__metadata__":{"a":"1","b":"2","c":"3","format":"pt"}"#)
    );
}

#[test]
fn negative_gain_parses_as_typed() {
    let out = cmd()
        .args(["2", "2", "--gain", "-1.5", "-f", "safetensors"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let st = safetensors::SafeTensors::deserialize(&out.stdout).unwrap();
    assert_eq!(
        &st.tensor("weight").unwrap().data()[..4],
        (-1.5f32).to_le_bytes()
    );
    let eq = cmd()
        .args(["2", "2", "--gain=-1.5", "-f", "safetensors"])
        .output()
        .unwrap();
    assert_eq!(eq.stdout, out.stdout);
}

#[test]
fn name_and_metadata_reach_the_safetensors_header() {
    let out = cmd()
        .args([
            "4",
            "4",
            "-f",
            "safetensors",
            "--name",
            "conv.weight",
            "--metadata",
            "format=pt",
        ])
        .output()
        .unwrap();
    let (_, meta) = safetensors::SafeTensors::read_metadata(&out.stdout).unwrap();
    assert!(meta.info("conv.weight").is_some());
    assert_eq!(meta.metadata().as_ref().unwrap()["format"], "pt");
}

#[test]
fn help_shows_options_and_examples() {
    cmd().arg("--help").assert().success().stdout(
        predicate::str::contains("--dtype")
            .and(predicate::str::contains("--layout"))
            .and(predicate::str::contains("--gain"))
            .and(predicate::str::contains("Examples:"))
            .and(predicate::str::contains(
                "dirac-init 64 64 3 3 --dtype f32 -o w.npy",
            )),
    );
}

#[test]
fn a_terminal_never_gets_binary() {
    // `script` gives the command a pseudo-terminal as stdout.
    if which("script").is_none() {
        panic!("the `script` command (util-linux) is needed for this test");
    }
    let bin = assert_cmd::cargo::cargo_bin("dirac-init");
    let out = std::process::Command::new("script")
        .args(["-qec", &format!("{} 4 4", bin.display()), "/dev/null"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("terminal"), "{text}");
    assert!(!text.contains("NUMPY"), "{text}");
    // nor through its device path
    let out = std::process::Command::new("script")
        .args([
            "-qec",
            &format!("{} 4 4 -o /dev/stdout", bin.display()),
            "/dev/null",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("NUMPY"));
}

fn which(name: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(name))
        .find(|p| p.exists())
}

#[test]
fn a_reader_that_stops_early_is_not_an_error() {
    let bin = assert_cmd::cargo::cargo_bin("dirac-init");
    let out = std::process::Command::new("bash")
        .args([
            "-c",
            &format!(
                "{} 4096 4096 3 3 | head -c 100 > /dev/null; echo ${{PIPESTATUS[0]}}",
                bin.display()
            ),
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "0");
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn an_interrupted_run_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("m.npz"), b"precious").unwrap();
    // A large .npz is streamed through the zip writer: seconds of work to interrupt.
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("dirac-init"))
        .current_dir(dir.path())
        .args([
            "--tensor",
            "a=100000x100000:dtype=u8",
            "--tensor",
            "b=2x2",
            "-o",
            "m.npz",
        ])
        .spawn()
        .unwrap();
    // Wait until the temporary file exists, then interrupt.
    let started = std::time::Instant::now();
    while files_in(dir.path()).len() < 2 && started.elapsed().as_secs() < 20 {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert_eq!(files_in(dir.path()).len(), 2, "the temporary file appears");
    std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    assert_eq!(files_in(dir.path()), ["m.npz"]);
    assert_eq!(
        std::fs::read(dir.path().join("m.npz")).unwrap(),
        b"precious"
    );
}

#[test]
fn a_symlink_keeps_pointing_at_the_replaced_file() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("real.npy");
    std::fs::write(&real, b"old").unwrap();
    let link = dir.path().join("link.npy");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    cmd().args(["3", "3", "-o"]).arg(&link).assert().success();
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(std::fs::read(&real).unwrap().starts_with(b"\x93NUMPY"));
    // a link whose target does not exist yet, relative, through a second link
    std::os::unix::fs::symlink("new.npy", dir.path().join("dangling.npy")).unwrap();
    std::os::unix::fs::symlink("dangling.npy", dir.path().join("chain.npy")).unwrap();
    cmd()
        .args(["3", "3", "-o"])
        .arg(dir.path().join("chain.npy"))
        .assert()
        .success();
    assert!(
        std::fs::read(dir.path().join("new.npy"))
            .unwrap()
            .starts_with(b"\x93NUMPY")
    );
    let chain = std::fs::symlink_metadata(dir.path().join("chain.npy")).unwrap();
    assert!(chain.file_type().is_symlink());
}

#[test]
fn a_replaced_file_keeps_its_permissions() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.npy");
    std::fs::write(&path, b"old").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    cmd().args(["3", "3", "-o"]).arg(&path).assert().success();
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o640
    );
}

#[test]
fn memory_stays_bounded_on_every_path() {
    // Under a 64 MiB address-space limit, far below the tensors' sizes (604 MB, and 80 MB in
    // which every element is a non-zero), every path still succeeds.
    let bin = assert_cmd::cargo::cargo_bin("dirac-init");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let b = bin.display();
    for run in [
        format!("{b} 4096 4096 3 3 -o {d}/a.npy"),
        format!("{b} 10000000 1 1 -g 10000000 -t f64 -o {d}/b.npy"),
        format!("{b} 4096 4096 3 3 | cat > /dev/null"),
        format!("{b} 10000000x1x1 -g 10000000 -t f64 | cat > /dev/null"),
        format!(
            "{b} --tensor a=4096x4096x3x3 --tensor b=10000000x1x1:groups=10000000:dtype=f64 -o {d}/c.safetensors"
        ),
        format!(
            "{b} --tensor a=4096x4096x3x3 --tensor b=10000000x1x1:groups=10000000:dtype=f64 -o {d}/d.npz"
        ),
    ] {
        let out = std::process::Command::new("bash")
            .args(["-c", &format!("ulimit -v 65536; {run}")])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{run}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn stdout_redirected_to_a_file_is_sparse_and_exact() {
    let bin = assert_cmd::cargo::cargo_bin("dirac-init");
    let dir = tempfile::tempdir().unwrap();
    let sh = |script: &str| {
        let out = std::process::Command::new("bash")
            .current_dir(dir.path())
            .args(["-c", &script.replace("BIN", &bin.display().to_string())])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{script}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let read = |name: &str| std::fs::read(dir.path().join(name)).unwrap();
    let expected = cmd()
        .args(["512", "512", "3", "3"])
        .output()
        .unwrap()
        .stdout;
    // `>`: positioned writes, and the file is sparse
    sh("BIN 512 512 3 3 > plain.npy");
    assert_eq!(read("plain.npy"), expected);
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(dir.path().join("plain.npy")).unwrap();
    assert!(
        meta.blocks() * 512 < meta.len() / 4,
        "{} blocks for {} bytes",
        meta.blocks(),
        meta.len()
    );
    // `>>` (append mode): streamed after what was there
    sh("echo hi > appended; BIN 512 512 3 3 >> appended");
    assert_eq!(
        read("appended"),
        [b"hi\n".to_vec(), expected.clone()].concat()
    );
    // in a group: what follows lands after the tensor
    sh("{ echo hi; BIN 512 512 3 3; echo bye; } > grouped");
    assert_eq!(
        read("grouped"),
        [b"hi\n".to_vec(), expected, b"bye\n".to_vec()].concat()
    );
}
