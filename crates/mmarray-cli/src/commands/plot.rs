//! `mmarray plot`: a PNG or SVG picture of an array (plotters, with the
//! DejaVu font embedded from its crate: no system fonts needed).
//!
//! - 1-D data: a line chart; series longer than the chart is wide are drawn
//!   from the engine's min/max/first/last envelope per pixel column (M4), so
//!   every peak survives and a billion points cost one pass.
//! - 2-D data: a heat map with a colour bar; large arrays are subsampled by
//!   strides (every k-th row and column) to the chart's size.
//! - 3-D uint8 data whose last axis has 3 or 4 entries: an RGB(A) image at
//!   the slice's resolution (scaled down by strides to `--max-size`).
//! - `--stat S --axis A`: the statistic reduced over the axes `A`, as a line
//!   chart over the remaining axis (e.g. the mean kinetic energy per step).

use std::path::Path;
use std::sync::Once;

use mmarray::compute::{downsample, reduce, Real, ReduceOptions, Stat};
use mmarray::{MmapArray, Mode, ScalarKind, Selection};
use ndarray::{ArrayViewD, Axis, Ix1};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::colors::colormaps::{BlackWhite, ViridisRGB};

use crate::args::PlotArgs;
use crate::input::{open_input, parse_axes};
use crate::output::{not_the_input, print, CliError, NewFile};

/// What gets drawn.
enum Picture {
    /// (x, y) points of a line chart.
    Series { points: Vec<(f64, f64)>, xlabel: String, ylabel: String },
    /// Values of a 2-D array (row-major), one cell per `stride` rows/cols.
    Grid { rows: usize, cols: usize, stride: usize, values: Vec<f64> },
    /// RGB(A) pixels, row-major, `channels` bytes each.
    Image { width: usize, height: usize, channels: usize, pixels: Vec<u8> },
}

fn register_fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular());
        let _ = plotters::style::register_font("sans-serif", FontStyle::Bold, dejavu::sans::bold());
    });
}

fn collect<T: Real>(a: &MmapArray, args: &PlotArgs) -> Result<Picture, CliError> {
    let data = a.view_or_copy::<T>()?; // (a copy only for non-native byte order)
    let view: ArrayViewD<'_, T> = Selection::parse(args.slice.as_deref().unwrap_or(""))?.apply(data.view())?;
    if let Some(stat) = &args.stat {
        let stat = Stat::parse(stat)?;
        let axes = parse_axes(args.axis.as_deref().ok_or("--stat needs --axis (the axes to reduce)")?, view.ndim())?;
        let r = reduce(&view, stat, &ReduceOptions::along(&axes))?;
        if r.ndim() != 1 {
            return Err(format!("--stat over axes {axes:?} leaves {} dimensions; a line chart needs 1", r.ndim()).into());
        }
        let points = r.iter().enumerate().map(|(i, &y)| (i as f64, y)).collect();
        return Ok(Picture::Series { points, xlabel: "index".into(), ylabel: stat.name().into() });
    }
    match view.ndim() {
        1 => {
            let x = view.into_dimensionality::<Ix1>()?;
            let n = x.len();
            let points = if n <= 2 * args.width as usize {
                x.iter().enumerate().map(|(i, v)| (i as f64, v.to_f64())).collect()
            } else {
                let e = downsample(x, args.width as usize)?;
                let mut p = Vec::with_capacity(4 * e.start.len());
                for k in 0..e.start.len() {
                    let s = e.start[k] as f64;
                    p.extend([(s, e.first[k]), (s, e.min[k]), (s, e.max[k]), (s, e.last[k])]);
                }
                p
            };
            Ok(Picture::Series { points, xlabel: "index".into(), ylabel: "value".into() })
        }
        2 => {
            let (r, c) = (view.len_of(Axis(0)), view.len_of(Axis(1)));
            let stride = r.div_ceil(args.height as usize).max(c.div_ceil(args.width as usize)).max(1);
            let sub = view.slice_each_axis(|_| ndarray::Slice::new(0, None, stride as isize));
            let values = sub.iter().map(|v| v.to_f64()).collect();
            Ok(Picture::Grid { rows: sub.len_of(Axis(0)), cols: sub.len_of(Axis(1)), stride, values })
        }
        n => Err(format!(
            "{n}-D data: pick a 1-D or 2-D part with --slice (e.g. --slice '0, ...'), or reduce with --stat and --axis"
        )
        .into()),
    }
}

fn collect_image(a: &MmapArray, args: &PlotArgs) -> Result<Option<Picture>, CliError> {
    if a.dtype().kind() != ScalarKind::U8 || args.stat.is_some() {
        return Ok(None);
    }
    let view = Selection::parse(args.slice.as_deref().unwrap_or(""))?.apply(a.view::<u8>()?)?;
    let shape = view.shape().to_vec();
    if shape.len() != 3 || !(shape[2] == 3 || shape[2] == 4) {
        return Ok(None);
    }
    let stride = shape[0].max(shape[1]).div_ceil(args.max_size as usize).max(1);
    let sub = view.slice_each_axis(|ax| ndarray::Slice::new(0, None, if ax.axis.index() < 2 { stride as isize } else { 1 }));
    Ok(Some(Picture::Image {
        height: sub.len_of(Axis(0)),
        width: sub.len_of(Axis(1)),
        channels: shape[2],
        pixels: sub.iter().copied().collect(),
    }))
}

fn err(e: impl std::fmt::Display) -> CliError {
    format!("drawing failed: {e}").into()
}

fn finite_range(vals: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    let (lo, hi) = vals.filter(|v| v.is_finite()).fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
    (lo <= hi).then_some((lo, hi))
}

/// An axis range for values in `[lo, hi]`: widened when it is a single
/// value (by enough to be a different float, however large it is), and
/// refused when `hi - lo` is not a finite number (the axis could not be
/// divided into ticks).
fn axis_range(lo: f64, hi: f64, what: &str) -> Result<(f64, f64), CliError> {
    let (lo, hi) = if lo == hi {
        let d = (lo.abs() * 1e-6).max(0.5);
        (lo - d, hi + d)
    } else {
        (lo, hi)
    };
    if !(hi - lo).is_finite() {
        return Err(format!("{what} [{lo:e}, {hi:e}] is too wide to draw: its width overflows a float64").into());
    }
    Ok((lo, hi))
}

/// Tick labels that stay short for any magnitude.
fn tick(v: f64) -> String {
    if v != 0.0 && (v.abs() >= 1e6 || v.abs() < 1e-3) { format!("{v:.3e}") } else { format!("{v:.3}") }
}

/// The colour range of a heat map: `--vmin`/`--vmax` or the data's, as
/// Matplotlib's `imshow` (vmin above vmax is refused with its message;
/// vmin equal to vmax draws every value in the lowest colour).
fn colour_range(auto: (f64, f64), vmin: Option<f64>, vmax: Option<f64>) -> Result<(f64, f64), CliError> {
    for (flag, v) in [("--vmin", vmin), ("--vmax", vmax)] {
        if let Some(v) = v.filter(|v| !v.is_finite()) {
            return Err(format!("{flag} {v}: expected a finite number").into());
        }
    }
    let (lo, hi) = (vmin.unwrap_or(auto.0), vmax.unwrap_or(auto.1));
    if lo > hi {
        return Err(format!(
            "the colour range's minimum {lo} is above its maximum {hi} (minvalue must be less than or equal to maxvalue)"
        )
        .into());
    }
    if !(hi - lo).is_finite() {
        return Err(format!("the colour range [{lo:e}, {hi:e}] is too wide to draw (vmax - vmin overflows a float64)").into());
    }
    Ok((lo, hi))
}

/// How heat maps are coloured.
struct Style<'a> {
    cmap: &'a str,
    vmin: Option<f64>,
    vmax: Option<f64>,
}

fn draw<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, pic: &Picture, title: &str, args: &Style<'_>) -> Result<(), CliError> {
    root.fill(&WHITE).map_err(err)?;
    match pic {
        Picture::Image { width, height, channels, pixels } => {
            for y in 0..*height {
                for x in 0..*width {
                    let p = &pixels[(y * width + x) * channels..];
                    let alpha = if *channels == 4 { f64::from(p[3]) / 255.0 } else { 1.0 };
                    root.draw_pixel((x as i32, y as i32), &RGBColor(p[0], p[1], p[2]).mix(alpha)).map_err(err)?;
                }
            }
        }
        Picture::Series { points, xlabel, ylabel } => {
            let (x0, x1) = finite_range(points.iter().map(|p| p.0)).unwrap_or((0.0, 1.0));
            let (x0, x1) = axis_range(x0, x1, "the x range")?;
            let (y0, y1) = finite_range(points.iter().map(|p| p.1)).ok_or("nothing to draw: the data is empty, or every value is NaN or infinite")?;
            let (y0, y1) = axis_range(y0, y1, "the values' range")?;
            let pad = (y1 - y0) * 0.05;
            if !(y1 + pad - (y0 - pad)).is_finite() {
                return Err(format!("the values' range [{y0:e}, {y1:e}] is too wide to draw").into());
            }
            let mut chart = ChartBuilder::on(root)
                .caption(title, ("sans-serif", 20))
                .margin(12)
                .x_label_area_size(40)
                .y_label_area_size(70)
                .build_cartesian_2d(x0..x1, (y0 - pad)..(y1 + pad))
                .map_err(err)?;
            chart
                .configure_mesh()
                .x_desc(xlabel.as_str())
                .y_desc(ylabel.as_str())
                .x_label_formatter(&|v| format!("{v:.0}"))
                .label_style(("sans-serif", 14))
                .draw()
                .map_err(err)?;
            let finite = points.iter().copied().filter(|p| p.1.is_finite());
            chart.draw_series(LineSeries::new(finite, &RGBColor(31, 119, 180))).map_err(err)?;
        }
        Picture::Grid { rows, cols, stride, values } => {
            let auto = finite_range(values.iter().copied()).ok_or("nothing to draw: the data is empty, or every value is NaN or infinite")?;
            let (lo, hi) = colour_range(auto, args.vmin, args.vmax)?;
            let color = |v: f64| -> RGBColor {
                if !v.is_finite() {
                    return RGBColor(255, 255, 255);
                }
                // Matplotlib's Normalize: everything 0 when vmin == vmax
                let h = if hi > lo { ((v - lo) / (hi - lo)).clamp(0.0, 1.0) as f32 } else { 0.0 };
                if args.cmap == "gray" { BlackWhite.get_color(h) } else { ViridisRGB.get_color(h) }
            };
            let (w, _) = root.dim_in_pixel();
            let (main, bar) = root.split_horizontally(w.saturating_sub(120));
            let (r, c, s) = (*rows as f64, *cols as f64, *stride as f64);
            let mut chart = ChartBuilder::on(&main)
                .caption(title, ("sans-serif", 20))
                .margin(12)
                .x_label_area_size(40)
                .y_label_area_size(70)
                .build_cartesian_2d(0.0..c * s, (r * s)..0.0)
                .map_err(err)?;
            chart
                .configure_mesh()
                .disable_mesh()
                .x_desc("column")
                .y_desc("row")
                .x_label_formatter(&|v| format!("{v:.0}"))
                .y_label_formatter(&|v| format!("{v:.0}"))
                .label_style(("sans-serif", 14))
                .draw()
                .map_err(err)?;
            chart
                .draw_series((0..*rows).flat_map(|i| {
                    (0..*cols).map(move |j| (i, j))
                }).map(|(i, j)| {
                    let (y, x) = (i as f64 * s, j as f64 * s);
                    Rectangle::new([(x, y), (x + s, y + s)], color(values[i * cols + j]).filled())
                }))
                .map_err(err)?;
            // the colour bar, low values at the bottom
            let (bar_lo, bar_hi) = axis_range(lo, hi, "the colour range")?;
            let mut cb = ChartBuilder::on(&bar)
                .margin_top(44)
                .margin_bottom(52)
                .margin_left(10)
                .right_y_label_area_size(80)
                .build_cartesian_2d(0.0..1.0, bar_lo..bar_hi)
                .map_err(err)?;
            cb.configure_mesh()
                .disable_mesh()
                .disable_x_axis()
                .y_labels(6)
                .y_label_style(("sans-serif", 14))
                .y_label_formatter(&|v| tick(*v))
                .draw()
                .map_err(err)?;
            let steps = 100;
            cb.draw_series((0..steps).map(|k| {
                let a = bar_lo + (bar_hi - bar_lo) * k as f64 / steps as f64;
                let b = bar_lo + (bar_hi - bar_lo) * (k + 1) as f64 / steps as f64;
                Rectangle::new([(0.0, a), (1.0, b)], color((a + b) / 2.0).filled())
            }))
            .map_err(err)?;
        }
    }
    root.present().map_err(err)?;
    Ok(())
}

pub fn run(args: &PlotArgs) -> Result<(), CliError> {
    register_fonts();
    let ext = args.output.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    if !matches!(ext.as_deref(), Some("png" | "svg")) {
        return Err(format!("{}: the output must end in .png or .svg", args.output.display()).into());
    }
    if args.cmap != "viridis" && args.cmap != "gray" {
        return Err(format!("unknown --cmap {:?}: use viridis or gray", args.cmap).into());
    }
    let a = open_input(&args.file, &args.raw, Mode::ReadOnly)?;
    not_the_input(&args.file, &args.output)?;
    let what = format!("plotting {}", a.path().display());
    let pic = match collect_image(&a, args)? {
        Some(p) => p,
        None => crate::progress::engine(a.nbytes() as u64, &what, || {
            mmarray::with_scalar_type!(a.dtype().kind(), |T| collect::<T>(&a, args), complex => {
                Err(format!("{}: plotting complex data is not supported", a.path().display()).into())
            })
        })?,
    };
    let title = match &args.slice {
        Some(s) => format!("{} [{s}]", file_name(&args.file)),
        None => file_name(&args.file),
    };
    let (w, h) = match &pic {
        Picture::Image { width, height, .. } => (*width as u32, *height as u32),
        _ => (args.width, args.height),
    };
    let style = Style { cmap: &args.cmap, vmin: args.vmin, vmax: args.vmax };
    write_picture(&args.output, (w, h), &pic, &title, &style)?;
    print(&format!("wrote {} ({w}x{h})\n", args.output.display()))
}

/// Draws `pic` into a temporary file beside `path` and renames it to
/// `path` once complete, so a failed drawing never leaves a partial PNG or
/// an empty SVG (nor damages an older picture of the same name).
fn write_picture(path: &Path, size: (u32, u32), pic: &Picture, title: &str, style: &Style<'_>) -> Result<(), CliError> {
    path.file_name().ok_or_else(|| format!("{}: not a file name", path.display()))?;
    // (as `create --force`: an existing picture is replaced, never a link,
    // a FIFO or a device by a regular file)
    crate::output::check_replaceable(path, "plot replaces only regular files")?;
    let svg = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("svg"));
    // the same extension: plotters picks the image format by it
    let tmp = mmarray::temporary_name(path, if svg { ".svg" } else { ".png" });
    mmarray::remove_stale_temporaries(path);
    // (one message for every failure, the backend's too: its errors name no file)
    let cannot = |e: &dyn std::fmt::Display| -> CliError { format!("{}: cannot write the picture: {e}", path.display()).into() };
    std::fs::OpenOptions::new().write(true).create_new(true).open(&tmp).map_err(|e| cannot(&e))?;
    // declared before the backend, so dropped after it: a backend that
    // writes its file when dropped has done so before the file is removed
    let guard = NewFile::new(&tmp);
    {
        if svg {
            draw(&SVGBackend::new(&tmp, size).into_drawing_area(), pic, title, style).map_err(|e| cannot(&e))?;
        } else {
            draw(&BitMapBackend::new(&tmp, size).into_drawing_area(), pic, title, style).map_err(|e| cannot(&e))?;
        }
    }
    crate::test_panic("plot");
    // durable before it takes the name (a power cut never leaves an empty
    // picture under it), and the name durable after
    std::fs::File::open(&tmp).and_then(|f| f.sync_all()).map_err(|e| cannot(&e))?;
    crate::output::check_truncation()?;
    std::fs::rename(&tmp, path).map_err(|e| cannot(&e))?;
    guard.keep(); // (renamed already: nothing left to remove)
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(|e| cannot(&e))?;
    Ok(())
}

fn file_name(p: &Path) -> String {
    p.file_name().map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into_owned())
}

/// Writes a 1000x600 line chart of `points` to the PNG at `path`.
pub fn line_png(path: &Path, title: &str, xlabel: &str, ylabel: &str, points: Vec<(f64, f64)>) -> Result<(), CliError> {
    register_fonts();
    let pic = Picture::Series { points, xlabel: xlabel.into(), ylabel: ylabel.into() };
    let style = Style { cmap: "viridis", vmin: None, vmax: None };
    write_picture(path, (1000, 600), &pic, title, &style)
}

/// Writes RGB pixels (row-major, 3 bytes each) to the PNG at `path`.
pub fn rgb_png(path: &Path, width: usize, height: usize, pixels: Vec<u8>) -> Result<(), CliError> {
    let size = (u32::try_from(width)?, u32::try_from(height)?);
    let pic = Picture::Image { width, height, channels: 3, pixels };
    let style = Style { cmap: "viridis", vmin: None, vmax: None };
    write_picture(path, size, &pic, "", &style)
}
