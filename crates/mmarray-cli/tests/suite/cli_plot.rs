//! `mmarray plot`: valid pictures of the right size that are not blank.

use std::os::unix::fs::FileTypeExt;
use std::path::Path;

use assert_cmd::Command;

fn mmarray() -> Command {
    Command::cargo_bin("mmarray").unwrap()
}

/// Width, height and the number of distinct colours of a PNG.
fn decode(path: &Path) -> (u32, u32, usize) {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let px = info.color_type.samples();
    let mut colours: Vec<&[u8]> = buf[..info.buffer_size()].chunks(px).collect();
    colours.sort_unstable();
    colours.dedup();
    (info.width, info.height, colours.len())
}

fn create(path: &Path, dtype: &str, shape: &str) {
    mmarray().args(["create", "--dtype", dtype, "--shape", shape, "--fill", "random"]).arg(path).assert().success();
}

#[test]
fn plots_every_kind_of_array() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    create(&d.join("series.npy"), "f4", "300000");
    create(&d.join("grid.npy"), "f8", "300,500");
    create(&d.join("img.npy"), "u1", "120,160,3");
    create(&d.join("steps.npy"), "f4", "20,4,10,10");

    let cases: &[(&str, &[&str], u32, u32)] = &[
        ("series.npy", &[], 1000, 600),
        ("series.npy", &["--slice", "1000:1500", "--width", "640", "--height", "400"], 640, 400),
        ("grid.npy", &["--cmap", "gray", "--vmin", "0.2", "--vmax", "0.8"], 1000, 600),
        ("img.npy", &[], 160, 120),
        ("img.npy", &["--max-size", "80"], 80, 60),
        ("steps.npy", &["--stat", "meansq", "--axis", "1,2,3"], 1000, 600),
        ("grid.npy", &["--slice", "5"], 1000, 600),
    ];
    for (i, (file, extra, w, h)) in cases.iter().enumerate() {
        let out = d.join(format!("p{i}.png"));
        mmarray().arg("plot").arg(d.join(file)).args(*extra).arg("-o").arg(&out).assert().success();
        let (pw, ph, colours) = decode(&out);
        assert_eq!((pw, ph), (*w, *h), "case {i}: {file} {extra:?}");
        assert!(colours > 20, "case {i}: {file} {extra:?} looks blank ({colours} colours)");
    }
    let svg = d.join("grid.svg");
    mmarray().arg("plot").arg(d.join("grid.npy")).arg("-o").arg(&svg).assert().success();
    assert!(std::fs::read_to_string(&svg).unwrap().starts_with("<svg"));
}

#[test]
fn plot_errors_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    create(&d.join("c.npy"), "f4", "4,5,6");
    for (args, needle) in [
        (vec!["-o", "x.jpg"], "must end in .png or .svg"),
        (vec!["-o", "x.png"], "3-D data: pick a 1-D or 2-D part"),
        (vec!["-o", "x.png", "--stat", "mean"], "--stat needs --axis"),
        (vec!["-o", "x.png", "--cmap", "jet", "--slice", "0"], "unknown --cmap"),
    ] {
        let out = mmarray().current_dir(d).arg("plot").arg(d.join("c.npy")).args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&out.stderr).contains(needle), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

#[test]
fn the_demo_runs_and_checks_itself() {
    let dir = tempfile::tempdir().unwrap();
    let out = mmarray().args(["demo", "--size", "small", "--dir"]).arg(dir.path()).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    for needle in ["1 grid", "2 simulation", "3 image", "4 time series", "5 access", "6 workers", "7 solver", "max after = 1", "residual"] {
        assert!(text.contains(needle), "{needle:?} missing from the demo's table:\n{text}");
    }
    let report = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    assert!(report.contains("| workload | operation |") && report.contains("![Mean kinetic energy per time step](kinetic_energy.png)"));
    for png in ["kinetic_energy.png", "image_crop.png", "rolling_variance.png"] {
        let (w, h, colours) = decode(&dir.path().join(png));
        assert!(w > 100 && h > 100 && colours > 10, "{png}: {w}x{h}, {colours} colours");
    }
    // data files are deleted without --keep
    assert!(!dir.path().join("grid.npy").exists());
}

/// Issue 11: a plot killed while drawing leaves its hidden temporary
/// picture; the next plot of that name removes those of dead processes
/// (and only those).
#[test]
fn stale_temporary_pictures_of_dead_plots_are_removed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    create(&d.join("img.npy"), "f4", "50,50");
    // this machine's and PID namespace's tag, as the command computes it
    let tag = mmarray::temporary_name(std::path::Path::new("q.png"), "");
    let tag = tag.to_string_lossy();
    let here = tag.rsplit_once('-').unwrap().1.trim_end_matches(".tmp").to_string();
    let name = |file: &str, pid: &str, place: &str| format!(".{file}.mmarray-{pid}-0-{place}.tmp.png");
    let dead = name("q.png", "999999999", &here);
    let live = name("q.png", "1", &here);
    let other_name = name("other.png", "999999999", &here);
    // another container's (or machine's) PID 999999999 may well be alive
    let elsewhere = name("q.png", "999999999", if here == "deadbeef" { "feedface" } else { "deadbeef" });
    for stale in [&dead, &live, &other_name, &elsewhere] {
        std::fs::write(d.join(stale), b"half a picture").unwrap();
    }
    mmarray().current_dir(d).args(["plot", "img.npy", "-o", "q.png"]).assert().success();
    assert!(!d.join(&dead).exists(), "a dead process's temporary stayed");
    assert!(d.join(&live).exists(), "a live process's temporary was removed");
    assert!(d.join(&other_name).exists(), "another name's temporary was removed");
    assert!(d.join(&elsewhere).exists(), "another PID namespace's temporary was removed");
}

/// An output name that is a symbolic link, a FIFO or a directory is
/// refused by `plot` (and by `create --force`) with an error naming it,
/// never replaced by a regular file. (Was: plot silently replaced a link
/// or a FIFO.)
#[test]
fn outputs_that_are_not_regular_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    create(&d.join("img.npy"), "f4", "20,20");
    std::fs::write(d.join("target.png"), b"keep me").unwrap();
    std::os::unix::fs::symlink("target.png", d.join("link.png")).unwrap();
    std::fs::create_dir(d.join("dir.png")).unwrap();
    let fifo = d.join("fifo.png");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    for (name, what) in [("link.png", "a symbolic link"), ("fifo.png", "not a regular file"), ("dir.png", "a directory")] {
        let out = mmarray().current_dir(d).args(["plot", "img.npy", "-o", name]).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name}: {err}");
        assert!(err.starts_with(&format!("error: {name}: is {what}; plot replaces only regular files")), "{err}");
        let out = mmarray().current_dir(d).args(["create", name, "--dtype", "f4", "--shape", "3", "--force"]).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name}: {err}");
        assert!(err.starts_with(&format!("error: {name}: is {what}; --force replaces only regular files")), "{err}");
    }
    assert!(std::fs::symlink_metadata(d.join("link.png")).unwrap().file_type().is_symlink());
    assert_eq!(std::fs::read(d.join("target.png")).unwrap(), b"keep me");
    assert!(std::fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
}
