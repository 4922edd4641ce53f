"""Minimal safetensors reader/writer (docs/formats.md §2), pure Python + numpy/torch.

Tensors are handed in and out as torch tensors. BF16 goes through torch.bfloat16
views of int16 data so no value is ever re-rounded on read.
"""
import json
import struct

import numpy as np
import torch

# dtype name -> (torch dtype, numpy dtype of the raw bytes, element size)
DTYPES = {
    "F64": (torch.float64, np.float64, 8),
    "F32": (torch.float32, np.float32, 4),
    "F16": (torch.float16, np.float16, 2),
    "BF16": (torch.bfloat16, np.int16, 2),
    "I64": (torch.int64, np.int64, 8),
    "I32": (torch.int32, np.int32, 4),
    "U8": (torch.uint8, np.uint8, 1),
}
TORCH_TO_NAME = {v[0]: k for k, v in DTYPES.items()}


def _raw_bytes(t):
    t = t.detach().contiguous().cpu()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().astype("<i2").tobytes()
    return t.numpy().astype(np.dtype(t.numpy().dtype).newbyteorder("<")).tobytes()


def save(path, tensors, metadata=None):
    """Write {name: tensor}; tensors keep their torch dtype.

    Data is ordered by element size (largest first), then name, as the reference
    library does, so every tensor is aligned to its element size."""
    header = {}
    if metadata is not None:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    blobs = []
    offset = 0
    order = sorted(tensors, key=lambda k: (-tensors[k].element_size(), k))
    for name in order:
        t = tensors[name]
        if t.dtype not in TORCH_TO_NAME:
            raise ValueError(f"{path}: tensor '{name}': unsupported dtype {t.dtype}")
        b = _raw_bytes(t)
        header[name] = {"dtype": TORCH_TO_NAME[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    js = json.dumps(header, separators=(",", ":")).encode()
    js += b" " * ((-len(js)) % 8)  # 8-byte aligned data section for mmap
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(js)))
        f.write(js)
        for b in blobs:
            f.write(b)


def load(path, with_metadata=False):
    """Read a file into {name: tensor} (dtype as stored). Validates the layout."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError(f"{path}: file too short")
    (n,) = struct.unpack("<Q", data[:8])
    if n > 100_000_000 or 8 + n > len(data):
        raise ValueError(f"{path}: bad header length {n}")
    header = json.loads(data[8:8 + n].decode())
    meta = header.pop("__metadata__", None)
    base = 8 + n
    out = {}
    spans = []
    for name, info in header.items():
        tdt, ndt, size = DTYPES[info["dtype"]]
        shape = info["shape"]
        b, e = info["data_offsets"]
        count = int(np.prod(shape)) if shape else 1
        if e - b != count * size:
            raise ValueError(f"{path}: tensor '{name}': size mismatch")
        spans.append((b, e))
        arr = np.frombuffer(data, dtype=np.dtype(ndt).newbyteorder("<"), count=count,
                            offset=base + b).astype(ndt).reshape(shape)
        t = torch.from_numpy(arr.copy())
        if tdt == torch.bfloat16:
            t = t.view(torch.bfloat16)
        out[name] = t
    spans.sort()
    pos = 0
    for b, e in spans:
        if b != pos:
            raise ValueError(f"{path}: hole or overlap at offset {b}")
        pos = e
    if base + pos != len(data):
        raise ValueError(f"{path}: data length mismatch")
    return (out, meta) if with_metadata else out
