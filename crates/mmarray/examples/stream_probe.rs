//! Measures ways of streaming one cold pass over a file larger than RAM (a
//! float32 sum on every engine thread), to choose the engine's strategy
//! (issue 14; the numbers are in `compute/stream.rs`):
//!
//! `stream_probe FILE STRATEGY [--window MIB] [--ahead N] [--behind B]`
//!
//! - `rayon`: the pass split by rayon's divide and conquer (each thread its
//!   own far-apart part of the file), kernel read-ahead only
//! - `windows`: windows of `--window` MiB in file order, each split among
//!   the threads; kernel read-ahead only
//! - `willneed`: `windows`, and `MADV_WILLNEED` on the window `--ahead`
//!   windows ahead before each window
//! - `populate`: a reader thread runs `MADV_POPULATE_READ` on each window,
//!   at most `--ahead` windows ahead of the threads that sum
//! - `willpop`: `populate`, with `MADV_WILLNEED` over the window in 2 MiB
//!   steps first (large reads whatever the device's read-ahead setting)
//! - `readahead`: a reader thread runs `readahead(2)` on each window, at
//!   most `--ahead` windows ahead
//! - `read`: no mapping: a reader thread `pread`s each window into one of
//!   `--ahead` buffers, which the threads sum
//!
//! `--behind` (once a window is summed): `keep`, `cold` (`MADV_COLD`),
//! `pageout` (`MADV_PAGEOUT`) or `dontneed` (`MADV_DONTNEED`, then
//! `posix_fadvise(DONTNEED)` of its range).
//!
//! `stream_probe OUT write --size GIB [--window MIB] [--ahead N] [--behind B]`
//! writes a new file of `--size` GiB with `pwrite`s of `--window` MiB from
//! every thread, in file order; `--behind`: `keep` (nothing), `start`
//! (`sync_file_range(WRITE)` of each window as written), `drop` (`start`,
//! and once the window `--ahead` windows back is on disk, `posix_fadvise`
//! `DONTNEED` of it), then `fdatasync`.
//!
//! Prints one JSON object: `seconds`, `gbps`, `sum`.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::sync::{Condvar, Mutex};
use std::time::Instant;

use rayon::prelude::*;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn sum(xs: &[f32]) -> f64 {
    let mut lanes = [0f32; 16];
    let mut total = 0f64;
    for block in xs.chunks(4096) {
        let mut it = block.chunks_exact(16);
        for c in &mut it {
            for (l, x) in lanes.iter_mut().zip(c) {
                *l += x;
            }
        }
        total += it.remainder().iter().map(|&x| f64::from(x)).sum::<f64>();
        total += lanes.iter().map(|&x| f64::from(x)).sum::<f64>();
        lanes = [0.0; 16];
    }
    total
}

fn par_sum(xs: &[f32]) -> f64 {
    xs.par_chunks(1 << 20).map(sum).sum()
}

fn madvise(base: *const u8, off: usize, len: usize, advice: libc::c_int) {
    if len == 0 {
        return;
    }
    // SAFETY: [base+off, base+off+len) lies inside the live mapping (callers
    // clamp to the file), and these advices never change its contents.
    unsafe { libc::madvise(base.add(off) as *mut libc::c_void, len, advice) };
}

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [file, strategy, rest @ ..] = args.as_slice() else {
        return Err("usage: stream_probe FILE STRATEGY [--window MIB] [--ahead N] [--behind B]".into());
    };
    let flag = |name: &str| rest.iter().position(|a| a == name).and_then(|i| rest.get(i + 1)).map(String::as_str);
    let window = flag("--window").unwrap_or("16").parse::<usize>()? << 20;
    let ahead: usize = flag("--ahead").unwrap_or("4").parse()?;
    let behind = flag("--behind").unwrap_or("keep").to_string();
    if strategy == "write" {
        let size = flag("--size").unwrap_or("36").parse::<usize>()? << 30;
        return write_pass(file, size, window, ahead, &behind);
    }
    let f = File::open(file)?;
    let len = usize::try_from(f.metadata()?.len())? & !3;
    let fd = f.as_raw_fd();
    let t = Instant::now();
    let total = if strategy == "read" {
        read_pass(&f, len, window, ahead, &behind)?
    } else {
        // SAFETY: the benchmark's own file; nothing writes it during the run.
        let map = unsafe { memmap2::Mmap::map(&f)? };
        let base = map.as_ptr();
        let base_addr = base as usize;
        // SAFETY: the mapping is page-aligned, its length a multiple of 4.
        let all: &[f32] = unsafe { std::slice::from_raw_parts(base.cast::<f32>(), len / 4) };
        let release = |off: usize, n: usize| match behind.as_str() {
            "keep" => {}
            "cold" => madvise(base, off, n, libc::MADV_COLD),
            "pageout" => madvise(base, off, n, libc::MADV_PAGEOUT),
            "dontneed" => {
                madvise(base, off, n, libc::MADV_DONTNEED);
                // SAFETY: plain syscall on our descriptor.
                unsafe { libc::posix_fadvise(fd, off as i64, n as i64, libc::POSIX_FADV_DONTNEED) };
            }
            other => panic!("--behind {other}?"),
        };
        let windows = len.div_ceil(window);
        let win = |k: usize| (k * window, window.min(len - k * window));
        match strategy.as_str() {
            "rayon" => par_sum(all),
            "windows" | "willneed" => (0..windows)
                .map(|k| {
                    if strategy == "willneed" && k + ahead < windows {
                        let (o, n) = win(k + ahead);
                        madvise(base, o, n, libc::MADV_WILLNEED);
                    }
                    let (o, n) = win(k);
                    let s = par_sum(&all[o / 4..(o + n) / 4]);
                    release(o, n);
                    s
                })
                .sum(),
            "populate" | "willpop" | "readahead" => {
                let done = Mutex::new(0usize);
                let cv = Condvar::new();
                let ready = Mutex::new(0usize);
                let rcv = Condvar::new();
                std::thread::scope(|s| {
                    s.spawn(|| {
                        for k in 0..windows {
                            let mut d = done.lock().unwrap();
                            while k >= *d + ahead {
                                d = cv.wait(d).unwrap();
                            }
                            drop(d);
                            let (o, n) = win(k);
                            if strategy == "willpop" {
                                // WILLNEED reads at most max(read_ahead_kb,
                                // max_sectors_kb) per call: ask in 2 MiB steps
                                for at in (o..o + n).step_by(2 << 20) {
                                    madvise(base_addr as *const u8, at, (2 << 20).min(o + n - at), libc::MADV_WILLNEED);
                                }
                                madvise(base_addr as *const u8, o, n, libc::MADV_POPULATE_READ);
                            } else if strategy == "populate" {
                                madvise(base_addr as *const u8, o, n, libc::MADV_POPULATE_READ);
                            } else {
                                // SAFETY: plain syscall on our descriptor.
                                unsafe { libc::readahead(fd, o as i64, n) };
                            }
                            *ready.lock().unwrap() = k + 1;
                            rcv.notify_all();
                        }
                    });
                    let mut total = 0.0;
                    for k in 0..windows {
                        let mut r = ready.lock().unwrap();
                        while *r <= k {
                            r = rcv.wait(r).unwrap();
                        }
                        drop(r);
                        let (o, n) = win(k);
                        total += par_sum(&all[o / 4..(o + n) / 4]);
                        release(o, n);
                        *done.lock().unwrap() = k + 1;
                        cv.notify_all();
                    }
                    total
                })
            }
            other => return Err(format!("unknown strategy {other}").into()),
        }
    };
    let s = t.elapsed().as_secs_f64();
    println!("{{\"seconds\": {s:.3}, \"gbps\": {:.3}, \"sum\": {total}}}", len as f64 / s / 1e9);
    Ok(())
}

/// `read`: a reader thread fills `ahead` buffers in turn with `pread`; the
/// threads sum each in file order; `dontneed` drops each range once read.
fn read_pass(f: &File, len: usize, window: usize, ahead: usize, behind: &str) -> Res<f64> {
    use std::os::unix::fs::FileExt;
    let ahead = ahead.max(2);
    let windows = len.div_ceil(window);
    let bufs: Vec<Mutex<Vec<f32>>> = (0..ahead).map(|_| Mutex::new(vec![0f32; window / 4])).collect();
    // state[i]: Some(k) once buffer i holds window k, None once summed.
    let state = Mutex::new(vec![None::<usize>; ahead]);
    let cv = Condvar::new();
    let fd = f.as_raw_fd();
    std::thread::scope(|s| {
        s.spawn(|| {
            for k in 0..windows {
                let i = k % ahead;
                let mut st = state.lock().unwrap();
                while st[i].is_some() {
                    st = cv.wait(st).unwrap();
                }
                drop(st);
                let (o, n) = (k * window, window.min(len - k * window));
                let mut b = bufs[i].lock().unwrap();
                // SAFETY: f32 has no invalid bit patterns; the buffer is
                // viewed as its bytes to read into.
                let bytes = unsafe { std::slice::from_raw_parts_mut(b.as_mut_ptr().cast::<u8>(), n) };
                f.read_exact_at(bytes, o as u64).unwrap();
                if behind == "dontneed" {
                    // SAFETY: plain syscall on our descriptor.
                    unsafe { libc::posix_fadvise(fd, o as i64, n as i64, libc::POSIX_FADV_DONTNEED) };
                }
                drop(b);
                state.lock().unwrap()[i] = Some(k);
                cv.notify_all();
            }
        });
        let mut total = 0.0;
        for k in 0..windows {
            let i = k % ahead;
            let mut st = state.lock().unwrap();
            while st[i] != Some(k) {
                st = cv.wait(st).unwrap();
            }
            drop(st);
            let n = window.min(len - k * window);
            total += par_sum(&bufs[i].lock().unwrap()[..n / 4]);
            state.lock().unwrap()[i] = None;
            cv.notify_all();
        }
        Ok(total)
    })
}

fn write_pass(path: &str, size: usize, window: usize, ahead: usize, behind: &str) -> Res<()> {
    use std::os::unix::fs::FileExt;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let f = std::fs::OpenOptions::new().read(true).write(true).create_new(true).open(path)?;
    let fd = f.as_raw_fd();
    let t = Instant::now();
    let windows = size / window;
    let next = AtomicUsize::new(0);
    // (window k's writer drops window k - ahead: each is dropped once, by
    // the thread that writes the window `ahead` after it)
    (0..rayon::current_num_threads()).into_par_iter().for_each(|_| {
        let mut buf = vec![0f32; window / 4];
        loop {
            let k = next.fetch_add(1, Ordering::Relaxed);
            if k >= windows {
                return;
            }
            for (i, x) in buf.iter_mut().enumerate() {
                *x = (k * window / 4 + i) as f32;
            }
            // SAFETY: f32 as bytes.
            let bytes = unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), window) };
            f.write_all_at(bytes, (k * window) as u64).unwrap();
            if behind != "keep" {
                // SAFETY: plain syscalls on our descriptor.
                unsafe { libc::sync_file_range(fd, (k * window) as i64, window as i64, libc::SYNC_FILE_RANGE_WRITE) };
            }
            if behind == "drop" && k >= ahead {
                let o = ((k - ahead) * window) as i64;
                // SAFETY: as above.
                unsafe {
                    libc::sync_file_range(fd, o, window as i64, libc::SYNC_FILE_RANGE_WAIT_BEFORE | libc::SYNC_FILE_RANGE_WRITE | libc::SYNC_FILE_RANGE_WAIT_AFTER);
                    libc::posix_fadvise(fd, o, window as i64, libc::POSIX_FADV_DONTNEED);
                }
            }
        }
    });
    f.sync_data()?;
    let s = t.elapsed().as_secs_f64();
    println!("{{\"seconds\": {s:.3}, \"gbps\": {:.3}}}", size as f64 / s / 1e9);
    Ok(())
}
