import pytest


@pytest.fixture(autouse=True)
def _strop_home(tmp_path, monkeypatch):
    monkeypatch.setenv("STROP_HOME", str(tmp_path / "home"))
