"""local.stack's state file: what the tradebridge CLI reads to find the running local stack."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from local.stack import DEFAULT_STATE_FILE, _parse, clear_state, state_file_for, write_state
from tradebridge_cli.config import resolve


def test_state_file_for_default_settings_is_the_default_and_others_write_none(
    tmp_path: Path,
) -> None:
    assert state_file_for(_parse([])) == DEFAULT_STATE_FILE
    assert state_file_for(_parse(["--settings", str(tmp_path / "s.json")])) is None
    named = tmp_path / "state.json"
    assert state_file_for(_parse(["--settings", "x.json", "--state-file", str(named)])) == named


def test_write_state_then_cli_resolves_it_then_clear_removes_it(tmp_path: Path) -> None:
    settings = tmp_path / "local.settings.json"
    values = {"DEVHOST_FUNCTION_KEYS": "fk", "DEVHOST_MASTER_KEY": "mk"}
    settings.write_text(json.dumps({"Values": values}))
    path = tmp_path / "run" / "stack.json"
    write_state(path, {"functions": "http://127.0.0.1:7999", "settings": str(settings)})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "fk" not in path.read_text()
    assert "mk" not in path.read_text()
    env = {"TRADEBRIDGE_STACK_STATE": str(path), "TRADEBRIDGE_PROFILE_FILE": str(tmp_path / "n")}
    config = resolve(env=env)
    assert (config.url, config.key, config.master_key) == ("http://127.0.0.1:7999", "fk", "mk")
    clear_state(path)
    assert not path.exists()


def test_clear_state_keeps_a_newer_stacks_file(tmp_path: Path) -> None:
    path = tmp_path / "stack.json"
    path.write_text(json.dumps({"pid": os.getpid() + 1, "urls": {}}))
    clear_state(path)
    assert path.exists()
