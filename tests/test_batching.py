"""Model workers: the only threads that run the model; concurrent decodes share a batch."""

import threading

import pytest
import torch

from artvae.batching import ModelWorkers
from artvae.config import ModelConfig
from artvae.engine import Engine
from artvae.latent import Code
from artvae.model import ArtVAE


def codes(n: int, seed: int = 0) -> list[Code]:
    g = torch.Generator().manual_seed(seed)
    return [Code(torch.randn(1, 4, 5, 6, generator=g), torch.randn(1, 8, generator=g), (40, 44))
            for _ in range(n)]


def concurrently(fn, args: list) -> list:
    results = [None] * len(args)

    def run(i):
        results[i] = fn(args[i])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(args))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_concurrent_decodes_share_one_batch_and_match_their_single_decodes():
    torch.manual_seed(0)
    # a long window that closes as soon as the batch is full: no timing in the test
    engine = Engine(model=ArtVAE(ModelConfig.tiny()), device="cpu", batch_window_ms=60_000,
                    max_batch=4)
    batch = codes(4)
    together = concurrently(lambda c: engine.decode_tensor(c, tileable=True), batch)
    assert (engine.workers.batches, engine.workers.items) == (1, 4)
    alone = Engine(model=engine.model, device="cpu", max_batch=1)
    for code, image in zip(batch, together, strict=True):
        assert image.shape == (1, 3, 40, 44)
        assert torch.allclose(image, alone.decode_tensor(code, tileable=True), atol=1e-5)


def test_decodes_of_different_kinds_are_not_batched_together():
    engine = Engine(model=ArtVAE(ModelConfig.tiny()), device="cpu", batch_window_ms=0)
    a, b = codes(2)
    engine.decode_tensor(a, tileable=True)
    engine.decode_tensor(b, tileable=False)
    assert (engine.workers.batches, engine.workers.items) == (2, 2)


def test_an_error_reaches_its_caller_and_the_worker_goes_on():
    workers = ModelWorkers(workers=1, threads=1)

    def fail():
        raise ValueError("bad input")

    with pytest.raises(ValueError, match="bad input"):
        workers.call(fail)
    assert workers.call(lambda: 2 + 2) == 4


def test_workers_run_with_their_own_torch_thread_count():
    before = torch.get_num_threads()
    assert ModelWorkers(workers=1, threads=1).call(torch.get_num_threads) == 1
    assert torch.get_num_threads() == before  # the request's thread keeps its own


def test_no_workers_runs_calls_inline_in_the_callers_thread():
    workers = ModelWorkers(workers=0)
    assert workers.call(threading.get_ident) == threading.get_ident()
    assert workers.batched("k", lambda items: [x * 2 for x in items], 21) == 42
