"""Read one raw volume file into an array and the affine of its voxels in RAS mm.

The file is opened without following a symbolic link (unless the run allows links), its
size checked before it is read, its bytes read once and hashed; the header is parsed and
its voxel count checked before any voxel is decompressed. NIfTI (`.nii`, `.nii.gz`,
NIfTI-1 and -2): nibabel's header gives the affine, shape, type and scaling; the voxels of
a gzipped 3-D file are inflated by SimpleITK when they prove byte-exact (the gzip
trailer's CRC-32), else taken as a view of the bytes Python's zlib decompressed: no copy,
in the file's own (Fortran) order, which is the order SimpleITK's resampler wants
(`array.T` is C-contiguous). NRRD and MetaImage are read with SimpleITK (a detached
`.nhdr`/`.mhd` reads its data file by the path it names; only the header file is confined
and hashed). Every array here is indexed (i, j, k, channel) as the file stores it, with
its affine mapping (i, j, k) to RAS mm, whatever the format.

A file that is missing, unreadable or too large raises `Rejected` with the reason for
its role (image, mask, label file) and a message naming it; never another exception.
"""

from __future__ import annotations

import errno
import functools
import hashlib
import math
import os
import re
import stat
import struct
import zlib
from dataclasses import dataclass
from typing import Any

import nibabel as nib
import numpy as np
import SimpleITK as sitk
from nibabel.spatialimages import HeaderDataError

NIFTI = (".nii", ".nii.gz")
ITK = (".nrrd", ".nhdr", ".mha", ".mhd")
OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)  # a FIFO never blocks
NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
HEADER_BYTES = 544  # a NIfTI-2 header (540) and the extension flag
# LPS (ITK's physical space) <-> RAS (nibabel's): x and y change sign
LPS_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])
# what a broken or hostile file raises inside nibabel, zlib and SimpleITK
DECODE_ERRORS = (
    OSError,
    ValueError,
    KeyError,
    EOFError,
    RuntimeError,
    zlib.error,
    struct.error,
    HeaderDataError,
)
_REPR = re.compile(r"<[^<>]*(?: at 0x[0-9a-fA-F]+| name=[^<>]*)>")
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{6,}")
# where a SimpleITK / ITK exception's own words start (after its source file and line)
_ITK_ERROR = re.compile(r"(?:sitk::|itk::|ITK )ERROR: (?:\w+\(0x\?\): )?")


class Rejected(Exception):
    """A file that cannot be used: `reason` is the reject status, `detail` says why."""

    def __init__(self, reason: str, detail: str):
        super().__init__(reason, detail)
        self.reason, self.detail = reason, detail


@dataclass(frozen=True)
class Role:
    """What a file is to its item: the reject reasons of its failures, and how a message
    names it (`image ct.nii.gz`)."""

    missing: str
    unreadable: str
    noun: str


IMAGE = Role("missing_image", "unreadable_image", "image")
MASK = Role("missing_mask", "unreadable_mask", "mask")
LABEL_FILE = Role("missing_label_file", "unreadable_mask", "label file")


@dataclass(frozen=True)
class Limits:
    """A run's read limits and link rule: `root` is the folder a file must stay in when
    links are not allowed (None: only the file itself must not be a link)."""

    max_bytes: int
    max_voxels: int
    allow_symlinks: bool = False
    root: str | None = None


@dataclass
class Volume:
    """A file's voxels as stored: `data` (i, j, k, channel), native byte order, Fortran
    order when the format allows it; the stored value is `data * slope + inter`; `affine`
    maps (i, j, k) to RAS mm. `data` keeps alive the memory it lies in (the decompressed
    bytes, SimpleITK's image), so every view of it is safe. `itk`: when SimpleITK read a
    3-D file, its image, whose buffer `data` views: the resampler takes it as it is
    instead of copying `data` into a new one."""

    data: np.ndarray
    affine: np.ndarray
    slope: float = 1.0
    inter: float = 0.0
    sha256: str = ""
    itk: sitk.Image | None = None

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.data.shape[0], self.data.shape[1], self.data.shape[2]

    @property
    def channels(self) -> int:
        return self.data.shape[3]

    @property
    def spacing(self) -> tuple[float, float, float]:
        norms = np.linalg.norm(self.affine[:3, :3], axis=0)
        return float(norms[0]), float(norms[1]), float(norms[2])

    @property
    def scaled(self) -> bool:
        return (self.slope, self.inter) != (1.0, 0.0)


def error_text(err: BaseException, name: str, path: str | None = None) -> str:
    """`Type: message`, the same on every run and machine: object reprs and addresses
    become `name`, and so does `path` where the message names it; an `OSError`'s absolute
    path is left out; of SimpleITK's messages only what the failing reader said, on one
    line (not its source file and line)."""
    if isinstance(err, OSError) and err.filename is not None and err.strerror:
        message = err.strerror
    else:
        message = _ADDRESS.sub("0x?", _REPR.sub(name, str(err)))
    if path:
        message = message.replace(path, name)
    kind = "zlib.error" if isinstance(err, zlib.error) else type(err).__name__
    if isinstance(err, RuntimeError) and _ITK_ERROR.search(message):
        said = _ITK_ERROR.split(message)[-1]
        kind, message = (
            "SimpleITK",
            " ".join(line.strip() for line in said.splitlines() if line.strip()),
        )
    return f"{kind}: {message}" if message else kind


def read_volume(path: str, role: Role, limits: Limits, name: str | None = None) -> Volume:
    """The file's voxels and affine (`Rejected` for its role when it cannot be used);
    `name` is how messages call it (its file name by default)."""
    name = name or os.path.basename(path)
    lower = path.lower()
    if not lower.endswith(NIFTI + ITK):
        raise Rejected(
            role.unreadable,
            f"{role.noun} {name}: unknown format, expected one of {', '.join(NIFTI + ITK)}",
        )
    data = read_bytes(path, role, limits, name)
    digest = hashlib.sha256(data).hexdigest()
    try:
        if lower.endswith(NIFTI):
            volume = decode_nifti(data, path, role, limits, name)
        else:
            del data  # SimpleITK reads the file itself: its bytes were for the hash
            volume = decode_itk(path, role, limits, name)
    except Rejected:
        raise
    except DECODE_ERRORS as err:
        raise Rejected(
            role.unreadable, f"{role.noun} {name} cannot be read: {error_text(err, name, path)}"
        ) from None
    volume.sha256 = digest
    check_affine(volume.affine, role, name)
    return volume


# --- bytes ------------------------------------------------------------------------------


class _Outside(Exception):
    """The file is reached through a symbolic link leading outside its root."""


def read_bytes(path: str, role: Role, limits: Limits, name: str) -> bytes:
    """The file's bytes: it exists, is a regular file reached without a link leading out
    of `limits.root` (no link at all when there is no root) and holds at most
    `max_bytes` (checked before reading)."""
    try:
        fd = _open_confined(path, limits)
    except FileNotFoundError:
        raise Rejected(role.missing, f"{role.noun} {name} does not exist") from None
    except _Outside:
        where = os.path.basename(limits.root.rstrip(os.sep)) + "/" if limits.root else "its folder"
        detail = f"{role.noun} {name} is reached through a symbolic link leading outside {where}"
        raise Rejected("outside_raw_root", detail) from None
    except OSError as err:
        detail = f"{role.noun} {name} cannot be opened: {error_text(err, name)}"
        raise Rejected(role.missing, detail) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise Rejected(role.missing, f"{role.noun} {name} is not a regular file")
        _check_size(info.st_size, role, limits, name)
        with open(fd, "rb", closefd=False) as handle:
            data = handle.read(limits.max_bytes + 1)
    finally:
        os.close(fd)
    _check_size(len(data), role, limits, name)  # it grew since the fstat
    return data


def _check_size(size: int, role: Role, limits: Limits, name: str) -> None:
    if size > limits.max_bytes:
        raise Rejected(
            "too_large",
            f"{role.noun} {name}: {size} bytes, expected <= {limits.max_bytes} (max_bytes)",
        )


def _open_confined(path: str, limits: Limits) -> int:
    if limits.allow_symlinks:
        return os.open(path, OPEN_FLAGS)
    root = limits.root
    try:
        fd = os.open(path, OPEN_FLAGS | NOFOLLOW)
    except OSError as err:
        if err.errno != errno.ELOOP:
            raise
        # the file itself is a link: read only one that stays in the root
        real = os.path.realpath(path)
        if root is None or not _below(real, _real(root)):
            raise _Outside(path) from None
        fd = os.open(real, OPEN_FLAGS | NOFOLLOW)
    if root is not None and not _below(_opened(fd, path), _real(root)):
        os.close(fd)  # a folder on its path is a link out of the root
        raise _Outside(path)
    return fd


def _opened(fd: int, path: str) -> str:
    """Where the open file lies, asked of the file itself (a swap after the open is moot)."""
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:  # no /proc: the path as it resolves now
        return os.path.realpath(path)


@functools.lru_cache(maxsize=64)
def _real(root: str) -> str:
    return os.path.realpath(root)


def _below(path: str, root: str) -> bool:
    return path.startswith(root.rstrip(os.sep) + os.sep)


# --- NIfTI ------------------------------------------------------------------------------


def gunzip(data: bytes, limit: int) -> bytes:
    """At most `limit` bytes of gzip `data`, decompressed (several members in a row too;
    bytes after a member that start no other are ignored, as gzip readers do); fewer when
    the stream ends early (a truncated file: the caller checks the length). A small
    `limit` (a header) feeds the input 64 KB at a time: zlib keeps a copy of the input it
    leaves unread, which for a whole file was 16 ms a call."""
    step = 1 << 16 if limit < 1 << 20 else max(1, len(data))
    view, position = memoryview(data), 0
    pending: bytes | memoryview = b""
    stream = zlib.decompressobj(wbits=31)
    parts, total = [], 0
    while total < limit:
        if len(pending) < 2 and position < len(view):  # (2: a member's magic, below)
            pending, position = bytes(pending) + view[position : position + step], position + step
        if not pending:
            break
        if stream.eof:  # a member ended: another follows, or nothing that counts
            if bytes(pending[:2]) != b"\x1f\x8b":
                break
            stream = zlib.decompressobj(wbits=31)
        part = stream.decompress(pending, limit - total)
        parts.append(part)
        total += len(part)
        pending = stream.unused_data if stream.eof else stream.unconsumed_tail
    return parts[0] if len(parts) == 1 else b"".join(parts)


def nifti_header(head: bytes) -> nib.Nifti1Header:
    """The NIfTI-1 or -2 header at the start of `head` (its `sizeof_hdr` tells which, and
    the byte order); `ValueError` for anything else."""
    if len(head) < 348:
        raise ValueError(f"{len(head)} bytes, too short for a NIfTI header")
    sizes = {struct.unpack("<i", head[:4])[0], struct.unpack(">i", head[:4])[0]}
    klass = nib.Nifti2Header if 540 in sizes else nib.Nifti1Header
    if klass.sizeof_hdr not in sizes or len(head) < klass.sizeof_hdr:
        raise ValueError("not a NIfTI-1 or NIfTI-2 header")
    header = klass(binaryblock=head[: klass.sizeof_hdr], check=True)
    if header["magic"].item() not in (b"n+1", b"n+2"):
        raise ValueError("not a single-file NIfTI (.hdr/.img pairs are not read)")
    return header


def decode_nifti(data: bytes, path: str, role: Role, limits: Limits, name: str) -> Volume:
    """A NIfTI file's voxels, its header checked first; gzipped 3-D files through SimpleITK
    when it can (`_nifti_by_itk`), the rest as a view of the decompressed bytes."""
    packed = data[:2] == b"\x1f\x8b"
    header = nifti_header(gunzip(data, HEADER_BYTES) if packed else data[:HEADER_BYTES])
    dtype = header.get_data_dtype()
    if dtype.kind not in "iuf" or dtype.itemsize > 8:
        raise ValueError(f"unsupported data type {dtype}")
    shape = _volume_shape(header.get_data_shape(), role, name)
    voxels = math.prod(shape)  # Python integers: a hostile header cannot overflow them
    _check_voxels(voxels, role, limits, name)
    affine = np.asarray(header.get_best_affine(), dtype=np.float64)
    if packed and shape[3] == 1 and (volume := _nifti_by_itk(path, data, header, affine)):
        return volume
    offset = int(header.get_data_offset())
    needed = offset + voxels * dtype.itemsize
    body = gunzip(data, needed + 1) if packed else data  # + 1: to the stream's end, its CRC checked
    if len(body) < needed:
        raise ValueError(f"truncated: {len(body)} bytes of header and data, expected {needed}")
    array = np.ndarray(shape, dtype, buffer=body, offset=offset, order="F")
    if not dtype.isnative:  # big-endian files: SimpleITK and numpy's fast paths want native
        array = array.astype(dtype.newbyteorder("="), order="F")
    slope, inter = header.get_slope_inter()
    return Volume(
        array,
        affine,
        1.0 if slope is None else float(slope),
        0.0 if inter is None else float(inter),
    )


def _nifti_by_itk(path: str, data: bytes, header: Any, affine: np.ndarray) -> Volume | None:
    """A gzipped 3-D NIfTI read by SimpleITK: its zlib inflates faster than Python's (0.45
    s against 0.6 s for a 150 MB CT) and its image goes to the resampler without a copy.
    Only its voxels are taken, never its geometry (the affine is nibabel's), and only when
    they are the file's bytes: ITK's gzip reading takes a truncated or corrupted stream
    without a word (zeros or wrong voxels), so the CRC-32 and length of header + voxels
    must be those the gzip trailer records (0.03 s). ITK opens the file by its path again;
    the check is against the bytes read through the confined descriptor, so a file swapped
    in between is not taken either. None otherwise (ITK refusing a
    sheared affine, a scaled or big-endian file, a broken one, several gzip members): the
    caller's own decoder then decides."""
    if not header.get_data_dtype().isnative:
        return None
    try:
        image = sitk.ReadImage(path, imageIO="NiftiImageIO")
    except RuntimeError:
        return None
    if image.GetDimension() != 3 or image.GetNumberOfComponentsPerPixel() != 1:
        return None
    voxels = itk_voxels(image)  # (k, j, i): the file's own order
    if voxels.dtype != header.get_data_dtype() or voxels.shape[::-1] != header.get_data_shape()[:3]:
        return None
    offset = int(header.get_data_offset())
    crc = zlib.crc32(voxels.data, zlib.crc32(gunzip(data, offset)[:offset]))
    if data[-8:] != struct.pack("<II", crc, (offset + voxels.nbytes) & 0xFFFFFFFF):
        return None
    return Volume(voxels.T[..., None], affine, itk=image)


def _volume_shape(shape: tuple[int, ...], role: Role, name: str) -> tuple[int, int, int, int]:
    """(i, j, k, channels) of a file's shape: a 2-D file is one slice, axes past the 4th
    must be 1 except one (NIfTI stores vectors in its 5th), which holds the channels."""
    i, j, k = (tuple(shape[:3]) + (1, 1, 1))[:3]
    extra = [n for n in shape[3:] if n != 1]
    if len(extra) > 1:
        raise ValueError(f"shape {tuple(shape)}: expected a 3-D or 4-D {role.noun}")
    if min(shape, default=0) < 1:
        raise ValueError(f"shape {tuple(shape)} holds no voxel")
    return i, j, k, extra[0] if extra else 1


def _check_voxels(voxels: int, role: Role, limits: Limits, name: str) -> None:
    if voxels > limits.max_voxels:
        raise Rejected(
            "too_large",
            f"{role.noun} {name}: {voxels} voxels, expected <= {limits.max_voxels} (max_voxels)",
        )


# --- NRRD, MetaImage ----------------------------------------------------------------------


def decode_itk(path: str, role: Role, limits: Limits, name: str) -> Volume:
    reader = sitk.ImageFileReader()
    reader.SetFileName(path)
    reader.ReadImageInformation()
    size, dim = reader.GetSize(), reader.GetDimension()
    components = reader.GetNumberOfComponents()
    _check_voxels(math.prod(size) * components, role, limits, name)
    if dim not in (2, 3, 4) or (dim == 4 and components > 1):
        raise ValueError(f"{dim}-D image of {components} components: expected 3-D or 4-D")
    image = reader.Execute()
    array = _ijkc(itk_voxels(image), dim, components > 1)
    if array.dtype.kind not in "iuf":
        raise ValueError(f"unsupported pixel type {image.GetPixelIDTypeAsString()}")
    _volume_shape(array.shape, role, name)
    return Volume(array, itk_affine(image), itk=image if dim == 3 and components == 1 else None)


class _Voxels:
    """An ITK image's buffer as numpy sees it, owning the image: an array made from it
    (and every view of that) keeps the image alive, which SimpleITK's own view does not.
    Writable: the image is this array's alone (a reader's or a filter's fresh output)."""

    def __init__(self, image: sitk.Image):
        self.image = image
        interface = dict(sitk.GetArrayViewFromImage(image).__array_interface__)
        interface["data"] = (interface["data"][0], False)
        self.__array_interface__ = interface


def itk_voxels(image: sitk.Image) -> np.ndarray:
    """The voxels of `image`, no copy, in SimpleITK's axis order ((k, j, i), components
    last), safe to keep after `image` is dropped."""
    return np.asarray(_Voxels(image))


def _ijkc(view: np.ndarray, dim: int, vector: bool) -> np.ndarray:
    """SimpleITK's array view ((k, j, i), (l, k, j, i), or with components last) as
    (i, j, k, channel), without a copy."""
    if vector:
        view = view.transpose(*reversed(range(dim)), dim)  # (i, j[, k], c)
        return view[:, :, None, :] if dim == 2 else view
    view = view.T  # (i, j[, k[, l]]), Fortran order
    return view[:, :, None, None] if dim == 2 else view[..., None] if dim == 3 else view


def itk_affine(image: sitk.Image) -> np.ndarray:
    """The RAS affine of an ITK image's first three axes (ITK's physical space is LPS)."""
    dim = image.GetDimension()
    direction = np.asarray(image.GetDirection(), dtype=np.float64).reshape(dim, dim)
    spacing = np.asarray(image.GetSpacing(), dtype=np.float64)
    origin = np.asarray(image.GetOrigin(), dtype=np.float64)
    n = min(dim, 3)
    affine = np.eye(4)
    affine[:n, :n] = direction[:n, :n] * spacing[:n]
    affine[:n, 3] = origin[:n]
    return LPS_RAS @ affine


def check_affine(affine: np.ndarray, role: Role, name: str) -> None:
    """An affine that maps voxels to space one to one (finite, not singular)."""
    if not np.all(np.isfinite(affine)) or abs(np.linalg.det(affine[:3, :3])) < 1e-12:
        raise Rejected(
            role.unreadable,
            f"{role.noun} {name}: its affine is singular or not finite: {affine[:3].tolist()}",
        )
