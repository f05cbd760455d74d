from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from feedhub.cli import cli

README = Path(__file__).parent.parent / "README.md"
COMMANDS = sorted(cli.commands)


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_and_is_in_the_readme(command):
    result = invoke(command, "--help")
    assert result.exit_code == 0
    assert cli.commands[command].help
    assert f"feedhub {command}" in README.read_text(encoding="utf-8")


def test_the_issue_commands_exist():
    assert {"run", "serve", "poll", "sources", "check-config", "publish"} <= set(
        COMMANDS
    )


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "feeds.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_check_config_ok(tmp_path):
    path = write(tmp_path, "sources:\n  - url: https://example.org/feed.xml\n")
    result = invoke("--config", str(path), "check-config")
    assert result.exit_code == 0
    assert "1 sources" in result.output


def test_bad_config_is_one_clear_line(tmp_path):
    path = write(
        tmp_path, "sources:\n  - url: https://example.org/feed.xml\n    topicz: [a]\n"
    )
    for command in ("check-config", "poll", "sources", "serve"):
        result = CliRunner().invoke(cli, ["--config", str(path), command])
        assert result.exit_code == 1, command
        assert f"{path}:3" in result.output
        assert "topicz" in result.output
        assert "Traceback" not in result.output


def test_missing_config_file(tmp_path):
    result = CliRunner().invoke(
        cli, ["--config", str(tmp_path / "nope.yaml"), "check-config"]
    )
    assert result.exit_code == 1
    assert "nope.yaml" in result.output


def test_poll_cannot_run_on_an_unusable_database(tmp_path):
    (tmp_path / "dir.db").mkdir()
    path = write(tmp_path, "database: dir.db\nsources: []\n")
    result = CliRunner().invoke(cli, ["--config", str(path), "poll"])
    assert result.exit_code == 1
    assert "storage" in result.output


def test_poll_exits_0_when_sources_fail_and_records_them(tmp_path):
    # port 9 on loopback: nothing listens, the connection is refused at once
    path = write(
        tmp_path,
        "polling: {allow_private_networks: true}\n"
        "sources:\n  - url: http://127.0.0.1:9/feed.xml\n",
    )
    result = invoke("--config", str(path), "poll", "--all")
    assert result.exit_code == 0
    assert "1 failed" in result.output
    listing = json.loads(invoke("--config", str(path), "sources", "--json").output)
    assert listing[0]["status"] == "failing"
    assert listing[0]["last_result"] == "error"
    assert listing[0]["errors"] == 1
    assert listing[0]["last_error"].startswith("fetch:")
    table = invoke("--config", str(path), "sources")
    assert "127.0.0.1:9" in table.output


def test_private_address_refused_by_default(tmp_path):
    path = write(tmp_path, "sources:\n  - url: http://127.0.0.1:9/feed.xml\n")
    invoke("--config", str(path), "poll", "--all")
    listing = json.loads(invoke("--config", str(path), "sources", "--json").output)
    assert (
        "private" in listing[0]["last_error"] or "refused" in listing[0]["last_error"]
    )


def test_publish_to_directory(tmp_path):
    path = write(tmp_path, "topics: {ai: {title: AI}}\n")
    out = tmp_path / "out"
    result = invoke("--config", str(path), "publish", "--out", str(out))
    assert result.exit_code == 0
    assert (out / "index.html").exists()
    assert (out / "topics" / "ai.atom").exists()
    assert (out / "all.atom").exists()


def test_version():
    assert invoke("--version").output.startswith("feedhub, version")
