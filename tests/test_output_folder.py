"""Result folders: time buckets, old ones deleted whole, no scan per request."""

from artvae.serve.files import OutputFolder


class Clock:
    def __init__(self, now: float = 1_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_results_older_than_max_age_are_swept_with_their_bucket(tmp_path):
    clock = Clock()
    folder = OutputFolder(tmp_path, max_age_s=400, clock=clock)
    old = folder.new()
    (old / "a.png").write_bytes(b"x")
    clock.now += 300  # younger than max_age: kept
    assert old.exists() and folder.new().exists()
    clock.now += 400  # old's bucket ended more than max_age ago
    young = folder.new()
    assert not old.exists() and young.exists()


def test_new_results_do_not_list_the_folder_within_a_time_slice(tmp_path, monkeypatch):
    folder = OutputFolder(tmp_path, max_age_s=400, clock=Clock())
    folder.new()
    listed = []
    original = type(tmp_path).iterdir
    monkeypatch.setattr(type(tmp_path), "iterdir",
                        lambda self: listed.append(self) or original(self))
    paths = {folder.new() for _ in range(20)}
    assert len(paths) == 20 and listed == []


def test_only_buckets_are_swept(tmp_path):
    (tmp_path / "notes").mkdir()
    clock = Clock()
    folder = OutputFolder(tmp_path, max_age_s=400, clock=clock)
    folder.new()
    clock.now += 10_000
    folder.new()
    assert (tmp_path / "notes").exists() and len(list(tmp_path.iterdir())) == 2
