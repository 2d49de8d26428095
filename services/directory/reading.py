"""Reading a YAML or CSV directory file into raw entries, every value with its line.

Both formats become the same `RawEntry`s, which one set of rules (`models`) checks.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

import yaml

from services.directory.entries import CSV_COLUMNS, PERSON_ROLES, SECTION_OF, SECTIONS, Problems

_NULL_TAG = "tag:yaml.org,2002:null"


@dataclass(frozen=True)
class Value:
    """A field as written: a scalar's text, a list of values, or a mapping."""

    line: int
    text: str | None = None  # stripped; None for null or blank
    items: tuple[Value, ...] | None = None
    mapping: bool = False

    @property
    def blank(self) -> bool:
        if self.items is not None:
            return all(item.blank for item in self.items)
        return not self.mapping and self.text is None

    def plain(self) -> Any:
        """The value without its lines, as the models take it: text, list or mapping."""
        if self.items is not None:
            return [item.plain() for item in self.items]
        return {} if self.mapping else self.text


@dataclass
class RawEntry:
    kind: str
    line: int
    place: str  # "clinicians[1]" (YAML) or "clinician" (CSV)
    fields: dict[str, Value]


# --- YAML ---------------------------------------------------------------------------------


def yaml_entries(text: str, problems: Problems) -> list[RawEntry]:
    root = _yaml_root(text, problems)
    if root is None:
        return []
    entries: list[RawEntry] = []
    seen_sections: dict[str, int] = {}
    for key_node, value_node in root.value:
        key_line = key_node.start_mark.line + 1
        key = str(key_node.value).strip() if isinstance(key_node, yaml.ScalarNode) else "?"
        if key not in SECTIONS:
            problems.add(
                key_line, key, f"unknown top-level key; expected one of {', '.join(SECTIONS)}"
            )
            continue
        if key in seen_sections:
            problems.add(key_line, key, f"section given twice (first at line {seen_sections[key]})")
            continue
        seen_sections[key] = key_line
        if isinstance(value_node, yaml.ScalarNode) and value_node.tag == _NULL_TAG:
            continue  # `admins:` with nothing under it: an empty section
        if not isinstance(value_node, yaml.SequenceNode):
            problems.add(key_line, key, "must be a list of entries")
            continue
        for index, item in enumerate(value_node.value):
            entry = _yaml_entry(SECTIONS[key], f"{key}[{index}]", item, problems)
            if entry is not None:
                entries.append(entry)
    return entries


def _yaml_root(text: str, problems: Problems) -> yaml.MappingNode | None:
    """The file's top-level mapping, or None with the problem reported."""
    try:
        # compose builds nodes without constructing objects: marks for line numbers,
        # and no tag can make it run code.
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        detail = ", ".join(part for part in (exc.context, exc.problem) if part)
        problems.add(mark.line + 1 if mark else 1, "", f"YAML syntax error: {detail or exc}")
        return None
    except yaml.reader.ReaderError as exc:
        line = text[: exc.position].count("\n") + 1
        problems.add(line, "", f"YAML syntax error: {exc.reason}")
        return None
    except yaml.YAMLError as exc:
        problems.add(1, "", f"YAML syntax error: {exc}")
        return None
    if root is None or (isinstance(root, yaml.ScalarNode) and root.tag == _NULL_TAG):
        problems.add(1, "", "the file is empty")
        return None
    if not isinstance(root, yaml.MappingNode):
        problems.add(
            root.start_mark.line + 1, "", f"expected a mapping of sections: {', '.join(SECTIONS)}"
        )
        return None
    return root


def _yaml_entry(kind: str, place: str, item: yaml.Node, problems: Problems) -> RawEntry | None:
    line = item.start_mark.line + 1
    if not isinstance(item, yaml.MappingNode):
        problems.add(line, place, "each entry must be a mapping of fields (id: ...)")
        return None
    fields: dict[str, Value] = {}
    for field_key, field_value in item.value:
        field_line = field_key.start_mark.line + 1
        if not isinstance(field_key, yaml.ScalarNode):
            problems.add(field_line, place, "field names must be plain text")
            continue
        name = str(field_key.value).strip()
        if name in fields:
            problems.add(field_line, f"{place}.{name}", "field given twice")
            continue
        fields[name] = _yaml_value(field_value, field_line)
    return RawEntry(kind, line, place, fields)


def _yaml_value(node: yaml.Node, line: int) -> Value:
    if isinstance(node, yaml.ScalarNode):
        # The raw scalar, not the resolved value: YAML 1.1 would turn `09:00` into 540
        # and `no` into False, which nobody writing a directory means.
        text = None if node.tag == _NULL_TAG else (str(node.value).strip() or None)
        return Value(line, text=text)
    if isinstance(node, yaml.SequenceNode):
        return Value(
            line, items=tuple(_yaml_value(item, item.start_mark.line + 1) for item in node.value)
        )
    return Value(line, mapping=True)


# --- CSV ----------------------------------------------------------------------------------


def csv_entries(text: str, problems: Problems) -> list[RawEntry]:
    text = text.removeprefix("\ufeff")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header: list[str] | None = None
    entries: list[RawEntry] = []
    row_end = 0
    try:
        for row in reader:
            line, row_end = row_end + 1, reader.line_num
            if not any(cell.strip() for cell in row) or row[0].lstrip().startswith("#"):
                continue
            if header is None:
                header = [cell.strip().lower() for cell in row]
                if not _csv_header_ok(header, line, problems):
                    return []
                continue
            entry = _csv_row(header, row, line, problems)
            if entry is not None:
                entries.append(entry)
    except csv.Error as exc:
        problems.add(reader.line_num or 1, "", f"CSV error: {exc}")
        return entries
    if header is None:
        problems.add(1, "", "the file is empty")
    return entries


def _csv_header_ok(header: list[str], line: int, problems: Problems) -> bool:
    ok = True
    for position, column in enumerate(header):
        if column not in CSV_COLUMNS:
            problems.add(
                line,
                column or f"column {position + 1}",
                f"unknown column; expected one of {','.join(CSV_COLUMNS)}",
            )
            ok = False
        elif column in header[:position]:
            problems.add(line, column, "column given twice")
            ok = False
    if "kind" not in header:
        problems.add(line, "kind", "the header has no kind column")
        ok = False
    return ok


def _csv_row(header: list[str], row: list[str], line: int, problems: Problems) -> RawEntry | None:
    if any(cell.strip() for cell in row[len(header) :]):
        problems.add(line, "", f"more cells than the header's {len(header)} columns")
    cells = dict(zip(header, (cell.strip() for cell in row), strict=False))
    row_kind = cells.get("kind", "").lower()
    kind, _, clinic_kind = row_kind.partition(":")
    if not row_kind:
        problems.add(line, "kind", "missing")
        return None
    if kind not in SECTION_OF or (clinic_kind and kind != "clinic"):
        expected = ", ".join([*PERSON_ROLES, "centre", "clinic:<kind>"])
        problems.add(line, "kind", f"unknown kind '{row_kind}'; expected one of {expected}")
        return None
    fields: dict[str, Value] = {}
    for column, cell in cells.items():
        if column == "kind" or not cell:
            continue
        if column == "specialties":
            items = tuple(
                Value(line, text=part.strip()) for part in cell.split(";") if part.strip()
            )
            fields[column] = Value(line, items=items)
        else:
            fields[column] = Value(line, text=cell)
    if kind == "clinic" and clinic_kind.strip():
        fields["kind"] = Value(line, text=clinic_kind.strip())
    return RawEntry(kind, line, kind, fields)
