//! `mmarray create`: a new raw or `.npy` array file.

use std::path::Path;

use mmarray::{shape_repr, DType, Mode, MmapArray, NpyOptions, NpyVersion, Preallocation, RawOptions};

use super::fill::fill;
use crate::args::CreateArgs;
use crate::input::{parse_shape, parse_size};
use crate::output::{create_output, keep_output, print, CliError};

/// Whether `path` names a `.npy` file (by extension, any case).
pub fn is_npy_name(path: &Path) -> bool {
    path.extension().is_some_and(|e| e.eq_ignore_ascii_case("npy"))
}

pub fn run(args: &CreateArgs) -> Result<(), CliError> {
    let dtype = DType::parse(&args.dtype)?;
    let shape = parse_shape(&args.shape)?;
    let npy = is_npy_name(&args.file);
    if npy && args.offset.is_some() {
        return Err("--offset is for raw files; a .npy file's data offset comes from its header".into());
    }
    if !npy && args.npy_version.is_some() {
        return Err("--npy-version is for .npy files; this name does not end in .npy".into());
    }
    let version = args.npy_version.as_deref().map(NpyVersion::parse).transpose()?;
    let offset = args.offset.as_deref().map(parse_size).transpose()?.unwrap_or(0);
    let mut a: MmapArray = create_output(&args.file, args.force, |at| {
        if npy {
            let opts = NpyOptions::new(dtype, &shape).order(args.order.into()).version(version);
            opts.create_pending(at)
        } else {
            let opts = RawOptions::new(dtype).mode(Mode::Write).shape(&shape).offset(offset).order(args.order.into());
            opts.create_pending(at)
        }
    })?;
    fill(&mut a, args.fill, args.seed)?;
    crate::test_panic("create");
    let sparse = a.preallocation() == Preallocation::Sparse;
    let msg = format!(
        "created {}: {} {} {} order, {} data bytes at offset {}{}\n",
        args.file.display(),
        a.dtype().descr(),
        shape_repr(a.shape()),
        a.order(),
        a.nbytes(),
        a.offset(),
        if sparse { " (this file system cannot preallocate: the file is sparse)" } else { "" }
    );
    keep_output(a, args.force)?;
    print(&msg)
}
