//! The engine's thread setting (`compute::set_threads`, `MMARRAY_THREADS`,
//! `compute::install`), in child processes: the setting is process-wide.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use mmarray::compute::{install, set_threads, summary, threads, with_progress, NanPolicy};
use mmarray::ErrorKind;
use rayon::prelude::*;

const CHILD: &str = "MMARRAY_TEST_THREADS_CHILD";

/// The names of the threads a parallel loop inside `install` ran on.
fn names_inside_install() -> BTreeSet<String> {
    install(|| {
        (0..1 << 16)
            .into_par_iter()
            .map(|_| std::thread::current().name().unwrap_or("").to_string())
            .collect::<Vec<_>>()
            .into_iter()
            .collect()
    })
}

/// Runs in a child process with `MMARRAY_THREADS` as the parent set it.
#[test]
fn child() {
    let Some(expect) = std::env::var_os(CHILD) else { return };
    let expect: usize = expect.to_str().unwrap().parse().unwrap();
    // the environment variable, read by set_threads(None)
    set_threads(None).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(threads(), expect);
    let names = names_inside_install();
    let pool: BTreeSet<String> = (0..expect).map(|i| format!("mmarray-{i}")).collect();
    assert!(names.is_subset(&pool), "ran on {names:?}, not only on {pool:?}");
    // an explicit count beats it; the loop runs on exactly those threads
    set_threads(Some(3)).unwrap();
    assert_eq!(threads(), 3);
    assert_eq!(install(rayon::current_num_threads), 3);
    assert!(names_inside_install().is_subset(&(0..3).map(|i| format!("mmarray-{i}")).collect()));
    // the caller's progress counter goes along onto the pool
    let a = ndarray::Array1::<f64>::ones(1 << 20);
    let done = Arc::new(AtomicU64::new(0));
    let m = with_progress(done.clone(), || install(|| summary(&a.view(), NanPolicy::Propagate)));
    assert_eq!((m.sum(), done.load(Ordering::Relaxed)), ((1 << 20) as f64, 8 << 20));
    // a panic inside comes back to the caller, and the pool still works
    let caught = std::panic::catch_unwind(|| install(|| panic!("inside the pool")));
    assert!(caught.is_err());
    assert_eq!(install(rayon::current_num_threads), 3);
    // bad counts are errors, and leave the setting as it was
    assert_eq!(set_threads(Some(0)).unwrap_err().kind(), ErrorKind::InvalidArgument);
    assert_eq!(set_threads(Some(1 << 20)).unwrap_err().kind(), ErrorKind::InvalidArgument);
    assert_eq!(threads(), 3);
    println!("CHILD-OK");
}

fn run_child(env: &str, expect: usize) -> std::process::Output {
    std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "threads::child", "--nocapture", "--test-threads=1"])
        .env(CHILD, expect.to_string())
        .env("MMARRAY_THREADS", env)
        .output()
        .unwrap()
}

#[test]
fn mmarray_threads_and_set_threads_bound_the_pool() {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    for (env, expect) in [("1", 1), ("5", 5), (" 2 ", 2), ("0", cores)] {
        let out = run_child(env, expect);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success() && text.contains("CHILD-OK"), "MMARRAY_THREADS={env:?}: {text}{}", String::from_utf8_lossy(&out.stderr));
    }
}

#[test]
fn a_bad_mmarray_threads_is_an_error_naming_it() {
    for bad in ["abc", "-1", "1.5", "99999"] {
        let out = run_child(bad, 1);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "MMARRAY_THREADS={bad:?} was accepted");
        assert!(err.contains(&format!("MMARRAY_THREADS=\"{bad}\" is not a thread count")), "{err}");
    }
}
