"""`fleet generate` writes demo-shaped data that imports as is; `fleet completion`."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from fleet.sessions import expiry_shard

from .conftest import FleetTables, clean_env, run_fleet

pytestmark = pytest.mark.integration


def test_generated_devices_and_users_import_as_a_consistent_pair(
    fleet_tables: FleetTables, tmp_path: Path
) -> None:
    devices, users = tmp_path / "devices.jsonl", tmp_path / "users.csv"
    assert run_fleet("generate", "devices", "80", "-o", str(devices)).returncode == 0
    assert run_fleet("generate", "users", "10", "-o", str(users)).returncode == 0
    assert len(devices.read_text().splitlines()) == 80
    assert next(csv.reader(users.open()))[-1] == "devices:SS"

    for table, path in (("devices", devices), ("users", users)):
        result = fleet_tables.fleet("import", table, str(path))
        assert result.returncode == 0, result.stderr

    stored_devices = fleet_tables.items("devices")
    assert {"deviceId", "ownerId", "name", "state", "lastUpdate", "kind", "firmware"} == set(
        stored_devices[0]
    )
    owned: dict[str, set[str]] = {}
    for device in stored_devices:
        owned.setdefault(device["ownerId"], set()).add(device["deviceId"])
    assert {u["userId"]: u["devices"] for u in fleet_tables.items("users")} == owned


def test_generated_sessions_carry_their_expiry_shard_and_the_same_seed_repeats(
    tmp_path: Path,
) -> None:
    first = run_fleet("generate", "sessions", "20", "--seed", "7")
    again = run_fleet("generate", "sessions", "20", "--seed", "7")
    assert first.returncode == 0, first.stderr
    sessions = [json.loads(line) for line in first.stdout.splitlines()]
    assert len(sessions) == 20
    assert all(s["expiryShard"] == expiry_shard(s["sessionId"]) for s in sessions)
    assert [s["userId"] for s in sessions] == [
        json.loads(line)["userId"] for line in again.stdout.splitlines()
    ]


def test_bash_completion_completes_subcommands_and_choices() -> None:
    script = run_fleet("completion", "bash").stdout
    probe = (
        "source /dev/stdin\n"
        'COMP_WORDS=(fleet imp); COMP_CWORD=1; _shtab_fleet; echo "${COMPREPLY[@]}"\n'
        'COMP_WORDS=(fleet generate ""); COMP_CWORD=2; _shtab_fleet; echo "${COMPREPLY[@]}"\n'
    )
    result = subprocess.run(  # noqa: S603 - a fixed shell command
        ["/bin/bash", "-c", probe.replace("source /dev/stdin", script)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.stdout.splitlines()[-2:] == ["import", "devices users sessions"], result.stderr


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_completion_scripts_know_the_subcommands_and_load_in_their_shell(shell: str) -> None:
    result = run_fleet("completion", shell)
    assert result.returncode == 0, result.stderr
    for word in ("import", "export", "apply", "generate", "--dry-run", "--output"):
        assert word in result.stdout
    binary = shutil.which(shell)
    if binary is None:
        return  # the script's text is checked above; loading it needs the shell
    check = (
        "source /dev/stdin"
        if shell == "bash"
        else "autoload -U compinit; compinit -u; source /dev/stdin"
    )
    loaded = subprocess.run(  # noqa: S603 - a fixed shell command
        [binary, "-c", check],
        input=result.stdout,
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=60,
        check=False,
    )
    assert loaded.returncode == 0, loaded.stderr
