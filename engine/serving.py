"""What a long-running process (a web worker, the timer worker) does once it has started."""

from __future__ import annotations

import gc
import logging

from sqlalchemy.exc import SQLAlchemyError

from engine.service import Engine

log = logging.getLogger(__name__)


def settle(engine: Engine) -> None:
    """Parse the deployed processes, then take everything built so far out of the garbage
    collector's full collections.

    What a process builds as it starts (modules, the web app, the engine, parsed definitions)
    lives as long as the process, yet Python's cyclic garbage collector walks all of it in every
    full collection, and audits make work for those: a workflow is a web of objects that refer
    to one another, so each one finished with is freed only by a full collection. Under
    bench/web_load.py each gunicorn worker ran six or seven in 75 seconds, each stopping it for
    250-900 ms. `gc.freeze()` moves the objects that exist now to a generation the collector
    never walks, as the Python documentation suggests for servers; a full collection then walks
    only what requests have made since.
    """
    try:
        engine.load_definitions()
    except SQLAlchemyError as exc:  # no schema yet: definitions are parsed on first use instead
        log.warning("could not parse the deployed processes at start: %s", exc)
    gc.collect()
    gc.freeze()
