"""Seeds for the fuzz corpora (run by scripts/fuzz.sh when a corpus is
missing): real .npy files as NumPy writes them for many dtypes, shapes,
orders and format versions 1.0/2.0/3.0, and typical texts for the other
targets. Usage: python scripts/fuzz_seeds.py FUZZ_DIR"""

import io
import os
import sys

import numpy as np
from numpy.lib import _format_impl as npf

fuzz = sys.argv[1]


def put(target, name, data):
    d = os.path.join(fuzz, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


dtypes = ["?", "i1", "<i2", ">i2", "<i4", ">i8", "u1", "<u2", ">u4", "<u8",
          "<f2", ">f4", "<f8", ">f8", "<c8", ">c16", "|O", "<U3", "S2", "<M8[ns]"]
shapes = [(), (0,), (3,), (2, 3), (1, 0, 4), (2, 1, 1, 2)]
n = 0
for dt in dtypes:
    for shape in shapes:
        for fortran in (False, True):
            for version in ((1, 0), (2, 0), (3, 0)):
                if n % 3 and version != (1, 0):
                    continue  # keep the corpus small: versions 2/3 for a third
                n += 1
                dtype = np.dtype(dt)
                if dtype.hasobject:
                    arr = np.empty(shape, dtype)
                else:
                    arr = np.zeros(shape, dtype)
                if fortran:
                    arr = np.asfortranarray(arr)
                buf = io.BytesIO()
                header = npf.header_data_from_array_1_0(arr)
                npf._write_array_header(buf, header, version)
                data = buf.getvalue()
                if not dtype.hasobject:
                    data += arr.tobytes(order="F" if fortran else "C")
                put("npy_header", f"np_{n:03}", data)
# A structured dtype and a header with Python 2 longs.
buf = io.BytesIO()
npf.write_array(buf, np.zeros(2, dtype=[("a", "<f4"), ("b", "u1")]))
put("npy_header", "structured", buf.getvalue())
legacy = b"{'descr': '<i4', 'fortran_order': False, 'shape': (2L, 3L), }"
legacy += b" " * (118 - len(legacy)) + b"\n"
put("npy_header", "py2_longs", b"\x93NUMPY\x01\x00" + len(legacy).to_bytes(2, "little") + legacy + bytes(24))

for i, text in enumerate([
    "{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }",
    "{'descr': [('a', '<f4'), ('b', '|u1')], 'fortran_order': True, 'shape': (), }",
    "(3L, 4L)", "(5,)", "(5)", "()", "[1, [2, (3,)], {}]", "'a\\'b\\\\c\\n'", "\"x\"",
    "-12_345", "{'\u00e9': 'ü'}", "((((1,),),),)", "{'shape': (1_000, +2), 'x': True}",
]):
    put("npy_literal", f"seed_{i:02}", text)

for i, (shape, expr) in enumerate([
    ((4, 5), "1:3, ::-2"), ((4, 5), "-1"), ((3, 3, 3), "..., 1"), ((2, 3), "None, 0"),
    ((5,), "::-1"), ((5,), "7:2:-2"), ((5,), "-100:2"), ((2, 2), "[1, 1:, ]"),
    ((3, 4), "0:9223372036854775807:9223372036854775807"), ((3,), "::-9223372036854775808"),
    ((), "..."), ((0, 2), ":, 1"), ((2, 2, 2, 2), "1, ..., None, -2:"),
]):
    put("selection", f"seed_{i:02}", bytes([len(shape)] + [d for d in shape]) + expr.encode())

for i, text in enumerate(["<f8", ">i4", "|u1", "|b1", "?", "float64", "uint8", "bool", "d",
                          "=u4", "<c16", ">f2", "complex64", "i8", "B", " <f4 ", "|O", "<U10",
                          "<M8[ns]", "f3", "intp", "half"]):
    put("dtype", f"seed_{i:02}", text)

for i, (b0, text) in enumerate([
    (0, "5000,5000"), (0, "(3, 4)"), (0, "7"), (0, "()"), (0, "[2, 0, 1]"), (0, "3,-1"),
    (1, "128"), (1, "4KiB"), (1, "1.5MB"), (1, "2 GiB"), (1, "0.5"), (1, "3 TiB"),
    (2, "\x03" + "0"), (2, "\x03" + "-1"), (2, "\x04" + "0,2"), (2, "\x04" + "1, -3"), (2, "\x02" + "0,0"),
]):
    put("cli_args", f"seed_{i:02}", bytes([b0]) + text.encode("latin-1"))
