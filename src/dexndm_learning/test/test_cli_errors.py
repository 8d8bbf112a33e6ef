import pytest

from dexndm_learning import cli
from dexndm_learning.cli_errors import run_reporting_input_errors


def test_unknown_config_is_one_line_and_exit_2(capsys):
    assert cli.main(["train-specialist", "--config", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("dexndm-learn train-specialist: error: no config 'nope'") and "cyl_palm_up" in err


def test_missing_dataset_names_the_file(capsys, tmp_path):
    assert cli.main(["train-generalist", "--data", str(tmp_path / "nothing"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(tmp_path / "nothing") in err


def test_bugs_keep_their_traceback():
    def broken():
        raise RuntimeError("a bug")

    with pytest.raises(RuntimeError):
        run_reporting_input_errors("x", broken)


def test_traceback_on_request(monkeypatch):
    monkeypatch.setenv("DEXNDM_TRACEBACK", "1")
    with pytest.raises(ValueError):
        run_reporting_input_errors("x", lambda: int("not a number"))
