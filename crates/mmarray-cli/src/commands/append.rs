//! `mmarray append`: rows from another array or from standard input, added
//! to a `.npy` file through the core's `Appender` (its commit protocol,
//! lock and reservation).

use std::io::Read;
use std::time::Duration;

use mmarray::{shape_repr, Appender, DType, Durability, Mode, Order};

use super::create::is_npy_name;
use crate::args::{AppendArgs, ResizeArgs};
use crate::input::{open_input, parse_shape};
use crate::output::{print, CliError};

/// `mmarray resize`.
pub fn resize(args: &ResizeArgs) -> Result<(), CliError> {
    let mut w = Appender::open(&args.file)?;
    let before = w.rows();
    w.resize(args.rows)?;
    // (the header's rewrite, if it had no room, happened in resize)
    let note = w.header_rewritten().map(|n| format!("note: {}: {n}\n", args.file.display()));
    let shape = w.close()?;
    print(&format!("{}resized {}: {before} -> {} rows, shape {}\n", note.unwrap_or_default(), args.file.display(), args.rows, shape_repr(&shape)))
}

pub fn run(args: &AppendArgs) -> Result<(), CliError> {
    if args.file.is_dir() {
        return Err(format!("{}: is a directory, not a .npy file", args.file.display()).into());
    }
    if !is_npy_name(&args.file) {
        return Err(format!(
            "{}: append grows .npy files (whose header must name the rows); a raw file has no header: \
             appending to it is writing at its end",
            args.file.display()
        )
        .into());
    }
    let durability = match (args.commit_rows, args.commit_secs) {
        (Some(0), _) => return Err("--commit-rows must be at least 1".into()),
        (Some(n), _) => Durability::Rows(n),
        (None, Some(s)) => Durability::Interval(
            Duration::try_from_secs_f64(s).map_err(|_| format!("--commit-secs must be a number of seconds >= 0, got {s}"))?,
        ),
        (None, None) if args.stdin => Durability::Interval(Duration::from_secs(1)),
        (None, None) => Durability::Manual,
    };
    let before;
    let mut w = if let Some(from) = &args.from {
        if args.row_shape.is_some() {
            return Err("--row-shape describes --stdin's rows; --from's rows are its array's".into());
        }
        let src = open_input(from, &args.raw, Mode::ReadOnly)?;
        // a new file takes the source's dtype, rows and order
        let rows = src.row_shape().unwrap_or_default();
        let mut w = Appender::open_or_create(&args.file, Some((src.dtype(), &rows, src.order())))?.durability(durability);
        before = w.rows();
        w.write_array(&src)?;
        w
    } else {
        let dtype = args.raw.dtype.as_deref().map(DType::parse).transpose()?;
        if args.raw.shape.is_some() || args.raw.offset.is_some() {
            return Err("--shape and --offset describe a raw --from file; give --stdin's rows with --row-shape".into());
        }
        let row_shape = args.row_shape.as_deref().map(parse_shape).transpose()?;
        let order = args.raw.order.map(Order::from);
        if let Some(r) = row_shape.as_deref().filter(|r| r.contains(&0)) {
            return Err(format!("--row-shape {}: rows of no bytes cannot come from standard input", shape_repr(r)).into());
        }
        let new = dtype.map(|d| (d, row_shape.as_deref().unwrap_or(&[]), order.unwrap_or(Order::C)));
        let mut w = match Appender::open_or_create(&args.file, new) {
            Err(e) if e.kind() == mmarray::ErrorKind::NotFound && dtype.is_none() => {
                return Err(format!("{} does not exist: give --dtype (and --row-shape) for the new file's rows", args.file.display()).into())
            }
            r => r?.durability(durability),
        };
        check_matches(&w, dtype, row_shape.as_deref(), order)?;
        before = w.rows();
        stream_stdin(&mut w, before)?;
        w
    };
    let added = w.rows() - before;
    w.commit()?;
    let note = w.header_rewritten().map(|n| format!("note: {}: {n}\n", args.file.display()));
    let shape = w.close()?;
    print(&format!(
        "{}appended {added} row{} to {}: shape {}\n",
        note.unwrap_or_default(),
        if added == 1 { "" } else { "s" },
        args.file.display(),
        shape_repr(&shape)
    ))
}

/// Refuses --stdin's description of the rows where it is not the file's.
fn check_matches(w: &Appender, dtype: Option<DType>, row_shape: Option<&[usize]>, order: Option<Order>) -> Result<(), CliError> {
    let name = w.path().display();
    if let Some(d) = dtype.filter(|&d| d != w.dtype()) {
        return Err(format!("{name} holds '{}', and --dtype says the rows are '{}'", w.dtype().descr(), d.descr()).into());
    }
    if let Some(r) = row_shape.filter(|&r| r != w.row_shape()) {
        return Err(format!("{name} has rows of shape {}, and --row-shape says {}", shape_repr(&w.row_shape()), shape_repr(r)).into());
    }
    if let Some(o) = order.filter(|&o| o != w.order()) {
        return Err(format!("{name} is in {} order, and --order says {o}", w.order()).into());
    }
    Ok(())
}

/// Set by SIGINT, SIGTERM or SIGHUP during `--stdin`.
static STOP: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

extern "C" fn on_stop_signal(_: libc::c_int) {
    STOP.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// Makes Ctrl-C (SIGINT), SIGTERM and SIGHUP end `--stdin` cleanly: the
/// read in progress returns (no `SA_RESTART`), the whole rows read so far
/// are committed, and the command ends as at the end of its input. (A
/// streaming append is usually stopped this way; dying on the signal would
/// leave the uncommitted rows for `repair`.)
fn stop_on_signals() {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: a zeroed sigaction is valid; the handler only stores to an
        // atomic, which is async-signal-safe; sigemptyset and sigaction get
        // pointers to live values.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_stop_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}

/// Whether standard input has data (or its end) within `wait` (`poll`);
/// `true` on a signal or an error, so the read that follows reports it.
fn readable_within(wait: Duration) -> bool {
    let ms = libc::c_int::try_from(wait.as_millis()).unwrap_or(libc::c_int::MAX);
    let mut fd = libc::pollfd { fd: libc::STDIN_FILENO, events: libc::POLLIN, revents: 0 };
    // SAFETY: one valid pollfd, for the duration of the call.
    unsafe { libc::poll(&mut fd, 1, ms) != 0 }
}

/// Appends whole rows as they arrive on standard input; an incomplete row
/// at the end is an error (nothing of it is written).
fn stream_stdin(w: &mut Appender, before: u64) -> Result<(), CliError> {
    use std::sync::atomic::Ordering;
    stop_on_signals();
    let row = usize::try_from(w.row_bytes()).map_err(|_| "rows too large")?;
    if row == 0 {
        return Err(format!("{}: its rows hold no bytes, so standard input cannot carry them", w.path().display()).into());
    }
    let mut buf = vec![0u8; (4 << 20) / row * row + row];
    let mut have = 0;
    let mut stdin = std::io::stdin().lock();
    while !STOP.load(Ordering::Relaxed) {
        // A pause in the stream commits what arrived (--commit-secs: the
        // rows are not left uncommitted until the next ones come)
        if let Some(wait) = w.commit_due_in() {
            if !readable_within(wait) {
                w.commit()?;
                continue;
            }
        }
        let n = match stdin.read(&mut buf[have..]) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("cannot read standard input: {e}").into()),
        };
        have += n;
        let whole = have / row * row;
        if whole > 0 {
            w.write_bytes(&buf[..whole])?;
            buf.copy_within(whole..have, 0);
            have -= whole;
        }
    }
    let whole = have / row * row;
    w.write_bytes(&buf[..whole])?;
    if STOP.load(Ordering::Relaxed) {
        eprintln!("{}: stopped by a signal; the whole rows read were committed", w.path().display());
        return Ok(());
    }
    if have > whole {
        return Err(format!(
            "standard input ended inside a row: {} of its {row} bytes were read (the {} whole rows before it were appended)",
            have - whole,
            w.rows() - before
        )
        .into());
    }
    Ok(())
}
