"""config.Settings: every environment variable catdog reads, parsed in one place."""

from catdog_core import config


def test_settings_parse_every_variable_with_its_default():
    s = config.Settings.from_environment({"HOME": "/home/ann"})
    assert (s.home, s.cache, s.keras_home) == (config.Path("/home/ann/.catdog"), config.Path("/home/ann/.catdog/cache"),
                                               config.Path("/home/ann/.keras"))
    assert (s.home_given, s.data_dir, s.base_weights, s.workers, s.worker_idle) == (False, None, "imagenet", 1, None)
    assert (s.backend, s.warm, s.classroom, s.class_password) == ("local", True, False, None)


def test_settings_bound_what_they_are_given():
    s = config.Settings.from_environment({"HOME": "/h", "CATDOG_HOME": "/x", "CATDOG_WORKERS": "99",
                                          "CATDOG_WORKER_IDLE": "-4", "CATDOG_BACKEND": " Ray ", "CATDOG_WARM": "off",
                                          "CATDOG_CLASSROOM": "1", "CATDOG_CLASS_PASSWORD": "tiger"})
    assert (s.home, s.home_given, s.cache, s.workers, s.worker_idle) == (config.Path("/x"), True,
                                                                         config.Path("/x/cache"), 16, 0.0)
    assert (s.backend, s.warm, s.classroom, s.class_password) == ("ray", False, True, "tiger")
    assert config.Settings.from_environment({"HOME": "/h", "CATDOG_WORKERS": "many"}).workers == 1


def test_settings_are_read_again_when_a_variable_changes(monkeypatch, tmp_path):
    monkeypatch.setenv("CATDOG_HOME", str(tmp_path / "one"))
    first = config.settings()
    assert config.settings() is first and config.catdog_home() == tmp_path / "one"
    monkeypatch.setenv("CATDOG_HOME", str(tmp_path / "two"))
    assert config.catdog_home() == tmp_path / "two" and config.settings() is not first
