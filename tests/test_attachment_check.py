"""services/attachment_check.py: the type from the bytes, images cleaned, PDFs checked.

Every fixture is made here: Pillow for images, pypdf's PdfWriter for PDFs, zipfile for
archives, and a few bytes for the rest.
"""

from __future__ import annotations

import hashlib
import io
import struct
import zipfile
import zlib

import pytest
from PIL import ExifTags, Image, PngImagePlugin
from pypdf import PdfWriter
from pypdf.generic import ArrayObject, DictionaryObject, NameObject, TextStringObject

from services import attachment_check
from services.attachment_check import (
    ACCEPTED,
    MB,
    TEXTS,
    Checked,
    Kind,
    Reason,
    Refused,
    check,
    identify,
    refuse_too_large,
    strip_after_eof,
    too_large,
)

LIMIT = 20 * MB
CANARY = b"CANARY-7f3e9a1c-not-for-storage"


# --- fixtures -----------------------------------------------------------------------


def image_bytes(
    fmt: str, size: tuple[int, int] = (40, 30), mode: str = "RGB", **kw: object
) -> bytes:
    image = Image.new(mode, size, "red" if mode != "1" else 1)
    out = io.BytesIO()
    image.save(out, fmt, **kw)
    return out.getvalue()


def gps_exif(marker: str) -> Image.Exif:
    exif = Image.Exif()
    exif[ExifTags.Base.ImageDescription] = marker
    exif[ExifTags.Base.Orientation] = 1
    exif[ExifTags.IFD.GPSInfo] = {
        ExifTags.GPS.GPSLatitudeRef: "N",
        ExifTags.GPS.GPSLatitude: (53.0, 28.0, 0.0),
        ExifTags.GPS.GPSLongitudeRef: "W",
        ExifTags.GPS.GPSLongitude: (2.0, 14.0, 0.0),
    }
    return exif


def pdf_bytes(pages: int = 1, build: object = None) -> bytes:
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=595, height=842)
    if callable(build):
        build(writer)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def zip_bytes(entries: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
    return out.getvalue()


def accepted(result: Checked | Refused) -> Checked:
    assert isinstance(result, Checked), result
    return result


def refused(result: Checked | Refused) -> Refused:
    assert isinstance(result, Refused), result
    return result


def names_accepted(text: str) -> bool:
    return all(kind in text for kind in ("PDF", "JPEG", "PNG"))


# --- size ---------------------------------------------------------------------------


def test_too_large_before_download_names_size_and_limit_in_mb() -> None:
    assert too_large(25 * MB, 20 * MB)
    assert not too_large(20 * MB, 20 * MB)
    assert not too_large(None, 20 * MB)  # size not known yet: checked after download
    refusal = refuse_too_large(25 * MB, 20 * MB)
    assert refusal.reason is Reason.TOO_LARGE
    assert "25 MB" in refusal.text and "20 MB" in refusal.text
    # Just over the limit never reads as "20 MB; the limit is 20 MB".
    assert "20.1 MB" in refuse_too_large(20 * MB + 1, 20 * MB).text


def test_check_refuses_a_download_over_the_limit() -> None:
    data = pdf_bytes()
    result = refused(check(data, max_bytes=len(data) - 1))
    assert result.reason is Reason.TOO_LARGE
    accepted(check(data, max_bytes=len(data)))


# --- images -------------------------------------------------------------------------


def test_png_with_gps_exif_and_text_chunk_comes_back_without_them() -> None:
    marker = "MARKER-exif-5b2d"
    text = PngImagePlugin.PngInfo()
    text.add_text("Comment", "MARKER-text-9c41")
    original = image_bytes("PNG", exif=gps_exif(marker).tobytes(), pnginfo=text)
    with Image.open(io.BytesIO(original)) as before:  # the fixture really carries them
        assert before.getexif().get_ifd(ExifTags.IFD.GPSInfo)
    assert marker.encode() in original and b"MARKER-text-9c41" in original

    result = accepted(check(original, LIMIT))

    assert result.kind is Kind.PNG and (result.width, result.height) == (40, 30)
    with Image.open(io.BytesIO(result.data)) as after:
        assert dict(after.getexif()) == {}
        assert after.getexif().get_ifd(ExifTags.IFD.GPSInfo) == {}
        assert "Comment" not in after.info
        assert after.getpixel((0, 0)) == (255, 0, 0)
    assert marker.encode() not in result.data and b"MARKER-text-9c41" not in result.data


def test_jpeg_with_bytes_appended_comes_back_without_them() -> None:
    original = image_bytes("JPEG", comment=b"MARKER-comment-1e0f") + CANARY
    result = accepted(check(original, LIMIT))
    assert result.kind is Kind.JPEG
    assert CANARY not in result.data and b"MARKER-comment-1e0f" not in result.data
    assert result.data.endswith(b"\xff\xd9")
    assert result.size == len(result.data)
    assert result.sha256 == hashlib.sha256(result.data).hexdigest()


def test_jpeg_exif_is_dropped_and_orientation_applied() -> None:
    exif = gps_exif("MARKER-jpeg-exif-44aa")
    exif[ExifTags.Base.Orientation] = 6  # stored sideways: turn 90 degrees clockwise
    original = image_bytes("JPEG", size=(40, 30), exif=exif.tobytes())
    result = accepted(check(original, LIMIT))
    assert (result.width, result.height) == (30, 40)
    with Image.open(io.BytesIO(result.data)) as after:
        assert after.size == (30, 40)
        assert dict(after.getexif()) == {}
    assert b"MARKER-jpeg-exif-44aa" not in result.data


def test_same_input_gives_same_hash() -> None:
    original = image_bytes("PNG", exif=gps_exif("x").tobytes())
    first, second = accepted(check(original, LIMIT)), accepted(check(original, LIMIT))
    assert first.sha256 == second.sha256 and first.data == second.data
    pdf = pdf_bytes(2)
    assert accepted(check(pdf, LIMIT)).sha256 == accepted(check(pdf, LIMIT)).sha256


def png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height greyscale pixels."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\x00" * (width + 1) * 4)  # a few rows; the rest never arrive
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")
    )


def test_decompression_bomb_declaring_huge_dimensions_is_refused() -> None:
    bomb = png_declaring(100_000, 100_000)
    assert len(bomb) < 2_000
    assert refused(check(bomb, LIMIT)).reason is Reason.IMAGE_TOO_MANY_PIXELS


def test_image_over_our_pixel_cap_but_under_pillows_is_refused() -> None:
    # 81 million one-bit pixels: ~10 KB of PNG, under Pillow's own warning level (89 M)
    # but over MAX_PIXELS, so only this module's guard stops it.
    bomb = image_bytes("PNG", size=(9_000, 9_000), mode="1")
    assert attachment_check.MAX_PIXELS < 9_000 * 9_000
    assert (Image.MAX_IMAGE_PIXELS or 0) > 9_000 * 9_000
    assert refused(check(bomb, LIMIT)).reason is Reason.IMAGE_TOO_MANY_PIXELS


def test_pillows_own_limit_is_respected(monkeypatch: pytest.MonkeyPatch) -> None:
    ordinary = image_bytes("PNG", size=(100, 100))
    accepted(check(ordinary, LIMIT))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 50 * 50)
    assert refused(check(ordinary, LIMIT)).reason is Reason.IMAGE_TOO_MANY_PIXELS


def test_damaged_image_is_refused() -> None:
    truncated = image_bytes("PNG", size=(200, 200))[:60]
    assert refused(check(truncated, LIMIT)).reason is Reason.IMAGE_UNREADABLE
    assert refused(check(b"\xff\xd8\xff" + b"\x00" * 50, LIMIT)).reason is Reason.IMAGE_UNREADABLE


def test_png_transparency_is_kept() -> None:
    original = image_bytes("PNG", mode="RGBA")
    with Image.open(io.BytesIO(accepted(check(original, LIMIT)).data)) as after:
        assert after.mode == "RGBA"


# --- PDFs ---------------------------------------------------------------------------


def test_valid_pdf_keeps_its_bytes_and_page_count_without_appended_junk() -> None:
    original = pdf_bytes(3)
    result = accepted(check(original + CANARY, LIMIT))
    assert result.kind is Kind.PDF and result.page_count == 3
    assert result.data == original
    assert CANARY not in result.data
    assert result.size == len(original)
    assert result.sha256 == hashlib.sha256(original).hexdigest()
    assert (result.width, result.height) == (None, None)


def test_strip_after_eof_keeps_the_end_of_line_and_incremental_updates() -> None:
    assert strip_after_eof(b"%PDF-1.7 a %%EOF\r\nb %%EOF\njunk") == b"%PDF-1.7 a %%EOF\r\nb %%EOF\n"
    assert strip_after_eof(b"%PDF-1.7 no marker") == b"%PDF-1.7 no marker"


def test_encrypted_pdf_is_refused() -> None:
    data = pdf_bytes(build=lambda w: w.encrypt("pw"))
    assert refused(check(data, LIMIT)).reason is Reason.PDF_ENCRYPTED


def add_script(writer: PdfWriter) -> None:
    """Document-level JavaScript: add_js before pypdf 7, add_open_action from it."""
    try:
        from pypdf.actions import JavaScript  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        writer.add_js("app.alert(1)")
    else:
        writer.add_open_action(JavaScript("app.alert(1)"))


def test_pdf_with_javascript_is_refused() -> None:
    data = pdf_bytes(build=add_script)
    assert b"/JavaScript" in data or b"/JS" in data
    assert refused(check(data, LIMIT)).reason is Reason.PDF_JAVASCRIPT


def test_pdf_with_a_script_in_a_page_action_is_refused() -> None:
    def page_action(writer: PdfWriter) -> None:
        script = DictionaryObject(
            {
                NameObject("/S"): NameObject("/JavaScript"),
                NameObject("/JS"): TextStringObject("app.alert(2)"),
            }
        )
        action = writer._add_object(script)
        writer.pages[0][NameObject("/AA")] = DictionaryObject({NameObject("/O"): action})

    data = pdf_bytes(build=page_action)
    assert refused(check(data, LIMIT)).reason is Reason.PDF_JAVASCRIPT


def test_pdf_with_a_launch_action_is_refused() -> None:
    def open_action(writer: PdfWriter) -> None:
        launch = DictionaryObject(
            {NameObject("/S"): NameObject("/Launch"), NameObject("/F"): TextStringObject("x")}
        )
        writer._root_object[NameObject("/OpenAction")] = writer._add_object(launch)

    assert refused(check(pdf_bytes(build=open_action), LIMIT)).reason is Reason.PDF_JAVASCRIPT


def test_pdf_with_an_embedded_file_is_refused() -> None:
    data = pdf_bytes(build=lambda w: w.add_attachment("a.txt", b"x"))
    assert refused(check(data, LIMIT)).reason is Reason.PDF_EMBEDDED_FILE


def test_pdf_with_a_file_attachment_annotation_is_refused() -> None:
    def annotate(writer: PdfWriter) -> None:
        annotation = DictionaryObject(
            {
                NameObject("/Type"): NameObject("/Annot"),
                NameObject("/Subtype"): NameObject("/FileAttachment"),
                NameObject("/Rect"): ArrayObject([]),
            }
        )
        writer.pages[0][NameObject("/Annots")] = ArrayObject([writer._add_object(annotation)])

    assert refused(check(pdf_bytes(build=annotate), LIMIT)).reason is Reason.PDF_EMBEDDED_FILE


def test_a_pdf_that_does_not_open_is_refused() -> None:
    result = refused(check(b"%PDF-1.7\n" + b"\x00garbage" * 100, LIMIT))
    assert result.reason is Reason.PDF_UNREADABLE


# --- types from the bytes -----------------------------------------------------------


def test_a_zip_named_pdf_is_refused_as_an_archive() -> None:
    # The check has no name to believe: "scan.pdf" is only what the sender called it.
    data = zip_bytes({"scan.pdf": b"%PDF-1.7 inside"})
    result = refused(check(data, LIMIT))
    assert result.reason is Reason.ARCHIVE
    assert names_accepted(result.text)


HEIC = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64
MP4 = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + b"\x00" * 64
OGG_VOICE = b"OggS\x00\x02" + b"\x00" * 20 + b"\x01\x13OpusHead" + b"\x00" * 32
EXE = b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 56 + b"PE\x00\x00"
DOCX = zip_bytes({"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w:document/>"})


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        pytest.param(HEIC, Reason.HEIC, id="heic"),
        pytest.param(image_bytes("GIF"), Reason.OTHER_IMAGE, id="gif"),
        pytest.param(image_bytes("WEBP"), Reason.OTHER_IMAGE, id="webp"),
        pytest.param(OGG_VOICE, Reason.AUDIO, id="voice-note"),
        pytest.param(MP4, Reason.VIDEO, id="mp4"),
        pytest.param(EXE, Reason.EXECUTABLE, id="exe"),
        pytest.param(DOCX, Reason.OFFICE, id="docx"),
        pytest.param(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, Reason.OFFICE, id="doc"),
        pytest.param(b"Rar!\x1a\x07\x00" + b"\x00" * 20, Reason.ARCHIVE, id="rar"),
        pytest.param(b"hello, plain text", Reason.UNKNOWN, id="text"),
        pytest.param(b"", Reason.EMPTY, id="empty"),
    ],
)
def test_other_types_are_refused_naming_what_is_accepted(data: bytes, reason: Reason) -> None:
    result = refused(check(data, LIMIT))
    assert result.reason is reason
    assert result.text == TEXTS[reason]
    assert names_accepted(result.text)


def test_type_is_decided_from_the_first_bytes() -> None:
    assert identify(image_bytes("PNG")) is Kind.PNG
    assert identify(image_bytes("JPEG")) is Kind.JPEG
    assert identify(pdf_bytes()) is Kind.PDF
    # A PDF signature that is not at the very start (a polyglot trick) is not a PDF.
    assert identify(b"junk\n" + pdf_bytes()) is Reason.UNKNOWN
    # Bytes that claim JPEG but hold a PNG inside are decoded as JPEG only, and fail.
    fake = b"\xff\xd8\xff" + image_bytes("PNG")
    assert refused(check(fake, LIMIT)).reason is Reason.IMAGE_UNREADABLE


def test_every_reason_has_plain_text() -> None:
    assert set(TEXTS) == set(Reason)
    assert set(ACCEPTED) == {Kind.PDF, Kind.JPEG, Kind.PNG}
    for text in TEXTS.values():
        assert text.strip() and "<" not in text and ">" not in text.replace("Print > ", "")


def test_colour_profile_is_applied_and_not_carried() -> None:
    from PIL import ImageCms

    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    original = image_bytes("JPEG", icc_profile=profile)
    with Image.open(io.BytesIO(original)) as before:
        assert before.info.get("icc_profile")
    result = accepted(check(original, LIMIT))
    with Image.open(io.BytesIO(result.data)) as after:
        assert not after.info.get("icc_profile")
        red, green, blue = after.getpixel((5, 5))
        assert red > 230 and green < 30 and blue < 30
