//! Round trips with the real NumPy, both directions, for every dtype, both
//! byte orders, C and Fortran order, and npy versions 1.0, 2.0 and 3.0.

use crate::common;

use common::{check_formula, fill_formula, numpy_helper, open_npy, NpyPrivate, RawPrivate, KINDS};
use mmarray::{ByteOrder, DType, Mode, NpyOptions, NpyVersion, Order, RawOptions};
use serde_json::Value;

#[test]
fn numpy_written_files_read_identically() {
    let dir = tempfile::tempdir().unwrap();
    numpy_helper("gen", dir.path());
    let manifest: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("manifest.json")).unwrap()).unwrap();
    assert!(manifest.len() > 500, "the generator wrote too few files");
    let mut failures = Vec::new();
    for e in &manifest {
        let path = dir.path().join(e["name"].as_str().unwrap());
        let descr = e["descr"].as_str().unwrap();
        let shape: Vec<usize> = e["shape"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap() as usize).collect();
        let fortran = e["fortran"].as_bool().unwrap();
        let offset = e["offset"].as_u64().unwrap();
        let dtype = DType::parse(descr).unwrap();
        let order = if fortran { Order::F } else { Order::C };
        let a = if e["kind"] == "npy" {
            open_npy(&path, Mode::ReadOnly)
        } else {
            RawOptions::new(dtype).mode(Mode::ReadOnly).offset(offset).shape(&shape).order(order).open_private(&path)
        };
        let a = match a {
            Ok(a) => a,
            Err(err) => {
                failures.push(format!("{}: open failed: {err}", path.display()));
                continue;
            }
        };
        let meta_ok = a.dtype() == dtype
            && a.dtype().descr() == descr
            && a.shape() == shape.as_slice()
            && (a.order() == order || shape.len() < 2)
            && a.offset() == offset;
        if !meta_ok {
            failures.push(format!("{}: metadata {a:?} != {e}", path.display()));
        }
        if let Some(v) = e["version"].as_str() {
            if a.format() != mmarray::Format::Npy(NpyVersion::parse(v).unwrap()) {
                failures.push(format!("{}: format {} != npy {v}", path.display(), a.format()));
            }
        }
        if let Err(msg) = mmarray::with_scalar_type!(dtype.kind(), |T| check_formula::<T>(&a)) {
            failures.push(format!("{}: {descr} {shape:?} {order}: {msg}", path.display()));
        }
    }
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn mmarray_written_files_read_identically_by_numpy() {
    let dir = tempfile::tempdir().unwrap();
    let mut manifest = Vec::new();
    let mut n = 0;
    for kind in KINDS {
        for bo in [ByteOrder::Little, ByteOrder::Big] {
            let dtype = DType::with_byte_order(kind, bo);
            for shape in [vec![7], vec![3, 4], vec![2, 3, 5], vec![0, 3], vec![]] {
                for order in [Order::C, Order::F] {
                    if order == Order::F && shape.len() < 2 {
                        continue;
                    }
                    for version in [NpyVersion::V1, NpyVersion::V2, NpyVersion::V3] {
                        let name = format!("mm{n}.npy");
                        n += 1;
                        let mut a = NpyOptions::new(dtype, &shape)
                            .order(order)
                            .version(Some(version))
                            .create_private(dir.path().join(&name))
                            .unwrap();
                        mmarray::with_scalar_type!(kind, |T| fill_formula::<T>(&mut a));
                        a.close().unwrap();
                        manifest.push(serde_json::json!({
                            "name": name, "kind": "npy", "descr": dtype.descr(), "shape": shape,
                            "fortran": order == Order::F, "offset": 0, "version": version.to_string(),
                            "numpy_bytes_equal": true,
                        }));
                    }
                    if shape.iter().product::<usize>() > 0 {
                        let name = format!("mm{n}.raw");
                        n += 1;
                        let mut a = RawOptions::new(dtype)
                            .mode(Mode::Write)
                            .offset(13)
                            .shape(&shape)
                            .order(order)
                            .open_private(dir.path().join(&name))
                            .unwrap();
                        mmarray::with_scalar_type!(kind, |T| fill_formula::<T>(&mut a));
                        drop(a); // dropping flushes
                        manifest.push(serde_json::json!({
                            "name": name, "kind": "raw", "descr": dtype.descr(), "shape": shape,
                            "fortran": order == Order::F, "offset": 13, "version": null,
                        }));
                    }
                }
            }
        }
    }
    std::fs::write(dir.path().join("manifest.json"), serde_json::to_string(&manifest).unwrap()).unwrap();
    let out = numpy_helper("check", dir.path());
    assert!(out.contains(&format!("ok {}", manifest.len())), "{out}");
}
