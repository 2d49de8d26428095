"""Checking a file someone wants to attach to a case, before anything is stored.

Pure: bytes in, a verdict out. No Telegram, no database, no name or claimed MIME type:
the type is decided from the file's first bytes (its magic number) and only PDF, JPEG
and PNG get through. Images are decoded and re-encoded with Pillow, which drops EXIF
(GPS included), text chunks, comments, colour-profile blobs and anything appended after
the image. PDFs must open with pypdf and are refused when encrypted, carrying JavaScript
(or launch actions) or embedded files; bytes after the last %%EOF are cut off.

CPU-bound: callers on the event loop run `check` in a worker thread. Nothing here
changes Pillow's global settings, so it is safe to run in several threads at once.
"""

from __future__ import annotations

import hashlib
import io
import math
import re
import zipfile
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from PIL import Image, ImageCms, ImageOps
from pypdf import PdfReader
from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject, NameObject

MB = 1024 * 1024
# A decoded image costs width x height x 3-4 bytes of memory (twice while it is turned
# upright): 50 million pixels is ~200 MB, above any phone camera's default output
# (12-48 MP). Pillow's own MAX_IMAGE_PIXELS, when lower, wins.
MAX_PIXELS = 50_000_000
# Objects walked looking for scripts and embedded files; a real letter or report has a
# few thousand. Beyond this the file is refused rather than walked for minutes.
MAX_PDF_OBJECTS = 200_000
JPEG_QUALITY = 90


class Kind(StrEnum):
    """An accepted type; the values are the ones storage keeps (ATTACHMENT_KINDS)."""

    PDF = "pdf"
    JPEG = "jpeg"
    PNG = "png"

    @property
    def mime(self) -> str:
        return {"pdf": "application/pdf", "jpeg": "image/jpeg", "png": "image/png"}[self.value]

    @property
    def extension(self) -> str:
        return {"pdf": ".pdf", "jpeg": ".jpg", "png": ".png"}[self.value]


ACCEPTED: tuple[Kind, ...] = tuple(Kind)
ACCEPTED_NAMES = "PDF, JPEG or PNG"


class Reason(StrEnum):
    """Why a file was refused. Callers may map these (metrics, audit); texts are below."""

    TOO_LARGE = "too_large"
    EMPTY = "empty"
    ARCHIVE = "archive"
    OFFICE = "office"
    EXECUTABLE = "executable"
    HEIC = "heic"
    OTHER_IMAGE = "other_image"
    AUDIO = "audio"
    VIDEO = "video"
    UNKNOWN = "unknown"
    IMAGE_UNREADABLE = "image_unreadable"
    IMAGE_TOO_MANY_PIXELS = "image_too_many_pixels"
    PDF_UNREADABLE = "pdf_unreadable"
    PDF_ENCRYPTED = "pdf_encrypted"
    PDF_JAVASCRIPT = "pdf_javascript"
    PDF_EMBEDDED_FILE = "pdf_embedded_file"


_TAKE = f"I can take {ACCEPTED_NAMES} files: imaging reports, letters and photos."
_SAVE_AS = "Please save or export it as a PDF (or a photo as JPEG or PNG) and send that."

# Plain text, no HTML. TOO_LARGE is formatted with {size} and {limit} (in MB).
TEXTS: dict[Reason, str] = {
    Reason.TOO_LARGE: (
        "That file is {size} MB; the limit is {limit} MB. Please send a smaller file"
        f" (for example fewer pages, or a photo rather than a scan). {_TAKE}"
    ),
    Reason.EMPTY: f"That file is empty. {_TAKE}",
    Reason.ARCHIVE: f"That is an archive (ZIP or similar), not a file I can take. {_TAKE}"
    " Please send the files inside it one by one.",
    Reason.OFFICE: f"That is an Office document (Word, Excel or similar). {_TAKE} {_SAVE_AS}",
    Reason.EXECUTABLE: f"That is a program or script, which is never accepted. {_TAKE}",
    Reason.HEIC: "That photo is in HEIC/HEIF format (the iPhone default). "
    f"{_TAKE} Please send it as a photo rather than a file, or export it as JPEG.",
    Reason.OTHER_IMAGE: f"That image format (GIF, WebP, TIFF or similar) is not accepted. "
    f"{_TAKE} {_SAVE_AS}",
    Reason.AUDIO: f"Voice notes and audio are not accepted. {_TAKE} Please type the message.",
    Reason.VIDEO: f"Videos are not accepted. {_TAKE} A still photo or a report is fine.",
    Reason.UNKNOWN: f"I cannot tell what kind of file that is. {_TAKE} {_SAVE_AS}",
    Reason.IMAGE_UNREADABLE: f"That image could not be opened; it may be damaged. {_TAKE}",
    Reason.IMAGE_TOO_MANY_PIXELS: "That image is too large in pixels to open safely. "
    f"Please send a smaller photo or a screenshot of it. {_TAKE}",
    Reason.PDF_UNREADABLE: "That PDF could not be opened; it may be damaged. Please save it "
    f"again (for example Print > Save as PDF) and send that. {_TAKE}",
    Reason.PDF_ENCRYPTED: "That PDF is password-protected or encrypted, so it cannot be "
    "checked. Please send a copy without protection (for example Print > Save as PDF).",
    Reason.PDF_JAVASCRIPT: "That PDF contains JavaScript or actions that start programs, "
    "which are not accepted. Please send a plain copy (for example Print > Save as PDF).",
    Reason.PDF_EMBEDDED_FILE: "That PDF has other files attached inside it, which are not "
    "accepted. Please send each document separately as a PDF, JPEG or PNG.",
}


@dataclass(frozen=True, slots=True)
class Checked:
    """An accepted file: the cleaned bytes to store and what is known about them."""

    kind: Kind
    data: bytes
    sha256: str  # hex digest of `data`, the cleaned bytes
    size: int  # len(data)
    width: int | None = None  # images only, after turning upright
    height: int | None = None
    page_count: int | None = None  # PDFs only


@dataclass(frozen=True, slots=True)
class Refused:
    """A refused file: a reason code and the answer for the sender."""

    reason: Reason
    text: str


# --- size ---------------------------------------------------------------------------


def too_large(size: int | None, max_bytes: int) -> bool:
    """Over the limit, for the size Telegram reports before download (None: not known
    yet, so not refused here; `check` refuses it after download)."""
    return size is not None and size > max_bytes


def _megabytes(n: int, *, up: bool) -> str:
    tenths = n * 10 / MB
    value = (math.ceil(tenths) if up else math.floor(tenths)) / 10
    return f"{value:g}"


def refuse_too_large(size: int, max_bytes: int) -> Refused:
    """The refusal for a file over the limit, naming both in MB (the size rounded up and
    the limit down, so a file just over never reads as "20 MB; the limit is 20 MB")."""
    text = TEXTS[Reason.TOO_LARGE].format(
        size=_megabytes(size, up=True), limit=_megabytes(max_bytes, up=False)
    )
    return Refused(Reason.TOO_LARGE, text)


def refuse(reason: Reason) -> Refused:
    if reason is Reason.TOO_LARGE:
        raise ValueError("use refuse_too_large, which needs the size and the limit")
    return Refused(reason, TEXTS[reason])


# --- what the bytes are -------------------------------------------------------------

_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"}
_AVIF_BRANDS = {b"avif", b"avis"}
_AUDIO_BRANDS = {b"M4A ", b"M4B ", b"M4P ", b"F4A "}
_OFFICE_ZIP = re.compile(r"^(word|xl|ppt)/|^\[Content_Types\]\.xml$|^mimetype$")
# (prefix, reason), checked in order. A file must start with its signature: a PDF with
# bytes before "%PDF-" (allowed by readers, used by polyglot files) is not taken.
_SIGNATURES: tuple[tuple[bytes, Reason], ...] = (
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", Reason.OFFICE),  # OLE: .doc .xls .ppt .msg
    (b"Rar!\x1a\x07", Reason.ARCHIVE),
    (b"7z\xbc\xaf\x27\x1c", Reason.ARCHIVE),
    (b"\x1f\x8b", Reason.ARCHIVE),  # gzip
    (b"BZh", Reason.ARCHIVE),
    (b"\xfd7zXZ\x00", Reason.ARCHIVE),
    (b"MSCF", Reason.ARCHIVE),  # cabinet
    (b"MZ", Reason.EXECUTABLE),  # Windows .exe .dll
    (b"\x7fELF", Reason.EXECUTABLE),
    (b"\xca\xfe\xba\xbe", Reason.EXECUTABLE),  # Mach-O universal, Java class
    (b"\xcf\xfa\xed\xfe", Reason.EXECUTABLE),
    (b"\xce\xfa\xed\xfe", Reason.EXECUTABLE),
    (b"\xfe\xed\xfa\xce", Reason.EXECUTABLE),
    (b"\xfe\xed\xfa\xcf", Reason.EXECUTABLE),
    (b"#!", Reason.EXECUTABLE),  # script
    (b"GIF87a", Reason.OTHER_IMAGE),
    (b"GIF89a", Reason.OTHER_IMAGE),
    (b"II*\x00", Reason.OTHER_IMAGE),  # TIFF
    (b"MM\x00*", Reason.OTHER_IMAGE),
    (b"BM", Reason.OTHER_IMAGE),
    (b"\x00\x00\x00\x0cjP  ", Reason.OTHER_IMAGE),  # JPEG 2000
    (b"\x00\x00\x01\x00", Reason.OTHER_IMAGE),  # icon
    (b"OggS", Reason.AUDIO),  # Telegram voice notes (Opus in Ogg)
    (b"ID3", Reason.AUDIO),
    (b"fLaC", Reason.AUDIO),
    (b"#!AMR", Reason.AUDIO),
    (b"\xff\xfb", Reason.AUDIO),  # MP3 frames
    (b"\xff\xf3", Reason.AUDIO),
    (b"\xff\xf2", Reason.AUDIO),
    (b"\xff\xf1", Reason.AUDIO),  # AAC (ADTS)
    (b"\xff\xf9", Reason.AUDIO),
    (b"\x1aE\xdf\xa3", Reason.VIDEO),  # Matroska, WebM
    (b"FLV", Reason.VIDEO),
    (b"\x00\x00\x01\xba", Reason.VIDEO),  # MPEG program stream
)


def identify(data: bytes) -> Kind | Reason:
    """The accepted kind the bytes are, or why they are not one (from the bytes only)."""
    if not data:
        return Reason.EMPTY
    if data.startswith(b"%PDF-"):
        return Kind.PDF
    if data.startswith(b"\xff\xd8\xff"):
        return Kind.JPEG
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return Kind.PNG
    if data.startswith((b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")):
        return _zip_kind(data)
    if data[4:8] == b"ftyp":
        return _iso_media_kind(data[8:12])
    if data.startswith(b"RIFF"):
        return {b"WEBP": Reason.OTHER_IMAGE, b"WAVE": Reason.AUDIO}.get(data[8:12], Reason.VIDEO)
    if data[257:262] == b"ustar":
        return Reason.ARCHIVE
    for prefix, reason in _SIGNATURES:
        if data.startswith(prefix):
            return reason
    return Reason.UNKNOWN


def _zip_kind(data: bytes) -> Reason:
    """Office Open XML and OpenDocument files are ZIPs: told apart by their entries."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = archive.namelist()  # the central directory only: nothing is extracted
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return Reason.ARCHIVE
    return Reason.OFFICE if any(_OFFICE_ZIP.search(n) for n in names) else Reason.ARCHIVE


def _iso_media_kind(brand: bytes) -> Reason:
    if brand in _HEIF_BRANDS or brand in _AVIF_BRANDS:
        return Reason.HEIC
    if brand in _AUDIO_BRANDS:
        return Reason.AUDIO
    return Reason.VIDEO  # isom, mp41, mp42, qt, 3gp...


# --- the check ----------------------------------------------------------------------


def check(data: bytes, max_bytes: int) -> Checked | Refused:
    """Accept and clean one downloaded file, or say why not."""
    if too_large(len(data), max_bytes):
        return refuse_too_large(len(data), max_bytes)
    kind = identify(data)
    if isinstance(kind, Reason):
        return refuse(kind)
    if kind is Kind.PDF:
        return _check_pdf(data)
    return _check_image(data, kind)


def _accepted(kind: Kind, data: bytes, **facts: int) -> Checked:
    return Checked(kind, data, hashlib.sha256(data).hexdigest(), len(data), **facts)


# --- images -------------------------------------------------------------------------


def pixel_limit() -> int:
    pillow = Image.MAX_IMAGE_PIXELS
    return MAX_PIXELS if pillow is None else min(MAX_PIXELS, int(pillow))


def _check_image(data: bytes, kind: Kind) -> Checked | Refused:
    pillow_format = "JPEG" if kind is Kind.JPEG else "PNG"
    try:
        # formats=: only the decoder for the type the bytes claim, never another plugin.
        with Image.open(io.BytesIO(data), formats=[pillow_format]) as image:
            # Only the header is read so far: refuse a decompression bomb before decoding.
            if image.width * image.height > pixel_limit():
                return refuse(Reason.IMAGE_TOO_MANY_PIXELS)
            image.load()
            cleaned, size = _reencode(image, kind)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        # Pillow's own guard (the warning, when a caller's filter turns it into an error).
        return refuse(Reason.IMAGE_TOO_MANY_PIXELS)
    except Exception:
        # Broad on purpose: a hostile file can make a decoder raise almost anything
        # (OSError, ValueError, SyntaxError, struct.error, EOFError...); all are "unreadable".
        return refuse(Reason.IMAGE_UNREADABLE)
    return _accepted(kind, cleaned, width=size[0], height=size[1])


def _reencode(image: Image.Image, kind: Kind) -> tuple[bytes, tuple[int, int]]:
    """Upright, in sRGB, with nothing but pixels: EXIF, XMP, text chunks, comments and
    ICC blobs are not carried over, and neither is anything after the image data."""
    transparency = image.info.get("transparency")
    try:
        upright = ImageOps.exif_transpose(image)  # a copy, turned as EXIF orientation says
    except Exception:
        upright = image.copy()  # broken EXIF is common: keep the picture as it is stored
    upright = _to_srgb(upright)
    upright.info = {}  # Pillow falls back on info for some chunks (JPEG comments) on save
    out = io.BytesIO()
    if kind is Kind.JPEG:
        if upright.mode not in ("L", "RGB"):
            upright = upright.convert("RGB")
        upright.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)
    else:
        options: dict[str, Any] = {"optimize": True}
        if transparency is not None and upright.mode in ("P", "L", "RGB", "1", "I", "I;16"):
            options["transparency"] = transparency
        upright.save(out, "PNG", **options)
    return out.getvalue(), upright.size


def _to_srgb(image: Image.Image) -> Image.Image:
    """Convert colour pixels from an embedded profile to sRGB, so a clinical photo keeps
    its colours without carrying the profile blob; a profile that cannot be used (or a
    greyscale one) is simply dropped."""
    icc = image.info.get("icc_profile")
    if not icc or image.mode not in ("RGB", "RGBA", "CMYK"):
        return image
    out_mode = "RGBA" if image.mode == "RGBA" else "RGB"
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        target = ImageCms.createProfile("sRGB")
        converted = ImageCms.profileToProfile(image, source, target, outputMode=out_mode)
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return image
    return converted if converted is not None else image


# --- PDFs ---------------------------------------------------------------------------

_EOF = re.compile(rb"%%EOF[ \t\f\x00]*(?:\r\n|\r|\n)?")
# Keys and values that mean a script or a launched program (checked after pypdf has
# decoded #-escaped names, so /J#61vaScript is /JavaScript here).
_SCRIPT_KEYS = {"/JS", "/JavaScript"}
_SCRIPT_ACTIONS = {"/JavaScript", "/Launch"}
_EMBEDDED_KEYS = {"/EmbeddedFiles", "/EmbeddedFile", "/EF"}


def strip_after_eof(data: bytes) -> bytes:
    """The bytes up to the last %%EOF marker and its end of line. The rest of the file is
    kept byte for byte (not rewritten through pypdf): what the sender made is what the
    clinician reads, and no writer bug can change a report. Without any %%EOF, the
    bytes are kept as they are."""
    at = data.rfind(b"%%EOF")
    if at < 0:
        return data
    end = _EOF.match(data, at)
    return data if end is None else data[: end.end()]


def _check_pdf(data: bytes) -> Checked | Refused:
    cleaned = strip_after_eof(data)
    try:
        # What is checked is what is stored: the stripped bytes.
        reader = PdfReader(io.BytesIO(cleaned), strict=False)
        if reader.is_encrypted:
            return refuse(Reason.PDF_ENCRYPTED)
        found = _active_content(reader)
        if found is not None:
            return refuse(found)
        pages = len(reader.pages)
    except Exception:
        # Broad on purpose: pypdf can raise almost anything on a hostile file (PdfReadError,
        # ValueError, KeyError, RecursionError, zlib.error...); all mean "unreadable".
        return refuse(Reason.PDF_UNREADABLE)
    if pages < 1:
        return refuse(Reason.PDF_UNREADABLE)
    return _accepted(Kind.PDF, cleaned, page_count=pages)


def _active_content(reader: PdfReader) -> Reason | None:
    """Walk every object reachable from the trailer (catalog, /Names trees, /OpenAction,
    pages, their /AA and annotations' /A actions, forms...) for scripts and embedded
    files. Raises when the walk is too long, which the caller takes as unreadable."""
    stack: list[Any] = [reader.trailer]
    seen: set[tuple[int, int]] = set()
    while stack:
        node = stack.pop()
        if isinstance(node, IndirectObject):
            ref = (node.idnum, node.generation)
            if ref in seen:
                continue
            seen.add(ref)
            if len(seen) > MAX_PDF_OBJECTS:
                raise ValueError("too many objects to check")
            stack.append(node.get_object())
        elif isinstance(node, DictionaryObject):  # streams too: their dictionary only
            found = _dictionary_finding(node)
            if found is not None:
                return found
            stack.extend(node.values())
        elif isinstance(node, ArrayObject):
            stack.extend(node)
    return None


def _dictionary_finding(node: DictionaryObject) -> Reason | None:
    keys = set(node.keys())
    if keys & _SCRIPT_KEYS or _name(node, "/S") in _SCRIPT_ACTIONS:
        return Reason.PDF_JAVASCRIPT
    if keys & _EMBEDDED_KEYS or _name(node, "/Subtype") == "/FileAttachment":
        return Reason.PDF_EMBEDDED_FILE
    if _name(node, "/Type") == "/EmbeddedFile":
        return Reason.PDF_EMBEDDED_FILE
    return None


def _name(node: DictionaryObject, key: str) -> str | None:
    """The value under `key` when it is a name (resolved if indirect), else None."""
    value = node.get(key)
    if isinstance(value, IndirectObject):
        value = value.get_object()
    return str(value) if isinstance(value, NameObject) else None
