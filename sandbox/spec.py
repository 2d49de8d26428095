"""Check Bot API calls against the machine-readable spec in ``shared/telegram-bot-api/api.json``.

Without that file (a plain install running the sandbox) ``allow_bundled()`` falls back to
``bot_api_methods.json``, a table of every method's parameters derived from it: form strings
still decode by type and parameters are still checked, nested objects are taken as they come.

Parameters may arrive as form strings (what python-telegram-bot sends: ints as "123", booleans
as "true", objects and arrays as JSON text) or as native JSON values (``application/json``
bodies, nested objects). ``check_call`` reports every problem; ``decode_params`` turns form
strings into native values once a call is known to be valid.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Collection, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

from .telegram_html import EntityParseError, parse_text, utf16_len

PRIMITIVES = ("Integer", "Float", "Boolean", "String")
MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_CALLBACK_ANSWER = 200
CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
# Inline buttons must carry exactly one of these (Telegram rejects plain "text buttons").
_INLINE_BUTTON_ACTIONS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)
_INT_RE = re.compile(r"-?\d+")
_DISCRIMINATOR_RE = re.compile(r'(?:must be|always) "?([a-z_]+)"?')


BUNDLED = Path(__file__).with_name("bot_api_methods.json")
_allow_bundled = False


def spec_path() -> Path:
    env = os.environ.get("BOT_API_SPEC")
    if env:
        return Path(env)
    # <repo>/sandbox/spec.py -> <repo>/../shared/...; CI clones shared/ beside the repo.
    return Path(__file__).resolve().parents[1].parent / "shared" / "telegram-bot-api" / "api.json"


@lru_cache(maxsize=4)
def load_spec(path: str | None = None) -> dict[str, Any]:
    with open(path or spec_path(), encoding="utf-8") as fh:
        data: dict[str, Any] = json.load(fh)
    return data


def allow_bundled(allow: bool = True) -> None:
    """Use the bundled methods table when api.json is absent (the sandbox); tests never do,
    so a missing api.json fails them loudly instead of checking less."""
    global _allow_bundled
    _allow_bundled = allow


def full_spec_available() -> bool:
    return spec_path().is_file()


def _spec() -> dict[str, Any]:
    if _allow_bundled and not full_spec_available():
        return load_spec(str(BUNDLED))
    return load_spec(None)


def compact(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The bundled table: every method's parameters and result types, no object types."""
    return {
        "source": (
            "Derived from api.json (Bot API machine-readable spec by PaulSonOfLars/"
            "telegram-bot-api-spec, MIT License, Copyright (c) 2020 Paul Larsen); regenerate "
            "with: python -m sandbox.spec"
        ),
        "version": spec.get("version"),
        "methods": {
            name: {
                "fields": [
                    {"name": f["name"], "types": f["types"], "required": f["required"]}
                    for f in method.get("fields", [])
                ],
                "returns": method.get("returns", []),
            }
            for name, method in sorted(spec["methods"].items())
        },
        "types": {},
    }


def write_bundled() -> None:
    """Regenerate ``bot_api_methods.json`` from the full api.json."""
    table = compact(load_spec(None))
    methods = table.pop("methods")
    lines = [f"{json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}" for k, v in table.items()]
    body = ",\n".join(f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in methods.items())
    lines.append(f'"methods": {{\n{body}\n}}')
    BUNDLED.write_text("{\n" + ",\n".join(lines) + "\n}\n", encoding="utf-8")


@lru_cache(maxsize=1)
def _method_names() -> dict[str, str]:
    return {name.lower(): name for name in _spec()["methods"]}


def canonical_method(name: str) -> str | None:
    """The spec's spelling of a method name (the Bot API matches names case-insensitively)."""
    return _method_names().get(name.lower())


def method_fields(method: str) -> dict[str, dict[str, Any]]:
    return {f["name"]: f for f in _spec()["methods"][method].get("fields", [])}


def method_returns(method: str) -> list[str]:
    returns: list[str] = _spec()["methods"][method].get("returns", [])
    return returns


class Problem(NamedTuple):
    path: str
    message: str
    exact: bool = False  # message is Telegram's own wording, reported without the path

    def render(self, method: str) -> str:
        return (
            f"{method}: {self.path}: {self.message}" if self.path else f"{method}: {self.message}"
        )


# ----------------------------------------------------------------------------- value checking
def _discriminator(type_name: str) -> tuple[str, str] | None:
    fields = _spec()["types"].get(type_name, {}).get("fields", [])
    if fields and fields[0]["name"] in ("type", "source", "status"):
        m = _DISCRIMINATOR_RE.search(fields[0]["description"])
        if m:
            return fields[0]["name"], m.group(1)
    return None


def _expand(types: list[str]) -> list[str]:
    """Replace abstract types (with subtypes) by their concrete subtypes."""
    out: list[str] = []
    for t in types:
        sub = _spec()["types"].get(t, {}).get("subtypes")
        out.extend(_expand(sub) if sub else [t])
    return out


def _check_value(value: Any, types: list[str], path: str) -> list[Problem]:
    """Problems of the best-matching alternative; [] if any alternative fits."""
    alternatives = _expand(types)
    if isinstance(value, dict):
        # Pick subtypes by their discriminator ("type": "chat" -> BotCommandScopeChat).
        tags = {t: tag for t in alternatives if (tag := _discriminator(t))}
        matching = [t for t, (key, want) in tags.items() if value.get(key) == want]
        if tags and not matching and len(tags) == len(alternatives):
            key = next(iter(tags.values()))[0]
            wanted = sorted(want for _, want in tags.values())
            return [Problem(path, f"{key} {value.get(key)!r} is not one of {wanted}")]
        if matching:
            alternatives = matching + [t for t in alternatives if t not in tags]
    best: list[Problem] | None = None
    best_score = (10**9, 10**9)
    for t in alternatives:
        problems = _check_single(value, t, path)
        if not problems:
            return []
        score = (sum("unknown field" in p.message for p in problems), len(problems))
        if score < best_score:
            best, best_score = problems, score
    if len(alternatives) > 1 and best and all(p.path == path for p in best):
        return [Problem(path, f"expected {' or '.join(types)}, got {_short(value)}")]
    return best or []


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def _check_single(value: Any, type_name: str, path: str) -> list[Problem]:
    if type_name.startswith("Array of "):
        if not isinstance(value, list):
            return [Problem(path, f"expected {type_name}, got {_short(value)}")]
        inner = type_name[len("Array of ") :]
        problems: list[Problem] = []
        for k, item in enumerate(value):
            problems += _check_value(item, [inner], f"{path}[{k}]")
        return problems
    ok = {
        "Integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "Float": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        "Boolean": lambda v: isinstance(v, bool),
        "String": lambda v: isinstance(v, str),
        "InputFile": lambda v: isinstance(v, str) and v.startswith("attach://"),
    }.get(type_name)
    if ok is not None:
        return [] if ok(value) else [Problem(path, f"expected {type_name}, got {_short(value)}")]
    spec_type = _spec()["types"].get(type_name)
    if spec_type is None or not spec_type.get("fields"):
        return []  # opaque types (CallbackGame, ...): accept any value
    if not isinstance(value, dict):
        return [Problem(path, f"expected {type_name} object, got {_short(value)}")]
    return _check_object(value, type_name, path)


def _check_object(obj: Mapping[str, Any], type_name: str, path: str) -> list[Problem]:
    fields = {f["name"]: f for f in _spec()["types"][type_name]["fields"]}
    problems: list[Problem] = []
    for name in obj:
        if name not in fields:
            problems.append(Problem(path, f"unknown field {name!r} in {type_name}"))
    for name, f in fields.items():
        sub = f"{path}.{name}" if path else name
        if name not in obj:
            if f["required"]:
                problems.append(Problem(sub, f"required field of {type_name} is missing"))
            continue
        problems += _check_value(obj[name], f["types"], sub)
    if not problems:
        problems += _object_rules(obj, type_name, path)
    return problems


def _object_rules(obj: Mapping[str, Any], type_name: str, path: str) -> list[Problem]:
    """Limits the spec states only in prose."""
    problems: list[Problem] = []
    if type_name == "InlineKeyboardButton":
        actions = [a for a in _INLINE_BUTTON_ACTIONS if a in obj]
        if len(actions) != 1:
            problems.append(
                Problem(
                    path,
                    "inline keyboard button must have exactly one of "
                    f"{', '.join(_INLINE_BUTTON_ACTIONS[:3])}, ...; got "
                    f"{actions or 'none'} (BUTTON_TYPE_INVALID)",
                )
            )
        data = obj.get("callback_data")
        if isinstance(data, str) and not 1 <= len(data.encode("utf-8")) <= 64:
            problems.append(
                Problem(
                    f"{path}.callback_data",
                    f"BUTTON_DATA_INVALID: must be 1-64 bytes, got {len(data.encode('utf-8'))}",
                )
            )
        url = obj.get("url")
        if isinstance(url, str) and not re.match(r"(https?|tg)://\S+$", url):
            problems.append(Problem(f"{path}.url", f"BUTTON_URL_INVALID: {url!r}"))
    if type_name in ("InlineKeyboardButton", "KeyboardButton") and not obj.get("text"):
        problems.append(Problem(f"{path}.text", "button text must not be empty"))
    if type_name == "BotCommand":
        cmd, desc = obj.get("command", ""), obj.get("description", "")
        if not re.fullmatch(r"[a-z0-9_]{1,32}", cmd):
            problems.append(
                Problem(
                    f"{path}.command",
                    f"BOT_COMMAND_INVALID: {cmd!r} (1-32 chars of a-z, 0-9 and _)",
                )
            )
        if not 1 <= len(desc) <= 256:
            problems.append(
                Problem(f"{path}.description", "command description must be 1-256 characters")
            )
    return problems


# ------------------------------------------------------------------------------- form strings
def _from_form(raw: str, types: list[str]) -> tuple[Any, str | None]:
    """Interpret a form string for the given types: (value, error)."""
    if "String" in types:
        if "Integer" in types and _INT_RE.fullmatch(raw):
            return int(raw), None
        return raw, None
    if "Integer" in types:
        return (
            (int(raw), None) if _INT_RE.fullmatch(raw) else (raw, f"expected Integer, got {raw!r}")
        )
    if "Float" in types:
        try:
            return float(raw), None
        except ValueError:
            return raw, f"expected Float, got {raw!r}"
    if "Boolean" in types:
        if raw in ("true", "false"):
            return raw == "true", None
        return raw, f"expected Boolean (true/false), got {raw!r}"
    if types == ["InputFile"]:
        return raw, None  # "attach://..." is checked as a nested value
    try:
        return json.loads(raw), None
    except ValueError:
        return raw, f"expected JSON-serialized {' or '.join(types)}, got {raw[:60]!r}"


def decode_params(method: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """Form strings -> native values according to the method's field types."""
    fields = method_fields(method)
    out: dict[str, Any] = {}
    for name, value in params.items():
        f = fields.get(name)
        out[name] = _from_form(value, f["types"])[0] if f and isinstance(value, str) else value
    return out


# ------------------------------------------------------------------------------- whole calls
def check_params(
    method: str, params: Mapping[str, Any], files: Collection[str] = ()
) -> list[Problem]:
    """Every problem with a call to a known ``method`` (see ``check_call``)."""
    fields = method_fields(method)
    problems: list[Problem] = []
    decoded: dict[str, Any] = {}
    for name in [*params, *[f for f in files if f not in params]]:
        if name not in fields:
            if name in files and any(
                p == f"attach://{name}" for p in params.values() if isinstance(p, str)
            ):
                continue
            problems.append(Problem(name, "unknown parameter"))
    for name, f in fields.items():
        if name in files and name not in params:
            if "InputFile" not in f["types"]:
                problems.append(Problem(name, f"file uploaded but the type is {f['types']}"))
            continue
        if name not in params:
            if f["required"]:
                problems.append(Problem(name, "required parameter is missing"))
            continue
        value = params[name]
        if isinstance(value, str):
            value, error = _from_form(value, f["types"])
            if error:
                problems.append(Problem(name, error))
                continue
            if f["types"] == ["InputFile"] or "String" in f["types"]:
                decoded[name] = value
                continue
        found = _check_value(value, f["types"], name)
        problems += found
        if not found:
            decoded[name] = value
        if isinstance(value, str) and value.startswith("attach://") and value[9:] not in files:
            problems.append(Problem(name, f"no file uploaded for {value}"))
    problems += _content_rules(method, decoded)
    return problems


def _content_rules(method: str, p: Mapping[str, Any]) -> list[Problem]:
    problems: list[Problem] = []
    for name, value in p.items():
        if (
            name.endswith("parse_mode")
            and value
            and value.lower() not in ("html", "markdownv2", "markdown")
        ):
            problems.append(Problem(name, f"unsupported parse_mode {value!r}"))
    has_text = method in ("sendMessage", "editMessageText")
    if has_text and "text" in p:
        problems += _check_text(
            p["text"],
            p.get("parse_mode"),
            "text",
            MAX_TEXT,
            "message is too long",
            "message text is empty",
        )
    elif method == "editMessageText" and "rich_message" not in p:
        problems.append(Problem("text", "message text is empty", True))
    if isinstance(p.get("caption"), str):
        problems += _check_text(
            p["caption"],
            p.get("parse_mode"),
            "caption",
            MAX_CAPTION,
            "message caption is too long",
            None,
        )
    if method == "answerCallbackQuery" and utf16_len(p.get("text") or "") > MAX_CALLBACK_ANSWER:
        problems.append(
            Problem(
                "text",
                f"MESSAGE_TOO_LONG: callback answer is "
                f"{utf16_len(p['text'])} > {MAX_CALLBACK_ANSWER} chars",
            )
        )
    if method == "sendChatAction" and p.get("action") not in CHAT_ACTIONS:
        problems.append(Problem("action", f"wrong parameter action {p.get('action')!r}"))
    if method == "setMyCommands" and len(p.get("commands") or []) > 100:
        problems.append(Problem("commands", "at most 100 commands"))
    chat_id = p.get("chat_id")
    if isinstance(chat_id, str) and not re.fullmatch(r"@[A-Za-z]\w{3,31}", chat_id):
        problems.append(
            Problem(
                "chat_id", f"chat not found: {chat_id!r} is neither an integer nor an @username"
            )
        )
    return problems


def _check_text(
    text: Any, parse_mode: Any, name: str, limit: int, too_long: str, empty: str | None
) -> list[Problem]:
    if not isinstance(text, str):
        return []
    mode = parse_mode if isinstance(parse_mode, str) else None
    if mode and mode.lower() not in ("html", "markdownv2", "markdown"):
        return []  # reported as unsupported parse_mode
    try:
        plain = parse_text(text, mode).plain
    except EntityParseError as exc:
        return [Problem(name, f"can't parse entities: {exc}", True)]
    size = utf16_len(plain)
    if empty and size == 0:
        return [Problem(name, empty, True)]
    if size > limit:
        return [
            Problem(
                name, f"{too_long} ({size} > {limit} UTF-16 code units after entity parsing)", True
            )
        ]
    return []


def check_call(method: str, params: Mapping[str, Any], files: Collection[str] = ()) -> list[str]:
    """Every problem with calling ``method`` with ``params`` (and uploaded ``files`` names).

    Each entry reads ``"<method>: <parameter path>: <problem>"``; [] means Telegram would
    accept the call's shape and content.
    """
    name = canonical_method(method)
    if name is None:
        return [f"{method}: unknown Bot API method"]
    return [p.render(name) for p in check_params(name, params, files)]


def check_object(value: Any, type_name: str) -> list[str]:
    """Every problem with ``value`` as the spec's ``type_name`` (a Message the fake answers,
    an Update it serves); [] when Telegram could have produced it."""
    return [p.render(type_name) for p in _check_value(value, [type_name], "")]


def telegram_description(problem: Problem) -> str:
    """The "description" Telegram would answer for a problem (HTTP 400)."""
    if problem.exact or not problem.path:
        return f"Bad Request: {problem.message}"
    return f"Bad Request: {problem.message} (parameter {problem.path})"


if __name__ == "__main__":
    write_bundled()
