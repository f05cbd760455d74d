"""CLI behaviour found in QA, following the README on a fresh directory."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from feedhub.cli import cli


def test_backup_into_a_missing_directory_names_the_backup_file(tmp_path: Path) -> None:
    # It used to say "unable to open database file (<the database>)", which
    # sent the operator to check a database that was fine.
    config = tmp_path / "feeds.yaml"
    config.write_text("database: feedhub.db\n", encoding="utf-8")
    runner = CliRunner()
    assert runner.invoke(cli, ["--config", str(config), "check-config"]).exit_code == 0
    target = tmp_path / "missing" / "copy.db"

    result = runner.invoke(cli, ["--config", str(config), "backup", str(target)])

    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert f"cannot write {target}" in result.output
    assert str(tmp_path / "feedhub.db") not in result.output
    assert not target.parent.exists()
    # the same command into an existing directory works
    target.parent.mkdir()
    result = runner.invoke(cli, ["--config", str(config), "backup", str(target)])
    assert result.exit_code == 0, result.output
    assert target.exists()
