//! Command-line arguments (clap derive).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Memory-mapped N-dimensional arrays on disk: inspect, create and convert
/// raw binary files and NumPy .npy files without loading them into RAM.
#[derive(Debug, Parser)]
#[command(name = "mmarray", version, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
    /// No progress bars (they are drawn on stderr, and only on a terminal).
    #[arg(long, short, global = true)]
    pub quiet: bool,
    /// Compute on N threads (0: one per core, the default; also set by the
    /// MMARRAY_THREADS environment variable, which this overrides).
    #[arg(long, global = true, value_name = "N", value_parser = threads, allow_hyphen_values = true)]
    pub threads: Option<usize>,
}

/// `--threads`: the core's rule (`mmarray::compute::parse_threads`).
fn threads(text: &str) -> Result<usize, String> {
    mmarray::compute::parse_threads(text, "--threads").map_err(|e| e.to_string())
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print an array file's dtype, shape, order, offset and size.
    #[command(after_help = "Examples:\n  mmarray info data.npy\n  mmarray info --json data.npy\n  \
                            mmarray info samples.bin --dtype '<f4' --shape 1000,3 --offset 64")]
    Info(InfoArgs),
    /// Repair a .npy file an interrupted append left with bytes past its
    /// header's shape: adopt the whole rows into the array, or trim them.
    #[command(after_help = "Examples:\n  mmarray repair data.npy --adopt\n  mmarray repair data.npy --trim\n\n\
                            `mmarray info` reports such bytes. --adopt grows the shape by the whole rows\n\
                            (the first axis for C order, the last for Fortran order) and cuts off an\n\
                            incomplete last row; --trim cuts off every byte past the shape.")]
    Repair(RepairArgs),
    /// Append rows to a .npy file (created if missing), crash-consistently:
    /// rows are made durable before the header's shape names them.
    #[command(after_help = "Examples:\n  mmarray append data.npy --from batch.npy\n  \
                            mmarray append data.npy --from batch.bin --dtype '<f4' --shape 5000,3\n  \
                            producer | mmarray append data.npy --stdin --dtype '<f4' --row-shape 3\n\n\
                            Rows run along the first axis of a C-order file, the last of a Fortran-order one.\n\
                            --stdin reads raw rows in the file's order and byte order and commits once a\n\
                            second (--commit-rows / --commit-secs change that) and at the end. A killed\n\
                            append leaves the file valid at its last commit; `mmarray info` reports the\n\
                            uncommitted rows past it and `mmarray repair` adopts or trims them.\n\
                            One writer at a time: a second gets an error naming the first's process.")]
    Append(AppendArgs),
    /// Set the number of rows of a .npy file: new rows read as zeros (their
    /// space allocated), rows past the new length are cut off.
    #[command(after_help = "Examples:\n  mmarray resize data.npy 1000000\n\n\
                            Rows run along the first axis of a C-order file, the last of a Fortran-order one.\n\
                            Shrinking rewrites the header before cutting the file, so a crash leaves either\n\
                            length whole; it is refused while another mmarray process maps the file.")]
    Resize(ResizeArgs),
    /// Create an array file (.npy if the name ends in .npy, raw otherwise).
    #[command(after_help = "Examples:\n  mmarray create grid.npy --dtype float64 --shape 5000,5000 --fill random --seed 1\n  \
                            mmarray create image.u8 --dtype u1 --shape 2160,3840,3")]
    Create(CreateArgs),
    /// Convert between raw and .npy (the output's kind follows its extension).
    #[command(after_help = "Examples:\n  mmarray convert samples.bin samples.npy --dtype '<f4' --shape 1000,3\n  \
                            mmarray convert samples.npy samples.bin")]
    Convert(ConvertArgs),
    /// Count, mean, std, var, min and max in one parallel pass over the data.
    #[command(after_help = "Examples:\n  mmarray stats data.npy\n  mmarray stats data.npy --slice '100:200, ::2' --json\n  \
                            mmarray stats data.npy --axis 0 --json\n  mmarray stats samples.bin --dtype '<f4' --skipna\n  \
                            mmarray stats stream.npy --follow --json")]
    Stats(StatsArgs),
    /// Change a region in place: add, subtract, multiply, divide, clip,
    /// normalize, in the order given, computed as NumPy would and cast back once.
    #[command(after_help = "Examples:\n  mmarray apply image.npy --slice '0:1000, 0:1000' --mul 1.5 --clip 0,255\n  \
                            mmarray apply grid.npy --slice '100:1100, 100:1100' --normalize\n\n\
                            Integer literals (2) and float literals (2.0) differ on integer data, as in NumPy:\n\
                            uint8 data + 2 wraps around in uint8, uint8 data + 2.0 is computed in float64.\n\
                            A float result cast back to an integer type saturates at the type's limits (and\n\
                            NaN becomes 0), where NumPy's cast is platform-dependent: clip first, as above.")]
    Apply(ApplyArgs),
    /// Rolling-window statistics along an axis, in O(n), into a new .npy file.
    #[command(after_help = "Examples:\n  mmarray rolling series.npy --window 200 --stat var -o rolling_var.npy\n  \
                            mmarray rolling series.npy --window 50 --stat mean --pad -o smooth.npy\n\n\
                            Without --pad the output has n - window + 1 values, one per full window, as\n\
                            NumPy's sliding_window_view(x, window).var(axis=-1); with --pad it has n values,\n\
                            the first window - 1 of them NaN, as pandas' rolling(window).var(ddof=0).")]
    Rolling(RollingArgs),
    /// Print values the way NumPy prints arrays (large ones summarised with ...).
    #[command(after_help = "Examples:\n  mmarray show grid.npy\n  mmarray show grid.npy --slice '0:5, ::100' --precision 3\n  \
                            mmarray show small.npy --full | less")]
    Show(ShowArgs),
    /// Draw an array to PNG or SVG: a line chart (1-D), a heat map (2-D), an
    /// RGB image (uint8 with 3 or 4 channels), or a statistic per index.
    #[command(after_help = "Examples:\n  mmarray plot series.npy -o series.png\n  \
                            mmarray plot grid.npy --slice '0:1000, 0:1000' --cmap gray -o grid.png\n  \
                            mmarray plot image.npy --slice '0:500, 0:500' -o crop.png\n  \
                            mmarray plot velocities.npy --stat meansq --axis 1,2,3 -o energy.png")]
    Plot(PlotArgs),
    /// Run the classic memmap workloads end to end, timed and checked: a
    /// table on stdout, report.md and pictures in DIR.
    #[command(after_help = "Examples:\n  mmarray demo\n  mmarray demo --size large --dir /data/demo --keep")]
    Demo(DemoArgs),
}

/// How to read a raw file; not needed for .npy files.
#[derive(Debug, Args, Default, Clone)]
pub struct RawArgs {
    /// NumPy dtype of a raw file ('<f8', 'float32', 'u1', '>i4', ...).
    #[arg(long)]
    pub dtype: Option<String>,
    /// Shape of a raw file, comma-separated (default: 1-D, all of the file).
    #[arg(long, allow_hyphen_values = true)]
    pub shape: Option<String>,
    /// Byte offset of the data in a raw file (units allowed: 4KiB, 1MB).
    #[arg(long, allow_hyphen_values = true)]
    pub offset: Option<String>,
    /// Memory order of a raw file.
    #[arg(long, value_enum)]
    pub order: Option<OrderArg>,
}

/// `C` or `F`.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum OrderArg {
    /// Row-major (NumPy's default).
    #[value(name = "C", alias = "c")]
    C,
    /// Column-major (Fortran).
    #[value(name = "F", alias = "f")]
    F,
}

impl From<OrderArg> for mmarray::Order {
    fn from(o: OrderArg) -> Self {
        match o {
            OrderArg::C => mmarray::Order::C,
            OrderArg::F => mmarray::Order::F,
        }
    }
}

/// `mmarray info`.
#[derive(Debug, Args)]
pub struct InfoArgs {
    /// The array file.
    pub file: PathBuf,
    /// How to read it, if it is raw.
    #[command(flatten)]
    pub raw: RawArgs,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `mmarray repair`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("how").args(["adopt", "trim"]).required(true).multiple(false)))]
pub struct RepairArgs {
    /// The .npy file.
    pub file: PathBuf,
    /// Make the whole rows past the header's shape part of the array.
    #[arg(long)]
    pub adopt: bool,
    /// Cut off every byte past the header's shape.
    #[arg(long)]
    pub trim: bool,
}

/// `mmarray resize`.
#[derive(Debug, Args)]
pub struct ResizeArgs {
    /// The .npy file.
    pub file: PathBuf,
    /// The new number of rows.
    pub rows: u64,
}

/// `mmarray append`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("source").args(["from", "stdin"]).required(true).multiple(false)))]
pub struct AppendArgs {
    /// The .npy file to grow.
    pub file: PathBuf,
    /// Append every row of this array (.npy, or raw with --dtype).
    #[arg(long)]
    pub from: Option<PathBuf>,
    /// Append raw rows read from standard input, in the file's order and
    /// byte order (--dtype gives the dtype of a new file).
    #[arg(long)]
    pub stdin: bool,
    /// How to read --from, if it is raw; with --stdin, --dtype is the rows'
    /// dtype (it must be the file's, if the file exists).
    #[command(flatten)]
    pub raw: RawArgs,
    /// With --stdin: the shape of one row (default: the file's; for a new
    /// file, scalar rows).
    #[arg(long, allow_hyphen_values = true)]
    pub row_shape: Option<String>,
    /// Commit once this many rows are uncommitted.
    #[arg(long, conflicts_with = "commit_secs")]
    pub commit_rows: Option<u64>,
    /// Commit once this many seconds passed since the last commit (default 1
    /// with --stdin; --from commits once, at the end).
    #[arg(long)]
    pub commit_secs: Option<f64>,
}

/// How `create` fills the new array.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq, Default)]
pub enum Fill {
    /// All zeros (no data is written; the reserved space reads as zeros).
    #[default]
    Zeros,
    /// 0, 1, 2, ... in C order, cast to the dtype (as np.arange(n).reshape(shape)).
    Arange,
    /// Uniform in [0, 1) for floats, any value for integers and bools.
    Random,
}

/// `mmarray create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The file to create.
    pub file: PathBuf,
    /// NumPy dtype ('<f8', 'float32', 'u1', '>i4', ...).
    #[arg(long)]
    pub dtype: String,
    /// Shape, comma-separated (e.g. 5000,5000).
    #[arg(long, allow_hyphen_values = true)]
    pub shape: String,
    /// How to fill it.
    #[arg(long, value_enum, default_value_t)]
    pub fill: Fill,
    /// Seed for --fill random.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Memory order.
    #[arg(long, value_enum, default_value = "C")]
    pub order: OrderArg,
    /// Byte offset of the data (raw files only; the bytes before it are zero).
    #[arg(long, allow_hyphen_values = true)]
    pub offset: Option<String>,
    /// .npy format version (1.0, 2.0 or 3.0; default: the oldest that fits).
    #[arg(long = "npy-version", value_name = "VERSION")]
    pub npy_version: Option<String>,
    /// Overwrite the file if it exists.
    #[arg(long)]
    pub force: bool,
}

/// `mmarray stats`.
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// The array file.
    pub file: PathBuf,
    /// How to read it, if it is raw.
    #[command(flatten)]
    pub raw: RawArgs,
    /// Part of the array, in NumPy's syntax: '500:700, ::2', '-1', '..., 0'.
    #[arg(long, allow_hyphen_values = true)]
    pub slice: Option<String>,
    /// Reduce only these axes (comma-separated; negative counts from the end).
    #[arg(long, allow_hyphen_values = true)]
    pub axis: Option<String>,
    /// Delta degrees of freedom for std and var (any number, as NumPy's).
    #[arg(long, default_value_t = 0.0, allow_hyphen_values = true)]
    pub ddof: f64,
    /// Skip NaNs (NumPy's nanmean, nanstd, ...); by default a NaN makes the result NaN.
    #[arg(long)]
    pub skipna: bool,
    /// Also exact quantiles, comma-separated in [0, 1] (np.quantile, method 'linear').
    #[arg(long, value_delimiter = ',', value_name = "Q,Q,...", allow_hyphen_values = true)]
    pub quantiles: Vec<f64>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// Keep following a .npy file that a writer appends to (`mmarray
    /// append`): print the whole array's statistics, then one line (one
    /// JSON object with --json) each time committed rows arrive, reading
    /// only the new rows. Runs until interrupted, or --idle-exit.
    #[arg(long, conflicts_with_all = ["slice", "axis", "quantiles"])]
    pub follow: bool,
    /// With --follow: seconds between looks at the header (default 0.5).
    #[arg(long, requires = "follow")]
    pub interval: Option<f64>,
    /// With --follow: exit once no rows arrived for this many seconds.
    #[arg(long, requires = "follow")]
    pub idle_exit: Option<f64>,
}

/// `mmarray apply`. The step flags keep their command-line order.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// The array file (opened read-write).
    pub file: PathBuf,
    /// How to read it, if it is raw.
    #[command(flatten)]
    pub raw: RawArgs,
    /// The region, in NumPy's syntax ('500:700, ::2'); default: everything.
    #[arg(long, allow_hyphen_values = true)]
    pub slice: Option<String>,
    /// Fail at once if another writer holds the file's lock (another
    /// `apply`), instead of waiting for it.
    #[arg(long)]
    pub no_wait: bool,
    /// Add X.
    #[arg(long, value_name = "X", allow_hyphen_values = true)]
    pub add: Vec<String>,
    /// Subtract X.
    #[arg(long, value_name = "X", allow_hyphen_values = true)]
    pub sub: Vec<String>,
    /// Multiply by X.
    #[arg(long, value_name = "X", allow_hyphen_values = true)]
    pub mul: Vec<String>,
    /// Divide by X (true division).
    #[arg(long, value_name = "X", allow_hyphen_values = true)]
    pub div: Vec<String>,
    /// Clip to [LO, HI].
    #[arg(long, value_name = "LO,HI", allow_hyphen_values = true)]
    pub clip: Vec<String>,
    /// Divide by the region's maximum (a zero maximum is 0.0 if the region
    /// holds a 0.0, else -0.0, as IEEE 754's maximum).
    // (Append, not Count: a count flag records one index however often it
    // is given, and the steps are ordered by index)
    #[arg(long, num_args = 0, default_missing_value = "true", action = clap::ArgAction::Append)]
    pub normalize: Vec<bool>,
}

/// `mmarray rolling`.
#[derive(Debug, Args)]
pub struct RollingArgs {
    /// The input array file (1-D, or made 1-D by --slice).
    pub file: PathBuf,
    /// How to read it, if it is raw.
    #[command(flatten)]
    pub raw: RawArgs,
    /// Part of the array, in NumPy's syntax.
    #[arg(long, allow_hyphen_values = true)]
    pub slice: Option<String>,
    /// Roll along this axis of N-d data (negative counts from the end); 1-D
    /// data needs none. N-d results are built in memory before being written.
    #[arg(long, allow_hyphen_values = true)]
    pub axis: Option<isize>,
    /// Window length.
    #[arg(long)]
    pub window: usize,
    /// The statistic: sum, mean, var, std, min or max.
    #[arg(long)]
    pub stat: String,
    /// Delta degrees of freedom for var and std (any number, as NumPy's).
    #[arg(long, default_value_t = 0.0, allow_hyphen_values = true)]
    pub ddof: f64,
    /// Output n values, NaN until the first full window (as pandas).
    #[arg(long)]
    pub pad: bool,
    /// The output .npy file: float32 for float32 data, float16 for float16
    /// (computed in float64, rounded once), float64 otherwise, as NumPy's
    /// sliding_window_view(a, w).var(axis=-1).
    #[arg(short, long)]
    pub output: PathBuf,
    /// Write float64 whatever the input's dtype.
    #[arg(long)]
    pub float64: bool,
    /// Overwrite the output if it exists.
    #[arg(long)]
    pub force: bool,
}

/// The largest side of a picture, in pixels: a 16384 x 16384 RGB bitmap is
/// already 768 MiB in memory.
pub const MAX_PICTURE_SIDE: i64 = 16384;
/// The smallest side of a chart, in pixels: room for its margins, axis
/// labels and (for heat maps) colour bar.
pub const MIN_CHART_SIDE: i64 = 200;

/// `mmarray plot`.
#[derive(Debug, Args)]
pub struct PlotArgs {
    /// The array file.
    pub file: PathBuf,
    /// How to read it, if it is raw.
    #[command(flatten)]
    pub raw: RawArgs,
    /// Part of the array, in NumPy's syntax.
    #[arg(long, allow_hyphen_values = true)]
    pub slice: Option<String>,
    /// The picture to write (.png or .svg).
    #[arg(short, long)]
    pub output: PathBuf,
    /// Plot this statistic (mean, std, max, meansq, ...) reduced over --axis.
    #[arg(long)]
    pub stat: Option<String>,
    /// The axes --stat reduces, comma-separated.
    #[arg(long, allow_hyphen_values = true)]
    pub axis: Option<String>,
    /// Colour map of heat maps: viridis or gray.
    #[arg(long, default_value = "viridis")]
    pub cmap: String,
    /// Value at the bottom of the colour map (default: the data's minimum).
    #[arg(long, allow_hyphen_values = true)]
    pub vmin: Option<f64>,
    /// Value at the top of the colour map (default: the data's maximum).
    #[arg(long, allow_hyphen_values = true)]
    pub vmax: Option<f64>,
    /// Chart width in pixels (200 to 16384).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(MIN_CHART_SIDE..=MAX_PICTURE_SIDE))]
    pub width: u32,
    /// Chart height in pixels (200 to 16384).
    #[arg(long, default_value_t = 600, value_parser = clap::value_parser!(u32).range(MIN_CHART_SIDE..=MAX_PICTURE_SIDE))]
    pub height: u32,
    /// Largest side of an RGB image, in pixels (1 to 16384; larger images
    /// are scaled down by strides).
    #[arg(long, default_value_t = 4096, value_parser = clap::value_parser!(u32).range(1..=MAX_PICTURE_SIDE))]
    pub max_size: u32,
}

/// How big the demo's data is.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq, Default)]
pub enum DemoSize {
    /// Seconds, a few MiB of disk (the default).
    #[default]
    Small,
    /// Tens of seconds, under 1 GiB of disk.
    Medium,
    /// The workloads at their classic sizes (a 5000x5000 grid, a 5 GB 4-D array).
    Large,
}

/// `mmarray demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where to write data, report.md and pictures (default: ./mmarray-demo).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// How big the data is.
    #[arg(long, value_enum, default_value_t)]
    pub size: DemoSize,
    /// Keep the data files (report.md and the pictures are always kept).
    #[arg(long)]
    pub keep: bool,
}

/// `mmarray show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The array file.
    pub file: PathBuf,
    /// How to read it, if it is raw.
    #[command(flatten)]
    pub raw: RawArgs,
    /// Part of the array, in NumPy's syntax.
    #[arg(long, allow_hyphen_values = true)]
    pub slice: Option<String>,
    /// Print every value (default: arrays of over 1000 values are summarised).
    #[arg(long)]
    pub full: bool,
    /// Digits after the decimal point at most, as NumPy's precision.
    #[arg(long, default_value_t = 8)]
    pub precision: usize,
}

/// `mmarray convert`.
#[derive(Debug, Args)]
pub struct ConvertArgs {
    /// The input file (.npy, or raw with --dtype).
    pub input: PathBuf,
    /// The output file: .npy if the name ends in .npy, raw otherwise.
    pub output: PathBuf,
    /// How to read the input, if it is raw.
    #[command(flatten)]
    pub raw: RawArgs,
    /// Overwrite the output if it exists.
    #[arg(long)]
    pub force: bool,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
