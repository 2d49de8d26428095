"""The `referral-bot` command as an operator runs it: a real process, real exit codes."""

from __future__ import annotations

import base64
import os
import re
import sqlite3
import subprocess
from pathlib import Path

import pytest

from tests.processes import SCRIPT, fresh_key


def cli(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "SYSTEMROOT")}
    return subprocess.run(
        [str(SCRIPT), *args],
        cwd=cwd,
        env={**base, "COLUMNS": "200", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        "ENCRYPTION_KEYS": fresh_key(),
        "INDEX_KEY": fresh_key(),
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/cli.db",
        "BOT_USERNAME": "sarcoma_test_bot",
    }


def test_run_without_encryption_keys_names_it_and_exits_2(tmp_path: Path) -> None:
    result = cli("run", cwd=tmp_path, TELEGRAM_BOT_TOKEN="123:abc", INDEX_KEY=fresh_key())
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "ENCRYPTION_KEYS" in lines[0] and "missing" in lines[0]
    assert "Traceback" not in result.stderr + result.stdout


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("INDEX_KEY", "short", "INDEX_KEY"),
        ("ENCRYPTION_KEYS", "bm90IDMyIGJ5dGVz", "exactly 32 bytes"),
        ("TIMEZONE", "Europe/Atlantis", "TIMEZONE"),
        ("REMINDER_OFFSETS", "7 days", "REMINDER_OFFSETS"),
        ("QUIET_HOURS", "25:00-08:00", "QUIET_HOURS"),
        ("DATABASE_URL", "mysql://x", "DATABASE_URL"),
        ("TELEGRAM_BOT_TOKEN", "not a token", "TELEGRAM_BOT_TOKEN"),
        ("DATABASE_URL", "postgresql+asyncpg://bot@db:54x2/referral", "not a database URL"),
        ("DATABASE_URL", "sqlite+aiosqlite://", "names no file"),
        ("PURGE_AT", "3.30am", "not a time of day like 03:30"),
        ("REMINDER_SWEEP_SECONDS", "0", "REMINDER_SWEEP_SECONDS"),
    ],
)
def test_malformed_setting_is_one_line_exit_2(
    tmp_path: Path, env: dict[str, str], name: str, value: str, expected: str
) -> None:
    result = cli("run", cwd=tmp_path, **{**env, "TELEGRAM_BOT_TOKEN": "123:abc", name: value})
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], lines
    assert "Traceback" not in result.stderr


def test_run_without_token_names_it(tmp_path: Path, env: dict[str, str]) -> None:
    result = cli("run", cwd=tmp_path, **env)
    assert result.returncode == 2
    assert "TELEGRAM_BOT_TOKEN" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_settings_are_read_from_dotenv(tmp_path: Path, env: dict[str, str]) -> None:
    (tmp_path / ".env").write_text(f"ENCRYPTION_KEYS={env['ENCRYPTION_KEYS']}\n")
    result = cli("run", cwd=tmp_path, TELEGRAM_BOT_TOKEN="123:abc")
    assert result.returncode == 2
    assert "INDEX_KEY" in result.stderr and "ENCRYPTION_KEYS" not in result.stderr


def test_keys_new_prints_a_usable_pair(tmp_path: Path) -> None:
    result = cli("keys", "new", cwd=tmp_path)
    assert result.returncode == 0
    values = dict(line.split("=", 1) for line in result.stdout.strip().splitlines())
    assert set(values) == {"ENCRYPTION_KEYS", "INDEX_KEY"}
    assert all(len(base64.urlsafe_b64decode(v)) == 32 for v in values.values())
    second = cli("keys", "new", cwd=tmp_path)
    assert second.stdout != result.stdout


def test_audit_verify_via_cli(tmp_path: Path, env: dict[str, str]) -> None:
    (tmp_path / "dir.yaml").write_text(
        "centres:\n  - {id: rbh, name: Royal Berkshire Hospital}\n"
        "admins:\n  - {id: coord-sam, name: Sam Lee}\n"
    )
    assert cli("directory", "import", "dir.yaml", cwd=tmp_path, **env).returncode == 0
    assert cli("invite", "admin", "coord-sam", cwd=tmp_path, **env).returncode == 0
    ok = cli("audit", "verify", cwd=tmp_path, **env)
    assert ok.returncode == 0 and "intact" in ok.stdout
    with sqlite3.connect(tmp_path / "cli.db") as conn:
        conn.execute("UPDATE audit_log SET actor = 'someone-else' WHERE id = 2")
    bad = cli("audit", "verify", cwd=tmp_path, **env)
    assert bad.returncode == 1
    assert "entry 2" in bad.stderr


def test_invite_prints_a_single_use_link_storing_only_a_hash(
    tmp_path: Path, env: dict[str, str]
) -> None:
    (tmp_path / "dir.yaml").write_text(
        "clinicians:\n"
        "  - {id: dr-jones, name: Dr Alice Jones, specialties: [bone], phone: '01865 738000',"
        " email: alice.jones@nhs.net}\n"
    )
    assert cli("directory", "import", "dir.yaml", cwd=tmp_path, **env).returncode == 0
    result = cli("invite", "clinician", "dr-jones", cwd=tmp_path, **env)
    assert result.returncode == 0, result.stderr
    match = re.fullmatch(
        r"https://t\.me/sarcoma_test_bot\?start=([A-Za-z0-9_-]+)", result.stdout.strip()
    )
    assert match, result.stdout
    token = match.group(1)
    assert len(base64.urlsafe_b64decode(token + "==")) * 8 >= 128
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("cli.db"))
    assert token.encode() not in raw
    wrong_role = cli("invite", "admin", "dr-jones", cwd=tmp_path, **env)
    assert wrong_role.returncode == 1 and "clinician" in wrong_role.stderr
    unknown = cli("invite", "link", "nobody", cwd=tmp_path, **env)
    assert unknown.returncode == 1 and "nobody" in unknown.stderr


def test_keys_rotate_via_cli_then_only_the_new_key_reads(
    tmp_path: Path, env: dict[str, str]
) -> None:
    (tmp_path / "dir.yaml").write_text(
        "clinicians:\n"
        "  - {id: dr-jones, name: Dr Alice Jones, specialties: [bone], phone: '01865 738000',"
        " email: alice.jones@nhs.net}\n"
    )
    assert cli("directory", "import", "dir.yaml", cwd=tmp_path, **env).returncode == 0
    new = fresh_key()
    rotated = cli(
        "keys",
        "rotate",
        cwd=tmp_path,
        **{**env, "ENCRYPTION_KEYS": f"{new},{env['ENCRYPTION_KEYS']}"},
    )
    assert rotated.returncode == 0, rotated.stderr
    assert "values re-encrypted: 3" in rotated.stdout
    only_new = {**env, "ENCRYPTION_KEYS": new}
    exported = cli("directory", "export", "out.yaml", cwd=tmp_path, **only_new)
    assert exported.returncode == 0, exported.stderr
    text = (tmp_path / "out.yaml").read_text()
    assert "Dr Alice Jones" in text and "alice.jones@nhs.net" in text
    assert cli("audit", "verify", cwd=tmp_path, **only_new).returncode == 0
