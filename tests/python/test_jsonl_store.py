"""The JSONL result store behind the execution, translation and score caches (cotnpot.jsonl_store)."""
import pytest

from cotnpot.jsonl_store import JsonlStore


@pytest.mark.parametrize("before", [
    '{"key": "a", "v": 1}',                        # a whole entry, written without a final newline
    '{"key": "a", "v": 1}\n{"key": "cut", "v',     # a line cut short by an interrupted run
])
def test_an_entry_added_after_a_line_without_its_newline_is_kept(tmp_path, before):
    """Found by a breaker: the new entry was appended to the unfinished last line, so on reload the merged
    line did not parse and both the old entry and the new one were lost."""
    path = tmp_path / "c.jsonl"
    path.write_text(before)
    JsonlStore(path).add([{"key": "b", "v": 2}, {"key": "c", "v": 3}])
    again = JsonlStore(path)
    assert {k: e["v"] for k, e in again.entries.items()} == {"a": 1, "b": 2, "c": 3}
    JsonlStore(path).add([{"key": "d", "v": 4}])   # a file that ends well gets no empty line
    assert path.read_text().endswith('{"key": "c", "v": 3}\n{"key": "d", "v": 4}\n')


def test_later_entries_win_and_survive_a_reload(tmp_path):
    store = JsonlStore(tmp_path / "sub" / "c.jsonl")
    store.add([{"key": "a", "v": 1}, {"key": "a", "v": 2}, {"key": "b", "v": 3}])
    assert {k: e["v"] for k, e in JsonlStore(tmp_path / "sub" / "c.jsonl").entries.items()} == {"a": 2, "b": 3}


def test_an_entry_that_cannot_be_written_is_refused_and_not_kept_in_memory(tmp_path):
    """Found by a breaker: an entry without a key gave a bare KeyError, and one that JSON cannot hold stayed in
    memory though it never reached the file."""
    store = JsonlStore(tmp_path / "c.jsonl")
    with pytest.raises(ValueError, match="each entry must be a dict with a 'key', got {'v': 1}"):
        store.add([{"v": 1}])
    with pytest.raises(TypeError, match="not JSON serializable"):
        store.add([{"key": "x", "v": object()}])
    assert "x" not in store.entries and "x" not in JsonlStore(tmp_path / "c.jsonl").entries


def test_a_cache_the_disk_refuses_warns_once_and_goes_on_in_memory(tmp_path):
    """A full disk (/dev/full refuses every write with ENOSPC, as root too) had ended `cotnpot eval` with an
    OSError mid-run, losing the work of the run: a best-effort store (the caches) warns once, naming the file,
    and keeps its entries in memory; a store that is the output raises."""
    with pytest.warns(RuntimeWarning, match=r"cache /dev/full: No space left on device; this run goes on"):
        cache = JsonlStore("/dev/full", best_effort=True)
        cache.add([{"key": "a", "v": 1}])
    assert cache.entries == {"a": {"key": "a", "v": 1}} and cache.write_error.errno == 28
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # once only
        cache.add([{"key": "b", "v": 2}])
    assert set(cache.entries) == {"a", "b"}
    with pytest.raises(ValueError, match="each entry must be a dict"):   # bad entries are still refused
        cache.add([{"v": 3}])
    with pytest.raises(OSError, match="No space left"):
        JsonlStore("/dev/full").add([{"key": "a", "v": 1}])
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    with pytest.warns(RuntimeWarning, match="a-file/c.jsonl: .*this run goes on"):   # its directory cannot be made
        JsonlStore(blocked / "c.jsonl", best_effort=True).add([{"key": "a", "v": 1}])


def test_every_cache_is_best_effort():
    from cotnpot.pipeline.code_tasks import SuiteCache
    from cotnpot.pipeline.programs import ExecutionCache
    from cotnpot.translate.cache import CachedTranslator
    from cotnpot.verifier import ScoreCache

    class Inner:
        name, template = "m", "t"
    assert ExecutionCache("/dev/full").best_effort and SuiteCache("/dev/full").best_effort
    assert ScoreCache("/dev/full", "id").best_effort and CachedTranslator(Inner(), "/dev/full").store.best_effort
