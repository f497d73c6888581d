"""The console entry point makes OpenMP threads wait passively unless the user chose (cli/app.py)."""

from vqa2cli.cli import app as cli_app


def test_unset_wait_policy_becomes_passive():
    env: dict[str, str] = {}
    cli_app.passive_openmp_threads(env)
    assert env == {"OMP_WAIT_POLICY": "PASSIVE"}


def test_the_users_wait_policy_is_kept():
    for chosen in ("ACTIVE", "passive", ""):
        env = {"OMP_WAIT_POLICY": chosen}
        cli_app.passive_openmp_threads(env)
        assert env == {"OMP_WAIT_POLICY": chosen}


def test_main_sets_it_before_anything_runs(monkeypatch):
    monkeypatch.setenv("OMP_WAIT_POLICY", "placeholder")  # recorded, so the test's change is undone after it
    monkeypatch.delenv("OMP_WAIT_POLICY")
    try:
        cli_app.main(["--version"])
    except SystemExit:
        pass
    import os

    assert os.environ.get("OMP_WAIT_POLICY") == "PASSIVE"
