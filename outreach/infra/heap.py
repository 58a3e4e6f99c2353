"""Keep Python's cyclic garbage collector out of the way of batch work.

Ingest validates and stores Kafka batches; projections apply pages of events. Both allocate
thousands of objects per batch that live until the batch is done, then go away by reference
counting. With the collector's defaults that costs twice:

* every 700 net allocations a young collection walks objects that are about to be freed anyway
  (about 5 us per ingested event, and a tenth of the projections' CPU, measured);
* each full collection rescans the whole long-lived heap (modules, models, clients, pools): tens
  of milliseconds, once about a fifth of ingest's time in ``bench/ingest.py``.

:func:`settle_heap` is called once start-up is done: the start-up garbage is collected, what is
alive is frozen (out of the collector's view for good) and the youngest generation is collected
every :data:`YOUNG_THRESHOLD` allocations instead. The hot paths make no reference cycles, so
what can pile up meanwhile is small.
"""

from __future__ import annotations

import gc
from typing import Final

__all__ = ["YOUNG_THRESHOLD", "settle_heap"]

YOUNG_THRESHOLD: Final = 50_000


def settle_heap() -> None:
    """Collect, freeze what start-up left alive, and collect the young less often."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, older, oldest)
